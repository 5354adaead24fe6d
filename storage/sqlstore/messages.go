package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/logchat/shared/domain"
)

// HistoryQuery selects a page: the newest Limit (Before and After zero), the
// newest Limit with id < Before, or the oldest Limit with id > After.
// Messages deleted for everyone are never in a page; with a Viewer, neither
// are the messages that user hid or cleared from their own view.
type HistoryQuery struct {
	Before, After int64
	Limit         int
	Viewer        int64 // 0: the chat as it is, for no one in particular
}

// messageColumns are what a message row is read as (scanMessages).
const messageColumns = "chat_id, id, author_id, client_id, text, reply_to_id, sent_at, " +
	"edited_at, deleted_at, fwd_message_id, fwd_chat_id, fwd_author_id, fwd_sent_at"

// notHiddenFrom is the condition that the viewer (the next argument) has
// not hidden a row of messages from their own view.
const notHiddenFrom = "NOT EXISTS (SELECT 1 FROM hidden_messages h WHERE h.chat_id = messages.chat_id AND h.user_id = ? AND h.message_id = messages.id)"

// History returns a page of a chat's messages ascending by id (authors with
// names), and whether more exist beyond the page in its direction.
//
// Each page is one range scan of the primary key (chat_id, id) reading
// Limit+1 rows: the extra row, if present, is what has_more reports.
func (s *Store) History(ctx context.Context, chatID int64, q HistoryQuery) ([]domain.Message, bool, error) {
	if q.Before != 0 && q.After != 0 {
		return nil, false, domain.Invalid("before and after exclude each other")
	}
	if q.Limit <= 0 {
		return nil, false, domain.Invalid("limit must be positive")
	}
	var msgs []domain.Message
	descending := q.After == 0 // pages before a message, and the newest page
	err := s.readChat(ctx, chatID, func(sh Shard) error {
		db := sh.DB
		// Rows the viewer may see: not deleted, above what they cleared, not
		// hidden by them. The LIMIT counts only those, so a page stays full.
		where := "chat_id = ? AND deleted_at IS NULL"
		args := []any{chatID}
		if q.Viewer > 0 {
			cleared, err := clearedThrough(ctx, db, chatID, q.Viewer)
			if err != nil {
				return err
			}
			where += " AND id > ? AND " + notHiddenFrom
			args = append(args, cleared, q.Viewer)
		}
		var query string
		switch {
		case q.After != 0:
			query = "SELECT " + messageColumns + " FROM messages WHERE " + where + " AND id > ? ORDER BY id ASC LIMIT ?"
			args = append(args, q.After)
		case q.Before != 0:
			query = "SELECT " + messageColumns + " FROM messages WHERE " + where + " AND id < ? ORDER BY id DESC LIMIT ?"
			args = append(args, q.Before)
		default:
			query = "SELECT " + messageColumns + " FROM messages WHERE " + where + " ORDER BY id DESC LIMIT ?"
		}
		args = append(args, q.Limit+1)
		rows, err := db.QueryContext(ctx, query, args...)
		if err != nil {
			return err
		}
		msgs, err = scanMessages(rows)
		return err
	})
	if err != nil {
		return nil, false, fmt.Errorf("history: %w", err)
	}
	more := len(msgs) > q.Limit
	if more {
		msgs = msgs[:q.Limit] // the extra row is the farthest in the page's direction
	}
	if descending {
		for i, j := 0, len(msgs)-1; i < j; i, j = i+1, j-1 {
			msgs[i], msgs[j] = msgs[j], msgs[i]
		}
	}
	if err := s.fillAuthors(ctx, msgs); err != nil {
		return nil, false, fmt.Errorf("history: %w", err)
	}
	return msgs, more, nil
}

// clearedThrough is the id up to which userID cleared their history of a
// chat (0 when they never did).
func clearedThrough(ctx context.Context, q querier, chatID, userID int64) (int64, error) {
	var through int64
	err := q.QueryRowContext(ctx, "SELECT through_id FROM history_cleared WHERE chat_id = ? AND user_id = ?", chatID, userID).Scan(&through)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return through, err
}

// Message returns one message of a chat, a deleted one too (Deleted set, its
// text gone). ErrNotFound when it is not (yet) there.
func (s *Store) Message(ctx context.Context, chatID, messageID int64) (domain.Message, error) {
	var msgs []domain.Message
	err := s.readChat(ctx, chatID, func(sh Shard) error {
		rows, err := sh.DB.QueryContext(ctx,
			"SELECT "+messageColumns+" FROM messages WHERE chat_id = ? AND id = ?", chatID, messageID)
		if err != nil {
			return err
		}
		msgs, err = scanMessages(rows)
		return err
	})
	if err != nil {
		return domain.Message{}, fmt.Errorf("message: %w", err)
	}
	if len(msgs) == 0 {
		return domain.Message{}, fmt.Errorf("message %d of chat %d: %w", messageID, chatID, domain.ErrNotFound)
	}
	if err := s.fillAuthors(ctx, msgs); err != nil {
		return domain.Message{}, fmt.Errorf("message: %w", err)
	}
	return msgs[0], nil
}

