package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/logchat/gateway/internal/outbox"
	"github.com/logchat/shared/domain"
	"github.com/logchat/shared/event"
	"github.com/logchat/storage/chatcache"
	"github.com/logchat/storage/sqlstore"
)

type createChatRequest struct {
	Title     *string `json:"title"`
	MemberIDs []int64 `json:"member_ids"`
}

// createChat makes a direct chat (no title, one other member; the same pair
// always gets the same chat) or a group (a title; the caller is its admin).
// A title that is empty after trimming counts as no title.
func (a *API) createChat(c *fiber.Ctx) error {
	me := caller(c)
	var req createChatRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	title := ""
	if req.Title != nil && strings.TrimSpace(*req.Title) != "" {
		t, err := domain.NormalizeTitle(*req.Title)
		if err != nil {
			return err
		}
		title = t
	}
	others := make([]int64, 0, len(req.MemberIDs))
	seen := map[int64]bool{me.ID: true}
	for _, id := range req.MemberIDs {
		if !seen[id] {
			seen[id] = true
			others = append(others, id)
		}
	}
	if title == "" && len(others) != 1 {
		return errInvalid("a chat without a title is a direct chat and needs exactly one other member; give a group a title")
	}
	ctx := c.UserContext()
	users, err := a.store.UsersByIDs(ctx, append([]int64{me.ID}, others...))
	if err != nil {
		return err
	}
	byID := make(map[int64]domain.User, len(users))
	for _, u := range users {
		byID[u.ID] = u
	}
	creator, ok := byID[me.ID]
	if !ok {
		return errUnauth("the token's user does not exist")
	}
	otherUsers := make([]domain.User, 0, len(others))
	for _, id := range others {
		u, ok := byID[id]
		if !ok {
			return errNotFound(fmt.Sprintf("no such user: %d", id))
		}
		otherUsers = append(otherUsers, u)
	}

	at := a.now()
	stage := outbox.Stage(event.ChatCreated, me.ID, at, func(chat domain.Chat) any { return event.ChatCreatedData{Chat: chat} })
	if title == "" {
		chat, created, err := a.store.CreateDirectChat(ctx, creator, otherUsers[0], at, stage)
		if err != nil {
			return err
		}
		if created {
			a.announce(ctx, c)
			return c.Status(http.StatusCreated).JSON(newChatJSON(me.ID, chat))
		}
		view, err := a.chatView(ctx, me.ID, chat)
		if err != nil {
			return err
		}
		return c.JSON(view)
	}
	// The creator administers the group; everyone else is a member.
	members := []domain.Member{{User: creator, Role: domain.RoleAdmin}}
	for _, u := range otherUsers {
		members = append(members, domain.Member{User: u, Role: domain.RoleMember})
	}
	chat, err := a.store.CreateGroupChat(ctx, title, creator.ID, members, at, stage)
	if err != nil {
		return err
	}
	a.announce(ctx, c)
	return c.Status(http.StatusCreated).JSON(newChatJSON(me.ID, chat))
}

func (a *API) getChat(c *fiber.Ctx) error {
	chatID, err := pathID(c, "id", errChatNotFound)
	if err != nil {
		return err
	}
	uid := caller(c).ID
	chat, err := a.store.Chat(c.UserContext(), chatID)
	if errors.Is(err, domain.ErrNotFound) {
		return errChatNotFound
	}
	if err != nil {
		return err
	}
	if _, ok := memberOf(chat, uid); !ok {
		return errChatNotFound
	}
	view, err := a.chatView(c.UserContext(), uid, chat)
	if err != nil {
		return err
	}
	return c.JSON(view)
}

type addMemberRequest struct {
	UserID int64 `json:"user_id"`
}

func (a *API) addMember(c *fiber.Ctx) error {
	chatID, err := pathID(c, "id", errChatNotFound)
	if err != nil {
		return err
	}
	var req addMemberRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	uid := caller(c).ID
	ctx := c.UserContext()
	role, err := a.managerRole(ctx, chatID, uid)
	if err != nil {
		return err
	}
	if !role.CanManageMembers() {
		return errForbidden("only an admin of the chat can add members")
	}
	if req.UserID <= 0 {
		return errNotFound("no such user")
	}
	user, err := a.store.UserByID(ctx, req.UserID)
	if errors.Is(err, domain.ErrNotFound) {
		return errNotFound("no such user")
	}
	if err != nil {
		return err
	}
	member := domain.Member{User: user, Role: domain.RoleMember}
	at := a.now()
	chat, added, err := a.store.AddMember(ctx, chatID, user, member.Role, at, outbox.Stage(event.MemberAdded, uid, at,
		func(chat domain.Chat) any { return event.MemberAddedData{Member: member, Chat: chat} }))
	if err != nil {
		return err
	}
	if added {
		a.announce(ctx, c)
	}
	view, err := a.chatView(ctx, uid, chat)
	if err != nil {
		return err
	}
	return c.JSON(view)
}

