// Package chats is the rules of chats and their members: who creates what
// kind of chat with which roles, who may add and remove members, what a chat
// and a chat list look like to their viewer, and where that comes from when a
// store fails.
//
// Every change is written to MySQL with its log event staged in the same
// transaction (the outbox); the event reaches the log after the commit.
package chats

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/logchat/gateway/internal/membership"
	"github.com/logchat/gateway/internal/outbox"
	"github.com/logchat/shared/domain"
	"github.com/logchat/shared/event"
	"github.com/logchat/shared/obs"
	"github.com/logchat/storage/sqlstore"
)

// Store is MySQL: users, chats and members, which the gateway writes, and the
// persister's projection the chat list falls back to (*sqlstore.Store).
type Store interface {
	UsersByIDs(ctx context.Context, ids []int64) ([]domain.User, error)
	DirectChatOf(ctx context.Context, a, b int64) (domain.Chat, error)
	UserByID(ctx context.Context, id int64) (domain.User, error)

	CreateDirectChat(ctx context.Context, a, b domain.User, at time.Time, stage sqlstore.Stage) (domain.Chat, bool, error)
	CreateGroupChat(ctx context.Context, title string, createdBy int64, members []domain.Member, at time.Time, stage sqlstore.Stage) (domain.Chat, error)
	Chat(ctx context.Context, chatID int64) (domain.Chat, error)
	AddMemberUpTo(ctx context.Context, chatID int64, user domain.User, role domain.Role, at time.Time, maxMembers int, stage sqlstore.Stage) (domain.Chat, bool, error)
	RemoveMember(ctx context.Context, chatID, userID int64, check sqlstore.Check, stage sqlstore.Stage) error
	SetRole(ctx context.Context, chatID, userID int64, role domain.Role, check sqlstore.Check, stage sqlstore.Stage) (domain.Chat, bool, error)
	SetTitle(ctx context.Context, chatID int64, title string, check sqlstore.Check, stage sqlstore.Stage) (domain.Chat, bool, error)

	UserChats(ctx context.Context, userID int64, after *sqlstore.ListCursor, limit int) ([]sqlstore.ChatRow, error)
	History(ctx context.Context, chatID int64, q sqlstore.HistoryQuery) ([]domain.Message, bool, error)
	MessagesByID(ctx context.Context, chatIDs, ids []int64) (map[int64]domain.Message, error)
	ReadPositions(ctx context.Context, userID int64, chatIDs []int64) (map[int64]int64, error)
	UnreadCounts(ctx context.Context, userID int64, after map[int64]int64) (map[int64]int, error)
}

// Cache is the chat list the log projected into Redis (*chatcache.Cache).
type Cache interface {
	ChatList(ctx context.Context, userID int64, cursor string, limit int) ([]domain.ChatSummary, string, error)
	Summary(ctx context.Context, userID, chatID int64) (domain.ChatSummary, error)
}

// Members answers and updates membership (*membership.Service).
type Members interface {
	ManagerRole(ctx context.Context, chatID, uid int64) (domain.Role, error)
	Removed(chatID, userID int64)
}

// People is what chats need of people (*people.Service): blocks and privacy.
type People interface {
	MayMessage(ctx context.Context, a, b int64) error
	MayStartDirect(ctx context.Context, me, other int64) error
}

// Outbox publishes the events the changes staged (*outbox.Relay).
type Outbox interface {
	// Flush returns once the events committed so far are in the log, or with
	// the reason they are not yet.
	Flush(ctx context.Context) error
}

// MaxRequestMembers is the most member_ids one POST /chats may name (API
// 1.1). It is checked before any of them is looked up, so that one request
// cannot make the gateway load and insert an unbounded list.
const MaxRequestMembers = 200

// DefaultGroupMaxMembers is the most members a group has unless configured
// otherwise (GROUP_MAX_MEMBERS; API 1.1).
const DefaultGroupMaxMembers = 10_000