// MessagesByID returns the messages with the given ids (deleted ones too,
// marked Deleted), keyed by chat id and
// message id pairs (chatIDs[i], ids[i]); missing ones are absent from the map.
// The map's key is the message id (unique across chats: it is the event's
// stream sequence).
func (s *Store) MessagesByID(ctx context.Context, chatIDs, ids []int64) (map[int64]domain.Message, error) {
	if len(chatIDs) != len(ids) {
		return nil, domain.Invalid("messages by id: %d chat ids for %d message ids", len(chatIDs), len(ids))
	}
	want := make(map[[2]int64]bool, len(ids))
	for i, id := range ids {
		want[[2]int64{chatIDs[i], id}] = true
	}
	out := make(map[int64]domain.Message, len(ids))
	var found []domain.Message
	err := s.readByShard(ctx, chatIDs, ids, func(groups map[string]*shardKeys) error {
		found = nil
		for _, k := range groups {
			msgs, err := selectMessages(ctx, k.db, "SELECT "+messageColumns+" FROM messages", k.chats, k.ids)
			if err != nil {
				return err
			}
			for _, m := range msgs {
				if want[[2]int64{m.ChatID, m.ID}] {
					found = append(found, m)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("messages by id: %w", err)
	}
	if err := s.fillAuthors(ctx, found); err != nil {
		return nil, fmt.Errorf("messages by id: %w", err)
	}
	for _, m := range found {
		out[m.ID] = m
	}
	return out, nil
}

type shardKeys struct {
	db    *sql.DB
	chats []int64
	ids   []int64
}

// readByShard is readShards with the chat ids (and the message ids paired
// with them, index for index, when ids is not nil) grouped by the shard that
// holds each chat.
func (s *Store) readByShard(ctx context.Context, chats, ids []int64, read func(map[string]*shardKeys) error) error {
	return s.readShards(ctx, chats, func(shards map[int64]Shard) error { return read(groupByShard(shards, chats, ids)) })
}

func groupByShard(shards map[int64]Shard, chats, ids []int64) map[string]*shardKeys {
	out := map[string]*shardKeys{}
	for i, c := range chats {
		sh := shards[c]
		k := out[sh.Name]
		if k == nil {
			k = &shardKeys{db: sh.DB}
			out[sh.Name] = k
		}
		k.chats = append(k.chats, c)
		if ids != nil {
			k.ids = append(k.ids, ids[i])
		}
	}
	return out
}

// selectMessages runs "<selectFrom> WHERE chat_id IN (..) AND id IN (..)" in
// chunks. The result may hold pairs that were not asked for (the two lists
// form a cross product); callers filter.
func selectMessages(ctx context.Context, q querier, selectFrom string, chatIDs, ids []int64) ([]domain.Message, error) {
	chats := uniqueIDs(chatIDs)
	ids = uniqueIDs(ids)
	var out []domain.Message
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), maxInList)]
		ids = ids[len(chunk):]
		for cs := chats; len(cs) > 0; {
			cchunk := cs[:min(len(cs), maxInList)]
			cs = cs[len(cchunk):]
			args := append(int64Args(cchunk), int64Args(chunk)...)
			rows, err := q.QueryContext(ctx, selectFrom+
				" WHERE chat_id IN ("+placeholders(len(cchunk))+") AND id IN ("+placeholders(len(chunk))+")", args...)
			if err != nil {
				return nil, err
			}
			msgs, err := scanMessages(rows)
			if err != nil {
				return nil, err
			}
			out = append(out, msgs...)
		}
	}
	return out, nil
}

func scanMessages(rows *sql.Rows) ([]domain.Message, error) {
	defer rows.Close()
	msgs := []domain.Message{}
	for rows.Next() {
		var m domain.Message
		var reply, fwdID, fwdChat, fwdAuthor sql.NullInt64
		var edited, deleted, fwdSent sql.NullTime
		if err := rows.Scan(&m.ChatID, &m.ID, &m.Author.ID, &m.ClientID, &m.Text, &reply, &m.SentAt,
			&edited, &deleted, &fwdID, &fwdChat, &fwdAuthor, &fwdSent); err != nil {
			return nil, err
		}
		if reply.Valid {
			r := reply.Int64
			m.ReplyToID = &r
		}
		if edited.Valid {
			t := edited.Time
			m.EditedAt = &t
		}
		m.Deleted = deleted.Valid
		if fwdID.Valid {
			m.Forward = &domain.Forward{MessageID: fwdID.Int64, ChatID: fwdChat.Int64,
				Author: domain.User{ID: fwdAuthor.Int64}, SentAt: fwdSent.Time}
		}
		msgs = append(msgs, m)
	}
	return msgs, rows.Err()
}