// removeMember: an admin removes someone, or anyone leaves.
func (a *API) removeMember(c *fiber.Ctx) error {
	chatID, err := pathID(c, "id", errChatNotFound)
	if err != nil {
		return err
	}
	target, err := pathID(c, "user_id", errNotFound("no such member"))
	if err != nil {
		return err
	}
	uid := caller(c).ID
	ctx := c.UserContext()
	role, err := a.managerRole(ctx, chatID, uid)
	if err != nil {
		return err
	}
	if target != uid && !role.CanManageMembers() {
		return errForbidden("only an admin of the chat can remove other members")
	}
	at := a.now()
	err = a.store.RemoveMember(ctx, chatID, target, outbox.Stage(event.MemberRemoved, uid, at, func(chat domain.Chat) any {
		return event.MemberRemovedData{UserID: target, MembersCount: len(chat.Members)}
	}))
	if errors.Is(err, domain.ErrNotFound) {
		return errNotFound("no such member")
	}
	if err != nil {
		return err
	}
	a.members.forget(chatID, target, a.now())
	a.announce(ctx, c)
	return c.SendStatus(http.StatusNoContent)
}

// listCursor is the opaque next_cursor of GET /chats. It carries the cache's
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
		return listCursor{}, errInvalid("cursor is not one this API returned")
	}
	return lc, nil
}

func (lc listCursor) storeCursor() *sqlstore.ListCursor {
	if lc.ChatID == 0 {
		return nil
	}
	return &sqlstore.ListCursor{UpdatedAt: time.UnixMilli(lc.UpdatedMs).UTC(), ChatID: lc.ChatID}
}

func (a *API) listChats(c *fiber.Ctx) error {
	limit, err := queryInt(c, "limit", 50, 1, 200)
	if err != nil {
		return err
	}
	cur, err := decodeListCursor(c.Query("cursor"))
	if err != nil {
		return err
	}
	uid := caller(c).ID
	ctx := c.UserContext()

	var page []domain.ChatSummary
	var next *listCursor
	if cur.Source != "m" {
		var cacheNext string
		page, cacheNext, err = a.cache.ChatList(ctx, uid, cur.Cache, int(limit))
		if errors.Is(err, chatcache.ErrBadCursor) {
			return errInvalid("cursor is not one this API returned")
		}
		if err == nil && cacheNext != "" && len(page) > 0 {
			last := page[len(page)-1]
			next = &listCursor{Source: "c", Cache: cacheNext, UpdatedMs: last.UpdatedAt.UnixMilli(), ChatID: last.ID}
		}
		if err != nil {
			// Redis is a cache of MySQL: a list from MySQL is slower, not wrong.
			a.log.Warn("chat list from cache failed; reading MySQL", "request_id", requestID(c), "err", err)
		}
	}
	if cur.Source == "m" || err != nil {
		page, next, err = a.chatListFromStore(ctx, uid, cur.storeCursor(), int(limit))
		if err != nil {
			return err
		}
	}
	out := make([]summaryJSON, len(page))
	for i, s := range page {
		out[i] = toSummary(s)
	}
	var nextCursor *string
	if next != nil {
		s := next.encode()
		nextCursor = &s
	}
	return c.JSON(chatPage{Chats: out, NextCursor: nextCursor})
}

// chatListFromStore builds a page of the chat list from MySQL alone.
func (a *API) chatListFromStore(ctx context.Context, uid int64, after *sqlstore.ListCursor, limit int) ([]domain.ChatSummary, *listCursor, error) {
	rows, err := a.store.UserChats(ctx, uid, after, limit+1)
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
		if msgs, err = a.store.MessagesByID(ctx, withMsg, msgIDs); err != nil {
			return nil, nil, err
		}
	}
	pos, err := a.store.ReadPositions(ctx, uid, chatIDs)
	if err != nil {
		return nil, nil, err
	}
	// One query counts the unread messages of every chat of the page that
	// has any.
	behind := map[int64]int64{}
	for _, r := range rows {
		if r.LastMessageID > pos[r.Chat.ID] {
			behind[r.Chat.ID] = pos[r.Chat.ID]
		}
	}
	var unread map[int64]int
	if len(behind) > 0 {
		if unread, err = a.store.UnreadCounts(ctx, uid, behind); err != nil {
			return nil, nil, err
		}
	}
	page := make([]domain.ChatSummary, len(rows))
	for i, r := range rows {
		s := baseSummary(uid, r.Chat)
		s.UpdatedAt = r.UpdatedAt
		s.ReadMessageID = pos[r.Chat.ID]
		if m, ok := msgs[r.LastMessageID]; ok && r.LastMessageID > 0 {
			s.LastMessage = &m
		}
		s.UnreadCount = unread[r.Chat.ID]
		page[i] = s
	}
	return page, next, nil
}

// baseSummary is what a chat's list entry is made of before any message:
// title resolved for the viewer, channel, member count, updated_at = creation.
func baseSummary(viewer int64, chat domain.Chat) domain.ChatSummary {
	title := chat.Title
	if chat.Kind == domain.KindDirect {
		title = domain.DirectTitle(chat.Members, viewer)
	}
	return domain.ChatSummary{
		ID: chat.ID, Kind: chat.Kind, Title: title, Channel: domain.ChatChannel(chat.ID),
		MembersCount: len(chat.Members), UpdatedAt: chat.CreatedAt,
	}
}

