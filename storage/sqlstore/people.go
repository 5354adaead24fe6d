package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/logchat/shared/domain"
)

// ProfileRow is a user's profile as stored, with their privacy settings:
// what a viewer may see of it is the gateway's rule.
type ProfileRow struct {
	domain.Profile
	Privacy domain.Privacy
}

// Profile reads a user's profile. ErrNotFound when there is no such user.
func (s *Store) Profile(ctx context.Context, id int64) (ProfileRow, error) {
	var p ProfileRow
	var avatar sql.NullString
	var seen sql.NullTime
	var lastSeen, dm string
	err := s.main.QueryRowContext(ctx,
		"SELECT id, name, avatar_key, about, last_seen_at, last_seen_privacy, dm_privacy FROM users WHERE id = ?", id).
		Scan(&p.ID, &p.Name, &avatar, &p.About, &seen, &lastSeen, &dm)
	if err != nil {
		return ProfileRow{}, notFound("profile", err)
	}
	p.AvatarURL = avatarURL(avatar)
	if seen.Valid {
		t := seen.Time
		p.LastSeenAt = &t
	}
	p.Privacy = domain.Privacy{LastSeen: domain.Visibility(lastSeen), DirectMessages: domain.Visibility(dm)}
	return p, nil
}

// SetAbout sets a user's "about" text.
func (s *Store) SetAbout(ctx context.Context, id int64, about string) error {
	if _, err := s.main.ExecContext(ctx, "UPDATE users SET about = ? WHERE id = ?", about, id); err != nil {
		return fmt.Errorf("set about: %w", err)
	}
	return nil
}

// SetPrivacy sets a user's privacy settings.
func (s *Store) SetPrivacy(ctx context.Context, id int64, p domain.Privacy) error {
	if _, err := s.main.ExecContext(ctx, "UPDATE users SET last_seen_privacy = ?, dm_privacy = ? WHERE id = ?",
		string(p.LastSeen), string(p.DirectMessages), id); err != nil {
		return fmt.Errorf("set privacy: %w", err)
	}
	return nil
}

