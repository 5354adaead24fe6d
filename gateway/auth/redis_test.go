package auth_test

import (
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/logchat/gateway/auth"
	"github.com/logchat/shared/domain"
	"github.com/logchat/testkit"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// Two gateway instances share a secret and Redis: a logout through one is
// refused by the other at once, including a token the other had verified and
// remembered before.
func TestLogoutIsRefusedByEveryInstance(t *testing.T) {
	rdb, prefix := testkit.Redis(t)
	instance := func() *auth.Tokens {
		tokens := auth.NewTokens("shared-secret-0123456789abcdef", time.Hour)
		rev := auth.NewRedisRevocations(rdb, prefix, quiet)
		go func() { _ = rev.Run(t.Context()) }()
		select {
		case <-rev.Subscribed():
		case <-time.After(5 * time.Second):
			t.Fatal("the revocation list did not subscribe within 5 s")
		}
		tokens.UseRevocations(rev)
		return tokens
	}
	a, b := instance(), instance()
	alice := domain.User{ID: 7, Name: "alice"}
	tok, _, err := a.Issue(alice)
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := a.Issue(alice) // a second device of the same user
	if err != nil {
		t.Fatal(err)
	}
	for _, inst := range []*auth.Tokens{a, b} {
		if u, err := inst.Verify(tok); err != nil || u != alice {
			t.Fatalf("before logout: %v %v", u, err)
		}
	}
	if err := a.Revoke(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Verify(tok); !errors.Is(err, auth.ErrBadToken) {
		t.Fatalf("the instance that logged out accepts the token: %v", err)
	}
	// b remembered the token; the announcement reaches it within moments.
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := b.Verify(tok)
		if errors.Is(err, auth.ErrBadToken) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the other instance still accepts the logged-out token: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// A third instance that never heard the announcement asks the list.
	c := instance()
	if _, err := c.Verify(tok); !errors.Is(err, auth.ErrBadToken) {
		t.Fatalf("a new instance accepts the logged-out token: %v", err)
	}
	// Only that token: the user's other device stays signed in.
	for _, inst := range []*auth.Tokens{a, b, c} {
		if _, err := inst.Verify(other); err != nil {
			t.Fatalf("the other device's token is refused: %v", err)
		}
	}
}

func TestRevocationListDownRefusesUnknownTokens(t *testing.T) {
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	defer dead.Close()
	tokens := auth.NewTokens("shared-secret-0123456789abcdef", time.Hour)
	tokens.UseRevocations(auth.NewRedisRevocations(dead, "x:", quiet))
	tok, _, err := tokens.Issue(domain.User{ID: 1, Name: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tokens.Verify(tok); !errors.Is(err, auth.ErrRevocationsUnavailable) {
		t.Fatalf("an unchecked token while the list is down: %v, want unavailable", err)
	}
}

func TestLoginLimiterIsPerAccount(t *testing.T) {
	rdb, prefix := testkit.Redis(t)
	l := auth.NewLoginLimiter(rdb, prefix, 3, time.Minute)
	ctx := t.Context()
	for i := range 3 {
		if wait, err := l.Check(ctx, "alice"); err != nil || wait != 0 {
			t.Fatalf("attempt %d refused: wait %v err %v", i+1, wait, err)
		}
		if err := l.Failed(ctx, "alice"); err != nil {
			t.Fatal(err)
		}
	}
	wait, err := l.Check(ctx, "alice")
	if err != nil || wait <= 0 || wait > time.Minute {
		t.Fatalf("after 3 failures: wait %v err %v, want a wait within the window", wait, err)
	}
	// Another account, from the same place, is not affected.
	if wait, err := l.Check(ctx, "bob"); err != nil || wait != 0 {
		t.Fatalf("bob is locked out by alice's failures: %v %v", wait, err)
	}
	// A second instance sees the same counter.
	l2 := auth.NewLoginLimiter(rdb, prefix, 3, time.Minute)
	if wait, _ := l2.Check(ctx, "alice"); wait <= 0 {
		t.Fatal("another gateway instance does not see alice's failures")
	}
	// A success clears them.
	if err := l.Succeeded(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if wait, _ := l.Check(ctx, "alice"); wait != 0 {
		t.Fatalf("after a success: wait %v", wait)
	}
}