// Service applies the chat rules.
type Service struct {
	store   Store
	cache   Cache
	members Members
	people  People
	outbox  Outbox
	log     *slog.Logger

	groupMax int // the most members a group may have
}

// New returns the chat service; log is used when the request's context
// carries no logger. groupMax is the most members a group may have
// (DefaultGroupMaxMembers when <= 0).
func New(st Store, cache Cache, members Members, people People, ob Outbox, log *slog.Logger, groupMax int) *Service {
	if groupMax <= 0 {
		groupMax = DefaultGroupMaxMembers
	}
	return &Service{store: st, cache: cache, members: members, people: people, outbox: ob, log: log, groupMax: groupMax}
}

// View is a chat as one of its members sees it: its list entry (title
// resolved for the viewer, last message, unread count, read position) and
// the chat with its members.
type View struct {
	Summary domain.ChatSummary
	Chat    domain.Chat
}

// announceWait bounds how long a change's answer waits for its event to reach
// the log: long enough for a healthy log (milliseconds), short enough that a
// log that is down delays the answer only a little. The change is answered
// either way; the relay publishes the event when the log is back.
const announceWait = 2 * time.Second

// announce has the relay publish the events just committed and waits for
// that (at most announceWait). Waiting keeps a chat's event in the log before
// anything the client does after the answer (its first message, say), as
// when the event was appended before the commit.
func (s *Service) announce(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, announceWait)
	defer cancel()
	if err := s.outbox.Flush(ctx); err != nil {
		obs.Logger(ctx, s.log).Warn("change committed, its event not in the log yet (the outbox relay retries)", "err", err)
	}
}

// Create makes a direct chat (no title, one other member; the same pair
// always gets the same chat) or a group (a title; the caller is its admin,
// everyone else a member). A title that is empty after trimming counts as no
// title; the caller and repeated ids among memberIDs are ignored. created is
// false when the direct chat existed already.
func (s *Service) Create(ctx context.Context, me domain.User, title *string, memberIDs []int64) (v View, created bool, err error) {
	if len(memberIDs) > MaxRequestMembers {
		return View{}, false, domain.Invalid("member_ids holds %d ids; at most %d in one request (add more with POST /chats/{id}/members)", len(memberIDs), MaxRequestMembers)
	}
	name := ""
	if title != nil && strings.TrimSpace(*title) != "" {
		if name, err = domain.NormalizeTitle(*title); err != nil {
			return View{}, false, err
		}
	}
	others := make([]int64, 0, len(memberIDs))
	seen := map[int64]bool{me.ID: true}
	for _, id := range memberIDs {
		if !seen[id] {
			seen[id] = true
			others = append(others, id)
		}
	}
	if name == "" && len(others) != 1 {
		return View{}, false, domain.Invalid("a chat without a title is a direct chat and needs exactly one other member; give a group a title")
	}
	if len(others)+1 > s.groupMax {
		return View{}, false, domain.Conflict("a group has at most %d members", s.groupMax)
	}
	users, err := s.store.UsersByIDs(ctx, append([]int64{me.ID}, others...))
	if err != nil {
		return View{}, false, err
	}
	byID := make(map[int64]domain.User, len(users))
	for _, u := range users {
		byID[u.ID] = u
	}
	creator, ok := byID[me.ID]
	if !ok {
		return View{}, false, domain.Unauthenticated("the token's user does not exist")
	}
	otherUsers := make([]domain.User, 0, len(others))
	for _, id := range others {
		u, ok := byID[id]
		if !ok {
			return View{}, false, domain.NotFound("no such user: %d", id)
		}
		otherUsers = append(otherUsers, u)
	}

	at := time.Now()
	stage := outbox.Stage(event.ChatCreated, me.ID, at, func(chat domain.Chat) any { return event.ChatCreatedData{Chat: chat} })
	if name == "" {
		// Blocked either way: no direct chat, new or old (403). A user who
		// takes direct messages from nobody refuses new ones only.
		other := otherUsers[0].ID
		if err := s.people.MayMessage(ctx, me.ID, other); err != nil {
			return View{}, false, err
		}
		if _, err := s.store.DirectChatOf(ctx, me.ID, other); errors.Is(err, domain.ErrNotFound) {
			if err := s.people.MayStartDirect(ctx, me.ID, other); err != nil {
				return View{}, false, err
			}
		} else if err != nil {
			return View{}, false, err
		}
		chat, created, err := s.store.CreateDirectChat(ctx, creator, otherUsers[0], at, stage)
		if err != nil {
			return View{}, false, err
		}
		if created {
			s.announce(ctx)
			return newView(me.ID, chat), true, nil
		}
		if !domain.HasMember(chat.Members, me.ID) {
			// The caller left this direct chat: asking for it again is
			// rejoining it (API 1.1), with its history as it was. Until this
			// commits they are not a member, and nothing of the chat (its
			// last message, their unread count and read position) is shown
			// to them: the view below is built only once they are back.
			if chat, err = s.rejoinDirect(ctx, creator, chat.ID, at); err != nil {
				return View{}, false, err
			}
		}
		v, err := s.view(ctx, me.ID, chat)
		return v, false, err
	}
	members := []domain.Member{{User: creator, Role: domain.RoleAdmin}}
	for _, u := range otherUsers {
		members = append(members, domain.Member{User: u, Role: domain.RoleMember})
	}
	chat, err := s.store.CreateGroupChat(ctx, name, creator.ID, members, at, stage)
	if err != nil {
		return View{}, false, err
	}
	s.announce(ctx)
	return newView(me.ID, chat), true, nil
}

