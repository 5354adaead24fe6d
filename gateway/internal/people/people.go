// Package people is the rules about users as people (API.md 1.1, "People"):
// profiles and what a viewer may see of them, renames and avatars (which
// every chat of the user learns through the log), blocks and privacy, and
// the name and picture a new message carries.
package people

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
	"github.com/logchat/storage/sqlstore"
)

// Store is MySQL (*sqlstore.Store).
type Store interface {
	UserByID(ctx context.Context, id int64) (domain.User, error)
	Profile(ctx context.Context, id int64) (sqlstore.ProfileRow, error)
	SetAbout(ctx context.Context, id int64, about string) error
	SetPrivacy(ctx context.Context, id int64, p domain.Privacy) error
	UpdateUser(ctx context.Context, id int64, name string, avatarKey *string, stage func(before domain.User) sqlstore.Stage) (before, after domain.User, err error)
	Block(ctx context.Context, userID, blockedID int64, at time.Time) error
	Unblock(ctx context.Context, userID, blockedID int64) error
	Blocked(ctx context.Context, userID int64) ([]domain.User, error)
	Blocks(ctx context.Context, a, b int64) (aBlocksB, bBlocksA bool, err error)
	PutAvatarImages(ctx context.Context, userID int64, key string, images map[int]sqlstore.Avatar, at time.Time) error
	DeleteAvatarImages(ctx context.Context, userID int64, keep string) error
	AvatarImage(ctx context.Context, key string, size int) (sqlstore.Avatar, error)
}

// Outbox publishes the events a change staged (*outbox.Relay).
type Outbox interface {
	Flush(ctx context.Context) error
}

// Presence says who is online (*presence.Tracker).
type Presence interface {
	Online(ctx context.Context, uid int64) (bool, error)
}

// Stager makes the outbox's staging function of an event (outbox.Stage).
type Stager func(t event.Type, actor int64, at time.Time, data func(domain.Chat) any) sqlstore.Stage

// Service applies the rules.
type Service struct {
	store    Store
	outbox   Outbox
	stage    Stager
	presence Presence
	log      *slog.Logger

	mu     sync.Mutex
	users  map[int64]cachedUser // the current name and picture of recent authors
	blocks map[[2]int64]cachedBlock
}

type cachedUser struct {
	user    domain.User
	expires time.Time
}

type cachedBlock struct {
	blocked bool
	expires time.Time
}

// namesTTL bounds how stale this instance's view of a name or a picture can
// be when it missed the change (another instance made it and the NATS notice
// did not arrive); renames reach every instance through Watch at once
// otherwise. blocksTTL bounds how long a block made through another instance
// takes to apply here (blocks have no notice).
const (
	namesTTL  = time.Minute
	blocksTTL = 10 * time.Second
)

// maxCached empties a cache that grew this big (cheap, rare).
const maxCached = 100_000

// New returns the service.
func New(st Store, ob Outbox, stage Stager, log *slog.Logger) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{store: st, outbox: ob, stage: stage, log: log,
		users: map[int64]cachedUser{}, blocks: map[[2]int64]cachedBlock{}}
}

// TrackPresence makes profiles show whether their user is online; without
// it, nobody is.
func (s *Service) TrackPresence(p Presence) { s.presence = p }

// Profile is a user's profile as viewer sees it: last seen and online only
// when the user shows them and has not blocked the viewer.
func (s *Service) Profile(ctx context.Context, viewer, id int64) (domain.Profile, error) {
	if id <= 0 {
		return domain.Profile{}, domain.NotFound("no such user")
	}
	row, err := s.store.Profile(ctx, id)
	if errors.Is(err, domain.ErrNotFound) {
		return domain.Profile{}, domain.NotFound("no such user")
	}
	if err != nil {
		return domain.Profile{}, err
	}
	p := row.Profile
	if s.presence != nil {
		online, err := s.presence.Online(ctx, id)
		if err != nil {
			// A profile without its online dot rather than none at all.
			s.log.Warn("presence unknown", "user_id", id, "err", err)
		}
		p.Online = online
	}
	if viewer != id {
		hidden := row.Privacy.LastSeen == domain.Nobody
		if !hidden {
			blocksViewer, _, err := s.store.Blocks(ctx, id, viewer)
			if err != nil {
				return domain.Profile{}, err
			}
			hidden = blocksViewer
		}
		if hidden {
			p.LastSeenAt, p.Online = nil, false
		}
	}
	return p, nil
}

