package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/pressly/goose/v3"

	"github.com/logchat/shared/domain"
)

// nameSkeletonMigration adds users.name_skeleton, the UTS #39 confusable
// skeleton that makes look-alike names ("alice" and Cyrillic "аlice") count
// as taken. It is a Go migration because the skeleton is computed in Go
// (domain.NameSkeleton): no SQL function knows it.
//
// Users registered before it may already include look-alikes. The oldest of
// each group keeps the bare skeleton; the others get it suffixed with their
// id, so that nobody loses an account, and nobody can register a new
// look-alike of any of them.
func nameSkeletonMigration() *goose.Migration {
	return goose.NewGoMigration(3,
		&goose.GoFunc{RunDB: func(ctx context.Context, db *sql.DB) error {
			if err := addColumnOnce(ctx, db, "users", "name_skeleton",
				"VARCHAR(160) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL AFTER name_key"); err != nil {
				return err
			}
			if err := backfillSkeletons(ctx, db); err != nil {
				return err
			}
			return addIndexOnce(ctx, db, "users", "uq_users_name_skeleton", "UNIQUE KEY uq_users_name_skeleton (name_skeleton)")
		}},
		&goose.GoFunc{RunDB: func(ctx context.Context, db *sql.DB) error {
			_, err := db.ExecContext(ctx, "ALTER TABLE users DROP INDEX uq_users_name_skeleton, DROP COLUMN name_skeleton")
			return err
		}},
	)
}

func backfillSkeletons(ctx context.Context, db *sql.DB) error {
	taken := map[string]bool{}
	rows, err := db.QueryContext(ctx, "SELECT name_skeleton FROM users WHERE name_skeleton IS NOT NULL")
	if err != nil {
		return fmt.Errorf("read skeletons: %w", err)
	}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return err
		}
		taken[s] = true
	}
	rows.Close()
	type user struct {
		id   int64
		name string
	}
	var todo []user
	rows, err = db.QueryContext(ctx, "SELECT id, name FROM users WHERE name_skeleton IS NULL ORDER BY id")
	if err != nil {
		return fmt.Errorf("read users: %w", err)
	}
	for rows.Next() {
		var u user
		if err := rows.Scan(&u.id, &u.name); err != nil {
			rows.Close()
			return err
		}
		todo = append(todo, u)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, u := range todo {
		s := domain.NameSkeleton(u.name)
		if taken[s] {
			s = fmt.Sprintf("%s#%d", s, u.id)
		}
		taken[s] = true
		if _, err := db.ExecContext(ctx, "UPDATE users SET name_skeleton = ? WHERE id = ?", s, u.id); err != nil {
			return fmt.Errorf("set skeleton of user %d: %w", u.id, err)
		}
	}
	return nil
}

// addColumnOnce and addIndexOnce make an ALTER safe to run again (MySQL 8 has
// no ADD COLUMN IF NOT EXISTS; MariaDB has, but both must run these).
func addColumnOnce(ctx context.Context, db *sql.DB, table, column, definition string) error {
	var n int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.columns
		WHERE table_schema = DATABASE() AND table_name = ? AND column_name = ?`, table, column).Scan(&n); err != nil {
		return fmt.Errorf("look up column %s.%s: %w", table, column, err)
	}
	if n > 0 {
		return nil
	}
	if _, err := db.ExecContext(ctx, "ALTER TABLE "+table+" ADD COLUMN "+column+" "+definition); err != nil {
		return fmt.Errorf("add column %s.%s: %w", table, column, err)
	}
	return nil
}

func addIndexOnce(ctx context.Context, db *sql.DB, table, index, definition string) error {
	var n int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.statistics
		WHERE table_schema = DATABASE() AND table_name = ? AND index_name = ?`, table, index).Scan(&n); err != nil {
		return fmt.Errorf("look up index %s.%s: %w", table, index, err)
	}
	if n > 0 {
		return nil
	}
	if _, err := db.ExecContext(ctx, "ALTER TABLE "+table+" ADD "+definition); err != nil {
		return fmt.Errorf("add index %s.%s: %w", table, index, err)
	}
	return nil
}