// rejoinDirect makes user a member of the direct chat they left, through a
// member.added event in the outbox like any addition, so that every
// projection (the chat list, the personal channel) takes them back.
func (s *Service) rejoinDirect(ctx context.Context, user domain.User, chatID int64, at time.Time) (domain.Chat, error) {
	member := domain.Member{User: user, Role: domain.RoleMember}
	// A direct chat holds its pair and no one else: the cap of 2 also keeps a
	// malformed chat from growing.
	chat, added, err := s.store.AddMemberUpTo(ctx, chatID, user, member.Role, at, 2, outbox.Stage(event.MemberAdded, user.ID, at,
		func(chat domain.Chat) any { return event.NewMemberAddedData(member, chat) }))
	if err != nil {
		return domain.Chat{}, err
	}
	if added {
		s.announce(ctx)
	}
	return chat, nil
}

// Get is a chat as uid sees it; a chat uid is not a member of does not exist.
func (s *Service) Get(ctx context.Context, uid, chatID int64) (View, error) {
	chat, err := s.store.Chat(ctx, chatID)
	if errors.Is(err, domain.ErrNotFound) {
		return View{}, membership.ErrNoSuchChat
	}
	if err != nil {
		return View{}, err
	}
	if !domain.HasMember(chat.Members, uid) {
		return View{}, membership.ErrNoSuchChat
	}
	return s.view(ctx, uid, chat)
}

// AddMember adds userID to a chat as a member: admins only, and a direct
// chat has none. Adding a member again changes nothing.
func (s *Service) AddMember(ctx context.Context, uid, chatID, userID int64) (View, error) {
	role, err := s.members.ManagerRole(ctx, chatID, uid)
	if err != nil {
		return View{}, err
	}
	if !role.CanManageMembers() {
		return View{}, domain.Forbidden("only an admin of the chat can add members")
	}
	if userID <= 0 {
		return View{}, domain.NotFound("no such user")
	}
	user, err := s.store.UserByID(ctx, userID)
	if errors.Is(err, domain.ErrNotFound) {
		return View{}, domain.NotFound("no such user")
	}
	if err != nil {
		return View{}, err
	}
	member := domain.Member{User: user, Role: domain.RoleMember}
	at := time.Now()
	chat, added, err := s.store.AddMemberUpTo(ctx, chatID, user, member.Role, at, s.groupMax, outbox.Stage(event.MemberAdded, uid, at,
		func(chat domain.Chat) any { return event.NewMemberAddedData(member, chat) }))
	if err != nil {
		return View{}, err
	}
	if added {
		s.announce(ctx)
	}
	return s.view(ctx, uid, chat)
}

