// Package membership answers "is this user a member of this chat, with which
// role?", the question behind every chat-scoped request, and keeps the
// answers fast (a cache every instance keeps current) and available (the log's
// projection in Redis stands in when MySQL does not answer).
package membership

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/logchat/ingest/bus"
	"github.com/logchat/shared/domain"
	"github.com/logchat/shared/event"
)

// ErrNoSuchChat is the answer for a chat that does not exist and for one the
// caller is not a member of alike, so that existence is not leaked.
var ErrNoSuchChat = domain.NotFound("no such chat")

// Store is MySQL, the authority on membership (*sqlstore.Store).
type Store interface {
	// MemberRole is userID's role in chatID; domain.ErrNotFound when not a
	// member or no such chat.
	MemberRole(ctx context.Context, chatID, userID int64) (domain.Role, error)
	// DirectPair is the two members of a direct chat (direct false for a group).
	DirectPair(ctx context.Context, chatID int64) (a, b int64, direct bool, err error)
}

// Projection is the members the log projected into Redis (*chatcache.Cache).
type Projection interface {
	// MemberOf answers from the projection; known is false when it does not
	// hold the chat's members.
	MemberOf(ctx context.Context, chatID, userID int64) (member, known bool, err error)
}

// Service answers membership questions.
type Service struct {
	store Store
	proj  Projection
	cache *cache

	pairsMu sync.Mutex
	pairs   map[int64][2]int64 // direct chats' pairs ({0, 0}: a group), which never change
}

// New returns a service that reuses MySQL's answers for ttl (0: never).
// proj may be nil: then nothing stands in for MySQL.
func New(st Store, proj Projection, ttl time.Duration) *Service {
	return &Service{store: st, proj: proj, cache: newCache(ttl), pairs: map[int64][2]int64{}}
}

// DirectPeer is the other member of a direct chat uid is in; direct is false
// for a group. Kept for good once known: a chat's kind and a direct chat's
// pair never change.
func (s *Service) DirectPeer(ctx context.Context, chatID, uid int64) (peer int64, direct bool, err error) {
	s.pairsMu.Lock()
	p, ok := s.pairs[chatID]
	s.pairsMu.Unlock()
	if !ok {
		a, b, _, err := s.store.DirectPair(ctx, chatID)
		if err != nil {
			return 0, false, err
		}
		p = [2]int64{a, b}
		s.pairsMu.Lock()
		if len(s.pairs) >= maxEntries {
			clear(s.pairs)
		}
		s.pairs[chatID] = p
		s.pairsMu.Unlock()
	}
	switch {
	case p[0] == 0:
		return 0, false, nil
	case p[0] == uid:
		return p[1], true, nil
	default:
		return p[0], true, nil
	}
}

// Role is the caller's role in a chat; a chat the caller is not in is
// ErrNoSuchChat.
//
// MySQL is the authority. When it does not answer, the membership the log
// has projected into Redis stands in, so that sends keep being accepted
// through a MySQL outage (the log is the buffer). The projection knows
// members but not roles; roles only restrict muted members, and muting also
// goes through MySQL, so a projected member is treated as a plain member.
func (s *Service) Role(ctx context.Context, chatID, uid int64) (domain.Role, error) {
	now := time.Now()
	if role, ok := s.cache.get(chatID, uid, now); ok {
		return role, nil
	}
	role, err := s.store.MemberRole(ctx, chatID, uid)
	if errors.Is(err, domain.ErrNotFound) {
		return "", ErrNoSuchChat
	}
	if err == nil {
		s.cache.put(chatID, uid, role, now)
		return role, nil
	}
	if s.proj == nil {
		return "", err
	}
	member, known, perr := s.proj.MemberOf(ctx, chatID, uid)
	switch {
	case perr != nil || !known:
		return "", err // neither store answers: unavailable
	case !member:
		return "", ErrNoSuchChat
	default:
		return domain.RoleMember, nil
	}
}

// ManagerRole is the caller's role for changing a chat's members: always
// asked of MySQL, never of a cache, since it decides who may change a chat.
func (s *Service) ManagerRole(ctx context.Context, chatID, uid int64) (domain.Role, error) {
	role, err := s.store.MemberRole(ctx, chatID, uid)
	if errors.Is(err, domain.ErrNotFound) {
		return "", ErrNoSuchChat
	}
	return role, err
}

// Removed forgets what is known of a member just removed from a chat, here
// at once; other instances learn it from the log (Watch).
func (s *Service) Removed(chatID, userID int64) { s.cache.forget(chatID, userID, time.Now()) }

// Watch makes every removal and role change, through any gateway instance,
// reach this instance's cache: each one is appended to the log as a
// member.removed or member.updated event, and a plain NATS subscription to
// the appends sees it at once.
// Unsubscribe the subscription to stop.
func (s *Service) Watch(nc *nats.Conn, log *slog.Logger) (*nats.Subscription, error) {
	if s.cache.ttl <= 0 {
		return nil, nil // nothing cached, nothing to forget
	}
	return nc.Subscribe(bus.PublishSubjectPattern(event.KindMember), func(m *nats.Msg) {
		env, err := event.Decode(m.Data)
		if err != nil {
			return
		}
		var uid int64
		switch env.Type {
		case event.MemberRemoved:
			d, err := event.Payload[event.MemberRemovedData](env)
			if err != nil {
				log.Warn("member.removed event without a user", "chat", env.ChatID, "err", err)
				return
			}
			uid = d.UserID
		case event.MemberUpdated: // a role changed: the cached one is stale
			d, err := event.Payload[event.MemberUpdatedData](env)
			if err != nil {
				log.Warn("member.updated event without a member", "chat", env.ChatID, "err", err)
				return
			}
			uid = d.Member.User.ID
		default:
			return
		}
		s.cache.forget(env.ChatID, uid, time.Now())
	})
}
