// Package auth holds the gateway's credentials: bcrypt password hashes and the
// signed JWTs (HS256) that authenticate every API request.
package auth

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/logchat/shared/domain"
)

// Passwords hashes and checks passwords with bcrypt.
type Passwords struct {
	Cost  int    // bcrypt cost; bcrypt.DefaultCost in production, bcrypt.MinCost in tests
	dummy []byte // a hash to compare against when the user does not exist
}

// NewPasswords returns a hasher of the given cost (bcrypt.DefaultCost when 0).
func NewPasswords(cost int) (*Passwords, error) {
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	if cost < bcrypt.MinCost || cost > bcrypt.MaxCost {
		return nil, fmt.Errorf("bcrypt cost must be %d..%d, got %d", bcrypt.MinCost, bcrypt.MaxCost, cost)
	}
	dummy, err := bcrypt.GenerateFromPassword([]byte("not a real password"), cost)
	if err != nil {
		return nil, err
	}
	return &Passwords{Cost: cost, dummy: dummy}, nil
}

// Hash returns the bcrypt hash of a password (the domain limits it to 72 bytes,
// bcrypt's own limit, so nothing is silently ignored).
func (p *Passwords) Hash(password string) ([]byte, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), p.Cost)
	if err != nil {
		return nil, fmt.Errorf("hash password: %w", err)
	}
	return h, nil
}

// Check reports whether password matches hash. A nil hash (unknown user) is
// compared against a dummy hash all the same, so that a login for a name that
// does not exist takes as long as one with a wrong password and names cannot
// be probed by timing.
func (p *Passwords) Check(hash []byte, password string) bool {
	if hash == nil {
		_ = bcrypt.CompareHashAndPassword(p.dummy, []byte(password))
		return false
	}
	return bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil
}

// ErrBadToken means a token is missing, malformed, expired or wrongly signed.
var ErrBadToken = errors.New("invalid or expired token")

// Tokens issues and verifies the API's bearer tokens.
type Tokens struct {
	secret []byte
	ttl    time.Duration
	now    func() time.Time

	// verified remembers tokens whose signature was checked, until they
	// expire. A client sends the same token with every request, and parsing
	// and checking it (JSON and HMAC) was an eighth of the gateway's CPU per
	// send. The answer cannot change before expiry: tokens are not revoked
	// in API v1 and the key is the whole token, signature included.
	mu       sync.RWMutex
	verified map[string]verifiedToken
}

type verifiedToken struct {
	user    domain.User
	expires time.Time
}

// maxVerifiedTokens bounds the memory of verified tokens (about 300 bytes
// each); when full the map is emptied, which costs one verification per
// active client.
const maxVerifiedTokens = 50_000

// NewTokens returns a token issuer signing with secret; tokens live for ttl.
func NewTokens(secret string, ttl time.Duration) *Tokens {
	return &Tokens{secret: []byte(secret), ttl: ttl, now: time.Now, verified: map[string]verifiedToken{}}
}

// claims carry the user's name beside its id so that a send, the hot path,
// can name the author without a lookup. Names never change in API v1.
type claims struct {
	Name string `json:"name"`
	jwt.RegisteredClaims
}

// Issue signs a token for u and returns it with its expiry.
func (t *Tokens) Issue(u domain.User) (string, time.Time, error) {
	now := t.now()
	exp := now.Add(t.ttl)
	c := claims{
		Name: u.Name,
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   strconv.FormatInt(u.ID, 10),
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(exp),
		},
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(t.secret)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign token: %w", err)
	}
	return s, exp, nil
}

// Verify checks a token and returns the user it was issued to. Any problem is
// ErrBadToken: a client cannot do anything different for the various causes.
func (t *Tokens) Verify(token string) (domain.User, error) {
	now := t.now()
	t.mu.RLock()
	v, ok := t.verified[token]
	t.mu.RUnlock()
	if ok && now.Before(v.expires) {
		return v.user, nil
	}
	u, expires, err := t.verify(token)
	if err != nil {
		return domain.User{}, err
	}
	t.mu.Lock()
	if len(t.verified) >= maxVerifiedTokens {
		clear(t.verified)
	}
	// A copy: the caller's string may share a buffer that is reused (Fiber's
	// header values do).
	t.verified[strings.Clone(token)] = verifiedToken{user: u, expires: expires}
	t.mu.Unlock()
	return u, nil
}

// verify parses and checks a token, and returns its user and expiry.
func (t *Tokens) verify(token string) (domain.User, time.Time, error) {
	var c claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return t.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(t.now),
	)
	if err != nil {
		return domain.User{}, time.Time{}, fmt.Errorf("%w: %v", ErrBadToken, err)
	}
	id, err := strconv.ParseInt(c.Subject, 10, 64)
	if err != nil || id <= 0 {
		return domain.User{}, time.Time{}, fmt.Errorf("%w: bad subject %q", ErrBadToken, c.Subject)
	}
	// WithExpirationRequired made sure ExpiresAt is set.
	return domain.User{ID: id, Name: c.Name}, c.ExpiresAt.Time, nil
}