// RemoveMember: anyone leaves; an admin removes anyone, a moderator members
// and muted members (API.md 1.1). The last admin of a group with other
// members cannot leave: 409. The rules are judged on the chat as it is under
// its row lock (sqlstore.Check).
func (s *Service) RemoveMember(ctx context.Context, uid, chatID, userID int64) error {
	if _, err := s.members.ManagerRole(ctx, chatID, uid); err != nil {
		return err
	}
	check := func(before domain.Chat) error {
		actor := domain.RoleOf(before.Members, uid)
		if actor == "" {
			return membership.ErrNoSuchChat
		}
		if userID != uid {
			if before.Kind == domain.KindDirect || !actor.CanRemove(domain.RoleOf(before.Members, userID)) {
				return domain.Forbidden("an admin removes members; a moderator members and muted members only")
			}
			return nil
		}
		if before.Kind == domain.KindGroup && domain.IsLastAdmin(before.Members, uid) {
			return domain.Conflict("the last admin cannot leave while others remain: make someone else an admin first")
		}
		return nil
	}
	at := time.Now()
	err := s.store.RemoveMember(ctx, chatID, userID, check, outbox.Stage(event.MemberRemoved, uid, at, func(chat domain.Chat) any {
		return event.MemberRemovedData{UserID: userID, MembersCount: len(chat.Members)}
	}))
	if errors.Is(err, domain.ErrNotFound) && !errors.Is(err, membership.ErrNoSuchChat) {
		return domain.NotFound("no such member")
	}
	if err != nil {
		return err
	}
	s.members.Removed(chatID, userID)
	s.announce(ctx)
	return nil
}

// SetRole changes a member's role in a group (API.md 1.1): admins make
// anything of anyone, moderators switch members and muted members; the last
// admin cannot lose the role while others remain (409); a direct chat has no
// roles (403). The same role again is a no-op.
func (s *Service) SetRole(ctx context.Context, uid, chatID, userID int64, role domain.Role) (View, error) {
	if _, err := s.members.ManagerRole(ctx, chatID, uid); err != nil {
		return View{}, err
	}
	if !role.Valid() {
		return View{}, domain.Invalid("role must be admin, moderator, member or muted")
	}
	check := func(before domain.Chat) error {
		actor, err := groupActor(before, uid, "a direct chat has no roles to change")
		if err != nil {
			return err
		}
		from := domain.RoleOf(before.Members, userID)
		if from == "" {
			return domain.NotFound("no such member")
		}
		if from == role {
			return nil
		}
		if !actor.CanSetRole(from, role) {
			return domain.Forbidden("only admins make admins and moderators; moderators switch members and muted members")
		}
		if from == domain.RoleAdmin && domain.IsLastAdmin(before.Members, userID) {
			return domain.Conflict("the last admin cannot lose the role while others remain: make someone else an admin first")
		}
		return nil
	}
	at := time.Now()
	chat, changed, err := s.store.SetRole(ctx, chatID, userID, role, check, outbox.Stage(event.MemberUpdated, uid, at, func(chat domain.Chat) any {
		return event.MemberUpdatedData{Member: domain.Member{User: memberUser(chat.Members, userID), Role: role}}
	}))
	if err != nil {
		return View{}, err
	}
	if changed {
		s.members.Removed(chatID, userID) // the cached role is stale
		s.announce(ctx)
	}
	return s.view(ctx, uid, chat)
}

