package api

import (
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/logchat/ingest/bus"
	"github.com/logchat/shared/domain"
	"github.com/logchat/shared/event"
)

// memberCache remembers recent membership answers from MySQL.
//
// Every chat-scoped request asks "is the caller a member, with which role?".
// Under load that question, not the log, was the gateway's limit: one MySQL
// round trip per send through a bounded connection pool, and then a sixth of
// the gateway's CPU with MariaDB busy answering. Members send many messages in
// a row, so the answer is kept for ttl.
//
// Removals take effect at once on every instance: the instance that removes a
// member forgets it, and every instance watches the log's member events
// (watchMembership) and forgets too. After a removal, answers about that
// member are not cached for removalHoldoff, so that a lookup racing with the
// removal's commit cannot put the old answer back. What is left is bounded
// staleness when an instance misses the event (disconnected from NATS at that
// moment): up to ttl. Only positive answers are kept, so a new member is never
// refused.
type memberCache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[memberKey]memberEntry
}

type memberKey struct{ chat, user int64 }

// memberEntry is a cached answer, or (role "") a recent removal.
type memberEntry struct {
	role    domain.Role
	expires time.Time
}

// removalHoldoff is how long answers about a removed member are not cached:
// well beyond the time between the removal's event and its MySQL commit.
const removalHoldoff = 5 * time.Second

// maxMemberEntries bounds the cache; when full it is emptied (cheap, rare).
const maxMemberEntries = 100_000

func newMemberCache(ttl time.Duration) *memberCache {
	return &memberCache{ttl: ttl, m: map[memberKey]memberEntry{}}
}

func (c *memberCache) get(chat, user int64, now time.Time) (domain.Role, bool) {
	if c == nil || c.ttl <= 0 {
		return "", false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[memberKey{chat, user}]
	if !ok || e.role == "" || now.After(e.expires) {
		return "", false
	}
	return e.role, true
}

func (c *memberCache) put(chat, user int64, role domain.Role, now time.Time) {
	if c == nil || c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	k := memberKey{chat, user}
	if e, ok := c.m[k]; ok && e.role == "" && now.Before(e.expires) {
		return // removed a moment ago: this answer may predate the removal
	}
	if len(c.m) >= maxMemberEntries {
		clear(c.m)
	}
	c.m[k] = memberEntry{role: role, expires: now.Add(c.ttl)}
}

// forget drops what is known of a chat's member after a removal, and keeps
// answers about it out of the cache for removalHoldoff.
func (c *memberCache) forget(chat, user int64, now time.Time) {
	if c == nil || c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[memberKey{chat, user}] = memberEntry{expires: now.Add(removalHoldoff)}
}

// watchMembership makes every removal, through any gateway instance, reach
// this instance's cache: each one is appended to the log as a member.removed
// event, and a plain NATS subscription to the appends sees it at once.
func (c *memberCache) watchMembership(nc *nats.Conn, log *slog.Logger) (*nats.Subscription, error) {
	return nc.Subscribe(bus.PublishSubjectPattern(event.KindMember), func(m *nats.Msg) {
		env, err := event.Decode(m.Data)
		if err != nil || env.Type != event.MemberRemoved {
			return
		}
		d, err := event.Payload[event.MemberRemovedData](env)
		if err != nil {
			log.Warn("member.removed event without a user", "chat", env.ChatID, "err", err)
			return
		}
		c.forget(env.ChatID, d.UserID, time.Now())
	})
}
