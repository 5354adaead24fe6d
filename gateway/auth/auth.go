// Package auth holds the gateway's credentials: bcrypt password hashes and the
// signed JWTs (HS256) that authenticate every API request.
package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
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

	// slots caps the bcrypt computations running at once. Each takes tens
	// of milliseconds of a core; without a cap, a burst of logins (or of
	// guesses) takes every core from the send path. Excess ones wait.
	slots chan struct{}
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
	return &Passwords{Cost: cost, dummy: dummy, slots: make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2))}, nil
}

func (p *Passwords) acquire() func() {
	p.slots <- struct{}{}
	return func() { <-p.slots }
}

// Hash returns the bcrypt hash of a password (the domain limits it to 72 bytes,
// bcrypt's own limit, so nothing is silently ignored).
func (p *Passwords) Hash(password string) ([]byte, error) {
	defer p.acquire()()
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
	defer p.acquire()()
	if hash == nil {
		_ = bcrypt.CompareHashAndPassword(p.dummy, []byte(password))
		return false
	}
	return bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil
}

// ErrBadToken means a token is missing, malformed, expired, wrongly signed or
// revoked (logged out).
var ErrBadToken = errors.New("invalid or expired token")

// ErrRevocationsUnavailable means a token could not be checked against the
// revocation list (Redis is down) and this instance had not verified it
// before: the request is refused as unavailable (503) rather than accepting a
// token that may have been logged out.
var ErrRevocationsUnavailable = errors.New("token revocation list unavailable")

// The issuer and audience every token carries and every verification
// requires, so that a token minted for another system with the same secret,
// or one of this system's other JWTs (Centrifugo's), is not a bearer token.
const (
	Issuer   = "logchat"
	Audience = "logchat-api"
)

// Revocations is the list of logged-out tokens, shared by every gateway
// instance (RedisRevocations).
type Revocations interface {
	// Revoke refuses the token id from now until it would have expired.
	Revoke(ctx context.Context, id string, until time.Time) error
	// Revoked tells whether the token id was revoked.
	Revoked(ctx context.Context, id string) (bool, error)
	// RevokedLocally tells, without a round trip, whether this instance has
	// heard of the id's revocation: the check on every request.
	RevokedLocally(id string) bool
}

// Session is what a verified token says.
type Session struct {
	User    domain.User
	ID      string // the token's unique id (jti): what logout revokes
	Expires time.Time
}

// Tokens issues and verifies the API's bearer tokens.
type Tokens struct {
	secret []byte
	ttl    time.Duration
	now    func() time.Time

	// verified remembers tokens whose signature was checked, until they
	// expire. A client sends the same token with every request, and parsing
	// and checking it (JSON and HMAC) was an eighth of the gateway's CPU per
	// send. The key is the whole token, signature included; only a logout
	// can change the answer before expiry (see revocations).
	mu       sync.RWMutex
	verified map[string]verifiedToken

	// revocations, when set, is asked when a token is first seen and again
	// every recheckRevocation; in between, only this instance's memory of
	// revocations (fed by every instance's logouts) is consulted.
	revocations Revocations
}

type verifiedToken struct {
	session Session
	checked time.Time // when the revocation list last said it is not revoked
}

// recheckRevocation bounds how long a revocation that this instance missed
// (its subscription was down when another instance announced it) can go
// unnoticed: remembered tokens are checked against the shared list again.
const recheckRevocation = 30 * time.Second

// maxVerifiedTokens bounds the memory of verified tokens (about 300 bytes
// each); when full the map is emptied, which costs one verification per
// active client.
const maxVerifiedTokens = 50_000

// NewTokens returns a token issuer signing with secret; tokens live for ttl.
func NewTokens(secret string, ttl time.Duration) *Tokens {
	return &Tokens{secret: []byte(secret), ttl: ttl, now: time.Now, verified: map[string]verifiedToken{}}
}

// UseRevocations makes Verify refuse tokens in r and Revoke write to it.
func (t *Tokens) UseRevocations(r Revocations) { t.revocations = r }

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
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return "", time.Time{}, fmt.Errorf("token id: %w", err)
	}
	c := claims{
		Name: u.Name,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    Issuer,
			Audience:  jwt.ClaimStrings{Audience},
			Subject:   strconv.FormatInt(u.ID, 10),
			ID:        base64.RawURLEncoding.EncodeToString(id),
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
// ErrBadToken: a client cannot do anything different for the various causes;
// ErrRevocationsUnavailable when it could not be checked.
func (t *Tokens) Verify(token string) (domain.User, error) {
	s, err := t.VerifySession(token)
	return s.User, err
}

// VerifySession is Verify with the token's id and expiry (what logout needs).
func (t *Tokens) VerifySession(token string) (Session, error) {
	now := t.now()
	t.mu.RLock()
	v, ok := t.verified[token]
	t.mu.RUnlock()
	if ok && now.Before(v.session.Expires) {
		if t.revocations == nil {
			return v.session, nil
		}
		if t.revocations.RevokedLocally(v.session.ID) {
			return Session{}, fmt.Errorf("%w: logged out", ErrBadToken)
		}
		if now.Sub(v.checked) < recheckRevocation {
			return v.session, nil
		}
	}
	s, err := t.verify(token)
	if err != nil {
		return Session{}, err
	}
	if t.revocations != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		revoked, err := t.revocations.Revoked(ctx, s.ID)
		cancel()
		if err != nil {
			return Session{}, fmt.Errorf("%w: %v", ErrRevocationsUnavailable, err)
		}
		if revoked {
			return Session{}, fmt.Errorf("%w: logged out", ErrBadToken)
		}
	}
	t.mu.Lock()
	if len(t.verified) >= maxVerifiedTokens {
		clear(t.verified)
	}
	// A copy: the caller's string may share a buffer that is reused (Fiber's
	// header values do).
	t.verified[strings.Clone(token)] = verifiedToken{session: s, checked: now}
	t.mu.Unlock()
	return s, nil
}

// Revoke logs a token out on every gateway instance: it is refused from now
// until it would have expired.
func (t *Tokens) Revoke(ctx context.Context, token string) error {
	s, err := t.VerifySession(token)
	if err != nil {
		return err
	}
	if t.revocations == nil {
		return errors.New("revoke token: no revocation list configured")
	}
	if err := t.revocations.Revoke(ctx, s.ID, s.Expires); err != nil {
		return fmt.Errorf("revoke token: %w", err)
	}
	t.mu.Lock()
	delete(t.verified, token)
	t.mu.Unlock()
	return nil
}

// verify parses and checks a token: signature, algorithm, expiry, issuer,
// audience, subject and id.
func (t *Tokens) verify(token string) (Session, error) {
	var c claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return t.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuer(Issuer),
		jwt.WithAudience(Audience),
		jwt.WithTimeFunc(t.now),
	)
	if err != nil {
		return Session{}, fmt.Errorf("%w: %v", ErrBadToken, err)
	}
	id, err := strconv.ParseInt(c.Subject, 10, 64)
	if err != nil || id <= 0 {
		return Session{}, fmt.Errorf("%w: bad subject %q", ErrBadToken, c.Subject)
	}
	if c.ID == "" {
		return Session{}, fmt.Errorf("%w: no token id", ErrBadToken)
	}
	// WithExpirationRequired made sure ExpiresAt is set.
	return Session{User: domain.User{ID: id, Name: c.Name}, ID: c.ID, Expires: c.ExpiresAt.Time}, nil
}