// newChatJSON is a chat just created: no messages yet.
func newChatJSON(viewer int64, chat domain.Chat) chatJSON {
	return chatJSONOf(baseSummary(viewer, chat), chat)
}

func chatJSONOf(s domain.ChatSummary, chat domain.Chat) chatJSON {
	members := chat.Members
	if members == nil {
		members = []domain.Member{}
	}
	return chatJSON{ChatSummary: toSummary(s), CreatedAt: apiTime(chat.CreatedAt), Members: members}
}

// chatView is a chat with members (from MySQL, authoritative) and the viewer's
// summary: last message, unread count and read position from the cache, or
// from MySQL when the cache fails.
func (a *API) chatView(ctx context.Context, viewer int64, chat domain.Chat) (chatJSON, error) {
	s := baseSummary(viewer, chat)
	cached, err := a.cache.Summary(ctx, viewer, chat.ID)
	if err == nil {
		s.LastMessage, s.UnreadCount, s.ReadMessageID = cached.LastMessage, cached.UnreadCount, cached.ReadMessageID
		if !cached.UpdatedAt.IsZero() {
			s.UpdatedAt = cached.UpdatedAt
		}
		return chatJSONOf(s, chat), nil
	}
	a.log.Debug("chat summary from cache failed; reading MySQL", "chat_id", chat.ID, "err", err)
	last, _, err := a.store.History(ctx, chat.ID, sqlstore.HistoryQuery{Limit: 1})
	if err != nil {
		return chatJSON{}, err
	}
	pos, err := a.store.ReadPositions(ctx, viewer, []int64{chat.ID})
	if err != nil {
		return chatJSON{}, err
	}
	s.ReadMessageID = pos[chat.ID]
	if len(last) > 0 {
		m := last[len(last)-1]
		s.LastMessage, s.UpdatedAt = &m, m.SentAt
		if m.ID > s.ReadMessageID {
			unread, err := a.store.UnreadCounts(ctx, viewer, map[int64]int64{chat.ID: s.ReadMessageID})
			if err != nil {
				return chatJSON{}, err
			}
			s.UnreadCount = unread[chat.ID]
		}
	}
	return chatJSONOf(s, chat), nil
}

// announceWait bounds how long a change's answer waits for its event to reach
// the log: long enough for a healthy log (milliseconds), short enough that a
// log that is down delays the answer only a little. It is answered either
// way; the relay publishes the event when the log is back.
const announceWait = 2 * time.Second

// announce has the relay publish the events just committed and waits for it
// (bounded by announceWait). Waiting keeps a chat's event in the log before
// anything the client does after the answer (its first message, say), as
// when the event was appended before the commit.
func (a *API) announce(ctx context.Context, c *fiber.Ctx) {
	ctx, cancel := context.WithTimeout(ctx, announceWait)
	defer cancel()
	if err := a.outbox.Flush(ctx); err != nil {
		a.log.Warn("change committed, its event not in the log yet (the outbox relay retries)", "request_id", requestID(c), "err", err)
	}
}

func memberOf(chat domain.Chat, uid int64) (domain.Role, bool) {
	for _, m := range chat.Members {
		if m.User.ID == uid {
			return m.Role, true
		}
	}
	return "", false
}

// managerRole is the caller's role for managing members: always asked of
// MySQL, never of a cache, since it decides who may change a chat.
func (a *API) managerRole(ctx context.Context, chatID, uid int64) (domain.Role, error) {
	role, err := a.store.MemberRole(ctx, chatID, uid)
	if errors.Is(err, domain.ErrNotFound) {
		return "", errChatNotFound
	}
	return role, err
}

// memberRole is the caller's role in a chat; a chat the caller is not in is
// answered as one that does not exist.
//
// MySQL is the authority. When it does not answer, the membership the log
// has projected into Redis stands in, so that sends keep being accepted
// through a MySQL outage (the log is the buffer). The cache knows members but
// not roles; roles only restrict muted members, and muting also goes through
// MySQL, so a cached member is treated as a plain member.
func (a *API) memberRole(ctx context.Context, chatID, uid int64) (domain.Role, error) {
	now := time.Now()
	if role, ok := a.members.get(chatID, uid, now); ok {
		return role, nil
	}
	role, err := a.store.MemberRole(ctx, chatID, uid)
	if errors.Is(err, domain.ErrNotFound) {
		return "", errChatNotFound
	}
	if err == nil {
		a.members.put(chatID, uid, role, now)
		return role, nil
	}
	if a.cache == nil {
		return "", err
	}
	member, known, cerr := a.cache.MemberOf(ctx, chatID, uid)
	switch {
	case cerr != nil || !known:
		return "", err // neither store answers: 503
	case !member:
		return "", errChatNotFound
	default:
		return domain.RoleMember, nil
	}
}
