package sqlstore

import (
	"context"
	"database/sql"

	"github.com/pressly/goose/v3"
)

// outboxTraceMigration adds outbox.traceparent: the W3C trace context of the
// request that staged the event, so that the relay appends the event in that
// request's trace, as a send's append is (docs/design.md, "Logs and
// traces"). Empty for rows staged before, or outside any trace. A Go
// migration because a repeated ALTER needs a guard (addColumnOnce).
func outboxTraceMigration() *goose.Migration {
	return goose.NewGoMigration(9,
		&goose.GoFunc{RunDB: func(ctx context.Context, db *sql.DB) error {
			return addColumnOnce(ctx, db, "outbox", "traceparent", "VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL DEFAULT ''")
		}},
		&goose.GoFunc{RunDB: func(ctx context.Context, db *sql.DB) error {
			_, err := db.ExecContext(ctx, "ALTER TABLE outbox DROP COLUMN traceparent")
			return err
		}},
	)
}
