package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/logchat/shared/domain"
)

// directKey is the unique key of a pair's direct chat: one chat per pair,
// whichever of the two asks first.
func directKey(a, b int64) string {
	if a > b {
		a, b = b, a
	}
	return strconv.FormatInt(a, 10) + ":" + strconv.FormatInt(b, 10)
}

// CreateDirectChat returns the direct chat of a and b, creating it (and
// staging its event) when it does not exist; created says which. Both are
// members with role member: a direct chat has no roles. Concurrent calls for
// one pair yield one chat.
func (s *Store) CreateDirectChat(ctx context.Context, a, b domain.User, at time.Time, stage Stage) (chat domain.Chat, created bool, err error) {
	if a.ID == b.ID {
		return domain.Chat{}, false, domain.Invalid("a direct chat needs two different users")
	}
	key := directKey(a.ID, b.ID)
	at = dbTime(at)
	// Each lost race means the winner committed, so the next read finds its
	// chat; the bound only guards against a chat deleted in between.
	for range 5 {
		// The common case, a chat that exists, takes no lock.
		existing, err := s.directChat(ctx, key)
		if err == nil {
			return existing, false, nil
		}
		if !errors.Is(err, domain.ErrNotFound) {
			return domain.Chat{}, false, err
		}
		// A concurrent creator of the same pair holds the unique key of
		// direct_key until it commits or rolls back; the INSERT here waits
		// for that, then fails with a duplicate (it committed: read its chat)
		// or succeeds (it rolled back: this call creates the chat).
		err = inTx(ctx, s.main, nil, func(tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx,
				`INSERT INTO chats (kind, title, direct_key, created_by, created_at, last_message_id, updated_at)
				 VALUES (?, '', ?, ?, ?, 0, ?)`, string(domain.KindDirect), key, a.ID, at, at)
			if err != nil {
				return err
			}
			id, err := res.LastInsertId()
			if err != nil {
				return err
			}
			if err := s.placeChat(ctx, tx, id); err != nil {
				return err
			}
			members := []domain.Member{{User: a, Role: domain.RoleMember}, {User: b, Role: domain.RoleMember}}
			sortMembers(members)
			if err := insertMembers(ctx, tx, id, members, at); err != nil {
				return err
			}
			chat = domain.Chat{ID: id, Kind: domain.KindDirect, CreatedAt: at, Members: members}
			return stageEvent(ctx, tx, stage, &chat)
		})
		if isMySQLError(err, errDupEntry) {
			continue // lost the race: the winner's chat is committed now
		}
		if err != nil {
			return domain.Chat{}, false, fmt.Errorf("create direct chat: %w", err)
		}
		return chat, true, nil
	}
	return domain.Chat{}, false, fmt.Errorf("create direct chat %s: lost the race repeatedly", key)
}

func (s *Store) directChat(ctx context.Context, key string) (domain.Chat, error) {
	var id int64
	err := s.main.QueryRowContext(ctx, "SELECT id FROM chats WHERE direct_key = ?", key).Scan(&id)
	if err != nil {
		return domain.Chat{}, notFound("direct chat", err)
	}
	return s.Chat(ctx, id)
}

// CreateGroupChat creates a group of members (each user once, with a valid
// role) created by createdBy, and stages its event.
func (s *Store) CreateGroupChat(ctx context.Context, title string, createdBy int64, members []domain.Member, at time.Time, stage Stage) (domain.Chat, error) {
	at = dbTime(at)
	members = slices.Clone(members)
	for _, m := range members {
		if !validRole(m.Role) {
			return domain.Chat{}, domain.Invalid("unknown role %q", m.Role)
		}
	}
	sortMembers(members)
	var chat domain.Chat
	err := inTx(ctx, s.main, nil, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`INSERT INTO chats (kind, title, direct_key, created_by, created_at, last_message_id, updated_at)
			 VALUES (?, ?, NULL, ?, ?, 0, ?)`, string(domain.KindGroup), title, createdBy, at, at)
		if err != nil {
			return err
		}
		id, err := res.LastInsertId()
		if err != nil {
			return err
		}
		if err := s.placeChat(ctx, tx, id); err != nil {
			return err
		}
		if err := insertMembers(ctx, tx, id, members, at); err != nil {
			return err
		}
		chat = domain.Chat{ID: id, Kind: domain.KindGroup, Title: title, CreatedAt: at, Members: members}
		return stageEvent(ctx, tx, stage, &chat)
	})
	if err != nil {
		return domain.Chat{}, fmt.Errorf("create group chat: %w", err)
	}
	return chat, nil
}

// memberRowsPerInsert bounds one multi-row INSERT of members: 4 placeholders
// each keeps a statement of a 10,000-member group well under MySQL's limit of
// 65,535 placeholders, and a few large statements cost far fewer round trips
// than a row each.
const memberRowsPerInsert = 1000