// fillAuthors sets the authors' names and avatars (and those of forwarded
// messages' original authors) from the main database: users and messages
// may live on different databases, so this is not a SQL join.
func (s *Store) fillAuthors(ctx context.Context, msgs []domain.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	ids := make([]int64, 0, len(msgs))
	for _, m := range msgs {
		ids = append(ids, m.Author.ID)
		if m.Forward != nil {
			ids = append(ids, m.Forward.Author.ID)
		}
	}
	users, err := s.usersByID(ctx, ids)
	if err != nil {
		return err
	}
	for i := range msgs {
		if u, ok := users[msgs[i].Author.ID]; ok {
			msgs[i].Author = u
		}
		if f := msgs[i].Forward; f != nil {
			if u, ok := users[f.Author.ID]; ok {
				f.Author = u
			}
		}
	}
	return nil
}

// ReadPositions returns userID's read position in each chat (0 when none).
func (s *Store) ReadPositions(ctx context.Context, userID int64, chatIDs []int64) (map[int64]int64, error) {
	chats := uniqueIDs(chatIDs)
	out := make(map[int64]int64, len(chats))
	err := s.readByShard(ctx, chats, nil, func(groups map[string]*shardKeys) error {
		for _, c := range chats {
			out[c] = 0
		}
		for _, k := range groups {
			for cs := k.chats; len(cs) > 0; {
				chunk := cs[:min(len(cs), maxInList)]
				cs = cs[len(chunk):]
				// Point lookups of the primary key (chat_id, user_id).
				rows, err := k.db.QueryContext(ctx,
					"SELECT chat_id, message_id FROM read_positions WHERE user_id = ? AND chat_id IN ("+placeholders(len(chunk))+")",
					append([]any{userID}, int64Args(chunk)...)...)
				if err != nil {
					return fmt.Errorf("read positions: %w", err)
				}
				for rows.Next() {
					var chat, pos int64
					if err := rows.Scan(&chat, &pos); err != nil {
						rows.Close()
						return fmt.Errorf("read positions: %w", err)
					}
					out[chat] = pos
				}
				rows.Close()
				if err := rows.Err(); err != nil {
					return fmt.Errorf("read positions: %w", err)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// MaxUnreadCount is the most unread messages counted in a chat; a reader
// further behind is told MaxUnreadCount. Counting is reading every unread row
// of the primary key, so an unbounded COUNT(*) made one chat-list page of a
// user far behind in busy chats cost millions of rows; a client shows
// "9999+" long before the exact number matters.
const MaxUnreadCount = 9999

// unreadRows reads at most MaxUnreadCount of a chat's unread rows: the LIMIT
// stops the range scan there. Deleted messages, and those the reader hid or
// cleared, do not count. Arguments: chat, position, chat, reader, reader,
// reader.
var unreadRows = "SELECT 1 FROM messages WHERE chat_id = ? AND id > GREATEST(?, " +
	"COALESCE((SELECT through_id FROM history_cleared WHERE chat_id = ? AND user_id = ?), 0)) " +
	"AND author_id <> ? AND deleted_at IS NULL AND " + notHiddenFrom + " LIMIT " + strconv.Itoa(MaxUnreadCount)

// UnreadCount counts the messages of chatID with id > after written by someone
// other than userID, at most MaxUnreadCount.
func (s *Store) UnreadCount(ctx context.Context, chatID, userID, after int64) (int, error) {
	var n int
	err := s.readChat(ctx, chatID, func(sh Shard) error {
		return sh.DB.QueryRowContext(ctx,
			"SELECT COUNT(*) FROM ("+unreadRows+") u", chatID, after, chatID, userID, userID, userID).Scan(&n)
	})
	if err != nil {
		return 0, fmt.Errorf("unread count: %w", err)
	}
	return n, nil
}

// UnreadCounts is UnreadCount for many chats at once, in one query per shard
// (a page of a chat list asks for up to 200), each chat's count bounded by
// MaxUnreadCount: after maps each chat to userID's read position there.
// Every chat of after is in the answer, 0 when nothing is unread.
func (s *Store) UnreadCounts(ctx context.Context, userID int64, after map[int64]int64) (map[int64]int, error) {
	out := make(map[int64]int, len(after))
	chats := make([]int64, 0, len(after))
	for c := range after {
		chats = append(chats, c)
	}
	err := s.readByShard(ctx, chats, nil, func(groups map[string]*shardKeys) error {
		for _, c := range chats {
			out[c] = 0
		}
		for _, k := range groups {
			for cs := k.chats; len(cs) > 0; {
				chunk := cs[:min(len(cs), maxInList)]
				cs = cs[len(chunk):]
				// One range of the primary key (chat_id, id) per chat, each
				// read past the position and stopped by unreadRows' LIMIT: a
				// grouped COUNT(*) over all of them could not stop early.
				var q strings.Builder
				args := make([]any, 0, 7*len(chunk))
				for i, c := range chunk {
					if i > 0 {
						q.WriteString(" UNION ALL ")
					}
					fmt.Fprintf(&q, "SELECT ? AS chat_id, COUNT(*) FROM (%s) u%d", unreadRows, i)
					args = append(args, c, c, after[c], c, userID, userID, userID)
				}
				rows, err := k.db.QueryContext(ctx, q.String(), args...)
				if err != nil {
					return fmt.Errorf("unread counts: %w", err)
				}
				for rows.Next() {
					var chat int64
					var n int
					if err := rows.Scan(&chat, &n); err != nil {
						rows.Close()
						return fmt.Errorf("unread counts: %w", err)
					}
					out[chat] = n
				}
				rows.Close()
				if err := rows.Err(); err != nil {
					return fmt.Errorf("unread counts: %w", err)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// MessageIDByClientID returns the id of the message an author sent with
// clientID in a chat; domain.ErrNotFound when there is none.
func (s *Store) MessageIDByClientID(ctx context.Context, chatID, authorID int64, clientID string) (int64, error) {
	var id int64
	err := s.readChat(ctx, chatID, func(sh Shard) error {
		return sh.DB.QueryRowContext(ctx,
			"SELECT id FROM messages WHERE chat_id = ? AND author_id = ? AND client_id = ?", chatID, authorID, clientID).Scan(&id)
	})
	if err != nil {
		return 0, notFound(fmt.Sprintf("message of chat %d by %d with client_id %q", chatID, authorID, clientID), err)
	}
	return id, nil
}

// View is what one user removed from their own view of a chat: every
// message up to Cleared, and the Hidden ones.
type View struct {
	Cleared int64
	Hidden  []int64
}

// Views returns userID's views of the given chats, only those that hide
// anything; the chat cache is rebuilt from them.
func (s *Store) Views(ctx context.Context, userID int64, chatIDs []int64) (map[int64]View, error) {
	out := map[int64]View{}
	err := s.readByShard(ctx, uniqueIDs(chatIDs), nil, func(groups map[string]*shardKeys) error {
		clear(out)
		for _, k := range groups {
			for cs := k.chats; len(cs) > 0; {
				chunk := cs[:min(len(cs), maxInList)]
				cs = cs[len(chunk):]
				args := append([]any{userID}, int64Args(chunk)...)
				in := " AND chat_id IN (" + placeholders(len(chunk)) + ")"
				rows, err := k.db.QueryContext(ctx, "SELECT chat_id, through_id, 0 FROM history_cleared WHERE user_id = ?"+in+
					" UNION ALL SELECT chat_id, 0, message_id FROM hidden_messages WHERE user_id = ?"+in,
					append(args, args...)...)
				if err != nil {
					return fmt.Errorf("views: %w", err)
				}
				for rows.Next() {
					var chat, through, hidden int64
					if err := rows.Scan(&chat, &through, &hidden); err != nil {
						rows.Close()
						return fmt.Errorf("views: %w", err)
					}
					v := out[chat]
					v.Cleared = max(v.Cleared, through)
					if hidden > 0 {
						v.Hidden = append(v.Hidden, hidden)
					}
					out[chat] = v
				}
				rows.Close()
				if err := rows.Err(); err != nil {
					return fmt.Errorf("views: %w", err)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// AppliedThrough is the persister's high-water mark of a log partition on
// the shard that holds chatID: every event of the partition up to it is
// applied there (0 before the first).
func (s *Store) AppliedThrough(ctx context.Context, chatID int64, partition int) (uint64, error) {
	var seq uint64
	sh, err := s.shardOf(ctx, chatID)
	if err != nil {
		return 0, fmt.Errorf("persister progress of partition %d: %w", partition, err)
	}
	err = sh.DB.QueryRowContext(ctx,
		"SELECT last_seq FROM persister_progress WHERE partition_id = ?", partition).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("persister progress of partition %d: %w", partition, err)
	}
	return seq, nil
}
