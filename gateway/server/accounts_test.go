package server_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/logchat/gateway/auth"
	"github.com/logchat/shared/domain"
)

func TestAccounts(t *testing.T) {
	h := newHarness(t)
	alice := h.register("alice")
	if alice.ID <= 0 || alice.Name != "alice" || alice.token == "" {
		t.Fatalf("register answered %+v", alice)
	}

	t.Run("me", func(t *testing.T) {
		var me userJSON
		h.must(http.StatusOK, "GET", "/api/v1/me", alice.token, nil, &me)
		if me != alice.userJSON {
			t.Fatalf("me = %+v, want %+v", me, alice.userJSON)
		}
	})

	t.Run("login", func(t *testing.T) {
		var out struct {
			User  userJSON `json:"user"`
			Token string   `json:"token"`
		}
		h.must(http.StatusOK, "POST", "/api/v1/auth/login", "", map[string]string{"name": "alice", "password": "password-alice"}, &out)
		if out.User != alice.userJSON || out.Token == "" {
			t.Fatalf("login answered %+v", out)
		}
		h.must(http.StatusOK, "GET", "/api/v1/me", out.Token, nil, nil)
	})

	t.Run("wrong pair is 401", func(t *testing.T) {
		for _, cred := range []map[string]string{
			{"name": "alice", "password": "wrong-password"},
			{"name": "nobody", "password": "password-alice"},
			{"name": "", "password": ""},
		} {
			h.fails(http.StatusUnauthorized, "unauthenticated", "POST", "/api/v1/auth/login", "", cred)
		}
	})

	t.Run("name taken, ignoring case, is 409", func(t *testing.T) {
		for _, name := range []string{"alice", "ALICE", "Alice"} {
			h.fails(http.StatusConflict, "conflict", "POST", "/api/v1/auth/register", "", map[string]string{"name": name, "password": "12345678"})
		}
	})

	t.Run("invalid registrations are 400 and create nobody", func(t *testing.T) {
		for name, body := range map[string]any{
			"empty name":     map[string]string{"name": "", "password": "12345678"},
			"long name":      map[string]string{"name": strings.Repeat("n", 33), "password": "12345678"},
			"space in name":  map[string]string{"name": "a b", "password": "12345678"},
			"short password": map[string]string{"name": "bob", "password": "1234567"},
			"long password":  map[string]string{"name": "bob", "password": strings.Repeat("p", 73)},
			"malformed":      raw(`{"name": "bob",`),
			"not an object":  raw(`["bob"]`),
			"wrong type":     raw(`{"name": 5, "password": "12345678"}`),
			"empty body":     raw(``),
		} {
			t.Run(name, func(t *testing.T) {
				h.fails(http.StatusBadRequest, "invalid_argument", "POST", "/api/v1/auth/register", "", body)
			})
		}
		h.fails(http.StatusUnauthorized, "unauthenticated", "POST", "/api/v1/auth/login", "", map[string]string{"name": "bob", "password": "12345678"})
	})

	t.Run("names of any script, unknown fields ignored", func(t *testing.T) {
		var out struct {
			User userJSON `json:"user"`
		}
		h.must(http.StatusCreated, "POST", "/api/v1/auth/register", "",
			map[string]any{"name": "Ёжик_2.0-x", "password": "12345678", "avatar": "ignored"}, &out)
		if out.User.Name != "Ёжик_2.0-x" {
			t.Fatalf("name %q", out.User.Name)
		}
		h.fails(http.StatusConflict, "conflict", "POST", "/api/v1/auth/register", "", map[string]string{"name": "ёжик_2.0-X", "password": "12345678"})
	})

	t.Run("bad tokens are 401", func(t *testing.T) {
		expired, _, err := auth.NewTokens(jwtSecret, -time.Minute).Issue(domain.User{ID: alice.ID, Name: "alice"})
		if err != nil {
			t.Fatal(err)
		}
		forged, _, err := auth.NewTokens("some-other-secret-of-16+", time.Hour).Issue(domain.User{ID: alice.ID, Name: "alice"})
		if err != nil {
			t.Fatal(err)
		}
		for name, token := range map[string]string{"none": "", "garbage": "not-a-jwt", "expired": expired, "forged": forged} {
			t.Run(name, func(t *testing.T) {
				h.fails(http.StatusUnauthorized, "unauthenticated", "GET", "/api/v1/me", token, nil)
				h.fails(http.StatusUnauthorized, "unauthenticated", "GET", "/api/v1/chats", token, nil)
			})
		}
		r := h.do("GET", "/api/v1/me", "", nil)
		if r.status != http.StatusUnauthorized {
			t.Fatalf("no Authorization header: %d", r.status)
		}
	})

	t.Run("user search", func(t *testing.T) {
		for _, n := range []string{"alfred", "Alina", "bert"} {
			h.register(n)
		}
		var out struct {
			Users []userJSON `json:"users"`
		}
		h.must(http.StatusOK, "GET", "/api/v1/users?prefix=AL", alice.token, nil, &out)
		var names []string
		for _, u := range out.Users {
			names = append(names, u.Name)
		}
		if got := strings.Join(names, ","); got != "alfred,alice,Alina" {
			t.Fatalf("prefix al: %s", got)
		}
		h.must(http.StatusOK, "GET", "/api/v1/users?prefix=al&limit=1", alice.token, nil, &out)
		if len(out.Users) != 1 {
			t.Fatalf("limit 1: %d users", len(out.Users))
		}
		h.must(http.StatusOK, "GET", "/api/v1/users?prefix=zzz", alice.token, nil, &out)
		if out.Users == nil || len(out.Users) != 0 {
			t.Fatalf("no match: %+v", out.Users)
		}
		for _, q := range []string{"limit=0", "limit=101", "limit=abc", "limit=-1", "limit=1.5"} {
			h.fails(http.StatusBadRequest, "invalid_argument", "GET", "/api/v1/users?"+q, alice.token, nil)
		}
		h.fails(http.StatusUnauthorized, "unauthenticated", "GET", "/api/v1/users?prefix=al", "", nil)
	})
}