// UpdateMe changes the caller's about text and name (either may be nil). A
// rename reaches every chat of the caller through the log (a member.updated
// event in each), so that history, lists and direct chats' titles show the
// new name.
func (s *Service) UpdateMe(ctx context.Context, me int64, about, name *string) (domain.Profile, error) {
	if about != nil {
		if err := domain.ValidateAbout(*about); err != nil {
			return domain.Profile{}, err
		}
	}
	if name != nil {
		if err := domain.ValidateName(*name); err != nil {
			return domain.Profile{}, err
		}
	}
	// The rename first: it is the part that can be refused (409), and a
	// refused request must change nothing, the about text included.
	if name != nil {
		if err := s.updateUser(ctx, me, *name, nil); err != nil {
			return domain.Profile{}, err
		}
	}
	if about != nil {
		if err := s.store.SetAbout(ctx, me, *about); err != nil {
			return domain.Profile{}, err
		}
	}
	return s.Profile(ctx, me, me)
}

// updateUser renames the user or changes their picture, with an event in
// each of their chats, and waits (briefly) for the events to reach the log.
func (s *Service) updateUser(ctx context.Context, me int64, name string, avatarKey *string) error {
	at := time.Now()
	_, after, err := s.store.UpdateUser(ctx, me, name, avatarKey, func(before domain.User) sqlstore.Stage {
		return s.stage(event.MemberUpdated, me, at, func(c domain.Chat) any {
			return event.MemberUpdatedData{Member: c.Members[0], Previous: &before}
		})
	})
	if errors.Is(err, domain.ErrConflict) {
		return domain.Conflict("the name is taken, or looks like one that is")
	}
	if err != nil {
		return err
	}
	s.remember(after)
	flushCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := s.outbox.Flush(flushCtx); err != nil {
		// Committed: the relay publishes the events when the log is back.
		s.log.Warn("a profile change's events wait for the log", "user_id", me, "err", err)
	}
	return nil
}

// Privacy sets the caller's privacy settings; a nil field keeps its value.
func (s *Service) SetPrivacy(ctx context.Context, me int64, lastSeen, dms *string) (domain.Privacy, error) {
	row, err := s.store.Profile(ctx, me)
	if err != nil {
		return domain.Privacy{}, err
	}
	p := row.Privacy
	for _, f := range []struct {
		in  *string
		out *domain.Visibility
		key string
	}{{lastSeen, &p.LastSeen, "last_seen"}, {dms, &p.DirectMessages, "direct_messages"}} {
		if f.in == nil {
			continue
		}
		v := domain.Visibility(*f.in)
		if v != domain.Everyone && v != domain.Nobody {
			return domain.Privacy{}, domain.Invalid(`%s must be "everyone" or "nobody"`, f.key)
		}
		*f.out = v
	}
	if err := s.store.SetPrivacy(ctx, me, p); err != nil {
		return domain.Privacy{}, err
	}
	return p, nil
}

// Privacy is the caller's privacy settings.
func (s *Service) Privacy(ctx context.Context, me int64) (domain.Privacy, error) {
	row, err := s.store.Profile(ctx, me)
	return row.Privacy, err
}

// Block makes me block other (again: no change); an unknown user is 404.
func (s *Service) Block(ctx context.Context, me, other int64) error {
	if other == me {
		return domain.Invalid("one cannot block oneself")
	}
	if err := s.exists(ctx, other); err != nil {
		return err
	}
	if err := s.store.Block(ctx, me, other, time.Now()); err != nil {
		return err
	}
	s.forgetBlock(me, other)
	return nil
}

// Unblock lifts a block (none: no change); an unknown user is 404.
func (s *Service) Unblock(ctx context.Context, me, other int64) error {
	if err := s.exists(ctx, other); err != nil {
		return err
	}
	if err := s.store.Unblock(ctx, me, other); err != nil {
		return err
	}
	s.forgetBlock(me, other)
	return nil
}

// Blocked lists whom the caller blocks.
func (s *Service) Blocked(ctx context.Context, me int64) ([]domain.User, error) {
	return s.store.Blocked(ctx, me)
}

func (s *Service) exists(ctx context.Context, id int64) error {
	if id <= 0 {
		return domain.NotFound("no such user")
	}
	_, err := s.store.UserByID(ctx, id)
	if errors.Is(err, domain.ErrNotFound) {
		return domain.NotFound("no such user")
	}
	return err
}

// MayMessage says whether a and b may write to each other in their direct
// chat (or create it): not when either blocks the other (403). A failure to
// ask MySQL lets the message through, so that sends keep being accepted
// through a MySQL outage (the log is the buffer); an answer is reused for
// blocksTTL, and a block on this instance takes effect at once.
func (s *Service) MayMessage(ctx context.Context, a, b int64) error {
	k := pair(a, b)
	now := time.Now()
	s.mu.Lock()
	c, ok := s.blocks[k]
	s.mu.Unlock()
	if !ok || now.After(c.expires) {
		ab, ba, err := s.store.Blocks(ctx, a, b)
		if err != nil {
			s.log.Warn("blocks unknown: the message goes through", "err", err)
			return nil
		}
		c = cachedBlock{blocked: ab || ba, expires: now.Add(blocksTTL)}
		s.mu.Lock()
		if len(s.blocks) >= maxCached {
			clear(s.blocks)
		}
		s.blocks[k] = c
		s.mu.Unlock()
	}
	if c.blocked {
		return domain.Forbidden("one of you blocked the other")
	}
	return nil
}

