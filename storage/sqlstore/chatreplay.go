package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/logchat/shared/domain"
)

// Chats and memberships replayed from the log.
//
// The gateway writes chats and chat_members itself, in the transaction that
// stages the change's event (outbox.go), so on a live system the persister
// finds every such event applied already. It applies them anyway, each only
// over an older version of the chat (chats.version, which every staged
// change increments and its event carries): then a database restored from a
// backup and replayed from its high-water marks gets back the chats, members,
// roles and titles changed since the backup, and a replay into an empty
// database rebuilds them (ingest verify compares them). Users are not in the
// log (their password hashes must not be): a restore keeps the backup's.

// ChatChangeOp is what a ChatChange does.
type ChatChangeOp int

const (
	ChatCreate    ChatChangeOp = iota + 1 // the chat and its first members
	ChatRetitle                           // a group's title
	MemberJoin                            // a member added (or a direct chat's member back)
	MemberLeave                           // a member removed
	MemberSetRole                         // a member's role (also sent with a rename: the role is unchanged)
)

// ChatChange is one chat.* or member.* event as the persister applies it.
type ChatChange struct {
	Op      ChatChangeOp
	ChatID  int64
	Version int64     // the chat's version after the change (event.Envelope.ChatVersion)
	ActorID int64     // ChatCreate: who created it
	At      time.Time // ChatCreate: created_at; MemberJoin: joined_at
	Chat    domain.Chat
	// ChatCreate: Chat (kind, title, members); ChatRetitle: Chat.Title;
	// MemberJoin, MemberSetRole: Member; MemberLeave: Member.User.ID.
	Member domain.Member
}

func (c ChatChange) validate() error {
	if c.ChatID <= 0 || c.Version <= 0 || c.Op < ChatCreate || c.Op > MemberSetRole {
		return domain.Invalid("chat change %+v", c)
	}
	switch c.Op {
	case ChatCreate:
		if c.ActorID <= 0 || len(c.Chat.Members) == 0 || (c.Chat.Kind != domain.KindDirect && c.Chat.Kind != domain.KindGroup) ||
			(c.Chat.Kind == domain.KindDirect && (len(c.Chat.Members) != 2 || c.Chat.Title != "")) ||
			(c.Chat.Kind == domain.KindGroup && !validTitle(c.Chat.Title)) {
			return domain.Invalid("chat.created of chat %d", c.ChatID)
		}
		for _, m := range c.Chat.Members {
			if m.User.ID <= 0 || !validRole(m.Role) {
				return domain.Invalid("chat.created of chat %d: member %+v", c.ChatID, m)
			}
		}
	case ChatRetitle:
		if !validTitle(c.Chat.Title) {
			return domain.Invalid("chat.updated of chat %d: title", c.ChatID)
		}
	case MemberJoin, MemberSetRole:
		if c.Member.User.ID <= 0 || !validRole(c.Member.Role) {
			return domain.Invalid("member change of chat %d: member %+v", c.ChatID, c.Member)
		}
	case MemberLeave:
		if c.Member.User.ID <= 0 {
			return domain.Invalid("member.removed of chat %d: no user", c.ChatID)
		}
	}
	return nil
}

// applyChatChanges applies changes in log order, each only over an older
// version of its chat (or, for a creation, where the chat is missing).
// Idempotent: applied again, every change finds its version there.
func applyChatChanges(ctx context.Context, tx *sql.Tx, changes []ChatChange) error {
	for _, c := range changes {
		if c.Op == ChatCreate {
			if err := replayCreate(ctx, tx, c); err != nil {
				return fmt.Errorf("chat %d created: %w", c.ChatID, err)
			}
			continue
		}
		// Taking the version is also the row lock; 0 rows: the chat is
		// already there (the gateway wrote it) or missing (its creation is
		// older than the log's first event, or came before versions).
		res, err := tx.ExecContext(ctx, "UPDATE chats SET version = ? WHERE id = ? AND version < ?", c.Version, c.ChatID, c.Version)
		if err != nil {
			return fmt.Errorf("chat %d version %d: %w", c.ChatID, c.Version, err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			if err != nil {
				return err
			}
			continue
		}
		switch c.Op {
		case ChatRetitle:
			_, err = tx.ExecContext(ctx, "UPDATE chats SET title = ? WHERE id = ?", c.Chat.Title, c.ChatID)
		case MemberJoin:
			_, err = tx.ExecContext(ctx, `INSERT INTO chat_members (chat_id, user_id, role, joined_at) VALUES (?, ?, ?, ?)
				ON DUPLICATE KEY UPDATE role = VALUES(role), joined_at = VALUES(joined_at)`,
				c.ChatID, c.Member.User.ID, string(c.Member.Role), dbTime(c.At))
		case MemberLeave:
			_, err = tx.ExecContext(ctx, "DELETE FROM chat_members WHERE chat_id = ? AND user_id = ?", c.ChatID, c.Member.User.ID)
		case MemberSetRole:
			_, err = tx.ExecContext(ctx, "UPDATE chat_members SET role = ? WHERE chat_id = ? AND user_id = ?",
				string(c.Member.Role), c.ChatID, c.Member.User.ID)
		}
		if err != nil {
			return fmt.Errorf("chat %d version %d: %w", c.ChatID, c.Version, err)
		}
	}
	return nil
}

// replayCreate inserts a chat and its first members where the chat is missing.
func replayCreate(ctx context.Context, tx *sql.Tx, c ChatChange) error {
	at := dbTime(c.At)
	var key sql.NullString
	if c.Chat.Kind == domain.KindDirect {
		key = sql.NullString{String: directKey(c.Chat.Members[0].User.ID, c.Chat.Members[1].User.ID), Valid: true}
	}
	res, err := tx.ExecContext(ctx, `INSERT IGNORE INTO chats
		(id, kind, title, direct_key, created_by, created_at, last_message_id, updated_at, version)
		VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)`,
		c.ChatID, string(c.Chat.Kind), c.Chat.Title, key, c.ActorID, at, at, c.Version)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return err // there already (or its direct pair is: the gateway's chat stands)
	}
	// A chat rebuilt from the log lives where the directory says (a copy of
	// the live one, in a rebuild), else on the main database.
	if _, err := tx.ExecContext(ctx, "INSERT IGNORE INTO chat_shards (chat_id, shard) VALUES (?, ?)", c.ChatID, MainShard); err != nil {
		return err
	}
	return insertMembers(ctx, tx, c.ChatID, c.Chat.Members, at)
}

// validTitle: a group's title as the gateway stores it (normalized).
func validTitle(t string) bool {
	n, err := domain.NormalizeTitle(t)
	return err == nil && n == t
}
