// Package accounts is who the users are: registration, login, the bearer
// tokens that name the caller of every other request, and the user search.
package accounts

import (
	"context"
	"errors"
	"time"
	"unicode/utf8"

	"github.com/logchat/gateway/auth"
	"github.com/logchat/shared/domain"
)

// Store is where accounts live (*sqlstore.Store).
type Store interface {
	CreateUser(ctx context.Context, name string, passwordHash []byte, at time.Time) (domain.User, error)
	UserByName(ctx context.Context, name string) (domain.User, []byte, error)
	UserByID(ctx context.Context, id int64) (domain.User, error)
	SearchUsers(ctx context.Context, prefix string, limit int) ([]domain.User, error)
}

// Service applies the account rules.
type Service struct {
	store     Store
	passwords *auth.Passwords
	tokens    *auth.Tokens
}

// New returns the account service.
func New(st Store, passwords *auth.Passwords, tokens *auth.Tokens) *Service {
	return &Service{store: st, passwords: passwords, tokens: tokens}
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

// Login signs a user in by name and password.
func (s *Service) Login(ctx context.Context, name, password string) (Session, error) {
	u, hash, err := s.store.UserByName(ctx, name)
	if errors.Is(err, domain.ErrNotFound) {
		hash = nil // still spend a bcrypt comparison: see Passwords.Check
	} else if err != nil {
		return Session{}, err
	}
	if !s.passwords.Check(hash, password) {
		return Session{}, domain.Unauthenticated("wrong name or password")
	}
	return s.session(u)
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
func (s *Service) Caller(token string) (domain.User, error) {
	return s.tokens.Verify(token)
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
