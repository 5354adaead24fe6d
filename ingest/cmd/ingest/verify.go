package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/logchat/ingest/bus"
	"github.com/logchat/ingest/verify"
	"github.com/logchat/shared/config"
	"github.com/logchat/storage/redisconn"
	"github.com/logchat/storage/sqlstore"
)

// verifySettings are what `ingest verify` reads beyond the bus: the live
// projections and the account that may create the scratch database.
type verifySettings struct {
	MySQLDSN    string              // secret: it carries a password
	MySQLShards []sqlstore.ShardDSN // secret: the chat shards beyond main
	AdminDSN    string              // secret
	Redis       redisconn.Config
	RedisPrefix string
}

func readVerifySettings(env *config.Env) verifySettings {
	s := verifySettings{
		MySQLDSN:    sqlstore.DSNFromEnv(env, "MYSQL_DSN"),
		MySQLShards: sqlstore.ShardsFromEnv(env, "MYSQL_SHARDS"),
		AdminDSN:    env.Secret("MIGRATE_MYSQL_DSN", ""),
		Redis:       redisconn.FromEnv(env),
		RedisPrefix: env.String("REDIS_PREFIX", "lc:"),
	}
	if s.AdminDSN != "" {
		if err := sqlstore.CheckDSN(s.AdminDSN); err != nil {
			env.Check(false, "MIGRATE_MYSQL_DSN: %v", err)
		}
	}
	env.Check(s.RedisPrefix != "", "REDIS_PREFIX must not be empty")
	return s
}

// errDiverged is verify's finding, as opposed to a failure of the check.
var errDiverged = errors.New("diverged")

// exitCode is 1 for every failure, except that verify tells a divergence (1)
// from a check that could not be made (2), as diff(1) does.
func exitCode(args []string, err error) int {
	if len(args) > 0 && args[0] == "verify" && !errors.Is(err, errDiverged) {
		return 2
	}
	return 1
}

func runVerify(ctx context.Context, js jetstream.JetStream, topo bus.Topology, s verifySettings, log *slog.Logger, args []string) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	keep := fs.Bool("keep", false, "keep the scratch database and Redis keys (printed at the end) for inspection")
	show := fs.Int("show", 20, "print the first N differences in full")
	wait := fs.Duration("wait", 0, "how long to wait for the live persister, searcher and cachewarm to apply the log up to S (default 2m)")
	batch := fs.Int("batch", 1000, "the most events of one partition applied in one call, as WORKER_BATCH")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return nil // the flags were printed
	} else if err != nil {
		return err
	}
	rdb, err := s.Redis.Client()
	if err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	defer rdb.Close()
	rep, err := verify.Run(ctx, verify.Options{
		JS: js, Topology: topo, MySQLDSN: s.MySQLDSN, Shards: s.MySQLShards, AdminDSN: s.AdminDSN,
		Redis: rdb, RedisPrefix: s.RedisPrefix,
		Batch: *batch, Wait: *wait, Keep: *keep, Show: *show, Log: log,
	})
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	if *asJSON {
		err = rep.WriteJSON(os.Stdout)
	} else {
		err = rep.WriteText(os.Stdout)
	}
	if err != nil {
		return err
	}
	if !rep.Converged() {
		return fmt.Errorf("%w: %d differences", errDiverged, rep.Differences)
	}
	return nil
}
