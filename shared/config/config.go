// Package config reads a process's settings from environment variables.
//
// Every setting has a default that works on a developer machine, so a bare
// `go run` starts. Errors are collected, not returned one by one, so that a
// misconfigured process names every bad variable at once.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"
)

// Env reads variables and remembers what went wrong and what to log.
type Env struct {
	errs    []error
	logged  []slog.Attr
	secrets map[string]bool

	// describing: the environment is not read; every variable takes its
	// default and is recorded in vars (see Describe).
	describing bool
	vars       []Var
}

// New starts reading the environment.
func New() *Env { return &Env{secrets: map[string]bool{}} }

func (e *Env) lookup(key, def string) string {
	e.note(key, def)
	if e.describing {
		return def
	}
	v, ok := os.LookupEnv(key)
	if !ok || v == "" {
		v = def
	}
	return v
}

func (e *Env) record(key, v string) {
	if e.describing {
		return
	}
	if e.secrets[key] {
		if v == "" {
			v = "(empty)"
		} else {
			v = "***"
		}
	}
	e.logged = append(e.logged, slog.String(key, v))
}

// String reads a string.
func (e *Env) String(key, def string) string {
	v := e.lookup(key, def)
	e.record(key, v)
	return v
}

// Secret reads a string that must never be logged in clear.
func (e *Env) Secret(key, def string) string {
	e.secrets[key] = true
	v := e.String(key, def)
	e.markSecret(key)
	return v
}

// MinSecretLen is the shortest secret accepted: 16 bytes is already beyond
// guessing when random, and every generated secret (scripts/stack.sh) is 32.
const MinSecretLen = 16

// devSecrets are values that were committed to this repository at some point
// (defaults, examples, compose fallbacks). Anyone can read them, so a process
// holding one is as open as one holding none. Append, never remove: an old
// clone or an old compose file may still hand them out.
var devSecrets = []string{
	"dev-jwt-secret-change-me",
	"dev-centrifugo-hmac-secret-change-me",
	"dev-centrifugo-api-key-change-me",
}

// IsDevSecret reports whether v is a value published in this repository.
func IsDevSecret(v string) bool {
	for _, d := range devSecrets {
		if strings.EqualFold(strings.TrimSpace(v), d) {
			return true
		}
	}
	return false
}

// RequiredSecret reads a secret that has no default: the process refuses to
// start when it is unset, empty (which counts as unset), shorter than
// MinSecretLen or a value committed to the repository. The error names the
// variable, never its value, since errors are logged.
func (e *Env) RequiredSecret(key string) string {
	v := e.Secret(key, "")
	e.require(key)
	if e.describing {
		return v
	}
	if err := CheckSecret(key, v); err != nil {
		e.errs = append(e.errs, err)
	}
	return v
}

// RequiredCredential reads a setting that carries a credential without being
// a random secret itself, such as a DSN with a password: masked like a
// secret, without a default (a committed one would be a password everyone
// knows), and required: the process refuses to start without it. how says
// what to set it to, for the error, which never shows the value.
func (e *Env) RequiredCredential(key, how string) string {
	v := e.Secret(key, "")
	e.require(key)
	e.Check(v != "", "%s is not set (an empty value counts as unset): %s", key, how)
	return v
}

// CheckSecret is RequiredSecret's rule on a value read elsewhere.
func CheckSecret(key, v string) error {
	switch {
	case v == "":
		return fmt.Errorf("%s is not set (an empty value counts as unset): give this installation a random secret of its own (`make up` generates them into .run/secrets.env)", key)
	case IsDevSecret(v):
		return fmt.Errorf("%s holds a development value published in the repository: give this installation a random secret of its own", key)
	case len(v) < MinSecretLen:
		return fmt.Errorf("%s must be at least %d bytes", key, MinSecretLen)
	}
	return nil
}

// Int reads an integer.
func (e *Env) Int(key string, def int) int {
	s := e.lookup(key, strconv.Itoa(def))
	n, err := strconv.Atoi(s)
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s: %q is not an integer", key, s))
	}
	e.record(key, s)
	return n
}

// Duration reads a Go duration such as "1h" or "250ms".
func (e *Env) Duration(key string, def time.Duration) time.Duration {
	s := e.lookup(key, def.String())
	d, err := time.ParseDuration(s)
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s: %q is not a duration", key, s))
	}
	e.record(key, s)
	return d
}

// Bool reads true/false/1/0.
func (e *Env) Bool(key string, def bool) bool {
	s := e.lookup(key, strconv.FormatBool(def))
	b, err := strconv.ParseBool(s)
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s: %q is not a boolean", key, s))
	}
	e.record(key, s)
	return b
}

// List reads a comma-separated list.
func (e *Env) List(key, def string) []string {
	s := e.String(key, def)
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Check records a failed validation rule when ok is false.
func (e *Env) Check(ok bool, format string, args ...any) {
	if !ok && !e.describing {
		e.errs = append(e.errs, fmt.Errorf(format, args...))
	}
}

// Err is every problem found, or nil.
func (e *Env) Err() error { return errors.Join(e.errs...) }

// Log writes the settings read so far, secrets masked.
func (e *Env) Log(log *slog.Logger) {
	args := make([]any, 0, len(e.logged))
	for _, a := range e.logged {
		args = append(args, a)
	}
	log.Info("config", args...)
}
