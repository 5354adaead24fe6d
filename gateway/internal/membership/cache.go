package membership

import (
	"sync"
	"time"

	"github.com/logchat/shared/domain"
)

// cache remembers recent membership answers from MySQL.
//
// Every chat-scoped request asks "is the caller a member, with which role?".
// Under load that question, not the log, was the gateway's limit: one MySQL
// round trip per send through a bounded connection pool, and then a sixth of
// the gateway's CPU with MariaDB busy answering. Members send many messages in
// a row, so the answer is kept for ttl.
//
// Removals take effect at once on every instance: the instance that removes a
// member forgets it, and every instance watches the log's member events
// (Service.Watch) and forgets too. After a removal, answers about that member
// are not cached for removalHoldoff, so that a lookup that read MySQL before
// the removal's commit cannot put the old answer back. What is left is
// bounded staleness when an instance misses the event (disconnected from NATS
// at that moment): up to ttl. Only positive answers are kept, so a new member
// is never refused.
type cache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[key]entry
}

type key struct{ chat, user int64 }

// entry is a cached answer, or (role "") a recent removal.
type entry struct {
	role    domain.Role
	expires time.Time
}

// removalHoldoff is how long answers about a removed member are not cached:
// well beyond the time between a lookup's MySQL read and its put.
const removalHoldoff = 5 * time.Second

// maxEntries bounds the cache; when full it is emptied (cheap, rare).
const maxEntries = 100_000

func newCache(ttl time.Duration) *cache {
	return &cache{ttl: ttl, m: map[key]entry{}}
}

func (c *cache) get(chat, user int64, now time.Time) (domain.Role, bool) {
	if c == nil || c.ttl <= 0 {
		return "", false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key{chat, user}]
	if !ok || e.role == "" || now.After(e.expires) {
		return "", false
	}
	return e.role, true
}

func (c *cache) put(chat, user int64, role domain.Role, now time.Time) {
	if c == nil || c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	k := key{chat, user}
	if e, ok := c.m[k]; ok && e.role == "" && now.Before(e.expires) {
		return // removed a moment ago: this answer may predate the removal
	}
	if len(c.m) >= maxEntries {
		clear(c.m)
	}
	c.m[k] = entry{role: role, expires: now.Add(c.ttl)}
}

// forget drops what is known of a chat's member after a removal, and keeps
// answers about it out of the cache for removalHoldoff.
func (c *cache) forget(chat, user int64, now time.Time) {
	if c == nil || c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[key{chat, user}] = entry{expires: now.Add(removalHoldoff)}
}
