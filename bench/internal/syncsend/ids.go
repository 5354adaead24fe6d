package syncsend

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/go-sql-driver/mysql"

	"github.com/logchat/shared/domain"
)

// Counter hands out ids from named counters in a table of the baseline's own,
// id_blocks, which it creates itself: production's schema does not have it.
// A database whose schema once had it (migration 0002 of earlier versions)
// keeps its rows.
type Counter struct{ db *sql.DB }

// OpenCounter connects to the database of dsn and creates the table if it is
// missing.
func OpenCounter(ctx context.Context, dsn string) (*Counter, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("id counter: parse dsn: %w", err)
	}
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return nil, fmt.Errorf("id counter: %w", err)
	}
	db.SetMaxOpenConns(4)
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS id_blocks (
  name VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  next BIGINT      NOT NULL,
  PRIMARY KEY (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`); err != nil {
		db.Close()
		return nil, fmt.Errorf("id counter: create table id_blocks: %w", err)
	}
	return &Counter{db: db}, nil
}

// Close closes the counter's connections.
func (c *Counter) Close() error { return c.db.Close() }

// Reserve hands out n consecutive ids of the counter name and returns the
// first. A new counter starts above every message id already stored, so that
// ids it hands out never fall below a chat's existing messages. Concurrent
// callers get disjoint blocks (the row lock of the counter serializes them).
func (c *Counter) Reserve(ctx context.Context, name string, n int64) (int64, error) {
	if n <= 0 {
		return 0, domain.Invalid("reserve ids: n must be positive, got %d", n)
	}
	for range 3 {
		// LAST_INSERT_ID(expr) makes the statement report expr as its insert
		// id: the counter's new value, read without a second round trip.
		res, err := c.db.ExecContext(ctx, "UPDATE id_blocks SET next = LAST_INSERT_ID(next + ?) WHERE name = ?", n, name)
		if err != nil {
			return 0, fmt.Errorf("reserve ids: %w", err)
		}
		if rows, _ := res.RowsAffected(); rows == 1 {
			next, err := res.LastInsertId()
			if err != nil {
				return 0, fmt.Errorf("reserve ids: %w", err)
			}
			return next - n, nil
		}
		// First use: start above the messages already stored (read from
		// the schema directly: a benchmark tool's one query of its own).
		var top sql.NullInt64
		if err := c.db.QueryRowContext(ctx, "SELECT MAX(id) FROM messages").Scan(&top); err != nil {
			return 0, fmt.Errorf("reserve ids: highest message id: %w", err)
		}
		if _, err := c.db.ExecContext(ctx, "INSERT IGNORE INTO id_blocks (name, next) VALUES (?, ?)", name, top.Int64+1); err != nil {
			return 0, fmt.Errorf("reserve ids: create counter %s: %w", name, err)
		}
	}
	return 0, errors.New("reserve ids: counter row vanished")
}
