package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/pressly/goose/v3"
)

// lifecycleMigration adds what the message life-cycle (API.md 1.1,
// "Messages") keeps in MySQL: edits, deletes, forwards, and each user's
// hidden messages and cleared history. A Go migration only because a
// repeated ALTER needs a guard (addColumnOnce) that SQL files cannot have.
//
//   - messages.edited_at, edit_seq: the last edit and its event's sequence; an
//     edit applies only over an older one, so replays end in log order.
//   - messages.deleted_at: a tombstone. A deleted message keeps its row (so
//     that a replayed message.created cannot bring it back: INSERT IGNORE
//     meets the row) but not its text, which is emptied for good. Earlier
//     versions of edited texts are not kept either: the log holds them until
//     its retention (7 days) drops them, and nothing else does.
//   - messages.fwd_*: the original of a forwarded message.
//   - hidden_messages: a user's "delete for me", one row per message.
//   - history_cleared: a user's "clear history": every message up to
//     through_id is hidden from them.
func lifecycleMigration() *goose.Migration {
	columns := [][2]string{
		{"edited_at", "DATETIME(3) NULL"},
		{"edit_seq", "BIGINT NOT NULL DEFAULT 0"},
		{"deleted_at", "DATETIME(3) NULL"},
		{"fwd_message_id", "BIGINT NULL"},
		{"fwd_chat_id", "BIGINT NULL"},
		{"fwd_author_id", "BIGINT NULL"},
		{"fwd_sent_at", "DATETIME(3) NULL"},
	}
	return goose.NewGoMigration(5,
		&goose.GoFunc{RunDB: func(ctx context.Context, db *sql.DB) error {
			for _, c := range columns {
				if err := addColumnOnce(ctx, db, "messages", c[0], c[1]); err != nil {
					return err
				}
			}
			for _, ddl := range []string{
				`CREATE TABLE IF NOT EXISTS hidden_messages (
				  chat_id    BIGINT NOT NULL,
				  user_id    BIGINT NOT NULL,
				  message_id BIGINT NOT NULL,
				  PRIMARY KEY (chat_id, user_id, message_id)
				) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`,
				`CREATE TABLE IF NOT EXISTS history_cleared (
				  chat_id    BIGINT NOT NULL,
				  user_id    BIGINT NOT NULL,
				  through_id BIGINT NOT NULL,  -- only ever moves forward (GREATEST on upsert)
				  PRIMARY KEY (chat_id, user_id)
				) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`,
			} {
				if _, err := db.ExecContext(ctx, ddl); err != nil {
					return fmt.Errorf("message life-cycle tables: %w", err)
				}
			}
			return nil
		}},
		&goose.GoFunc{RunDB: func(ctx context.Context, db *sql.DB) error {
			for _, q := range []string{"DROP TABLE IF EXISTS history_cleared", "DROP TABLE IF EXISTS hidden_messages",
				`ALTER TABLE messages DROP COLUMN edited_at, DROP COLUMN edit_seq, DROP COLUMN deleted_at,
				   DROP COLUMN fwd_message_id, DROP COLUMN fwd_chat_id, DROP COLUMN fwd_author_id, DROP COLUMN fwd_sent_at`} {
				if _, err := db.ExecContext(ctx, q); err != nil {
					return err
				}
			}
			return nil
		}},
	)
}
