package chatcache

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/logchat/shared/domain"
	"github.com/logchat/storage/sqlstore"
)

// maxLimit caps a page whatever the caller asks (the API allows 200).
const maxLimit = 1000

// ChatList returns a page of userID's chats, most recent activity first
// (updated_at desc, then id desc), with last message, unread count and read
// position, titles resolved for userID and Channel set. cursor is "" for the
// first page; next is "" at the end. A user whose list is not cached is
// rebuilt from the loader first.
func (c *Cache) ChatList(ctx context.Context, userID int64, cursor string, limit int) (page []domain.ChatSummary, next string, err error) {
	cur, err := decodeCursor(cursor)
	if err != nil {
		return nil, "", err
	}
	limit = min(max(limit, 1), maxLimit)
	page = make([]domain.ChatSummary, 0, min(limit, 64))
	// Entries whose chat is no longer cached are left out; reading on keeps
	// the page full, so that a short page means the end of the list.
	for range 10 {
		part, more, last, err := c.listPart(ctx, userID, cur, limit-len(page))
		if err != nil {
			return nil, "", err
		}
		page = append(page, part...)
		if !more {
			next = ""
			break
		}
		cur, next = last, encodeCursor(last)
		if len(page) == limit {
			break
		}
	}
	if err := c.fillMissing(ctx, userID, page); err != nil {
		return nil, "", err
	}
	return page, next, nil
}

// listPart reads up to limit entries after cur (from the top for a zero
// cur), rebuilding the list first when it is cold or an entry is
// incomplete. last is the position of the last entry read, skipped or not.
func (c *Cache) listPart(ctx context.Context, userID int64, cur cursorPos, limit int) (part []domain.ChatSummary, more bool, last cursorPos, err error) {
	args := []any{"", "", limit}
	if cur.chatID != 0 {
		args[0], args[1] = itoa(cur.ms), itoa(cur.chatID)
	}
	keys := c.userViewKeys(userID)
	var res []any
	var details [][]any
	for attempt := 0; ; attempt++ {
		res, err = c.runRead(ctx, pageScript, keys, args)
		if err != nil {
			return nil, false, last, fmt.Errorf("chat list: %w", err)
		}
		if res[0].(int64) == 1 {
			if details, err = c.details(ctx, userID, res[2:]); err != nil {
				return nil, false, last, fmt.Errorf("chat list: %w", err)
			}
		}
		if res[0].(int64) == 0 || (attempt == 0 && needsRepair(details)) {
			// Cold, or an entry lost or incomplete: rebuild from MySQL
			// once. A list that stays cold was flushed again meanwhile.
			if attempt >= 2 {
				return nil, false, last, fmt.Errorf("chat list of user %d: still not cached after rebuilding: %w", userID, domain.ErrUnavailable)
			}
			if err := c.rebuild(ctx, userID); err != nil {
				return nil, false, last, err
			}
			continue
		}
		break
	}
	more = res[1].(int64) == 1
	part = make([]domain.ChatSummary, 0, len(details))
	for i, f := range details {
		score, _ := strconv.ParseInt(str(res[2+i*pageFields]), 10, 64)
		d := parseDetail(f)
		last = cursorPos{ms: score, chatID: d.chatID}
		if d.state == "missing" || d.state == "notmember" {
			continue
		}
		part = append(part, d.summary())
	}
	return part, more, last, nil
}

// userViewKeys are the user's keys that the list scripts read: the list,
// the read positions, the cleared histories (one slot on Redis Cluster).
func (c *Cache) userViewKeys(userID int64) []string {
	return []string{c.listKey(userID), c.readKey(userID), c.clearedKey(userID)}
}

// details renders the chats of a page (pageScript's entries: score, chat
// id, read position, cleared through) with detailScript, one call per chat
// in one pipeline: each reads its own chat's keys (its own slot on Redis
// Cluster).
func (c *Cache) details(ctx context.Context, userID int64, entries []any) ([][]any, error) {
	n := len(entries) / pageFields
	if n == 0 {
		return nil, nil
	}
	uid := itoa(userID)
	cmds, err := c.pipelined(ctx, false, func(p redis.Pipeliner) {
		for i := range n {
			e := entries[i*pageFields:]
			cid, _ := strconv.ParseInt(str(e[1]), 10, 64)
			detailScript.EvalSha(ctx, p, []string{c.chatKey(cid)}, uid, str(e[1]), str(e[2]), str(e[3]))
		}
	})
	if err != nil {
		return nil, err
	}
	out := make([][]any, n)
	for i, cmd := range cmds {
		if out[i], err = cmd.(*redis.Cmd).Slice(); err != nil {
			return nil, err
		}
		if len(out[i]) != detailFields {
			return nil, fmt.Errorf("chat detail of %d fields, want %d", len(out[i]), detailFields)
		}
	}
	return out, nil
}

