package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/logchat/shared/domain"
)

// presenceChunk bounds the ids of one statement of the presence queries: a
// sweep after a Centrifugo restart can change thousands of users at once.
const presenceChunk = 1000

// SetLastSeen records that the last realtime connection of each of ids
// closed at at (users.last_seen_at, written by the gateway's presence
// tracker; presence is ephemeral and not in the log).
func (s *Store) SetLastSeen(ctx context.Context, ids []int64, at time.Time) error {
	for start := 0; start < len(ids); start += presenceChunk {
		chunk := ids[start:min(start+presenceChunk, len(ids))]
		args := append([]any{at.UTC()}, int64Args(chunk)...)
		if _, err := s.main.ExecContext(ctx,
			"UPDATE users SET last_seen_at = ? WHERE id IN ("+placeholders(len(chunk))+")", args...); err != nil {
			return fmt.Errorf("set last seen: %w", err)
		}
	}
	return nil
}

// PresenceTarget is a direct chat whose other member may see a user's
// presence.
type PresenceTarget struct {
	UserID, ChatID int64
	LastSeenAt     *time.Time // the user's users.last_seen_at
}

// PresenceAudience lists, for each of ids, the direct chats where the
// other member may see the user's presence: the user shows their last seen
// to everyone (API.md 1.1, "People") and does not block that member. The
// rule is the one people.Service.Profile applies to a profile, asked here of
// all of a sweep's users in one query.
func (s *Store) PresenceAudience(ctx context.Context, ids []int64) ([]PresenceTarget, error) {
	var out []PresenceTarget
	for start := 0; start < len(ids); start += presenceChunk {
		chunk := ids[start:min(start+presenceChunk, len(ids))]
		args := append([]any{string(domain.Everyone)}, int64Args(chunk)...)
		rows, err := s.main.QueryContext(ctx, `
			SELECT m.user_id, m.chat_id, u.last_seen_at
			  FROM chat_members m
			  JOIN chats c ON c.id = m.chat_id AND c.direct_key IS NOT NULL
			  JOIN chat_members p ON p.chat_id = m.chat_id AND p.user_id <> m.user_id
			  JOIN users u ON u.id = m.user_id AND u.last_seen_privacy = ?
			 WHERE m.user_id IN (`+placeholders(len(chunk))+`)
			   AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.user_id = m.user_id AND b.blocked_id = p.user_id)`, args...)
		if err != nil {
			return nil, fmt.Errorf("presence audience: %w", err)
		}
		for rows.Next() {
			var t PresenceTarget
			var seen sql.NullTime
			if err := rows.Scan(&t.UserID, &t.ChatID, &seen); err != nil {
				rows.Close()
				return nil, err
			}
			if seen.Valid {
				at := seen.Time
				t.LastSeenAt = &at
			}
			out = append(out, t)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
