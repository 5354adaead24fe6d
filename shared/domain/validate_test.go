package domain

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestNormalizeText(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		ok             bool
	}{
		{"trimmed", "  hi there \n", "hi there", true},
		{"inner whitespace kept", "a\n\nb", "a\n\nb", true},
		{"4096 code points", strings.Repeat("я", 4096), strings.Repeat("я", 4096), true},
		{"html is just text", "<img src=x onerror=alert(1)>", "<img src=x onerror=alert(1)>", true},
		{"empty", "", "", false},
		{"only spaces", " \t\n ", "", false},
		{"4097 code points", strings.Repeat("a", 4097), "", false},
		{"invalid utf-8", "bad \xff", "", false},
		{"NUL", "a\x00b", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NormalizeText(tc.in)
			if tc.ok != (err == nil) || got != tc.want {
				t.Fatalf("NormalizeText(%q) = %q, %v", tc.in, got, err)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
		})
	}
}

func TestValidateClientIDNameAndPassword(t *testing.T) {
	for _, tc := range []struct {
		what string
		err  error
		ok   bool
	}{
		{"uuid client id", ValidateClientID("0b9c1f2e-aaaa-4bbb-8ccc-123456789abc"), true},
		{"64 chars", ValidateClientID(strings.Repeat("a", 64)), true},
		{"65 chars", ValidateClientID(strings.Repeat("a", 65)), false},
		{"empty client id", ValidateClientID(""), false},
		{"space in client id", ValidateClientID("a b"), false},
		{"cyrillic name", ValidateName("Алиса_1.x-y"), true},
		{"32-char name", ValidateName(strings.Repeat("ж", 32)), true},
		{"33-char name", ValidateName(strings.Repeat("ж", 33)), false},
		{"name with space", ValidateName("a b"), false},
		{"empty name", ValidateName(""), false},
		{"8-byte password", ValidatePassword("12345678"), true},
		{"7-byte password", ValidatePassword("1234567"), false},
		{"73-byte password", ValidatePassword(strings.Repeat("p", 73)), false},
	} {
		if tc.ok != (tc.err == nil) {
			t.Errorf("%s: err = %v, want ok=%v", tc.what, tc.err, tc.ok)
		}
	}
}

func TestValidateMessage(t *testing.T) {
	good := Message{ID: 5, ChatID: 2, Author: User{ID: 7, Name: "a"}, Text: "hi", ClientID: "c1", SentAt: time.Now()}
	if err := ValidateMessage(good); err != nil {
		t.Fatalf("good message: %v", err)
	}
	zero := int64(0)
	for name, mutate := range map[string]func(*Message){
		"no author":   func(m *Message) { m.Author.ID = 0 },
		"no text":     func(m *Message) { m.Text = "" },
		"no time":     func(m *Message) { m.SentAt = time.Time{} },
		"bad reply":   func(m *Message) { m.ReplyToID = &zero },
		"bad client":  func(m *Message) { m.ClientID = "x y" },
		"no chat":     func(m *Message) { m.ChatID = 0 },
		"long text":   func(m *Message) { m.Text = strings.Repeat("a", 4097) },
		"invalid utf": func(m *Message) { m.Text = "\xff" },
	} {
		m := good
		mutate(&m)
		if err := ValidateMessage(m); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
}

func TestDirectTitleAndChannels(t *testing.T) {
	ms := []Member{{User: User{ID: 1, Name: "alice"}}, {User: User{ID: 2, Name: "bob"}}}
	if DirectTitle(ms, 1) != "bob" || DirectTitle(ms, 2) != "alice" {
		t.Fatal("a direct chat's title is the other member's name")
	}
	if ChatChannel(42) != "chat:42" || PersonalChannel(7) != "user:7" {
		t.Fatal("channel names")
	}
}
