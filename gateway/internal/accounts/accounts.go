// Package accounts is who the users are: registration, login, the bearer
// tokens that name the caller of every other request, and the user search.
package accounts

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/logchat/gateway/auth"
	"github.com/logchat/shared/domain"
	"github.com/logchat/shared/obs"
)

// Store is where accounts live (*sqlstore.Store).
type Store interface {
	CreateUser(ctx context.Context, name string, passwordHash []byte, at time.Time) (domain.User, error)
	UserByName(ctx context.Context, name string) (domain.User, []byte, error)
	UserByID(ctx context.Context, id int64) (domain.User, error)
	SearchUsers(ctx context.Context, prefix string, limit int) ([]domain.User, error)
}

// LoginLimiter counts failed logins per account (*auth.LoginLimiter, shared
// by every gateway instance through Redis).
type LoginLimiter interface {
	// Check tells how long the account must wait before its next attempt
	// (0: go ahead).
	Check(ctx context.Context, account string) (time.Duration, error)
	Failed(ctx context.Context, account string) error
	Succeeded(ctx context.Context, account string) error
}

// Service applies the account rules.
type Service struct {
	store     Store
	passwords *auth.Passwords
	tokens    *auth.Tokens
	limiter   LoginLimiter // nil: logins are not limited per account
	log       *slog.Logger
}

// New returns the account service.
func New(st Store, passwords *auth.Passwords, tokens *auth.Tokens) *Service {
	return &Service{store: st, passwords: passwords, tokens: tokens, log: slog.New(slog.DiscardHandler)}
}

// LimitLogins makes Login refuse an account's attempts once l says it has
// failed too often. A failure of l itself (Redis down) is logged and does not
// block logins.
func (s *Service) LimitLogins(l LoginLimiter, log *slog.Logger) {
	s.limiter = l
	if log != nil {
		s.log = log
	}
}

// RateLimitedError refuses a login for an account that failed too often; the
// next attempt may come after RetryAfter.
type RateLimitedError struct{ RetryAfter time.Duration }

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("too many failed logins for this account; retry after %s", e.RetryAfter)
}

// accountKey is the limiter's key of a name: case-folded, as names are
// unique without regard to case, and hashed, so that a key is short and
// plain whatever name a client sends.
func accountKey(name string) string {
	h := sha256.Sum256([]byte(strings.ToLower(name)))
	return hex.EncodeToString(h[:16])
}

// Session is a signed-in user and their bearer token.
type Session struct {
	User  domain.User
	Token string
}

// Register creates an account and signs it in. Names are unique without
// regard to case (domain.ErrConflict).
func (s *Service) Register(ctx context.Context, name, password string) (Session, error) {
	if err := domain.ValidateName(name); err != nil {
		return Session{}, err
	}
	if err := domain.ValidatePassword(password); err != nil {
		return Session{}, err
	}
	hash, err := s.passwords.Hash(password)
	if err != nil {
		return Session{}, err
	}
	u, err := s.store.CreateUser(ctx, name, hash, time.Now())
	if errors.Is(err, domain.ErrConflict) {
		return Session{}, domain.Conflict("name is already taken")
	}
	if err != nil {
		return Session{}, err
	}
	return s.session(u)
}

// Login signs a user in by name and password. An account (a name, whether
// it exists or not) that failed too often is refused with a
// *RateLimitedError before any lookup or bcrypt.
func (s *Service) Login(ctx context.Context, name, password string) (Session, error) {
	key := accountKey(name)
	if s.limiter != nil {
		wait, err := s.limiter.Check(ctx, key)
		if err != nil {
			// Availability over strictness: the per-IP limit and the
			// bcrypt cap still hold while Redis is down.
			obs.Logger(ctx, s.log).Warn("login limiter unavailable; login allowed", "err", err)
		} else if wait > 0 {
			return Session{}, &RateLimitedError{RetryAfter: wait}
		}
	}
	u, hash, err := s.store.UserByName(ctx, name)
	if errors.Is(err, domain.ErrNotFound) {
		hash = nil // still spend a bcrypt comparison: see Passwords.Check
	} else if err != nil {
		return Session{}, err
	}
	if !s.passwords.Check(hash, password) {
		if s.limiter != nil {
			if err := s.limiter.Failed(ctx, key); err != nil {
				obs.Logger(ctx, s.log).Warn("login limiter: count a failure", "err", err)
			}
		}
		return Session{}, domain.Unauthenticated("wrong name or password")
	}
	if s.limiter != nil {
		if err := s.limiter.Succeeded(ctx, key); err != nil {
			obs.Logger(ctx, s.log).Warn("login limiter: clear failures", "err", err)
		}
	}
	return s.session(u)
}

// Logout revokes the token on every gateway instance: it is refused from now
// on. An invalid token is domain.ErrUnauthenticated; a revocation list that
// cannot be reached, domain.ErrUnavailable.
func (s *Service) Logout(ctx context.Context, token string) error {
	err := s.tokens.Revoke(ctx, token)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, auth.ErrBadToken):
		return domain.Unauthenticated("invalid or expired token")
	default:
		return fmt.Errorf("%w: %v", domain.ErrUnavailable, err)
	}
}

func (s *Service) session(u domain.User) (Session, error) {
	token, _, err := s.tokens.Issue(u)
	if err != nil {
		return Session{}, err
	}
	return Session{User: u, Token: token}, nil
}

// Caller is the user a bearer token names (verified tokens are remembered
// until they expire: see auth.Tokens).
// A token that could not be checked against the revocation list is
// domain.ErrUnavailable (503), any other problem domain.ErrUnauthenticated.
func (s *Service) Caller(token string) (domain.User, error) {
	u, err := s.tokens.Verify(token)
	switch {
	case err == nil:
		return u, nil
	case errors.Is(err, auth.ErrRevocationsUnavailable):
		return domain.User{}, fmt.Errorf("%w: %v", domain.ErrUnavailable, err)
	default:
		return domain.User{}, domain.Unauthenticated("invalid or expired token")
	}
}

// Me is the caller's account.
func (s *Service) Me(ctx context.Context, uid int64) (domain.User, error) {
	u, err := s.store.UserByID(ctx, uid)
	if errors.Is(err, domain.ErrNotFound) {
		// A valid signature for an account this database does not know.
		return domain.User{}, domain.Unauthenticated("the token's user does not exist")
	}
	return u, err
}

// Search lists users by name prefix, case-insensitive, by name; an empty
// prefix lists everyone.
func (s *Service) Search(ctx context.Context, prefix string, limit int) ([]domain.User, error) {
	if !utf8.ValidString(prefix) {
		return nil, domain.Invalid("prefix is not valid UTF-8")
	}
	users, err := s.store.SearchUsers(ctx, prefix, limit)
	if err != nil {
		return nil, err
	}
	if users == nil {
		users = []domain.User{}
	}
	return users, nil
}