// insertMembers inserts members in multi-row INSERTs of at most
// memberRowsPerInsert rows. Each statement is built in one strings.Builder
// sized up front: appending to a string instead copied the whole statement
// once per row, quadratic in the size of the group.
func insertMembers(ctx context.Context, tx *sql.Tx, chatID int64, members []domain.Member, at time.Time) error {
	const head, row = "INSERT INTO chat_members (chat_id, user_id, role, joined_at) VALUES ", "(?,?,?,?)"
	for chunk := range slices.Chunk(members, memberRowsPerInsert) {
		var q strings.Builder
		q.Grow(len(head) + len(chunk)*(len(row)+1))
		q.WriteString(head)
		args := make([]any, 0, 4*len(chunk))
		for i, m := range chunk {
			if i > 0 {
				q.WriteByte(',')
			}
			q.WriteString(row)
			args = append(args, chatID, m.User.ID, string(m.Role), at)
		}
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			return fmt.Errorf("insert members: %w", err)
		}
	}
	return nil
}

func sortMembers(ms []domain.Member) {
	sort.Slice(ms, func(i, j int) bool { return ms[i].User.ID < ms[j].User.ID })
}

// Chat returns a chat with its members (users with names, and roles), members
// ordered by user id. ErrNotFound when missing.
func (s *Store) Chat(ctx context.Context, chatID int64) (domain.Chat, error) {
	return loadChat(ctx, s.main, chatID, false)
}

// loadChat reads a chat and its members; lock takes the chat row FOR UPDATE,
// which serializes membership changes of one chat.
func loadChat(ctx context.Context, q querier, chatID int64, lock bool) (domain.Chat, error) {
	query := "SELECT id, kind, title, created_at, version FROM chats WHERE id = ?"
	if lock {
		query += " FOR UPDATE"
	}
	var c domain.Chat
	var kind string
	if err := q.QueryRowContext(ctx, query, chatID).Scan(&c.ID, &kind, &c.Title, &c.CreatedAt, &c.Version); err != nil {
		return domain.Chat{}, notFound("chat", err)
	}
	c.Kind = domain.ChatKind(kind)
	members, err := loadMembers(ctx, q, []int64{chatID})
	if err != nil {
		return domain.Chat{}, err
	}
	c.Members = members[chatID]
	if c.Members == nil {
		c.Members = []domain.Member{}
	}
	return c, nil
}

// loadMembers returns the members of each chat, ordered by user id.
func loadMembers(ctx context.Context, q querier, chatIDs []int64) (map[int64][]domain.Member, error) {
	out := make(map[int64][]domain.Member, len(chatIDs))
	chatIDs = uniqueIDs(chatIDs)
	for len(chatIDs) > 0 {
		chunk := chatIDs[:min(len(chatIDs), maxInList)]
		chatIDs = chatIDs[len(chunk):]
		rows, err := q.QueryContext(ctx,
			`SELECT m.chat_id, m.user_id, COALESCE(u.name, ''), u.avatar_key, m.role
			 FROM chat_members m LEFT JOIN users u ON u.id = m.user_id
			 WHERE m.chat_id IN (`+placeholders(len(chunk))+`)
			 ORDER BY m.chat_id, m.user_id`, int64Args(chunk)...)
		if err != nil {
			return nil, fmt.Errorf("load members: %w", err)
		}
		for rows.Next() {
			var chatID int64
			var m domain.Member
			var role string
			var avatar sql.NullString
			if err := rows.Scan(&chatID, &m.User.ID, &m.User.Name, &avatar, &role); err != nil {
				rows.Close()
				return nil, fmt.Errorf("load members: %w", err)
			}
			m.Role = domain.Role(role)
			m.User.AvatarURL = avatarURL(avatar)
			out[chatID] = append(out[chatID], m)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("load members: %w", err)
		}
	}
	return out, nil
}

// MemberRole is userID's role in chatID; ErrNotFound when not a member (or no
// such chat).
func (s *Store) MemberRole(ctx context.Context, chatID, userID int64) (domain.Role, error) {
	var role string
	err := s.main.QueryRowContext(ctx, "SELECT role FROM chat_members WHERE chat_id = ? AND user_id = ?", chatID, userID).Scan(&role)
	if err != nil {
		return "", notFound("member role", err)
	}
	return domain.Role(role), nil
}

