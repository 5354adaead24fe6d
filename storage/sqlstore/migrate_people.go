package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/pressly/goose/v3"
)

// peopleMigration adds what profiles keep (API.md 1.1, "People"): users'
// about text, avatar, privacy settings and last-seen time; blocks; and the
// avatars themselves. Avatars live in MySQL (one row per image and size) so
// that every gateway instance serves them without a shared disk; they are
// small (at most 512×512, re-encoded) and immutable (a new image is a new
// key), so a CDN or the browser caches them for good.
func peopleMigration() *goose.Migration {
	columns := [][2]string{
		{"about", "VARCHAR(500) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL DEFAULT ''"},
		{"avatar_key", "VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NULL"},
		{"last_seen_privacy", "VARCHAR(8) CHARACTER SET ascii COLLATE ascii_bin NOT NULL DEFAULT 'everyone'"},
		{"dm_privacy", "VARCHAR(8) CHARACTER SET ascii COLLATE ascii_bin NOT NULL DEFAULT 'everyone'"},
		{"last_seen_at", "DATETIME(3) NULL"},
	}
	return goose.NewGoMigration(6,
		&goose.GoFunc{RunDB: func(ctx context.Context, db *sql.DB) error {
			for _, c := range columns {
				if err := addColumnOnce(ctx, db, "users", c[0], c[1]); err != nil {
					return err
				}
			}
			for _, ddl := range []string{
				`CREATE TABLE IF NOT EXISTS blocks (
				  user_id    BIGINT NOT NULL,  -- who blocks
				  blocked_id BIGINT NOT NULL,
				  created_at DATETIME(3) NOT NULL,
				  PRIMARY KEY (user_id, blocked_id),
				  KEY ix_blocks_blocked (blocked_id, user_id)
				) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`,
				`CREATE TABLE IF NOT EXISTS avatars (
				  avatar_key   VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
				  size         SMALLINT    NOT NULL,  -- the longer side in pixels, at most
				  user_id      BIGINT      NOT NULL,
				  content_type VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
				  data         MEDIUMBLOB  NOT NULL,
				  created_at   DATETIME(3) NOT NULL,
				  PRIMARY KEY (avatar_key, size),
				  KEY ix_avatars_user (user_id)
				) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci`,
			} {
				if _, err := db.ExecContext(ctx, ddl); err != nil {
					return fmt.Errorf("people tables: %w", err)
				}
			}
			return nil
		}},
		&goose.GoFunc{RunDB: func(ctx context.Context, db *sql.DB) error {
			for _, q := range []string{"DROP TABLE IF EXISTS avatars", "DROP TABLE IF EXISTS blocks",
				`ALTER TABLE users DROP COLUMN about, DROP COLUMN avatar_key, DROP COLUMN last_seen_privacy,
				   DROP COLUMN dm_privacy, DROP COLUMN last_seen_at`} {
				if _, err := db.ExecContext(ctx, q); err != nil {
					return err
				}
			}
			return nil
		}},
	)
}
