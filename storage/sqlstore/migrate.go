package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Migrations are files migrations/NNNN_name.sql, applied in version order and
// recorded in schema_migrations. MySQL commits DDL implicitly, so a migration
// that fails half-way cannot be rolled back: write every statement so that it
// can run again (CREATE TABLE IF NOT EXISTS; MySQL 8 has no ADD COLUMN IF NOT
// EXISTS, so a later ALTER needs a guard of its own).
//
// Statements are split at lines ending in ';' (comment lines excluded); keep
// a ';' out of the middle of a line.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

type migration struct {
	version    int
	name       string
	statements []string
}

// Migrate applies the embedded migrations to the main database and every
// shard. Idempotent; safe to run from every process at start: concurrent
// callers are serialized by a named lock per database.
func (s *Store) Migrate(ctx context.Context) error {
	migs, err := loadMigrations()
	if err != nil {
		return err
	}
	for _, db := range s.databases() {
		if err := migrateDB(ctx, db, migs); err != nil {
			return err
		}
	}
	return nil
}

func loadMigrations() ([]migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var out []migration
	seen := map[int]string{}
	for _, path := range names {
		base := strings.TrimPrefix(path, "migrations/")
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a positive version and '_'", base)
		}
		if other, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s and %s share version %d", other, base, v)
		}
		seen[v] = base
		body, err := migrationFiles.ReadFile(path)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: base, statements: splitStatements(string(body))})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// splitStatements cuts a migration into statements at lines ending in ';'.
// Chunks holding nothing but comments are dropped (MySQL rejects an empty query).
func splitStatements(body string) []string {
	var out []string
	var cur []string
	hasCode := false
	flush := func() {
		if hasCode {
			out = append(out, strings.TrimSpace(strings.Join(cur, "\n")))
		}
		cur, hasCode = nil, false
	}
	for _, line := range strings.Split(body, "\n") {
		t := strings.TrimSpace(line)
		comment := strings.HasPrefix(t, "--") || strings.HasPrefix(t, "#")
		cur = append(cur, line)
		if t != "" && !comment {
			hasCode = true
			if strings.HasSuffix(t, ";") {
				flush()
			}
		}
	}
	flush()
	return out
}

func migrateDB(ctx context.Context, db *sql.DB, migs []migration) error {
	// GET_LOCK belongs to a session: hold one connection throughout.
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrate: connect: %w", err)
	}
	defer conn.Close()
	// Lock names are at most 64 characters; a database name may be 64 alone.
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx,
		"SELECT GET_LOCK(CONCAT('logchat_migrate_', MD5(COALESCE(DATABASE(), ''))), 60)").Scan(&got); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	if !got.Valid || got.Int64 != 1 {
		return fmt.Errorf("migrate: another process held the migration lock for 60s")
	}
	defer func() {
		// A fresh context: the lock must be released even when ctx has ended.
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = conn.ExecContext(rctx, "DO RELEASE_LOCK(CONCAT('logchat_migrate_', MD5(COALESCE(DATABASE(), ''))))")
	}()

	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
  version    INT          NOT NULL,
  name       VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  applied_at DATETIME(3)  NOT NULL,
  PRIMARY KEY (version)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`); err != nil {
		return fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	applied := map[int]bool{}
	rows, err := conn.QueryContext(ctx, "SELECT version FROM schema_migrations")
	if err != nil {
		return fmt.Errorf("migrate: read schema_migrations: %w", err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return fmt.Errorf("migrate: read schema_migrations: %w", err)
		}
		applied[v] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("migrate: read schema_migrations: %w", err)
	}

	for _, m := range migs {
		if applied[m.version] {
			continue
		}
		for i, stmt := range m.statements {
			if _, err := conn.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("migrate %s, statement %d: %w", m.name, i+1, err)
			}
		}
		if _, err := conn.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
			m.version, m.name, dbTime(time.Now())); err != nil {
			return fmt.Errorf("migrate %s: record: %w", m.name, err)
		}
	}
	return nil
}
