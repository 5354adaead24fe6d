// Command ingest is the operator's tool for the log: provision the streams,
// show status and lag, replay a worker, and handle dead letters. Run it with
// --help for the commands.
//
// Settings come from the same environment variables as every process
// (NATS_URL, STREAM_*; see docs/design.md).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/logchat/ingest/access"
	"github.com/logchat/ingest/bus"
	"github.com/logchat/ingest/ops"
	"github.com/logchat/shared/config"
	"github.com/logchat/shared/obs"
)

const usage = `usage: ingest <command> [flags]

commands:
  provision          create or update the log and dead-letter streams (idempotent)
  status [--json]    per stream: messages, bytes, sequences; per consumer:
                     pending, ack-pending, redelivered, last delivered, lag, pinned client
  replay WORKER (--from-seq N | --since DURATION|TIME)
                     move every partition consumer of WORKER (persister, cachewarm,
                     notifier) back, so it applies the log again from there;
                     projections are idempotent and converge to the same state
  dlq list [--json]  dead-lettered events with worker and reason
  dlq show SEQ       one dead letter with its event
  dlq retry SEQ|--all   give events back to their worker after a fix
  dlq drop SEQ       delete a dead letter
  verify [--keep] [--show N] [--wait DURATION] [--batch N] [--json]
                     prove that MySQL (search index included) and the Redis
                     chat cache are what the log
                     builds: rebuild both from sequence 1 to the log's last one
                     (S) into a scratch database (<db>_verify_<random>, on the
                     live server) and a scratch Redis prefix with the workers'
                     own code, wait until the live persister, searcher and cachewarm have
                     applied S, compare, drop the scratch (unless --keep).
                     Exit status: 0 converged, 1 diverged, 2 the check failed.
                     Needs MYSQL_DSN, REDIS_* and an account that may create
                     the scratch database (MIGRATE_MYSQL_DSN; MYSQL_DSN if unset)
  shard move CHAT --to SHARD
                     move a chat's rows to another MySQL shard online (copy a
                     snapshot, catch up from the log, verify, switch the
                     directory, clean up the source) while its messages keep
                     arriving; run it again after a crash. Needs MYSQL_DSN,
                     MYSQL_SHARDS and the NATS settings (docs/scaling.md)
  nats-config [--bcrypt] [--tls-cert FILE --tls-key FILE [--tls-ca FILE --tls-verify]]
                     print nats-server's users and permissions for the topology
                     (ingest/access), passwords as $NATS_<USER>_PASSWORD references
                     (--bcrypt: hashes of those variables' values);
                     connects to nothing

environment: NATS_URL (default ` + bus.DefaultNATSURL + `), NATS_USER (default admin),
NATS_PASSWORD (required), NATS_TLS_CA, NATS_TLS_CERT, NATS_TLS_KEY, STREAM_NAME,
STREAM_PARTITIONS, ...; verify also MYSQL_DSN, MYSQL_SHARDS, MIGRATE_MYSQL_DSN,
REDIS_ADDR, REDIS_USERNAME, REDIS_PASSWORD, REDIS_TLS*, REDIS_PREFIX; shard
MYSQL_DSN, MYSQL_SHARDS
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "ingest:", err)
		os.Exit(exitCode(os.Args[1:], err))
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Print(usage)
		return nil
	}
	env := config.New()
	if args[0] == config.DescribeCommand {
		env = config.NewDescriber()
	}
	topo := bus.TopologyFromEnv(env)
	var verifyCfg verifySettings
	if args[0] == "verify" || args[0] == config.DescribeCommand {
		verifyCfg = readVerifySettings(env)
	}
	if args[0] == config.DescribeCommand {
		bus.NATSFromEnv(env, access.Admin)
		return env.PrintDescription(os.Stdout)
	}
	var shardCfg shardSettings
	if args[0] == "shard" {
		shardCfg = readShardSettings(env)
	}
	if args[0] == "nats-config" {
		if err := env.Err(); err != nil {
			return err
		}
		return natsConfig(os.Stdout, topo, args[1:])
	}
	// The operator's tool is the admin: replay, dead-letter handling and
	// provisioning need what no service may do.
	natsCfg := bus.NATSFromEnv(env, access.Admin)
	if err := env.Err(); err != nil {
		return err
	}
	log := obs.NewLogger("ingest")
	nc, js, err := bus.Connect(natsCfg, "ingest-cli", log)
	if err != nil {
		return err
	}
	defer nc.Close()

	switch args[0] {
	case "provision":
		if err := bus.ProvisionStreams(ctx, js, topo); err != nil {
			return err
		}
		log.Info("streams provisioned", slog.String("stream", topo.Stream), slog.Int("partitions", topo.Partitions))
		return nil
	case "status":
		fs := flag.NewFlagSet("status", flag.ContinueOnError)
		asJSON := fs.Bool("json", false, "print JSON")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		st, err := ops.Status(ctx, js, topo)
		if err != nil {
			return err
		}
		if *asJSON {
			return st.WriteJSON(os.Stdout)
		}
		st.WriteTable(os.Stdout)
		return nil
	case "replay":
		return replay(ctx, js, topo, args[1:])
	case "dlq":
		return dlq(ctx, js, topo, args[1:])
	case "verify":
		return runVerify(ctx, js, topo, verifyCfg, log, args[1:])
	case "shard":
		// The move catches up from the log (catchup.go).
		return runShard(ctx, os.Stdout, shardCfg, logCatchUp(js, topo), args[1:])
	default:
		return fmt.Errorf("unknown command %q\n\n%s", args[0], usage)
	}
}
