package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"sync"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/logchat/shared/retry"
)

// Migrations are goose SQL files, migrations/NNNNN_name.sql, each with a
// `-- +goose Up` and a `-- +goose Down` section; goose records the applied
// versions in goose_db_version of every database (the main one and each
// shard). MySQL commits DDL implicitly, so a migration that fails half-way
// cannot be rolled back: write every statement so that it can run again
// (CREATE TABLE IF NOT EXISTS; a later ALTER needs a guard of its own).
//
// One owner applies them: the migrate command (storage/cmd/migrate), run by
// `make up`, compose and the Kubernetes job before anything else starts.
// Every other process only waits until the schema has reached the version its
// code was built with (WaitForSchema), so a process never runs DDL and never
// needs the privileges for it.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

func newProvider(db *sql.DB) (*goose.Provider, error) {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	// The global registry holds Go migrations registered by init functions;
	// there are none, and ignoring it keeps a test's provider independent.
	return goose.NewProvider(goose.DialectMySQL, db, sub, goose.WithDisableGlobalRegistry(true),
		goose.WithGoMigrations(goMigrations()...))
}

// goMigrations are the migrations written in Go, for steps SQL cannot do.
func goMigrations() []*goose.Migration {
	return []*goose.Migration{nameSkeletonMigration(), lifecycleMigration(), peopleMigration(), chatVersionMigration(),
		outboxTraceMigration()}
}

// SchemaVersion is the newest migration this build embeds: the version every
// database must have reached before the code can use it.
var SchemaVersion = sync.OnceValue(func() int64 {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil || len(names) == 0 {
		// The migrations are compiled in: an unreadable set is a build bug.
		panic(fmt.Sprintf("sqlstore: no embedded migrations (%v)", err))
	}
	var newest int64
	for _, m := range goMigrations() {
		newest = max(newest, m.Version)
	}
	for _, name := range names {
		v, err := goose.NumericComponent(path.Base(name))
		if err != nil {
			panic(fmt.Sprintf("sqlstore: migration %s: %v", name, err))
		}
		newest = max(newest, v)
	}
	return newest
})

// Migrate applies every pending migration to the main database and each
// shard. Idempotent. Concurrent callers are serialized by a named lock per
// database, so two migrate jobs started at once do not interleave.
func (s *Store) Migrate(ctx context.Context) error {
	for _, db := range s.databases() {
		if err := migrateDB(ctx, db); err != nil {
			return err
		}
	}
	return nil
}

func migrateDB(ctx context.Context, db *sql.DB) error {
	p, err := newProvider(db)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	// GET_LOCK belongs to a session: hold one connection throughout, while
	// goose runs the migrations on other connections of the pool.
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrate: connect: %w", err)
	}
	defer conn.Close()
	// Lock names are at most 64 characters; a database name may be 64 alone.
	const lockName = "CONCAT('logchat_migrate_', MD5(COALESCE(DATABASE(), '')))"
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK("+lockName+", 60)").Scan(&got); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	if !got.Valid || got.Int64 != 1 {
		return errors.New("migrate: another migration held the lock for 60s")
	}
	defer func() {
		// A fresh context: the lock must be released even when ctx has ended.
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = conn.ExecContext(rctx, "DO RELEASE_LOCK("+lockName+")")
	}()
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// Versions returns the schema version of the main database and each shard,
// in the order of the resolver (0 where nothing is applied yet).
func (s *Store) Versions(ctx context.Context) ([]int64, error) {
	var out []int64
	for _, db := range s.databases() {
		// Read goose's table directly, not through goose: its GetDBVersion
		// creates the table when missing, and doing that while the migrate
		// command initialises it left a table without goose's zero row
		// ("missing zero version migration"), which no later run repaired.
		// A waiter must only ever read.
		var v sql.NullInt64
		err := db.QueryRowContext(ctx, "SELECT MAX(version_id) FROM goose_db_version WHERE is_applied").Scan(&v)
		if isMySQLError(err, errNoSuchTable) {
			err = nil
		}
		if err != nil {
			return nil, fmt.Errorf("read schema version: %w", err)
		}
		out = append(out, v.Int64)
	}
	return out, nil
}

// CheckSchema tells whether every database has reached SchemaVersion. Behind
// is a retryable error (the migrate job may still be running); the check is
// what WaitForSchema repeats.
func (s *Store) CheckSchema(ctx context.Context) error {
	want := SchemaVersion()
	vs, err := s.Versions(ctx)
	if err != nil {
		return err
	}
	for _, v := range vs {
		if v < want {
			return fmt.Errorf("schema is at version %d, this build needs %d: run the migrate command (make up does)", v, want)
		}
	}
	return nil
}

// WaitForSchema waits, with the one start-up retry policy, until MySQL answers
// and every database has reached the version this build needs. A schema ahead
// of the build is fine: migrations only add.
func (s *Store) WaitForSchema(ctx context.Context, log *slog.Logger) error {
	return retry.Until(ctx, log, "wait for the mysql schema", s.CheckSchema)
}
