package verify

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/logchat/shared/domain"
	"github.com/logchat/storage/chatcache"
)

// chatListsView is the name of the Redis view in reports.
const chatListsView = "chat lists (redis)"

// compareChatLists compares, for every user in the live database, the chat
// list the API would show from the live cache and from the scratch one.
func compareChatLists(ctx context.Context, liveDB *sql.DB, live, rebuilt *chatcache.Cache, lastSeq uint64, col *collector) (ViewResult, error) {
	res := ViewResult{View: chatListsView}
	rows, err := liveDB.QueryContext(ctx, "SELECT id FROM users ORDER BY id")
	if err != nil {
		return res, fmt.Errorf("list users: %w", err)
	}
	var users []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return res, err
		}
		users = append(users, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return res, err
	}
	for _, uid := range users {
		l, err := fullList(ctx, live, uid)
		if err != nil {
			return res, fmt.Errorf("live chat list of user %d: %w", uid, err)
		}
		r, err := fullList(ctx, rebuilt, uid)
		if err != nil {
			return res, fmt.Errorf("rebuilt chat list of user %d: %w", uid, err)
		}
		compareList(uid, l, r, lastSeq, &res, col)
	}
	return res, nil
}

// fullList reads every page of a user's chat list.
func fullList(ctx context.Context, c *chatcache.Cache, userID int64) ([]domain.ChatSummary, error) {
	var out []domain.ChatSummary
	cursor := ""
	for {
		page, next, err := c.ChatList(ctx, userID, cursor, 1000)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if next == "" {
			return out, nil
		}
		cursor = next
	}
}

// afterS reports whether an entry shows an event after S.
func entryAfterS(s domain.ChatSummary, lastSeq uint64) bool {
	return s.ReadMessageID > int64(lastSeq) || (s.LastMessage != nil && s.LastMessage.ID > int64(lastSeq))
}

func compareList(uid int64, live, rebuilt []domain.ChatSummary, lastSeq uint64, res *ViewResult, col *collector) {
	key := func(chatID int64) string { return fmt.Sprintf("user %d chat %d", uid, chatID) }
	skip := map[int64]bool{}
	byID := map[int64]domain.ChatSummary{}
	for _, s := range live {
		if entryAfterS(s, lastSeq) {
			skip[s.ID] = true
			res.AfterS++
		}
	}
	for _, s := range rebuilt {
		byID[s.ID] = s
	}
	var liveOrder, rebuiltOrder []string
	for _, s := range live {
		if skip[s.ID] {
			continue
		}
		liveOrder = append(liveOrder, strconv.FormatInt(s.ID, 10))
		res.Compared++
		r, ok := byID[s.ID]
		if !ok {
			res.Differences++
			col.add(Diff{View: chatListsView, Key: key(s.ID), Live: showSummary(s), Rebuilt: "(not in the list)"})
			continue
		}
		if lv, rv := diffSummary(s, r); lv != "" {
			res.Differences++
			col.add(Diff{View: chatListsView, Key: key(s.ID), Live: lv, Rebuilt: rv})
		}
	}
	liveIDs := map[int64]bool{}
	for _, s := range live {
		liveIDs[s.ID] = true
	}
	for _, s := range rebuilt {
		if skip[s.ID] {
			continue
		}
		rebuiltOrder = append(rebuiltOrder, strconv.FormatInt(s.ID, 10))
		if !liveIDs[s.ID] {
			res.Compared++
			res.Differences++
			col.add(Diff{View: chatListsView, Key: key(s.ID), Live: "(not in the list)", Rebuilt: showSummary(s)})
		}
	}
	// The order is the API's (updated_at desc, id desc): with equal entries
	// it cannot differ, but a list whose entries agree while their order
	// does not would be a difference of its own.
	if lo, ro := strings.Join(liveOrder, " "), strings.Join(rebuiltOrder, " "); lo != ro && len(liveOrder) == len(rebuiltOrder) {
		res.Differences++
		col.add(Diff{View: chatListsView, Key: fmt.Sprintf("user %d order", uid), Live: lo, Rebuilt: ro})
	}
}

// field is one thing an entry shows.
type field struct {
	name string
	get  func(domain.ChatSummary) string
}

var summaryFields = []field{
	{"kind", func(s domain.ChatSummary) string { return string(s.Kind) }},
	{"title", func(s domain.ChatSummary) string { return strconv.Quote(s.Title) }},
	{"members", func(s domain.ChatSummary) string { return strconv.Itoa(s.MembersCount) }},
	{"last", func(s domain.ChatSummary) string { return showMessage(s.LastMessage) }},
	{"unread", func(s domain.ChatSummary) string { return strconv.Itoa(s.UnreadCount) }},
	{"read", func(s domain.ChatSummary) string { return strconv.FormatInt(s.ReadMessageID, 10) }},
	{"updated_at", func(s domain.ChatSummary) string { return s.UpdatedAt.UTC().Format(time.RFC3339Nano) }},
}

func showSummary(s domain.ChatSummary) string {
	parts := make([]string, len(summaryFields))
	for i, f := range summaryFields {
		parts[i] = f.name + "=" + f.get(s)
	}
	return strings.Join(parts, " ")
}

// diffSummary shows the fields that differ ("" when none do).
func diffSummary(l, r domain.ChatSummary) (string, string) {
	var lp, rp []string
	for _, f := range summaryFields {
		if a, b := f.get(l), f.get(r); a != b {
			lp = append(lp, f.name+"="+a)
			rp = append(rp, f.name+"="+b)
		}
	}
	return strings.Join(lp, " "), strings.Join(rp, " ")
}

// showMessage is the last message as the API answers it: every field, so
// that a field added to messages is compared without a change here.
func showMessage(m *domain.Message) string {
	if m == nil {
		return "none"
	}
	c := *m
	c.SentAt = c.SentAt.UTC()
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	return string(b)
}
