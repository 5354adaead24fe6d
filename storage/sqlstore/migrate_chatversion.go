package sqlstore

import (
	"context"
	"database/sql"

	"github.com/pressly/goose/v3"
)

// chatVersionMigration adds chats.version: the number of changes the gateway
// has staged for the chat (creation, members, roles, title, members' names).
// Each staged event carries the version it made (event.Envelope.ChatVersion),
// so that the persister can rebuild chats and memberships from the log (a
// restore from a backup, replayed) and apply each change only over an older
// state: on a live system the gateway is always ahead and those events change
// nothing. (Number 8: 7 is left to the search index's migration, written in
// parallel.)
func chatVersionMigration() *goose.Migration {
	return goose.NewGoMigration(8,
		&goose.GoFunc{RunDB: func(ctx context.Context, db *sql.DB) error {
			return addColumnOnce(ctx, db, "chats", "version", "BIGINT NOT NULL DEFAULT 0")
		}},
		&goose.GoFunc{RunDB: func(ctx context.Context, db *sql.DB) error {
			_, err := db.ExecContext(ctx, "ALTER TABLE chats DROP COLUMN version")
			return err
		}},
	)
}