// UpdateUser changes a user's name (when name is not "") or avatar (when
// avatarKey is not nil; "" removes it) and, in the same transaction, stages
// the event stage(the user before) makes for each chat the user is a member
// of (the chat with the user as its one member, as they are afterwards), so that every
// chat's projections learn the change through the log. It returns the user
// before and after. A name taken (ignoring case) or looking like a taken one
// is domain.ErrConflict.
func (s *Store) UpdateUser(ctx context.Context, id int64, name string, avatarKey *string, stage func(before domain.User) Stage) (before, after domain.User, err error) {
	err = inTx(ctx, s.main, nil, func(tx *sql.Tx) error {
		var avatar sql.NullString
		before = domain.User{ID: id}
		if err := tx.QueryRowContext(ctx, "SELECT name, avatar_key FROM users WHERE id = ? FOR UPDATE", id).Scan(&before.Name, &avatar); err != nil {
			return notFound("user", err)
		}
		before.AvatarURL = avatarURL(avatar)
		after = before
		if name != "" && name != before.Name {
			_, err := tx.ExecContext(ctx, "UPDATE users SET name = ?, name_key = ?, name_skeleton = ? WHERE id = ?",
				name, nameKey(name), domain.NameSkeleton(name), id)
			if isMySQLError(err, errDupEntry) {
				return fmt.Errorf("rename to %q: %w", name, domain.ErrConflict)
			}
			if err != nil {
				return fmt.Errorf("rename: %w", err)
			}
			after.Name = name
		}
		if avatarKey != nil {
			key := sql.NullString{String: *avatarKey, Valid: *avatarKey != ""}
			if _, err := tx.ExecContext(ctx, "UPDATE users SET avatar_key = ? WHERE id = ?", key, id); err != nil {
				return fmt.Errorf("set avatar: %w", err)
			}
			after.AvatarURL = avatarURL(key)
		}
		if after.Name == before.Name && equalURL(after.AvatarURL, before.AvatarURL) {
			return nil
		}
		// Lock the user's chats (in id order, as every change of a chat
		// locks its row first) before reading the roles with a locking read:
		// a role change of one of them then either commits first, and its
		// role is read here, or waits, and its event (built after the lock)
		// shows the new name. Without it, each event could carry the other's
		// stale half and projections end with a stale role or name.
		locked, err := tx.QueryContext(ctx, `SELECT c.id FROM chats c JOIN chat_members m ON m.chat_id = c.id
			WHERE m.user_id = ? ORDER BY c.id FOR UPDATE`, id)
		if err != nil {
			return fmt.Errorf("lock the user's chats: %w", err)
		}
		if err := locked.Close(); err != nil {
			return fmt.Errorf("lock the user's chats: %w", err)
		}
		rows, err := tx.QueryContext(ctx, "SELECT chat_id, role FROM chat_members WHERE user_id = ? ORDER BY chat_id FOR UPDATE", id)
		if err != nil {
			return fmt.Errorf("the user's chats: %w", err)
		}
		var chats []domain.Chat
		for rows.Next() {
			var c domain.Chat
			var role string
			if err := rows.Scan(&c.ID, &role); err != nil {
				rows.Close()
				return err
			}
			c.Members = []domain.Member{{User: after, Role: domain.Role(role)}}
			chats = append(chats, c)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		st := stage(before)
		for _, c := range chats {
			if err := stageEvent(ctx, tx, st, &c); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return domain.User{}, domain.User{}, fmt.Errorf("update user %d: %w", id, err)
	}
	return before, after, nil
}

func equalURL(a, b *string) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

// Block records that userID blocks blockedID (again: no change).
func (s *Store) Block(ctx context.Context, userID, blockedID int64, at time.Time) error {
	if _, err := s.main.ExecContext(ctx, "INSERT IGNORE INTO blocks (user_id, blocked_id, created_at) VALUES (?, ?, ?)",
		userID, blockedID, dbTime(at)); err != nil {
		return fmt.Errorf("block: %w", err)
	}
	return nil
}

// Unblock removes a block (none: no change).
func (s *Store) Unblock(ctx context.Context, userID, blockedID int64) error {
	if _, err := s.main.ExecContext(ctx, "DELETE FROM blocks WHERE user_id = ? AND blocked_id = ?", userID, blockedID); err != nil {
		return fmt.Errorf("unblock: %w", err)
	}
	return nil
}

// Blocked lists the users userID blocks, most recent first.
func (s *Store) Blocked(ctx context.Context, userID int64) ([]domain.User, error) {
	rows, err := s.main.QueryContext(ctx, `SELECT u.id, u.name, u.avatar_key FROM blocks b JOIN users u ON u.id = b.blocked_id
		WHERE b.user_id = ? ORDER BY b.created_at DESC, u.id`, userID)
	if err != nil {
		return nil, fmt.Errorf("blocked users: %w", err)
	}
	return scanUsers(rows)
}

// Blocks reports whether a blocks b, and whether b blocks a.
func (s *Store) Blocks(ctx context.Context, a, b int64) (aBlocksB, bBlocksA bool, err error) {
	rows, err := s.main.QueryContext(ctx,
		"SELECT user_id FROM blocks WHERE (user_id = ? AND blocked_id = ?) OR (user_id = ? AND blocked_id = ?)", a, b, b, a)
	if err != nil {
		return false, false, fmt.Errorf("blocks: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var who int64
		if err := rows.Scan(&who); err != nil {
			return false, false, err
		}
		aBlocksB = aBlocksB || who == a
		bBlocksA = bBlocksA || who == b
	}
	return aBlocksB, bBlocksA, rows.Err()
}

// Avatar is one stored image.
type Avatar struct {
	ContentType string
	Data        []byte
}

// PutAvatarImages stores an avatar's images (one per size) under key.
// Storing a key again changes nothing (the key is the content's hash).
func (s *Store) PutAvatarImages(ctx context.Context, userID int64, key string, images map[int]Avatar, at time.Time) error {
	return inTx(ctx, s.main, nil, func(tx *sql.Tx) error {
		for size, img := range images {
			if _, err := tx.ExecContext(ctx, `INSERT IGNORE INTO avatars (avatar_key, size, user_id, content_type, data, created_at)
				VALUES (?, ?, ?, ?, ?, ?)`, key, size, userID, img.ContentType, img.Data, dbTime(at)); err != nil {
				return fmt.Errorf("store avatar: %w", err)
			}
		}
		return nil
	})
}

// DeleteAvatarImages removes every image of a user's but the one under keep.
func (s *Store) DeleteAvatarImages(ctx context.Context, userID int64, keep string) error {
	if _, err := s.main.ExecContext(ctx, "DELETE FROM avatars WHERE user_id = ? AND avatar_key <> ?", userID, keep); err != nil {
		return fmt.Errorf("delete avatars: %w", err)
	}
	return nil
}

// AvatarImage reads one image of an avatar: the smallest stored size at
// least as big as size. ErrNotFound when there is none.
func (s *Store) AvatarImage(ctx context.Context, key string, size int) (Avatar, error) {
	var a Avatar
	err := s.main.QueryRowContext(ctx, `SELECT content_type, data FROM avatars WHERE avatar_key = ?
		ORDER BY size < ?, ABS(size - ?) LIMIT 1`, key, size, size).Scan(&a.ContentType, &a.Data)
	if errors.Is(err, sql.ErrNoRows) {
		return Avatar{}, fmt.Errorf("avatar %s: %w", key, domain.ErrNotFound)
	}
	if err != nil {
		return Avatar{}, fmt.Errorf("avatar %s: %w", key, err)
	}
	return a, nil
}

// DirectPair is the two members of a direct chat (direct false for a
// group). ErrNotFound when there is no such chat. A direct chat's pair never
// changes, so callers may keep the answer.
func (s *Store) DirectPair(ctx context.Context, chatID int64) (a, b int64, direct bool, err error) {
	var key sql.NullString
	if err := s.main.QueryRowContext(ctx, "SELECT direct_key FROM chats WHERE id = ?", chatID).Scan(&key); err != nil {
		return 0, 0, false, notFound("chat", err)
	}
	if !key.Valid {
		return 0, 0, false, nil
	}
	if _, err := fmt.Sscanf(key.String, "%d:%d", &a, &b); err != nil {
		return 0, 0, false, fmt.Errorf("direct key %q of chat %d: %w", key.String, chatID, err)
	}
	return a, b, true, nil
}

// DirectChatOf is the direct chat of a and b; ErrNotFound when they have none.
func (s *Store) DirectChatOf(ctx context.Context, a, b int64) (domain.Chat, error) {
	return s.directChat(ctx, directKey(a, b))
}
