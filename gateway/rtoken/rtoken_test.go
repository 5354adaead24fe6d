package rtoken

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestTokens(t *testing.T) {
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	i := New("centrifugo-secret-0123", 10*time.Minute)
	i.now = func() time.Time { return now }
	parse := func(tok string, claims jwt.Claims) {
		t.Helper()
		_, err := jwt.ParseWithClaims(tok, claims, func(tk *jwt.Token) (any, error) { return []byte("centrifugo-secret-0123"), nil },
			jwt.WithValidMethods([]string{"HS256"}), jwt.WithTimeFunc(func() time.Time { return now }), jwt.WithExpirationRequired())
		if err != nil {
			t.Fatal(err)
		}
	}

	tok, exp, err := i.Connection(42)
	if err != nil {
		t.Fatal(err)
	}
	var cc ConnectionClaims
	parse(tok, &cc)
	if cc.Subject != "42" || !cc.ExpiresAt.Equal(now.Add(10*time.Minute)) || !exp.Equal(cc.ExpiresAt.Time) {
		t.Fatalf("connection claims %+v", cc)
	}

	tok, _, err = i.Subscription(42, "chat:7")
	if err != nil {
		t.Fatal(err)
	}
	var sc SubscriptionClaims
	parse(tok, &sc)
	if sc.Subject != "42" || sc.Channel != "chat:7" || !sc.ExpiresAt.Equal(now.Add(10*time.Minute)) {
		t.Fatalf("subscription claims %+v", sc)
	}
}

// A subscription token lives for its own, shorter lifetime: it bounds how
// long a member removed from a chat could still subscribe with one fetched
// before the removal.
func TestSubscriptionTokensLiveShorter(t *testing.T) {
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	i := New("centrifugo-secret-0123", time.Hour).WithSubscriptionTTL(5 * time.Minute)
	i.now = func() time.Time { return now }
	_, cexp, err := i.Connection(42)
	if err != nil {
		t.Fatal(err)
	}
	tok, sexp, err := i.Subscription(42, "chat:7")
	if err != nil {
		t.Fatal(err)
	}
	var sc SubscriptionClaims
	if _, err := jwt.ParseWithClaims(tok, &sc, func(*jwt.Token) (any, error) { return []byte("centrifugo-secret-0123"), nil },
		jwt.WithTimeFunc(func() time.Time { return now })); err != nil {
		t.Fatal(err)
	}
	if !cexp.Equal(now.Add(time.Hour)) || !sexp.Equal(now.Add(5*time.Minute)) || !sc.ExpiresAt.Equal(sexp) {
		t.Fatalf("connection expires %v, subscription %v (claims %v)", cexp, sexp, sc.ExpiresAt)
	}
}
