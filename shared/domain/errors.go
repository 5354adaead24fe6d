package domain

import (
	"errors"
	"fmt"
)

// ErrUnauthenticated is a caller who is not who they claim (a wrong name and
// password, a token for an account that does not exist).
var ErrUnauthenticated = errors.New("unauthenticated")

// Error is a refusal decided by a rule, with a message a client can show.
// Kind is one of the Err sentinels (errors.Is(err, ErrNotFound) holds for a
// NotFound error), so each edge translates it the way it translates the bare
// sentinel: the HTTP layer into a status, with Msg as the message.
type Error struct {
	Kind error
	Msg  string
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.Kind }

func newError(kind error, format string, args []any) error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// NotFound is an ErrNotFound with a message.
func NotFound(format string, args ...any) error { return newError(ErrNotFound, format, args) }

// Forbidden is an ErrForbidden with a message.
func Forbidden(format string, args ...any) error { return newError(ErrForbidden, format, args) }

// Conflict is an ErrConflict with a message.
func Conflict(format string, args ...any) error { return newError(ErrConflict, format, args) }

// Unauthenticated is an ErrUnauthenticated with a message.
func Unauthenticated(format string, args ...any) error {
	return newError(ErrUnauthenticated, format, args)
}
