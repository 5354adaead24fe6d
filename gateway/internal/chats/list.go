package chats

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"time"

	"github.com/logchat/shared/domain"
	"github.com/logchat/shared/obs"
	"github.com/logchat/storage/chatcache"
	"github.com/logchat/storage/sqlstore"
)

// errBadCursor is the answer to a cursor this API did not hand out.
var errBadCursor = domain.Invalid("cursor is not one this API returned")

// listCursor is the opaque next cursor of a chat list. It carries the cache's
// own cursor and, beside it, the position of the page's last chat, so that a
// client paging through the list when Redis fails carries on from MySQL (and
// stays there: a MySQL position cannot be turned back into a cache cursor).
type listCursor struct {
	Source    string `json:"s"`           // "c": the cache, "m": MySQL
	Cache     string `json:"c,omitempty"` // the cache's cursor
	UpdatedMs int64  `json:"u"`           // the last chat's updated_at, Unix ms
	ChatID    int64  `json:"i"`           // the last chat's id
}

func (lc listCursor) encode() string {
	b, _ := json.Marshal(lc)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeListCursor(s string) (listCursor, error) {
	var lc listCursor
	if s == "" {
		return lc, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &lc)
	}
	if err != nil || (lc.Source != "c" && lc.Source != "m") || lc.ChatID <= 0 {
		return listCursor{}, errBadCursor
	}
	return lc, nil
}

func (lc listCursor) storeCursor() *sqlstore.ListCursor {
	if lc.ChatID == 0 {
		return nil
	}
	return &sqlstore.ListCursor{UpdatedAt: time.UnixMilli(lc.UpdatedMs).UTC(), ChatID: lc.ChatID}
}

// Page is a page of a chat list; Next is the cursor of the next page, ""
// at the end.
type Page struct {
	Chats []domain.ChatSummary
	Next  string
}

// List is a page of uid's chats, most recent activity first, after cursor
// (a Next of an earlier page, or "" for the first). It comes from the cache;
// when the cache fails, the same page is built from MySQL.
func (s *Service) List(ctx context.Context, uid int64, cursor string, limit int) (Page, error) {
	cur, err := decodeListCursor(cursor)
	if err != nil {
		return Page{}, err
	}
	var page []domain.ChatSummary
	var next *listCursor
	if cur.Source != "m" {
		var cacheNext string
		page, cacheNext, err = s.cache.ChatList(ctx, uid, cur.Cache, limit)
		if errors.Is(err, chatcache.ErrBadCursor) {
			return Page{}, errBadCursor
		}
		if err == nil && cacheNext != "" && len(page) > 0 {
			last := page[len(page)-1]
			next = &listCursor{Source: "c", Cache: cacheNext, UpdatedMs: last.UpdatedAt.UnixMilli(), ChatID: last.ID}
		}
		if err != nil {
			// Redis is a cache of MySQL: a list from MySQL is slower, not wrong.
			obs.Logger(ctx, s.log).Warn("chat list from cache failed; reading MySQL", "err", err)
		}
	}
	if cur.Source == "m" || err != nil {
		page, next, err = s.listFromStore(ctx, uid, cur.storeCursor(), limit)
		if err != nil {
			return Page{}, err
		}
	}
	out := Page{Chats: page}
	if next != nil {
		out.Next = next.encode()
	}
	return out, nil
}

// listFromStore builds a page of the chat list from MySQL alone, in a fixed
// number of queries whatever the page's size.
func (s *Service) listFromStore(ctx context.Context, uid int64, after *sqlstore.ListCursor, limit int) ([]domain.ChatSummary, *listCursor, error) {
	rows, err := s.store.UserChats(ctx, uid, after, limit+1)
	if err != nil {
		return nil, nil, err
	}
	var next *listCursor
	if len(rows) > limit {
		rows = rows[:limit]
		last := rows[len(rows)-1]
		next = &listCursor{Source: "m", UpdatedMs: last.UpdatedAt.UnixMilli(), ChatID: last.Chat.ID}
	}
	if len(rows) == 0 {
		return []domain.ChatSummary{}, nil, nil
	}
	chatIDs := make([]int64, len(rows))
	var withMsg, msgIDs []int64
	for i, r := range rows {
		chatIDs[i] = r.Chat.ID
		if r.LastMessageID > 0 {
			withMsg = append(withMsg, r.Chat.ID)
			msgIDs = append(msgIDs, r.LastMessageID)
		}
	}
	var msgs map[int64]domain.Message
	if len(msgIDs) > 0 {
		if msgs, err = s.store.MessagesByID(ctx, withMsg, msgIDs); err != nil {
			return nil, nil, err
		}
	}
	pos, err := s.store.ReadPositions(ctx, uid, chatIDs)
	if err != nil {
		return nil, nil, err
	}
	// One query counts the unread messages of every chat of the page that
	// has any (not one query per chat).
	behind := map[int64]int64{}
	for _, r := range rows {
		if r.LastMessageID > pos[r.Chat.ID] {
			behind[r.Chat.ID] = pos[r.Chat.ID]
		}
	}
	var unread map[int64]int
	if len(behind) > 0 {
		if unread, err = s.store.UnreadCounts(ctx, uid, behind); err != nil {
			return nil, nil, err
		}
	}
	page := make([]domain.ChatSummary, len(rows))
	for i, r := range rows {
		sum := baseSummary(uid, r.Chat)
		sum.UpdatedAt = r.UpdatedAt
		sum.ReadMessageID = pos[r.Chat.ID]
		if m, ok := msgs[r.LastMessageID]; ok && r.LastMessageID > 0 {
			sum.LastMessage = &m
		}
		sum.UnreadCount = unread[r.Chat.ID]
		page[i] = sum
	}
	return page, next, nil
}