// SetTitle renames a group: its admins only (403 otherwise, and for a direct
// chat, whose title is the other member's name).
func (s *Service) SetTitle(ctx context.Context, uid, chatID int64, title string) (View, error) {
	if _, err := s.members.ManagerRole(ctx, chatID, uid); err != nil {
		return View{}, err
	}
	title, err := domain.NormalizeTitle(title)
	if err != nil {
		return View{}, err
	}
	check := func(before domain.Chat) error {
		actor, err := groupActor(before, uid, "a direct chat's title is the other member's name")
		if err != nil {
			return err
		}
		if !actor.CanManageMembers() {
			return domain.Forbidden("only an admin of the chat can rename it")
		}
		return nil
	}
	at := time.Now()
	chat, changed, err := s.store.SetTitle(ctx, chatID, title, check, outbox.Stage(event.ChatUpdated, uid, at, func(chat domain.Chat) any {
		d := event.ChatUpdatedData{Chat: chat, MembersCount: len(chat.Members)}
		d.Chat.Members = nil
		return d
	}))
	if err != nil {
		return View{}, err
	}
	if changed {
		s.announce(ctx)
	}
	return s.view(ctx, uid, chat)
}

// groupActor is uid's role in a group about to change (under its row lock):
// no such chat for a non-member, and forbidden (with why) in a direct chat.
func groupActor(before domain.Chat, uid int64, whyNotDirect string) (domain.Role, error) {
	actor := domain.RoleOf(before.Members, uid)
	if actor == "" {
		return "", membership.ErrNoSuchChat
	}
	if before.Kind == domain.KindDirect {
		return "", domain.Forbidden("%s", whyNotDirect)
	}
	return actor, nil
}

func memberUser(members []domain.Member, userID int64) domain.User {
	for _, m := range members {
		if m.User.ID == userID {
			return m.User
		}
	}
	return domain.User{ID: userID}
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

// newView is a chat just created: no messages yet.
func newView(viewer int64, chat domain.Chat) View {
	return View{Summary: baseSummary(viewer, chat), Chat: chat}
}

// view is a chat with members (from MySQL, authoritative) and the viewer's
// summary: last message, unread count and read position from the cache, or
// from MySQL when the cache fails.
func (s *Service) view(ctx context.Context, viewer int64, chat domain.Chat) (View, error) {
	sum := baseSummary(viewer, chat)
	cached, err := s.cache.Summary(ctx, viewer, chat.ID)
	if err == nil {
		sum.LastMessage, sum.UnreadCount, sum.ReadMessageID = cached.LastMessage, cached.UnreadCount, cached.ReadMessageID
		if !cached.UpdatedAt.IsZero() {
			sum.UpdatedAt = cached.UpdatedAt
		}
		return View{Summary: sum, Chat: chat}, nil
	}
	obs.Logger(ctx, s.log).Debug("chat summary from cache failed; reading MySQL", "chat_id", chat.ID, "err", err)
	last, _, err := s.store.History(ctx, chat.ID, sqlstore.HistoryQuery{Limit: 1, Viewer: viewer})
	if err != nil {
		return View{}, err
	}
	pos, err := s.store.ReadPositions(ctx, viewer, []int64{chat.ID})
	if err != nil {
		return View{}, err
	}
	sum.ReadMessageID = pos[chat.ID]
	if len(last) > 0 {
		m := last[len(last)-1]
		sum.LastMessage, sum.UpdatedAt = &m, m.SentAt
		if m.ID > sum.ReadMessageID {
			unread, err := s.store.UnreadCounts(ctx, viewer, map[int64]int64{chat.ID: sum.ReadMessageID})
			if err != nil {
				return View{}, err
			}
			sum.UnreadCount = unread[chat.ID]
		}
	}
	return View{Summary: sum, Chat: chat}, nil
}
