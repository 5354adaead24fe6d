package membership

import (
	"testing"
	"time"

	"github.com/logchat/shared/domain"
)

func TestCacheKeepsAnswersForItsTTL(t *testing.T) {
	c := newCache(2 * time.Second)
	now := time.Now()
	if _, ok := c.get(1, 7, now); ok {
		t.Fatal("an empty cache answered")
	}
	c.put(1, 7, domain.RoleAdmin, now)
	if r, ok := c.get(1, 7, now.Add(time.Second)); !ok || r != domain.RoleAdmin {
		t.Fatalf("within the TTL: %q %v", r, ok)
	}
	if _, ok := c.get(1, 7, now.Add(3*time.Second)); ok {
		t.Fatal("answered after the TTL")
	}
	c.put(1, 7, domain.RoleMember, now)
	c.forget(1, 7, now)
	if _, ok := c.get(1, 7, now); ok {
		t.Fatal("answered after forget")
	}
	// An answer read just before the removal committed must not come back.
	c.put(1, 7, domain.RoleMember, now.Add(time.Second))
	if _, ok := c.get(1, 7, now.Add(time.Second)); ok {
		t.Fatal("cached an answer right after a removal")
	}
	later := now.Add(removalHoldoff + time.Second)
	c.put(1, 7, domain.RoleMember, later)
	if _, ok := c.get(1, 7, later); !ok {
		t.Fatal("a member added back is cached again after the hold-off")
	}
	off := newCache(0)
	off.put(1, 7, domain.RoleMember, now)
	if _, ok := off.get(1, 7, now); ok {
		t.Fatal("a TTL of 0 must turn the cache off")
	}
}
