package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisRevocations is the revocation list in Redis, shared by every gateway
// instance: a key per revoked token id that expires when the token would
// have, and a pub/sub channel on which a logout is announced so that every
// instance refuses the token at once, without a round trip per request.
//
// An instance that missed an announcement (its subscription was down) still
// refuses the token when it next checks the list: on first sight of a token
// and every recheckRevocation for remembered ones.
type RedisRevocations struct {
	rdb    redis.UniversalClient
	prefix string
	log    *slog.Logger

	mu    sync.RWMutex         // read on every request (RevokedLocally)
	local map[string]time.Time // id → when the token expires anyway

	subscribed     chan struct{} // closed once Run listens
	subscribedOnce sync.Once
}

// NewRedisRevocations keeps the list under prefix ("lc:" → "lc:revoked:<id>").
func NewRedisRevocations(rdb redis.UniversalClient, prefix string, log *slog.Logger) *RedisRevocations {
	return &RedisRevocations{rdb: rdb, prefix: prefix, log: log, local: map[string]time.Time{}, subscribed: make(chan struct{})}
}

func (r *RedisRevocations) key(id string) string { return r.prefix + "revoked:" + id }
func (r *RedisRevocations) channel() string      { return r.prefix + "revocations" }

// Revoke records the revocation until the token's expiry and announces it.
func (r *RedisRevocations) Revoke(ctx context.Context, id string, until time.Time) error {
	ttl := time.Until(until)
	if ttl <= 0 {
		return nil // expired already: refused anyway
	}
	r.remember(id, until)
	// Recorded before it is announced: an instance that hears of it and
	// checks the list finds it there.
	if err := r.rdb.Set(ctx, r.key(id), until.Unix(), ttl+time.Second).Err(); err != nil {
		return fmt.Errorf("record revocation: %w", err)
	}
	if err := r.rdb.Publish(ctx, r.channel(), id+" "+fmt.Sprint(until.Unix())).Err(); err != nil {
		// The key is written: every instance refuses it at its next check.
		r.log.Warn("announce revocation", "err", err)
	}
	return nil
}

// Revoked asks the shared list (and remembers a revocation it finds).
func (r *RedisRevocations) Revoked(ctx context.Context, id string) (bool, error) {
	if r.RevokedLocally(id) {
		return true, nil
	}
	until, err := r.rdb.Get(ctx, r.key(id)).Int64()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("check revocation: %w", err)
	}
	r.remember(id, time.Unix(until, 0))
	return true, nil
}

// RevokedLocally tells whether this instance knows id is revoked.
func (r *RedisRevocations) RevokedLocally(id string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	_, ok := r.local[id]
	return ok
}

func (r *RedisRevocations) remember(id string, until time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	// Forget what has expired anyway, a little at a time.
	n := 0
	for k, exp := range r.local {
		if n++; n > 16 {
			break
		}
		if now.After(exp) {
			delete(r.local, k)
		}
	}
	r.local[id] = until
}

// Subscribed is closed once Run is listening for announcements.
func (r *RedisRevocations) Subscribed() <-chan struct{} { return r.subscribed }

// Run listens for other instances' revocations until ctx ends. go-redis
// resubscribes by itself after a connection loss.
func (r *RedisRevocations) Run(ctx context.Context) error {
	sub := r.rdb.Subscribe(ctx, r.channel())
	defer sub.Close()
	// Wait for the server's confirmation, so that Subscribed means that
	// announcements from now on arrive. While Redis is down this fails and
	// Channel below keeps retrying; tokens are then checked on the list.
	if _, err := sub.Receive(ctx); err == nil {
		r.subscribedOnce.Do(func() { close(r.subscribed) })
	}
	ch := sub.Channel()
	for {
		select {
		case <-ctx.Done():
			return nil
		case m, ok := <-ch:
			if !ok {
				return nil
			}
			var id string
			var until int64
			if _, err := fmt.Sscan(m.Payload, &id, &until); err != nil {
				r.log.Warn("malformed revocation announcement", "err", err)
				continue
			}
			r.remember(id, time.Unix(until, 0))
		}
	}
}