// Summary returns one chat as userID sees it in the list (rebuilt from the
// loader when not cached). domain.ErrNotFound when userID is not a member.
func (c *Cache) Summary(ctx context.Context, userID, chatID int64) (domain.ChatSummary, error) {
	keys := c.userViewKeys(userID)
	var d detail
	for attempt := 0; ; attempt++ {
		res, err := c.runRead(ctx, viewsScript, keys, []any{itoa(chatID)})
		if err != nil {
			return domain.ChatSummary{}, fmt.Errorf("chat summary: %w", err)
		}
		if res[0].(int64) == 1 {
			details, err := c.details(ctx, userID, []any{"", itoa(chatID), res[1], res[2]})
			if err != nil {
				return domain.ChatSummary{}, fmt.Errorf("chat summary: %w", err)
			}
			d = parseDetail(details[0])
			if attempt > 0 || d.state == "ok" || d.state == "notmember" {
				break
			}
			if d.state == "missing" {
				// Most often not the user's chat at all, or one whose event
				// cachewarm has not applied yet (the gateway asks right after
				// creating a chat). MySQL answers both for this one chat; a
				// rebuild of the whole list would cost far more.
				ch, err := c.memberChat(ctx, chatID, userID)
				if err != nil {
					return domain.ChatSummary{}, err
				}
				return c.summaryFromMySQL(ctx, userID, ch)
			}
		}
		if attempt >= 2 {
			return domain.ChatSummary{}, fmt.Errorf("chat %d of user %d: still not cached after rebuilding: %w", chatID, userID, domain.ErrUnavailable)
		}
		if err := c.rebuild(ctx, userID); err != nil {
			return domain.ChatSummary{}, err
		}
	}
	switch d.state {
	case "missing":
		// Not cached even after rebuilding the user's list.
		ch, err := c.memberChat(ctx, chatID, userID)
		if err != nil {
			return domain.ChatSummary{}, err
		}
		return c.summaryFromMySQL(ctx, userID, ch)
	case "notmember":
		// The cache may lag the gateway's membership tables (the event of a
		// join not applied yet): MySQL decides.
		ch, err := c.memberChat(ctx, chatID, userID)
		if err != nil {
			return domain.ChatSummary{}, err
		}
		d.membersCount = len(ch.Members)
		if ch.Kind == domain.KindDirect {
			d.title = domain.DirectTitle(ch.Members, userID)
		}
	}
	page := []domain.ChatSummary{d.summary()}
	if err := c.fillMissing(ctx, userID, page); err != nil {
		return domain.ChatSummary{}, err
	}
	return page[0], nil
}

// historian is what a Loader may also offer (*sqlstore.Store does): the newest
// message of a chat, for a summary read from MySQL alone.
type historian interface {
	History(ctx context.Context, chatID int64, q sqlstore.HistoryQuery) ([]domain.Message, bool, error)
}

// summaryFromMySQL is one chat as userID sees it, from MySQL alone.
func (c *Cache) summaryFromMySQL(ctx context.Context, userID int64, ch domain.Chat) (domain.ChatSummary, error) {
	s := domain.ChatSummary{ID: ch.ID, Kind: ch.Kind, Title: ch.Title, Channel: domain.ChatChannel(ch.ID),
		MembersCount: len(ch.Members), UpdatedAt: ch.CreatedAt.UTC()}
	if ch.Kind == domain.KindDirect {
		s.Title = domain.DirectTitle(ch.Members, userID)
	}
	pos, err := c.loader.ReadPositions(ctx, userID, []int64{ch.ID})
	if err != nil {
		return domain.ChatSummary{}, fmt.Errorf("chat %d: %w", ch.ID, err)
	}
	s.ReadMessageID = pos[ch.ID]
	if h, ok := c.loader.(historian); ok {
		msgs, _, err := h.History(ctx, ch.ID, sqlstore.HistoryQuery{Limit: 1, Viewer: userID})
		if err != nil {
			return domain.ChatSummary{}, fmt.Errorf("chat %d: %w", ch.ID, err)
		}
		if len(msgs) > 0 {
			m := msgs[len(msgs)-1]
			m.SentAt = m.SentAt.UTC()
			s.LastMessage, s.UpdatedAt = &m, m.SentAt
			if s.ReadMessageID >= m.ID {
				return s, nil
			}
		}
	}
	if s.UnreadCount, err = c.loader.UnreadCount(ctx, ch.ID, userID, s.ReadMessageID); err != nil {
		return domain.ChatSummary{}, fmt.Errorf("chat %d: %w", ch.ID, err)
	}
	return s, nil
}

// memberChat reads a chat from MySQL, the authority on membership:
// domain.ErrNotFound when it does not exist or userID is not a member.
func (c *Cache) memberChat(ctx context.Context, chatID, userID int64) (domain.Chat, error) {
	ch, err := c.loader.Chat(ctx, chatID)
	if errors.Is(err, domain.ErrNotFound) || (err == nil && !domain.HasMember(ch.Members, userID)) {
		return domain.Chat{}, fmt.Errorf("chat %d: %w", chatID, domain.ErrNotFound)
	}
	if err != nil {
		return domain.Chat{}, fmt.Errorf("chat %d: %w", chatID, err)
	}
	return ch, nil
}

