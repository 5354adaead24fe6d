package auth

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/logchat/shared/domain"
)

func TestPasswords(t *testing.T) {
	p, err := NewPasswords(bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	h, err := p.Hash("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(h), "correct horse") {
		t.Fatal("the hash holds the password")
	}
	if !p.Check(h, "correct horse") {
		t.Fatal("the right password does not match")
	}
	for _, wrong := range []string{"correct hors", "Correct horse", ""} {
		if p.Check(h, wrong) {
			t.Fatalf("%q matches", wrong)
		}
	}
	if p.Check(nil, "correct horse") {
		t.Fatal("an unknown user's login succeeded")
	}
	if _, err := NewPasswords(bcrypt.MaxCost + 1); err == nil {
		t.Fatal("cost out of range accepted")
	}
}

func TestTokens(t *testing.T) {
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	tokens := NewTokens("0123456789abcdef", time.Hour)
	tokens.now = func() time.Time { return now }
	alice := domain.User{ID: 7, Name: "alice"}
	tok, exp, err := tokens.Issue(alice)
	if err != nil {
		t.Fatal(err)
	}
	if !exp.Equal(now.Add(time.Hour)) {
		t.Fatalf("expires %v", exp)
	}
	got, err := tokens.Verify(tok)
	if err != nil || got != alice {
		t.Fatalf("verify: %+v %v", got, err)
	}

	// A token handed over in a buffer that is reused afterwards (as Fiber's
	// header values are) must not poison what was remembered of it.
	buf := []byte(tok)
	if got, err := tokens.Verify(unsafe.String(&buf[0], len(buf))); err != nil || got != alice {
		t.Fatalf("verify from a buffer: %+v %v", got, err)
	}
	for i := range buf {
		buf[i] = 'x'
	}
	if got, err := tokens.Verify(tok); err != nil || got != alice {
		t.Fatalf("verify after the buffer was reused: %+v %v", got, err)
	}
	if _, err := tokens.Verify(string(buf)); !errors.Is(err, ErrBadToken) {
		t.Fatalf("the reused buffer's new content was accepted: %v", err)
	}

	tokens.now = func() time.Time { return now.Add(time.Hour + time.Second) }
	if _, err := tokens.Verify(tok); !errors.Is(err, ErrBadToken) {
		t.Fatalf("expired token: %v", err)
	}
	tokens.now = func() time.Time { return now }

	other := NewTokens("another-secret-0123", time.Hour)
	other.now = tokens.now
	forged, _, _ := other.Issue(alice)
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.RegisteredClaims{Subject: "7",
		ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour))}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	noExp, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{Subject: "7"}).SignedString([]byte("0123456789abcdef"))
	badSub, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{Subject: "seven",
		ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour))}).SignedString([]byte("0123456789abcdef"))
	for name, bad := range map[string]string{
		"wrong secret": forged, "alg none": none, "no exp": noExp, "bad subject": badSub,
		"garbage": "a.b.c", "empty": "", "tampered": tok[:len(tok)-2] + "xx",
	} {
		if _, err := tokens.Verify(bad); !errors.Is(err, ErrBadToken) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// A JWT signed with the right secret but not issued as a logchat API token
// (another issuer or audience, such as a Centrifugo token signed with a
// shared secret, or no id) is not a bearer token.
func TestTokensRequireIssuerAudienceAndID(t *testing.T) {
	const secret = "0123456789abcdef"
	tokens := NewTokens(secret, time.Hour)
	now := time.Now()
	base := jwt.RegisteredClaims{Issuer: Issuer, Audience: jwt.ClaimStrings{Audience}, Subject: "7", ID: "x",
		ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour))}
	sign := func(c jwt.RegisteredClaims) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims{Name: "alice", RegisteredClaims: c}).SignedString([]byte(secret))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if _, err := tokens.Verify(sign(base)); err != nil {
		t.Fatalf("a well-formed token: %v", err)
	}
	for name, mutate := range map[string]func(*jwt.RegisteredClaims){
		"no issuer":      func(c *jwt.RegisteredClaims) { c.Issuer = "" },
		"other issuer":   func(c *jwt.RegisteredClaims) { c.Issuer = "centrifugo" },
		"no audience":    func(c *jwt.RegisteredClaims) { c.Audience = nil },
		"other audience": func(c *jwt.RegisteredClaims) { c.Audience = jwt.ClaimStrings{"realtime"} },
		"no id":          func(c *jwt.RegisteredClaims) { c.ID = "" },
	} {
		c := base
		mutate(&c)
		if _, err := tokens.Verify(sign(c)); !errors.Is(err, ErrBadToken) {
			t.Errorf("%s: %v, want ErrBadToken", name, err)
		}
	}
}
