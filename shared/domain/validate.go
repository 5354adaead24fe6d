package domain

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits of the API contract.
const (
	MaxTextRunes     = 4096
	MaxNameRunes     = 32
	MinPasswordBytes = 8
	MaxPasswordBytes = 72 // bcrypt ignores everything past 72 bytes
	MaxClientIDLen   = 64
	MaxTitleRunes    = 100
)

// ValidationError is an ErrInvalid with a message a client can show.
type ValidationError struct{ Msg string }

func (e *ValidationError) Error() string { return e.Msg }
func (e *ValidationError) Unwrap() error { return ErrInvalid }

func invalid(format string, args ...any) error {
	return &ValidationError{Msg: fmt.Sprintf(format, args...)}
}

// NormalizeText trims outer whitespace and checks the message text rules:
// valid UTF-8, no NUL, 1 to 4096 code points after trimming.
func NormalizeText(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", invalid("text is not valid UTF-8")
	}
	if strings.IndexByte(s, 0) >= 0 {
		return "", invalid("text must not contain NUL characters")
	}
	t := strings.TrimSpace(s)
	n := utf8.RuneCountInString(t)
	if n == 0 {
		return "", invalid("text must not be empty")
	}
	if n > MaxTextRunes {
		return "", invalid("text is longer than %d characters", MaxTextRunes)
	}
	return t, nil
}

// ValidateClientID checks the idempotency key: 1 to 64 of [A-Za-z0-9_-].
func ValidateClientID(id string) error {
	if id == "" || len(id) > MaxClientIDLen {
		return invalid("client_id must be 1 to %d characters", MaxClientIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
		if !ok {
			return invalid("client_id may contain only letters A-Z a-z, digits, '_' and '-'")
		}
	}
	return nil
}

// ValidateName checks a user name: 1 to 32 letters of any script, digits, '_', '-', '.'.
func ValidateName(name string) error {
	if !utf8.ValidString(name) {
		return invalid("name is not valid UTF-8")
	}
	n := utf8.RuneCountInString(name)
	if n < 1 || n > MaxNameRunes {
		return invalid("name must be 1 to %d characters", MaxNameRunes)
	}
	// Letters and digits exclude control and bidirectional-formatting
	// characters already (they are Cc and Cf).
	for _, r := range name {
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || r == '-' || r == '.') {
			return invalid("name may contain only letters, digits, '_', '-' and '.'")
		}
	}
	return nil
}

// ValidatePassword checks the password length in bytes (8 to 72).
func ValidatePassword(p string) error {
	if len(p) < MinPasswordBytes || len(p) > MaxPasswordBytes {
		return invalid("password must be %d to %d bytes", MinPasswordBytes, MaxPasswordBytes)
	}
	return nil
}

// NormalizeTitle trims a group title and checks it is 1 to 100 characters.
func NormalizeTitle(t string) (string, error) {
	if !utf8.ValidString(t) {
		return "", invalid("title is not valid UTF-8")
	}
	t = strings.TrimSpace(t)
	n := utf8.RuneCountInString(t)
	if n < 1 || n > MaxTitleRunes {
		return "", invalid("title must be 1 to %d characters", MaxTitleRunes)
	}
	if hasControlOrBidi(t) {
		return "", invalid("title must not contain control or bidirectional-formatting characters")
	}
	return t, nil
}

// Invalid builds a validation error for callers outside this package.
func Invalid(format string, args ...any) error { return invalid(format, args...) }

// ValidateText checks a message text as stored (already trimmed): valid
// UTF-8 without NUL, 1 to MaxTextRunes code points.
func ValidateText(text string) error {
	switch {
	case !utf8.ValidString(text) || strings.IndexByte(text, 0) >= 0:
		return invalid("text is not valid UTF-8 without NUL")
	case text == "" || utf8.RuneCountInString(text) > MaxTextRunes:
		return invalid("text must be 1 to %d characters", MaxTextRunes)
	}
	return nil
}

// ValidateMessage checks a message as it travels in the log: every consumer
// applies the same rules, so a message that one projection refuses as poison
// is refused by all of them. The error wraps ErrInvalid.
func ValidateMessage(m Message) error {
	var problem string
	switch {
	case m.ID <= 0 || m.ChatID <= 0:
		problem = "id and chat id must be positive"
	case m.Author.ID <= 0:
		problem = "author id must be positive"
	case ValidateClientID(m.ClientID) != nil:
		problem = "bad client_id"
	case ValidateText(m.Text) != nil:
		problem = ValidateText(m.Text).Error()
	case m.SentAt.IsZero():
		problem = "sent_at is missing"
	case m.ReplyToID != nil && *m.ReplyToID <= 0:
		problem = "reply_to_id must be positive"
	default:
		return nil
	}
	return fmt.Errorf("message %d of chat %d: %s: %w", m.ID, m.ChatID, problem, ErrInvalid)
}
