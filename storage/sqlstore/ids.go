package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/logchat/shared/domain"
)

// ReserveIDs hands out n consecutive ids of the counter name and returns the
// first. A new counter starts above every message id already stored, so that
// ids it hands out never fall below a chat's existing messages. Concurrent
// callers get disjoint blocks (the row lock of the counter serializes them).
func (s *Store) ReserveIDs(ctx context.Context, name string, n int64) (int64, error) {
	if n <= 0 {
		return 0, domain.Invalid("reserve ids: n must be positive, got %d", n)
	}
	for range 3 {
		// LAST_INSERT_ID(expr) makes the statement report expr as its insert
		// id: the counter's new value, read without a second round trip.
		res, err := s.main.ExecContext(ctx, "UPDATE id_blocks SET next = LAST_INSERT_ID(next + ?) WHERE name = ?", n, name)
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
		// First use: start above the messages already stored.
		var top sql.NullInt64
		if err := s.main.QueryRowContext(ctx, "SELECT MAX(id) FROM messages").Scan(&top); err != nil {
			return 0, fmt.Errorf("reserve ids: highest message id: %w", err)
		}
		if _, err := s.main.ExecContext(ctx, "INSERT IGNORE INTO id_blocks (name, next) VALUES (?, ?)", name, top.Int64+1); err != nil {
			return 0, fmt.Errorf("reserve ids: create counter %s: %w", name, err)
		}
	}
	return 0, errors.New("reserve ids: counter row vanished")
}

// MessageIDByClientID returns the id of the message an author sent with
// clientID in a chat; domain.ErrNotFound when there is none.
func (s *Store) MessageIDByClientID(ctx context.Context, chatID, authorID int64, clientID string) (int64, error) {
	var id int64
	err := s.shards.ShardFor(chatID).DB.QueryRowContext(ctx,
		"SELECT id FROM messages WHERE chat_id = ? AND author_id = ? AND client_id = ?", chatID, authorID, clientID).Scan(&id)
	if err != nil {
		return 0, notFound(fmt.Sprintf("message of chat %d by %d with client_id %q", chatID, authorID, clientID), err)
	}
	return id, nil
}
