// Command migrate is the one owner of the MySQL schema: it applies the
// migrations embedded in storage/sqlstore to the main database and every
// shard, and reports their versions. `make up` (scripts/stack.sh), the compose
// file and the Kubernetes job run it before the gateway and the workers,
// which never run DDL: they wait until the schema has reached the version
// their build needs.
//
//	migrate [up]     apply what is pending (idempotent), waiting for MySQL to answer
//	migrate status   print each database's version and the version this build needs
//
// MIGRATE_MYSQL_DSN names the main database and the account that may change
// its schema (required: `make up` creates the installation's migrate account
// and sets it); MIGRATE_MYSQL_SHARDS the chat shards beyond it, the same way
// (optional: name=DSN entries, as MYSQL_SHARDS). The running processes use another account (MYSQL_DSN) that
// may only read and write rows (docs/security.md).
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/logchat/shared/config"
	"github.com/logchat/shared/obs"
	"github.com/logchat/shared/retry"
	"github.com/logchat/storage/sqlstore"
)

func main() {
	if config.DescribeIfAsked(func(env *config.Env) { readSettings(env) }) {
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := obs.NewLogger("migrate")
	if err := run(ctx, log, os.Args[1:]); err != nil {
		log.Error("migrate failed", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger, args []string) error {
	cmd := "up"
	if len(args) > 0 {
		cmd = args[0]
	}
	env := config.New()
	dsn, shards := readSettings(env)
	if err := env.Err(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	env.Log(log)
	st, err := sqlstore.Open(ctx, dsn, sqlstore.WithShards(shards))
	if err != nil {
		return retry.Permanent(err)
	}
	defer st.Close()

	switch cmd {
	case "up":
		// Wait for MySQL to answer; a migration that fails while it answers
		// is a bug in the migration, not an outage, and ends the run.
		if err := retry.Until(ctx, log, "connect to mysql", st.Ping); err != nil {
			return err
		}
		if err := st.Migrate(ctx); err != nil {
			return err
		}
		log.Info("schema up to date", "version", sqlstore.SchemaVersion())
		return nil
	case "status":
		vs, err := st.Versions(ctx)
		if err != nil {
			return err
		}
		fmt.Printf("this build needs version %d\n", sqlstore.SchemaVersion())
		names := st.ShardNames()
		for i, v := range vs {
			fmt.Printf("database %d (%s): version %d\n", i, names[i], v)
		}
		return st.CheckSchema(ctx)
	default:
		return fmt.Errorf("unknown command %q: use up or status", cmd)
	}
}

// readSettings reads the migrate command's environment: the main database
// and the chat shards beyond it, through the accounts that may change their
// schemas.
func readSettings(env *config.Env) (dsn string, shards []sqlstore.ShardDSN) {
	return sqlstore.DSNFromEnv(env, "MIGRATE_MYSQL_DSN"), sqlstore.ShardsFromEnv(env, "MIGRATE_MYSQL_SHARDS")
}
