package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/logchat/ingest/access"
	"github.com/logchat/ingest/bus"
	"github.com/logchat/ingest/ops"
	"github.com/logchat/shared/config"
)

func replay(ctx context.Context, js jetstream.JetStream, topo bus.Topology, args []string) error {
	if len(args) == 0 || !slices.Contains(ops.Workers, args[0]) {
		return fmt.Errorf("replay needs a worker: one of %v", ops.Workers)
	}
	worker := args[0]
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fromSeq := fs.Uint64("from-seq", 0, "replay from this stream sequence (1 = everything still stored)")
	since := fs.String("since", "", "replay events stored since a duration ago (90m) or an RFC 3339 time")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if (*fromSeq == 0) == (*since == "") {
		return fmt.Errorf("replay needs exactly one of --from-seq or --since")
	}
	from := *fromSeq
	if *since != "" {
		at, err := parseSince(*since)
		if err != nil {
			return err
		}
		if from, err = ops.SeqAt(ctx, js, topo.Stream, at); err != nil {
			return err
		}
	}
	res, err := ops.Replay(ctx, js, topo, worker, from)
	for _, r := range res {
		fmt.Printf("%s reset to sequence %d\n", r.Consumer, r.ResetSeq)
	}
	return err
}

func parseSince(s string) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return time.Now().Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--since %q is neither a duration (90m) nor an RFC 3339 time", s)
	}
	return t, nil
}

func dlq(ctx context.Context, js jetstream.JetStream, topo bus.Topology, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("dlq needs a command: list, show, retry, drop")
	}
	seqArg := func() (uint64, error) {
		if len(args) < 2 {
			return 0, fmt.Errorf("dlq %s needs a dead-letter sequence", args[0])
		}
		return strconv.ParseUint(args[1], 10, 64)
	}
	switch args[0] {
	case "list":
		list, err := ops.ListDeadLetters(ctx, js, topo)
		if err != nil {
			return err
		}
		if len(args) > 1 && args[1] == "--json" {
			return json.NewEncoder(os.Stdout).Encode(list)
		}
		tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SEQ\tWORKER\tLOG SEQ\tSUBJECT\tAT\tREASON")
		for _, d := range list {
			fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\t%s\n", d.Seq, d.Worker, d.OrigSeq, d.Subject, d.At.Format(time.RFC3339), d.Reason)
		}
		return tw.Flush()
	case "show":
		seq, err := seqArg()
		if err != nil {
			return err
		}
		d, err := ops.ShowDeadLetter(ctx, js, topo, seq)
		if err != nil {
			return err
		}
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(d)
	case "retry":
		var seqs []uint64
		if len(args) > 1 && args[1] == "--all" {
			list, err := ops.ListDeadLetters(ctx, js, topo)
			if err != nil {
				return err
			}
			for _, d := range list {
				seqs = append(seqs, d.Seq)
			}
		} else {
			seq, err := seqArg()
			if err != nil {
				return err
			}
			seqs = []uint64{seq}
		}
		for _, seq := range seqs {
			d, err := ops.RetryDeadLetter(ctx, js, topo, seq)
			if err != nil {
				return err
			}
			fmt.Printf("dead letter %d: %s replays partition %d from log sequence %d\n", seq, d.Worker, d.Partition, d.OrigSeq)
		}
		return nil
	case "drop":
		seq, err := seqArg()
		if err != nil {
			return err
		}
		return ops.DropDeadLetter(ctx, js, topo, seq)
	default:
		return fmt.Errorf("unknown dlq command %q", args[0])
	}
}

// natsConfig prints the server's users and permissions (deploy/nats/auth.conf
// is this for the default topology; scripts/stack.sh writes it at start).
func natsConfig(out io.Writer, topo bus.Topology, args []string) error {
	fs := flag.NewFlagSet("nats-config", flag.ContinueOnError)
	var tls access.TLSFiles
	fs.StringVar(&tls.CertFile, "tls-cert", "", "server certificate (PEM): clients must use TLS")
	fs.StringVar(&tls.KeyFile, "tls-key", "", "the certificate's key (PEM)")
	fs.StringVar(&tls.CAFile, "tls-ca", "", "CA that signs client certificates")
	fs.BoolVar(&tls.VerifyClients, "tls-verify", false, "require a client certificate signed by --tls-ca")
	hash := fs.Bool("bcrypt", false, "write bcrypt hashes of the passwords in NATS_<USER>_PASSWORD instead of references to those variables")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg := access.ServerConfig{Topology: topo, TLS: tls}
	if *hash {
		// The file then holds no password at all, and nats-server needs none
		// in its environment.
		env := config.New()
		passwords := map[string]string{}
		for _, u := range access.Users() {
			passwords[u] = env.RequiredSecret(access.PasswordEnv(u))
		}
		if err := env.Err(); err != nil {
			return err
		}
		var err error
		if cfg.Passwords, err = access.HashPasswords(passwords, 11); err != nil { // `nats server passwd`'s cost
			return err
		}
	}
	text, err := cfg.Render()
	if err != nil {
		return err
	}
	_, err = io.WriteString(out, text)
	return err
}