// MayStartDirect says whether me may start a new direct chat with other:
// not when either blocks the other, nor when other takes direct messages
// from nobody.
func (s *Service) MayStartDirect(ctx context.Context, me, other int64) error {
	ab, ba, err := s.store.Blocks(ctx, me, other)
	if err != nil {
		return err
	}
	if ab || ba {
		return domain.Forbidden("one of you blocked the other")
	}
	row, err := s.store.Profile(ctx, other)
	if err != nil {
		return err
	}
	if row.Privacy.DirectMessages == domain.Nobody {
		return domain.Forbidden("this user does not take new direct messages")
	}
	return nil
}

func pair(a, b int64) [2]int64 {
	if a > b {
		a, b = b, a
	}
	return [2]int64{a, b}
}

func (s *Service) forgetBlock(a, b int64) {
	s.mu.Lock()
	delete(s.blocks, pair(a, b))
	s.mu.Unlock()
}

// Current is u as a new message should carry them: with their current name
// and picture. A token names its user as they were when it was issued, so a
// user renamed since would otherwise keep writing under the old name. MySQL
// is asked at most every namesTTL per user (renames on any instance arrive
// through Watch at once); when it cannot answer, u stands.
func (s *Service) Current(ctx context.Context, u domain.User) domain.User {
	now := time.Now()
	s.mu.Lock()
	c, ok := s.users[u.ID]
	s.mu.Unlock()
	if ok && now.Before(c.expires) {
		return c.user
	}
	cur, err := s.store.UserByID(ctx, u.ID)
	if err != nil {
		return u
	}
	s.remember(cur)
	return cur
}

func (s *Service) remember(u domain.User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.users) >= maxCached {
		clear(s.users)
	}
	s.users[u.ID] = cachedUser{user: u, expires: time.Now().Add(namesTTL)}
}

// Watch keeps this instance's names and pictures current with every rename
// and new picture through any instance: each is a member.updated event in
// every chat of the user, and a plain NATS subscription to the appends sees
// them as they are made. Unsubscribe the subscription to stop.
func (s *Service) Watch(nc *nats.Conn) (*nats.Subscription, error) {
	return nc.Subscribe(bus.PublishSubjectPattern(event.KindMember), func(m *nats.Msg) {
		env, err := event.Decode(m.Data)
		if err != nil || env.Type != event.MemberUpdated {
			return
		}
		d, err := event.Payload[event.MemberUpdatedData](env)
		if err != nil || d.Member.User.ID <= 0 {
			return
		}
		s.remember(d.Member.User)
	})
}

// SetAvatar stores a new picture for the caller (see processAvatar) and
// makes it theirs; every chat of theirs learns it through the log.
func (s *Service) SetAvatar(ctx context.Context, me int64, contentType string, body []byte) (domain.Profile, error) {
	key, images, err := processAvatar(contentType, body)
	if err != nil {
		return domain.Profile{}, err
	}
	if err := s.store.PutAvatarImages(ctx, me, key, images, time.Now()); err != nil {
		return domain.Profile{}, err
	}
	if err := s.updateUser(ctx, me, "", &key); err != nil {
		return domain.Profile{}, err
	}
	return s.Profile(ctx, me, me)
}

// DeleteAvatar removes the caller's picture (and its images).
func (s *Service) DeleteAvatar(ctx context.Context, me int64) (domain.Profile, error) {
	none := ""
	if err := s.updateUser(ctx, me, "", &none); err != nil {
		return domain.Profile{}, err
	}
	if err := s.store.DeleteAvatarImages(ctx, me, ""); err != nil {
		return domain.Profile{}, err
	}
	return s.Profile(ctx, me, me)
}

// Avatar is one image of an avatar, the smallest stored at least size
// pixels wide (size 0: the largest).
func (s *Service) Avatar(ctx context.Context, key string, size int) (sqlstore.Avatar, error) {
	if size <= 0 {
		size = AvatarSizes[0]
	}
	a, err := s.store.AvatarImage(ctx, key, size)
	if errors.Is(err, domain.ErrNotFound) {
		return sqlstore.Avatar{}, domain.NotFound("no such avatar")
	}
	return a, err
}