// runRead runs a read script (EVALSHA, falling back to EVAL) and returns its array.
func (c *Cache) runRead(ctx context.Context, s *redis.Script, keys []string, args []any) ([]any, error) {
	return s.Run(ctx, c.rdb, keys, args...).Slice()
}

// needsRepair reports whether a page holds an entry that is not cached or
// whose last message is unknown.
func needsRepair(details [][]any) bool {
	for _, f := range details {
		if st := str(f[1]); st == "missing" || st == "partial" {
			return true
		}
	}
	return false
}

// detail is one chat as luaDetail renders it.
type detail struct {
	chatID       int64
	state        string
	kind         domain.ChatKind
	title        string
	createdMS    int64
	updatedMS    int64
	lastJSON     string
	membersCount int
	pos          int64
	unread       int64 // -1: count in MySQL
}

func parseDetail(f []any) detail {
	d := detail{state: str(f[1]), kind: domain.ChatKind(str(f[2])), title: str(f[3]), lastJSON: str(f[7])}
	d.chatID, _ = strconv.ParseInt(str(f[0]), 10, 64)
	d.createdMS, _ = strconv.ParseInt(str(f[4]), 10, 64)
	d.updatedMS, _ = strconv.ParseInt(str(f[5]), 10, 64)
	n, _ := f[8].(int64)
	d.membersCount = int(n)
	d.pos, _ = strconv.ParseInt(str(f[9]), 10, 64)
	d.unread, _ = f[10].(int64)
	return d
}

func (d detail) summary() domain.ChatSummary {
	s := domain.ChatSummary{
		ID: d.chatID, Kind: d.kind, Title: d.title, Channel: domain.ChatChannel(d.chatID),
		MembersCount: d.membersCount, ReadMessageID: d.pos, UnreadCount: int(d.unread),
	}
	if d.lastJSON == "?" {
		s.LastMessage = unknownLast
	} else if d.lastJSON != "" {
		var m domain.Message
		if json.Unmarshal([]byte(d.lastJSON), &m) == nil {
			m.SentAt = m.SentAt.UTC()
			s.LastMessage = &m
		}
	}
	ms := d.updatedMS
	if ms == 0 {
		ms = d.createdMS
	}
	s.UpdatedAt = time.UnixMilli(ms).UTC()
	return s
}

// unknownLast marks, until fillMissing replaces it, a last message the cache
// does not hold: the chat's newest was deleted and the one before is not
// among the recent bodies, or the viewer hid or cleared every recent one.
var unknownLast = &domain.Message{}

// fillMissing asks MySQL for what the cache cannot give: unread counts
// (marked -1) and last messages (marked unknownLast), the latter as the
// viewer sees the chat.
func (c *Cache) fillMissing(ctx context.Context, userID int64, page []domain.ChatSummary) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(loadConcurrency)
	for i := range page {
		if page[i].LastMessage != unknownLast {
			continue
		}
		page[i].LastMessage = nil
		h, ok := c.loader.(historian)
		if !ok {
			continue
		}
		g.Go(func() error {
			msgs, _, err := h.History(gctx, page[i].ID, sqlstore.HistoryQuery{Limit: 1, Viewer: userID})
			if err != nil {
				return fmt.Errorf("last message of chat %d: %w", page[i].ID, err)
			}
			if len(msgs) > 0 {
				m := msgs[0]
				m.SentAt = m.SentAt.UTC()
				if m.Forward != nil {
					f := *m.Forward
					f.ChatID = 0
					m.Forward = &f
				}
				page[i].LastMessage = &m
			}
			return nil
		})
	}
	for i := range page {
		if page[i].UnreadCount >= 0 {
			continue
		}
		g.Go(func() error {
			n, err := c.loader.UnreadCount(gctx, page[i].ID, userID, page[i].ReadMessageID)
			if err != nil {
				return fmt.Errorf("unread count of chat %d: %w", page[i].ID, err)
			}
			page[i].UnreadCount = n
			return nil
		})
	}
	return g.Wait()
}

func str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	}
	return ""
}

// cursorPos is the last chat of a page: where the next page starts after.
type cursorPos struct {
	ms     int64
	chatID int64
}

// The cursor is "v1.<updated ms>.<chat id>" in unpadded base64url: opaque to
// clients, and versioned so that its meaning can change.
func encodeCursor(p cursorPos) string {
	return base64.RawURLEncoding.EncodeToString([]byte("v1." + itoa(p.ms) + "." + itoa(p.chatID)))
}

func decodeCursor(s string) (cursorPos, error) {
	if s == "" {
		return cursorPos{}, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursorPos{}, ErrBadCursor
	}
	parts := strings.Split(string(raw), ".")
	if len(parts) != 3 || parts[0] != "v1" {
		return cursorPos{}, ErrBadCursor
	}
	ms, err1 := strconv.ParseInt(parts[1], 10, 64)
	id, err2 := strconv.ParseInt(parts[2], 10, 64)
	if err := errors.Join(err1, err2); err != nil || id <= 0 {
		return cursorPos{}, ErrBadCursor
	}
	return cursorPos{ms: ms, chatID: id}, nil
}