// MemberIDs lists the user ids of a chat's members.
func (s *Store) MemberIDs(ctx context.Context, chatID int64) ([]int64, error) {
	rows, err := s.main.QueryContext(ctx, "SELECT user_id FROM chat_members WHERE chat_id = ? ORDER BY user_id", chatID)
	if err != nil {
		return nil, fmt.Errorf("member ids: %w", err)
	}
	defer rows.Close()
	ids := []int64{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("member ids: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("member ids: %w", err)
	}
	return ids, nil
}

func validRole(r domain.Role) bool {
	switch r {
	case domain.RoleAdmin, domain.RoleModerator, domain.RoleMember, domain.RoleMuted:
		return true
	}
	return false
}

// errAlreadyMember ends AddMember's transaction without a change.
var errAlreadyMember = errors.New("already a member")

// AddMember adds user with role to a chat and stages the event stage makes
// of the chat as it is afterwards. added is false (and nothing is staged)
// when the user already was a member.
func (s *Store) AddMember(ctx context.Context, chatID int64, user domain.User, role domain.Role, at time.Time, stage Stage) (chat domain.Chat, added bool, err error) {
	return s.AddMemberUpTo(ctx, chatID, user, role, at, 0, stage)
}

// AddMemberUpTo is AddMember for a chat that may hold at most maxMembers
// members (0: no limit): adding one more to a full chat is a
// domain.ErrConflict and changes nothing. The count is taken under the chat's
// row lock, so concurrent additions cannot overshoot it together.
func (s *Store) AddMemberUpTo(ctx context.Context, chatID int64, user domain.User, role domain.Role, at time.Time, maxMembers int, stage Stage) (chat domain.Chat, added bool, err error) {
	if !validRole(role) {
		return domain.Chat{}, false, domain.Invalid("unknown role %q", role)
	}
	err = inTx(ctx, s.main, nil, func(tx *sql.Tx) error {
		// Locking the chat row orders concurrent membership changes of the
		// chat, so each stages the member list its own change produced, and
		// their events get outbox ids in commit order.
		before, err := loadChat(ctx, tx, chatID, true)
		if err != nil {
			return err
		}
		if maxMembers > 0 && len(before.Members) >= maxMembers {
			if domain.HasMember(before.Members, user.ID) {
				return errAlreadyMember // a full chat may still be asked again for a member it has
			}
			return domain.Conflict("the chat is full: it has %d members, the most a chat may have", len(before.Members))
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO chat_members (chat_id, user_id, role, joined_at) VALUES (?, ?, ?, ?)",
			chatID, user.ID, string(role), dbTime(at))
		if isMySQLError(err, errDupEntry) {
			return errAlreadyMember
		}
		if err != nil {
			return fmt.Errorf("insert member: %w", err)
		}
		if chat, err = loadChat(ctx, tx, chatID, false); err != nil {
			return err
		}
		return stageEvent(ctx, tx, stage, &chat)
	})
	if errors.Is(err, errAlreadyMember) {
		chat, err = s.Chat(ctx, chatID)
		if err != nil {
			return domain.Chat{}, false, fmt.Errorf("add member: %w", err)
		}
		return chat, false, nil
	}
	if err != nil {
		return domain.Chat{}, false, fmt.Errorf("add member: %w", err)
	}
	return chat, true, nil
}

// Check judges a change of a chat against the chat as it is just before it,
// under the chat's row lock, so that two concurrent changes cannot both pass
// a rule that only one of them may (two admins demoting each other, say). An
// error refuses the change.
type Check func(before domain.Chat) error

// RemoveMember removes userID from a chat and stages the event stage makes of
// the chat as it is afterwards. ErrNotFound when userID is not a member;
// check (if not nil) may refuse the removal.
func (s *Store) RemoveMember(ctx context.Context, chatID, userID int64, check Check, stage Stage) error {
	err := inTx(ctx, s.main, nil, func(tx *sql.Tx) error {
		before, err := loadChat(ctx, tx, chatID, true)
		if err != nil {
			return err
		}
		if !domain.HasMember(before.Members, userID) {
			return fmt.Errorf("member %d: %w", userID, domain.ErrNotFound)
		}
		if check != nil {
			if err := check(before); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, "DELETE FROM chat_members WHERE chat_id = ? AND user_id = ?", chatID, userID)
		if err != nil {
			return fmt.Errorf("delete member: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("member %d: %w", userID, domain.ErrNotFound)
		}
		chat, err := loadChat(ctx, tx, chatID, false)
		if err != nil {
			return err
		}
		return stageEvent(ctx, tx, stage, &chat)
	})
	if err != nil {
		return fmt.Errorf("remove member: %w", err)
	}
	return nil
}

// SetRole gives userID role in a chat and stages the event stage makes of the
// chat afterwards; changed is false (nothing staged) when the role was
// already that. ErrNotFound when userID is not a member; check may refuse.
func (s *Store) SetRole(ctx context.Context, chatID, userID int64, role domain.Role, check Check, stage Stage) (chat domain.Chat, changed bool, err error) {
	if !validRole(role) {
		return domain.Chat{}, false, domain.Invalid("unknown role %q", role)
	}
	err = inTx(ctx, s.main, nil, func(tx *sql.Tx) error {
		before, err := loadChat(ctx, tx, chatID, true)
		if err != nil {
			return err
		}
		if !domain.HasMember(before.Members, userID) {
			return fmt.Errorf("member %d: %w", userID, domain.ErrNotFound)
		}
		if check != nil {
			if err := check(before); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, "UPDATE chat_members SET role = ? WHERE chat_id = ? AND user_id = ?", string(role), chatID, userID)
		if err != nil {
			return fmt.Errorf("set role: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if chat, err = loadChat(ctx, tx, chatID, false); err != nil {
			return err
		}
		if changed = n > 0; !changed {
			return nil
		}
		return stageEvent(ctx, tx, stage, &chat)
	})
	if err != nil {
		return domain.Chat{}, false, fmt.Errorf("set role: %w", err)
	}
	return chat, changed, nil
}

// SetTitle renames a chat and stages the event stage makes of it afterwards;
// changed is false (nothing staged) when the title was already that. check
// may refuse.
func (s *Store) SetTitle(ctx context.Context, chatID int64, title string, check Check, stage Stage) (chat domain.Chat, changed bool, err error) {
	err = inTx(ctx, s.main, nil, func(tx *sql.Tx) error {
		before, err := loadChat(ctx, tx, chatID, true)
		if err != nil {
			return err
		}
		if check != nil {
			if err := check(before); err != nil {
				return err
			}
		}
		if chat = before; before.Title == title {
			return nil
		}
		if _, err := tx.ExecContext(ctx, "UPDATE chats SET title = ? WHERE id = ?", title, chatID); err != nil {
			return fmt.Errorf("set title: %w", err)
		}
		chat.Title, changed = title, true
		return stageEvent(ctx, tx, stage, &chat)
	})
	if err != nil {
		return domain.Chat{}, false, fmt.Errorf("set title: %w", err)
	}
	return chat, changed, nil
}

// ChatRow is what the chat list needs of one chat, straight from MySQL: the
// fallback when Redis has nothing for a user.
type ChatRow struct {
	Chat          domain.Chat // with members
	LastMessageID int64
	UpdatedAt     time.Time
}

// ListCursor is a position in a chat list ordered by (updated_at desc, id desc).
type ListCursor struct {
	UpdatedAt time.Time
	ChatID    int64
}

// UserChats lists a user's chats by (updated_at desc, id desc), starting after
// the cursor when one is given, at most limit.
func (s *Store) UserChats(ctx context.Context, userID int64, after *ListCursor, limit int) ([]ChatRow, error) {
	if limit <= 0 {
		return []ChatRow{}, nil
	}
	q := `SELECT c.id, c.kind, c.title, c.created_at, c.last_message_id, c.updated_at
	      FROM chat_members m JOIN chats c ON c.id = m.chat_id
	      WHERE m.user_id = ?`
	args := []any{userID}
	if after != nil {
		at := dbTime(after.UpdatedAt)
		q += " AND (c.updated_at < ? OR (c.updated_at = ? AND c.id < ?))"
		args = append(args, at, at, after.ChatID)
	}
	q += " ORDER BY c.updated_at DESC, c.id DESC LIMIT ?"
	args = append(args, limit)
	return s.chatRows(ctx, q, args...)
}

// AllUserChats lists every chat of a user (ids and order as UserChats). Used to
// rebuild the user's cached chat list.
func (s *Store) AllUserChats(ctx context.Context, userID int64) ([]ChatRow, error) {
	return s.chatRows(ctx, `SELECT c.id, c.kind, c.title, c.created_at, c.last_message_id, c.updated_at
	      FROM chat_members m JOIN chats c ON c.id = m.chat_id
	      WHERE m.user_id = ?
	      ORDER BY c.updated_at DESC, c.id DESC`, userID)
}

func (s *Store) chatRows(ctx context.Context, q string, args ...any) ([]ChatRow, error) {
	rows, err := s.main.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("user chats: %w", err)
	}
	out := []ChatRow{}
	for rows.Next() {
		var r ChatRow
		var kind string
		if err := rows.Scan(&r.Chat.ID, &kind, &r.Chat.Title, &r.Chat.CreatedAt, &r.LastMessageID, &r.UpdatedAt); err != nil {
			rows.Close()
			return nil, fmt.Errorf("user chats: %w", err)
		}
		r.Chat.Kind = domain.ChatKind(kind)
		out = append(out, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("user chats: %w", err)
	}
	ids := make([]int64, len(out))
	for i, r := range out {
		ids[i] = r.Chat.ID
	}
	members, err := loadMembers(ctx, s.main, ids)
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].Chat.Members = members[out[i].Chat.ID]
		if out[i].Chat.Members == nil {
			out[i].Chat.Members = []domain.Member{}
		}
	}
	return out, nil
}
