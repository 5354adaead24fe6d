package api

import (
	"sync"
	"time"

	"github.com/logchat/shared/domain"
)

// memberCache remembers recent membership answers from MySQL for a moment.
//
// Every chat-scoped request asks "is the caller a member, with which role?".
// Under load that question, not the log, was the gateway's limit: one MySQL
// round trip per send through a bounded connection pool. Members send many
// messages in a row, so the answer is kept for ttl. The cost is bounded
// staleness: a member removed through another gateway instance can still
// send for up to ttl; removals through this instance take effect at once.
// Only positive answers are kept, so a new member is never refused.
type memberCache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[memberKey]memberEntry
}

type memberKey struct{ chat, user int64 }

type memberEntry struct {
	role    domain.Role
	expires time.Time
}

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
	if !ok || now.After(e.expires) {
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
	if len(c.m) >= maxMemberEntries {
		clear(c.m)
	}
	c.m[memberKey{chat, user}] = memberEntry{role: role, expires: now.Add(c.ttl)}
}

// forget drops what is known of a chat's member (after a change to it).
func (c *memberCache) forget(chat, user int64) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, memberKey{chat, user})
}
