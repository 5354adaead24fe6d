package auth

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// LoginLimiter limits failed logins per account, shared by every gateway
// instance through Redis: after MaxFailures wrong passwords for one name
// within Window, further attempts for that name are refused (429 with
// Retry-After) until the window has passed, without a bcrypt being spent on
// them. Other accounts, from the same address or not, are not affected, so an
// attacker behind a shared proxy cannot lock everybody out; the owner of the
// attacked account is locked out for at most Window at a time, the price of
// not letting anyone guess at bcrypt speed.
type LoginLimiter struct {
	rdb         redis.UniversalClient
	prefix      string
	MaxFailures int
	Window      time.Duration
}

// NewLoginLimiter keeps its counters under prefix ("lc:" → "lc:login:<key>").
func NewLoginLimiter(rdb redis.UniversalClient, prefix string, maxFailures int, window time.Duration) *LoginLimiter {
	return &LoginLimiter{rdb: rdb, prefix: prefix, MaxFailures: maxFailures, Window: window}
}

func (l *LoginLimiter) key(account string) string { return l.prefix + "login:" + account }

// Check tells how long the account must wait before its next attempt (0: go
// ahead). account is the name's case-folded key, so that ALICE and alice
// share one counter.
func (l *LoginLimiter) Check(ctx context.Context, account string) (time.Duration, error) {
	if l == nil || l.MaxFailures <= 0 {
		return 0, nil
	}
	k := l.key(account)
	pipe := l.rdb.Pipeline()
	n := pipe.Get(ctx, k)
	ttl := pipe.PTTL(ctx, k)
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return 0, fmt.Errorf("login limiter: %w", err)
	}
	failures, _ := n.Int()
	if failures < l.MaxFailures {
		return 0, nil
	}
	wait := ttl.Val()
	if wait <= 0 {
		wait = time.Second
	}
	return wait, nil
}

// failureScript counts a failure; the first one of a window starts it.
var failureScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n`)

// Failed counts a wrong password for the account.
func (l *LoginLimiter) Failed(ctx context.Context, account string) error {
	if l == nil || l.MaxFailures <= 0 {
		return nil
	}
	if err := failureScript.Run(ctx, l.rdb, []string{l.key(account)}, l.Window.Milliseconds()).Err(); err != nil {
		return fmt.Errorf("login limiter: %w", err)
	}
	return nil
}

// Succeeded clears the account's failures.
func (l *LoginLimiter) Succeeded(ctx context.Context, account string) error {
	if l == nil || l.MaxFailures <= 0 {
		return nil
	}
	if err := l.rdb.Del(ctx, l.key(account)).Err(); err != nil {
		return fmt.Errorf("login limiter: %w", err)
	}
	return nil
}
