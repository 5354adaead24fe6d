package server_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/logchat/gateway/rtoken"
)

func TestRealtimeTokens(t *testing.T) {
	h := newHarness(t)
	alice, bob, carol := h.register("alice"), h.register("bob"), h.register("carol")
	chat := h.direct(alice, bob)

	t.Run("connection token", func(t *testing.T) {
		var out struct {
			URL             string `json:"url"`
			Token           string `json:"token"`
			ExpiresAt       string `json:"expires_at"`
			PersonalChannel string `json:"personal_channel"`
		}
		h.must(http.StatusOK, "GET", "/api/v1/realtime/token", alice.token, nil, &out)
		if out.URL != realtimeURL || out.PersonalChannel != fmt.Sprintf("user:%d", alice.ID) || !timeFormat.MatchString(out.ExpiresAt) {
			t.Fatalf("answer %+v", out)
		}
		var c rtoken.ConnectionClaims
		if _, err := jwt.ParseWithClaims(out.Token, &c, func(*jwt.Token) (any, error) { return []byte(realtimeSecret), nil },
			jwt.WithValidMethods([]string{"HS256"})); err != nil {
			t.Fatal(err)
		}
		exp, _ := time.Parse(time.RFC3339, out.ExpiresAt)
		if c.Subject != fmt.Sprint(alice.ID) || c.ExpiresAt == nil || c.ExpiresAt.Unix() != exp.Unix() {
			t.Fatalf("claims %+v, expires_at %s", c, out.ExpiresAt)
		}
		h.fails(http.StatusUnauthorized, "unauthenticated", "GET", "/api/v1/realtime/token", "", nil)
	})

	subscribe := func(c client, channel string) response {
		return h.do("POST", "/api/v1/realtime/subscription-token", c.token, map[string]any{"channel": channel})
	}
	t.Run("subscription tokens for members and owners", func(t *testing.T) {
		for _, c := range []struct {
			who     client
			channel string
		}{{alice, chat.Channel}, {bob, chat.Channel}, {carol, fmt.Sprintf("user:%d", carol.ID)}} {
			r := subscribe(c.who, c.channel)
			if r.status != http.StatusOK {
				t.Fatalf("%s for %s: %d %s", c.channel, c.who.Name, r.status, r.body)
			}
			var out struct {
				Token string `json:"token"`
			}
			r.decode(t, &out)
			var claims rtoken.SubscriptionClaims
			if _, err := jwt.ParseWithClaims(out.Token, &claims, func(*jwt.Token) (any, error) { return []byte(realtimeSecret), nil },
				jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired()); err != nil {
				t.Fatal(err)
			}
			if claims.Subject != fmt.Sprint(c.who.ID) || claims.Channel != c.channel {
				t.Fatalf("claims %+v", claims)
			}
		}
	})

	t.Run("everything else is 403", func(t *testing.T) {
		for _, ch := range []string{
			chat.Channel[:len("chat:")] + "0" + chat.Channel[len("chat:"):], // chat:0<id>
			fmt.Sprintf("user:%d", alice.ID),
			fmt.Sprintf("chat:%d", chat.ID+1000),
			"chat:", "chat:-1", "user:abc", "news:1", "", "chat", fmt.Sprintf("chat:%d:x", chat.ID),
		} {
			r := subscribe(carol, ch)
			if r.status != http.StatusForbidden || r.errorCode(t) != "forbidden" {
				t.Errorf("channel %q: %d %s", ch, r.status, r.body)
			}
		}
		h.fails(http.StatusForbidden, "forbidden", "POST", "/api/v1/realtime/subscription-token", carol.token, map[string]any{"channel": chat.Channel})
		h.fails(http.StatusBadRequest, "invalid_argument", "POST", "/api/v1/realtime/subscription-token", carol.token, raw(`{"channel": 1}`))
	})
}
