package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/logchat/e2e/harness"
	"github.com/logchat/ingest/bus"
	"github.com/logchat/shared/domain"
	"github.com/logchat/shared/event"
	"github.com/logchat/testkit"
)

// The security suite of issue 11: black-box probes against a whole system of
// real processes (the gateway and the three workers built from this
// workspace, NATS with the project's users and permissions, Centrifugo,
// MariaDB, Redis), each trying what an attacker would and expecting the
// control to hold. docs/security.md maps every finding of the issue to its
// probe here or to the package test that proves it.
//
// Committed development values: anyone who read the repository knows them
// (shared/config's list of published secrets).
const (
	devJWTSecret        = "dev-jwt-secret-change-me"
	devCentrifugoAPIKey = "dev-centrifugo-api-key-change-me"
	devCentrifugoHMAC   = "dev-centrifugo-hmac-secret-change-me"
	// The failed logins after which an account's logins are 429: set
	// explicitly so that the probe does not depend on the default.
	loginMaxFailures = 4
	// A group's most members, small so that the probe fills one.
	groupMaxMembers = 4
	// Requests without a valid token per client address and minute: above
	// what the rest of the suite sends without one (about a hundred).
	anonPerMinute = 600
)

func TestSecurityProbes(t *testing.T) {
	jwtSecret := "e2e-security-" + testkit.RandomID() + testkit.RandomID()
	sys := harness.Start(t, harness.Options{Env: []string{
		"JWT_SECRET=" + jwtSecret,
		"LOGIN_MAX_FAILURES=" + strconv.Itoa(loginMaxFailures),
		"LOGIN_FAILURE_WINDOW=15m",
		"BCRYPT_COST=4",
		"GROUP_MAX_MEMBERS=" + strconv.Itoa(groupMaxMembers),
		// A deployment's setting: /metrics only on the internal listener
		// (the default serves it publicly too, as API.md asks).
		"GATEWAY_PUBLIC_METRICS=false",
		"RATE_LIMIT_ANON_PER_MINUTE=" + strconv.Itoa(anonPerMinute),
	}})
	alice := harness.Register(t, sys.GatewayURL, "alice")
	bob := harness.Register(t, sys.GatewayURL, "bob")

	t.Run("bearer tokens", func(t *testing.T) {
		sign := func(method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
			t.Helper()
			s, err := jwt.NewWithClaims(method, claims).SignedString(key)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		// Claims as the gateway issues them, for alice, valid for an hour.
		claims := func(mod func(jwt.MapClaims)) jwt.MapClaims {
			c := jwt.MapClaims{
				"iss": "logchat", "aud": []string{"logchat-api"}, "sub": strconv.FormatInt(alice.User.ID, 10),
				"name": alice.User.Name, "jti": testkit.RandomID(),
				"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(),
			}
			if mod != nil {
				mod(c)
			}
			return c
		}
		// The control: the same claims signed with the gateway's secret are
		// accepted, so each refusal below is for the one thing changed.
		if st := status(t, "GET", sys.GatewayURL+"/api/v1/me", sign(jwt.SigningMethodHS256, []byte(jwtSecret), claims(nil)), nil, nil); st != http.StatusOK {
			t.Fatalf("a token with the gateway's secret and claims: %d, want 200 (the probes below would prove nothing)", st)
		}
		for name, token := range map[string]string{
			"another secret":                   sign(jwt.SigningMethodHS256, []byte("not-the-secret-"+testkit.RandomID()), claims(nil)),
			"the committed development secret": sign(jwt.SigningMethodHS256, []byte(devJWTSecret), claims(nil)),
			"Centrifugo's committed secret":    sign(jwt.SigningMethodHS256, []byte(devCentrifugoHMAC), claims(nil)),
			"expired": sign(jwt.SigningMethodHS256, []byte(jwtSecret), claims(func(c jwt.MapClaims) {
				c["iat"], c["exp"] = time.Now().Add(-2*time.Hour).Unix(), time.Now().Add(-time.Hour).Unix()
			})),
			"alg none":              sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(nil)),
			"alg none, empty":       strings.TrimSuffix(sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(nil)), "."),
			"HS512 with the secret": sign(jwt.SigningMethodHS512, []byte(jwtSecret), claims(nil)),
			"no expiry":             sign(jwt.SigningMethodHS256, []byte(jwtSecret), claims(func(c jwt.MapClaims) { delete(c, "exp") })),
			"another audience (a realtime token)": sign(jwt.SigningMethodHS256, []byte(jwtSecret), claims(func(c jwt.MapClaims) {
				c["aud"] = []string{"centrifugo"}
			})),
			"another issuer": sign(jwt.SigningMethodHS256, []byte(jwtSecret), claims(func(c jwt.MapClaims) { c["iss"] = "someone" })),
			"without an id":  sign(jwt.SigningMethodHS256, []byte(jwtSecret), claims(func(c jwt.MapClaims) { delete(c, "jti") })),
			"a signature of alice's real token moved onto bob's claims": resign(t, alice.Token, bob.User.ID),
			"garbage": "not.a.token",
		} {
			t.Run(name, func(t *testing.T) {
				wantError(t, http.StatusUnauthorized, "unauthenticated", "GET", sys.GatewayURL+"/api/v1/me", token, nil, nil)
				wantError(t, http.StatusUnauthorized, "unauthenticated", "POST", sys.GatewayURL+"/api/v1/chats", token, nil,
					jsonBody(t, map[string]any{"title": "x", "member_ids": []int64{bob.User.ID}}))
			})
		}
	})

	t.Run("a compressed body is 415 before it is read", func(t *testing.T) {
		var gz bytes.Buffer
		w := gzip.NewWriter(&gz)
		fmt.Fprintf(w, `{"name": %q, "password": "correct horse", "pad": "%s"}`, alice.User.Name, strings.Repeat("0", 200<<10))
		w.Close()
		for _, enc := range []string{"gzip", "deflate", "br", "gzip, identity"} {
			wantError(t, http.StatusUnsupportedMediaType, "invalid_argument", "POST", sys.GatewayURL+"/api/v1/auth/login", "",
				http.Header{"Content-Encoding": {enc}, "Content-Type": {"application/json"}}, gz.Bytes())
		}
		// The same request with the plain body is not refused for its
		// encoding (413: over the 64 KiB limit, under what the server reads).
		wantError(t, http.StatusRequestEntityTooLarge, "payload_too_large", "POST", sys.GatewayURL+"/api/v1/auth/login", "",
			http.Header{"Content-Type": {"application/json"}}, gunzip(t, gz.Bytes()))
	})

	t.Run("NATS refuses anonymous and wrong logins, and an anonymous append or deletion", func(t *testing.T) {
		for name, opts := range map[string][]nats.Option{
			"anonymous":                             nil,
			"a worker with no password":             {nats.UserInfo("persister", "")},
			"the gateway with the admin's password": {nats.UserInfo("gateway", sys.NATS.Password("admin"))},
		} {
			nc, err := nats.Connect(sys.NATS.URL, append(opts, nats.NoReconnect())...)
			if err == nil {
				// Whatever it may do once connected (publish a message as
				// anyone, delete the stream), it must not get that far.
				nc.Close()
				t.Fatalf("%s: connected", name)
			}
			if !errors.Is(err, nats.ErrAuthorization) {
				t.Fatalf("%s: %v, want an authorization violation", name, err)
			}
		}
		// Below the client library: the protocol itself, an anonymous
		// CONNECT followed at once by an append and a stream deletion.
		stream := bus.DefaultTopology().Stream
		_, admin := sys.NATS.Connect(t)
		before := streamState(t, admin, stream)
		conn, err := net.DialTimeout("tcp", strings.TrimPrefix(sys.NATS.URL, "nats://"), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(conn, "CONNECT {\"verbose\":false,\"pedantic\":false,\"protocol\":1}\r\n"+
			"PUB %s 2\r\n{}\r\nPUB $JS.API.STREAM.DELETE.%s 0\r\n\r\nPING\r\n", bus.PublishSubject(1, event.KindMessage), stream)
		answer, _ := io.ReadAll(conn) // the server closes the connection
		if !strings.Contains(string(answer), "-ERR 'Authorization Violation'") || strings.Contains(string(answer), "PONG") {
			t.Fatalf("an anonymous CONNECT, PUB and PING: %q, want an authorization violation and no PONG", answer)
		}
		if after := streamState(t, admin, stream); after.FirstSeq != before.FirstSeq || after.LastSeq < before.LastSeq {
			t.Fatalf("the stream changed: %+v → %+v", before, after)
		}
	})

	t.Run("no service deletes or purges the log, no worker appends to it", func(t *testing.T) {
		stream := bus.DefaultTopology().Stream
		_, admin := sys.NATS.Connect(t)
		before := streamState(t, admin, stream)
		// A chat no test uses: nothing else appends there.
		forgedSubject := bus.PublishSubject(987654321, event.KindMessage)
		// Every refused request waits out its deadline (NATS drops it and
		// reports the violation on the connection): all of them at once.
		type attempt struct {
			user, what, subject string
			try                 func(context.Context) error
		}
		var attempts []attempt
		violations := map[string]func() string{}
		// The gateway appends (its job) but may not destroy either.
		for _, user := range []string{"persister", "cachewarm", "notifier", "gateway"} {
			js, seen := connectRecording(t, sys.NATS, user)
			violations[user] = seen
			attempts = append(attempts,
				attempt{user, "deleted the stream", "$JS.API.STREAM.DELETE." + stream,
					func(ctx context.Context) error { return js.DeleteStream(ctx, stream) }},
				attempt{user, "purged the stream", "$JS.API.STREAM.PURGE." + stream, func(ctx context.Context) error {
					s, err := js.Stream(ctx, stream)
					if err != nil {
						return err
					}
					return s.Purge(ctx)
				}})
			if user != "gateway" {
				// Posing as the gateway: an event in a chat.
				attempts = append(attempts, attempt{user, "appended to the log", forgedSubject, func(ctx context.Context) error {
					_, err := js.Publish(ctx, forgedSubject, []byte(`{}`))
					return err
				}})
			}
		}
		var wg sync.WaitGroup
		for _, a := range attempts {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
				defer cancel()
				if err := a.try(ctx); err == nil {
					t.Errorf("%s %s", a.user, a.what)
				}
			})
		}
		wg.Wait()
		// Refused by the server's permissions, not lost on the way.
		for _, a := range attempts {
			want := strings.ToLower(fmt.Sprintf("permissions violation for publish to %q", a.subject))
			harness.Eventually(t, 5*time.Second, a.user+": "+want, func() (bool, string) {
				got := violations[a.user]()
				return strings.Contains(strings.ToLower(got), want), got
			})
		}
		// The stream is there with everything it held (others may have
		// appended meanwhile: the system is live), and nothing on the
		// forged subject.
		after := streamState(t, admin, stream)
		if after.FirstSeq != before.FirstSeq || after.LastSeq < before.LastSeq || after.Msgs < before.Msgs {
			t.Fatalf("the stream lost events under refused requests: %+v → %+v", before, after)
		}
		s, err := admin.Stream(context.Background(), stream)
		if err != nil {
			t.Fatal(err)
		}
		if m, err := s.GetLastMsgForSubject(context.Background(), forgedSubject); !errors.Is(err, jetstream.ErrMsgNotFound) {
			t.Fatalf("a worker's forged event is in the log: %v %v", m, err)
		}
	})

	t.Run("Centrifugo's server API: internal only, committed keys refused", func(t *testing.T) {
		api := func(url, key string) int {
			t.Helper()
			req, _ := http.NewRequest("POST", url, strings.NewReader(`{"channel": "chat:1", "data": {"type": "message.created"}}`))
			req.Header.Set("X-API-Key", key)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("POST %s: %v", url, err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		c := sys.Centrifugo
		// The template's empty key and the development key once committed.
		for _, key := range []string{"", devCentrifugoAPIKey} {
			if st := api(c.URL+"/api/publish", key); st != http.StatusUnauthorized {
				t.Errorf("publish with the committed key %q: %d, want 401", key, st)
			}
		}
		if st := api(c.URL+"/api/publish", c.APIKey); st != http.StatusOK {
			t.Fatalf("publish with the installation's key on the internal port: %d, want 200", st)
		}
		// The clients' port has no server API, whatever the key.
		for _, path := range []string{"/api/publish", "/api"} {
			for _, key := range []string{c.APIKey, "", devCentrifugoAPIKey} {
				if st := api(c.ClientURL+path, key); st != http.StatusNotFound {
					t.Errorf("POST %s on the clients' port: %d, want 404", path, st)
				}
			}
		}
		// A connection token signed with the committed HMAC secret.
		forged := *c
		forged.HMACSecret = devCentrifugoHMAC
		if _, r := connectAs(t, &forged, strconv.FormatInt(alice.User.ID, 10)); !strings.HasPrefix(r, "disconnected") {
			t.Fatalf("a connection token signed with the committed secret: %s, want refused", r)
		}
	})

	t.Run("password guessing is limited per account", func(t *testing.T) {
		victim := harness.Register(t, sys.GatewayURL, "victim")
		other := harness.Register(t, sys.GatewayURL, "other")
		login := func(name, password string) (int, http.Header, []byte) {
			return do(t, "POST", sys.GatewayURL+"/api/v1/auth/login", "",
				http.Header{"Content-Type": {"application/json"}}, jsonBody(t, map[string]string{"name": name, "password": password}))
		}
		for i := range loginMaxFailures {
			wantError(t, http.StatusUnauthorized, "unauthenticated", "POST", sys.GatewayURL+"/api/v1/auth/login", "",
				http.Header{"Content-Type": {"application/json"}},
				jsonBody(t, map[string]string{"name": victim.User.Name, "password": fmt.Sprintf("guess-%d-wrong", i)}))
		}
		// Now even the right password, in another case, is refused...
		for _, name := range []string{victim.User.Name, strings.ToUpper(victim.User.Name)} {
			st, h, body := login(name, "correct horse")
			checkErrorBody(t, st, body, http.StatusTooManyRequests, "rate_limited")
			if s, err := strconv.Atoi(h.Get("Retry-After")); err != nil || s <= 0 {
				t.Fatalf("429 with Retry-After %q, want a positive number of seconds", h.Get("Retry-After"))
			}
		}
		// ...while another account, from the same address, logs in.
		if st, _, body := login(other.User.Name, "correct horse"); st != http.StatusOK {
			t.Fatalf("another account's login: %d %s", st, body)
		}
		// And the victim's token from before still works: a limit, not a lock-out of sessions.
		victim.Must(http.StatusOK, "GET", "/me", nil, nil)
	})

	t.Run("titles with control or bidirectional characters are 400", func(t *testing.T) {
		for _, title := range []string{"hi\x00there", "bell\x07", "inv\u202eoice.exe", "a\u2066b", "tab\tbed", "nl\nline", "c1\u0085x"} {
			wantError(t, http.StatusBadRequest, "invalid_argument", "POST", sys.GatewayURL+"/api/v1/chats", alice.Token, nil,
				jsonBody(t, map[string]any{"title": title, "member_ids": []int64{bob.User.ID}}))
		}
		// The control: a plain title is a group.
		alice.GroupChat("plain title", bob.User.ID)
	})

	t.Run("a look-alike name is 409", func(t *testing.T) {
		base := "paypal" + testkit.RandomID()[:6]
		c := harness.NewClient(t, sys.GatewayURL)
		c.Must(http.StatusCreated, "POST", "/auth/register", map[string]string{"name": base, "password": "correct horse"}, nil)
		for _, lookalike := range []string{
			"р" + base[1:],                     // Cyrillic er
			"pаypal" + base[6:],                // Cyrillic a
			strings.ToUpper(base),              // case
			strings.Replace(base, "l", "1", 1), // digit one for l (UTS #39 skeleton)
		} {
			wantError(t, http.StatusConflict, "conflict", "POST", sys.GatewayURL+"/api/v1/auth/register", "",
				http.Header{"Content-Type": {"application/json"}}, jsonBody(t, map[string]string{"name": lookalike, "password": "correct horse"}))
		}
		// And a name with a bidirectional override is 400.
		wantError(t, http.StatusBadRequest, "invalid_argument", "POST", sys.GatewayURL+"/api/v1/auth/register", "",
			http.Header{"Content-Type": {"application/json"}}, jsonBody(t, map[string]string{"name": "ab\u202ecd", "password": "correct horse"}))
	})

	t.Run("at most 200 member ids per request, groups capped", func(t *testing.T) {
		// 201 ids, unknown ones: 400 before anything is looked up (not 404).
		ids := make([]int64, 201)
		for i := range ids {
			ids[i] = 1_000_000 + int64(i)
		}
		for _, title := range []string{"big", ""} {
			body := map[string]any{"member_ids": ids}
			if title != "" {
				body["title"] = title
			}
			wantError(t, http.StatusBadRequest, "invalid_argument", "POST", sys.GatewayURL+"/api/v1/chats", alice.Token, nil, jsonBody(t, body))
		}
		// The group cap (GROUP_MAX_MEMBERS, here 4): on creation and on addition.
		var others []int64
		for range groupMaxMembers {
			others = append(others, harness.Register(t, sys.GatewayURL, "m").User.ID)
		}
		wantError(t, http.StatusConflict, "conflict", "POST", sys.GatewayURL+"/api/v1/chats", alice.Token, nil,
			jsonBody(t, map[string]any{"title": "too big", "member_ids": others}))
		full := alice.GroupChat("full", others[:groupMaxMembers-1]...)
		wantError(t, http.StatusConflict, "conflict", "POST", fmt.Sprintf("%s/api/v1/chats/%d/members", sys.GatewayURL, full.ID), alice.Token, nil,
			jsonBody(t, map[string]any{"user_id": others[groupMaxMembers-1]}))
	})

	t.Run("who left a direct chat sees nothing of it until they rejoin", func(t *testing.T) {
		leaver := harness.Register(t, sys.GatewayURL, "leaver")
		stayer := harness.Register(t, sys.GatewayURL, "stayer")
		chat := stayer.DirectChat(leaver.User.ID)
		if _, err := stayer.Send(chat.ID, "before", "before-"+testkit.RandomID()); err != nil {
			t.Fatal(err)
		}
		leaver.Must(http.StatusNoContent, "DELETE", fmt.Sprintf("/chats/%d/members/%d", chat.ID, leaver.User.ID), nil, nil)
		secret := "after the leave " + testkit.RandomID()
		if _, err := stayer.Send(chat.ID, secret, "after-"+testkit.RandomID()); err != nil {
			t.Fatal(err)
		}
		base := fmt.Sprintf("%s/api/v1/chats/%d", sys.GatewayURL, chat.ID)
		wantError(t, http.StatusNotFound, "not_found", "GET", base, leaver.Token, nil, nil)
		wantError(t, http.StatusNotFound, "not_found", "GET", base+"/messages", leaver.Token, nil, nil)
		wantError(t, http.StatusForbidden, "forbidden", "POST", sys.GatewayURL+"/api/v1/realtime/subscription-token", leaver.Token, nil,
			jsonBody(t, map[string]string{"channel": chat.Channel}))
		if _, _, body := do(t, "GET", sys.GatewayURL+"/api/v1/chats", leaver.Token, nil, nil); strings.Contains(string(body), secret) {
			t.Fatalf("the chat list shows a left chat's message: %s", body)
		}
		// The other person asking for the chat does not bring the leaver back.
		var asked harness.Chat
		if st, err := stayer.Do("POST", "/chats", map[string]any{"member_ids": []int64{leaver.User.ID}}, &asked); err != nil || st != http.StatusOK {
			t.Fatalf("the other member asking for the chat: %d %v", st, err)
		}
		for _, m := range asked.Members {
			if m.User.ID == leaver.User.ID {
				t.Fatalf("the other member's request brought the leaver back: %+v", asked.Members)
			}
		}
		wantError(t, http.StatusNotFound, "not_found", "GET", base, leaver.Token, nil, nil)
		// Asking for it again: a member again (API 1.1), with the history.
		var again harness.Chat
		if st, err := leaver.Do("POST", "/chats", map[string]any{"member_ids": []int64{stayer.User.ID}}, &again); err != nil || (st != 200 && st != 201) || again.ID != chat.ID {
			t.Fatalf("rejoin: %d %v, chat %d (want %d)", st, err, again.ID, chat.ID)
		}
		leaver.Must(http.StatusOK, "GET", fmt.Sprintf("/chats/%d", chat.ID), nil, nil)
	})

	t.Run("messages are changed only by who may: edit, delete, hide, clear, forward", func(t *testing.T) {
		author := harness.Register(t, sys.GatewayURL, "author")
		other := harness.Register(t, sys.GatewayURL, "other")
		outsider := harness.Register(t, sys.GatewayURL, "outsider")
		chat := author.DirectChat(other.User.ID)
		secret := "mine alone " + testkit.RandomID()
		m, err := author.Send(chat.ID, secret, "own-"+testkit.RandomID())
		if err != nil {
			t.Fatal(err)
		}
		base := fmt.Sprintf("%s/api/v1/chats/%d", sys.GatewayURL, chat.ID)
		msg := fmt.Sprintf("%s/messages/%d", base, m.ID)
		edit := jsonBody(t, map[string]string{"text": "changed by someone else"})
		// A member who is not the author: 403; a non-member: 404, as if the chat did not exist.
		wantError(t, http.StatusForbidden, "forbidden", "PATCH", msg, other.Token, nil, edit)
		wantError(t, http.StatusForbidden, "forbidden", "DELETE", msg, other.Token, nil, nil)
		for _, probe := range []struct{ method, url string }{{"PATCH", msg}, {"DELETE", msg}, {"DELETE", msg + "?for=me"}, {"DELETE", base + "/history"}} {
			var body []byte
			if probe.method == "PATCH" {
				body = edit
			}
			wantError(t, http.StatusNotFound, "not_found", probe.method, probe.url, outsider.Token, nil, body)
		}
		// Forwarding out of a chat one is not in: 404, and nothing leaks.
		own := outsider.DirectChat(author.User.ID)
		st, _, body := do(t, "POST", fmt.Sprintf("%s/api/v1/chats/%d/messages", sys.GatewayURL, own.ID), outsider.Token, nil,
			jsonBody(t, map[string]any{"client_id": "fw-" + testkit.RandomID(), "forward": map[string]int64{"chat_id": chat.ID, "message_id": m.ID}}))
		if st != http.StatusNotFound || strings.Contains(string(body), secret) {
			t.Fatalf("a forward from a chat the caller is not in: %d %s", st, body)
		}
		// Nothing above changed the message (history is MySQL's, which
		// may lag the send's 202 a moment).
		harness.Eventually(t, 10*time.Second, "the message intact in history", func() (bool, string) {
			page, err := other.History(chat.ID, nil)
			if err != nil {
				return false, err.Error()
			}
			ok := len(page.Messages) == 1 && page.Messages[0].Text == secret && page.Messages[0].ID == m.ID &&
				page.Messages[0].EditedAt == nil
			return ok, fmt.Sprintf("%+v", page.Messages)
		})
	})

	t.Run("roles, blocks and avatars: only who may, and no image bombs", func(t *testing.T) {
		owner := harness.Register(t, sys.GatewayURL, "owner")
		plain := harness.Register(t, sys.GatewayURL, "plain")
		stranger := harness.Register(t, sys.GatewayURL, "stranger")
		var g harness.Chat
		owner.Must(http.StatusCreated, "POST", "/chats", map[string]any{"title": "club", "member_ids": []int64{plain.User.ID}}, &g)
		base := fmt.Sprintf("%s/api/v1/chats/%d", sys.GatewayURL, g.ID)
		wantError(t, http.StatusForbidden, "forbidden", "PATCH", fmt.Sprintf("%s/members/%d", base, plain.User.ID), plain.Token, nil,
			jsonBody(t, map[string]string{"role": "admin"}))
		wantError(t, http.StatusForbidden, "forbidden", "PATCH", base, plain.Token, nil, jsonBody(t, map[string]string{"title": "mine"}))
		wantError(t, http.StatusNotFound, "not_found", "PATCH", fmt.Sprintf("%s/members/%d", base, owner.User.ID), stranger.Token, nil,
			jsonBody(t, map[string]string{"role": "member"}))
		wantError(t, http.StatusConflict, "conflict", "DELETE", fmt.Sprintf("%s/members/%d", base, owner.User.ID), owner.Token, nil, nil)

		// A block holds both ways.
		d := owner.DirectChat(stranger.User.ID)
		owner.Must(http.StatusNoContent, "PUT", fmt.Sprintf("/me/blocks/%d", stranger.User.ID), nil, nil)
		wantError(t, http.StatusForbidden, "forbidden", "POST", fmt.Sprintf("%s/api/v1/chats/%d/messages", sys.GatewayURL, d.ID), stranger.Token, nil,
			jsonBody(t, map[string]string{"text": "let me in", "client_id": "blk-" + testkit.RandomID()}))

		// A PNG whose header claims 50,000 × 50,000 pixels is refused unread.
		var buf bytes.Buffer
		if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 1, 1))); err != nil {
			t.Fatal(err)
		}
		bomb := buf.Bytes()
		for i := 16; i < 24; i += 4 {
			bomb[i], bomb[i+1], bomb[i+2], bomb[i+3] = 0, 0, 0xC3, 0x50 // 50,000
		}
		wantError(t, http.StatusBadRequest, "invalid_argument", "PUT", sys.GatewayURL+"/api/v1/me/avatar", owner.Token,
			http.Header{"Content-Type": {"image/png"}}, bomb)
		wantError(t, http.StatusBadRequest, "invalid_argument", "PUT", sys.GatewayURL+"/api/v1/me/avatar", owner.Token,
			http.Header{"Content-Type": {"image/svg+xml"}}, []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`))
		wantError(t, http.StatusNotFound, "not_found", "GET", sys.GatewayURL+"/api/v1/avatars/not-a-key", "", nil, nil)
	})

	t.Run("a removed member's subscription ends and no token is given again", func(t *testing.T) {
		owner := harness.Register(t, sys.GatewayURL, "owner")
		stays := harness.Register(t, sys.GatewayURL, "stays")
		removed := harness.Register(t, sys.GatewayURL, "removed")
		group := owner.GroupChat("members", stays.User.ID, removed.User.ID)
		watch, gone := stays.Connect(), removed.Connect()
		watch.Subscribe(group.Channel)
		gone.Subscribe(group.Channel)
		owner.Must(http.StatusNoContent, "DELETE", fmt.Sprintf("/chats/%d/members/%d", group.ID, removed.User.ID), nil, nil)
		// Centrifugo's server-side unsubscribe, sent by the notifier.
		harness.Eventually(t, 10*time.Second, "the removed member unsubscribed by the server", func() (bool, string) {
			r, ok := gone.Unsubscribed(group.Channel)
			return ok, r
		})
		// 2000: Centrifugo's server-side unsubscribe, not the client giving up.
		if r, _ := gone.Unsubscribed(group.Channel); !strings.HasPrefix(r, "2000 ") {
			t.Fatalf("unsubscribed with %q, want 2000 (server unsubscribe)", r)
		}
		wantError(t, http.StatusForbidden, "forbidden", "POST", sys.GatewayURL+"/api/v1/realtime/subscription-token", removed.Token, nil,
			jsonBody(t, map[string]string{"channel": group.Channel}))
		m, err := owner.Send(group.ID, "after the removal", "rm-"+testkit.RandomID())
		if err != nil {
			t.Fatal(err)
		}
		harness.Eventually(t, 10*time.Second, "the remaining member gets the message", func() (bool, string) {
			return slices.Contains(watch.MessageIDs(group.Channel), m.ID), fmt.Sprint(watch.MessageIDs(group.Channel))
		})
		if slices.Contains(gone.MessageIDs(group.Channel), m.ID) {
			t.Fatal("the removed member received a message sent after the removal")
		}
	})

	t.Run("the update stream: one's own only, and nothing of a chat after leaving it", func(t *testing.T) {
		owner := harness.Register(t, sys.GatewayURL, "owner")
		removed := harness.Register(t, sys.GatewayURL, "removed")
		start, _, err := removed.Updates("", 1)
		if err != nil {
			t.Fatal(err)
		}
		group := owner.GroupChat("stream", removed.User.ID)
		owner.Must(http.StatusNoContent, "DELETE", fmt.Sprintf("/chats/%d/members/%d", group.ID, removed.User.ID), nil, nil)
		secret := "after the removal " + testkit.RandomID()
		if _, err := owner.Send(group.ID, secret, "st-"+testkit.RandomID()); err != nil {
			t.Fatal(err)
		}
		// The owner's stream has the message: then the removed member's
		// stream has had its chance to get it too.
		harness.Eventually(t, 10*time.Second, "the message in the owner's stream", func() (bool, string) {
			p, _, err := owner.Updates("", 1)
			return err == nil && harness.CursorN(t, p.Cursor) >= 2, fmt.Sprint(p.Cursor, err)
		})
		var types []string
		harness.Eventually(t, 10*time.Second, "chat.added and chat.removed in the removed member's stream", func() (bool, string) {
			p, _, err := removed.Updates(start.Cursor, 100)
			if err != nil {
				return false, err.Error()
			}
			types = types[:0]
			for _, raw := range p.Updates {
				if strings.Contains(string(raw), secret) {
					t.Fatalf("a removed member's update stream holds a message sent after the removal: %s", raw)
				}
				var u struct{ Type string }
				_ = json.Unmarshal(raw, &u)
				types = append(types, u.Type)
			}
			return len(types) >= 2, fmt.Sprint(types)
		})
		if fmt.Sprint(types) != "[chat.added chat.removed]" {
			t.Fatalf("the removed member's updates: %v", types)
		}
		// Another user's cursor means nothing in one's own stream; a made-up one is 400.
		wantError(t, http.StatusGone, "gone", "GET", sys.GatewayURL+"/api/v1/updates?after="+start.Cursor, owner.Token, nil, nil)
		wantError(t, http.StatusBadRequest, "invalid_argument", "GET", sys.GatewayURL+"/api/v1/updates?after=999999."+strings.SplitN(start.Cursor, ".", 2)[1], removed.Token, nil, nil)
		wantError(t, http.StatusUnauthorized, "unauthenticated", "GET", sys.GatewayURL+"/api/v1/updates", "", nil, nil)
		// Another user's personal channel: no token for it.
		wantError(t, http.StatusForbidden, "forbidden", "POST", sys.GatewayURL+"/api/v1/realtime/subscription-token", owner.Token, nil,
			jsonBody(t, map[string]string{"channel": domain.PersonalChannel(removed.User.ID)}))
	})

	t.Run("a token is refused after logout", func(t *testing.T) {
		carol := harness.Register(t, sys.GatewayURL, "carol")
		// A second session of the same user (another device).
		other := harness.NewClient(t, sys.GatewayURL)
		var out struct {
			Token string `json:"token"`
		}
		other.Must(http.StatusOK, "POST", "/auth/login", map[string]string{"name": carol.User.Name, "password": "correct horse"}, &out)
		other.Token = out.Token
		carol.Must(http.StatusNoContent, "POST", "/auth/logout", nil, nil)
		wantError(t, http.StatusUnauthorized, "unauthenticated", "GET", sys.GatewayURL+"/api/v1/me", carol.Token, nil, nil)
		wantError(t, http.StatusUnauthorized, "unauthenticated", "GET", sys.GatewayURL+"/api/v1/realtime/token", carol.Token, nil, nil)
		wantError(t, http.StatusUnauthorized, "unauthenticated", "POST", sys.GatewayURL+"/api/v1/auth/logout", carol.Token, nil, nil)
		other.Must(http.StatusOK, "GET", "/me", nil, nil)
	})

	t.Run("security headers on every answer", func(t *testing.T) {
		for _, r := range []struct{ method, path, token string }{
			{"GET", "/api/v1/me", alice.Token},
			{"GET", "/api/v1/me", ""}, // an error
			{"GET", "/healthz", ""},
			{"GET", "/api/v1/nope", alice.Token},
		} {
			_, h, _ := do(t, r.method, sys.GatewayURL+r.path, r.token, nil, nil)
			csp := h.Get("Content-Security-Policy")
			for _, want := range []string{"script-src 'self'", "frame-ancestors 'none'", "object-src 'none'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("%s %s: CSP %q lacks %q", r.method, r.path, csp, want)
				}
			}
			if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
				t.Errorf("%s %s: CSP allows inline script or eval: %q", r.method, r.path, csp)
			}
			for k, v := range map[string]string{
				"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
			} {
				if h.Get(k) != v {
					t.Errorf("%s %s: %s %q, want %q", r.method, r.path, k, h.Get(k), v)
				}
			}
		}
	})

	// Next to last: it stops NATS.
	t.Run("metrics only on the internal listener; readyz names no host", func(t *testing.T) {
		wantError(t, http.StatusNotFound, "not_found", "GET", sys.GatewayURL+"/metrics", "", nil, nil)
		st, _, body := do(t, "GET", sys.GatewayInternalURL+"/metrics", "", nil, nil)
		if st != http.StatusOK || !strings.Contains(string(body), "logchat_http_requests_total") {
			t.Fatalf("internal /metrics: %d %.300s", st, body)
		}
		for _, base := range []string{sys.GatewayURL, sys.GatewayInternalURL} {
			if st, _, body := do(t, "GET", base+"/readyz", "", nil, nil); st != http.StatusOK {
				t.Fatalf("%s/readyz: %d %s", base, st, body)
			}
		}
		// With a dependency down (NATS, last: the other probes need it), the
		// public /readyz names it and nothing else; the internal one says why.
		sys.NATS.Shutdown()
		t.Cleanup(func() { sys.NATS.Restart(t) })
		var public []byte
		harness.Eventually(t, 10*time.Second, "the public /readyz 503", func() (bool, string) {
			var st int
			st, _, public = do(t, "GET", sys.GatewayURL+"/readyz", "", nil, nil)
			return st == http.StatusServiceUnavailable, fmt.Sprintf("%d %s", st, public)
		})
		var ready map[string]any
		if err := json.Unmarshal(public, &ready); err != nil {
			t.Fatal(err)
		}
		if len(ready) != 2 || ready["status"] != "unavailable" || fmt.Sprint(ready["failing"]) != "[nats]" {
			t.Fatalf("public /readyz: %s, want {\"status\": \"unavailable\", \"failing\": [\"nats\"]} and nothing else", public)
		}
		natsPort := sys.NATS.URL[strings.LastIndex(sys.NATS.URL, ":")+1:]
		for _, leak := range []string{"127.0.0.1", natsPort, "tcp", "connect", "error"} {
			if strings.Contains(string(public), leak) {
				t.Fatalf("public /readyz names %q: %s", leak, public)
			}
		}
		st, _, internal := do(t, "GET", sys.GatewayInternalURL+"/readyz", "", nil, nil)
		if st != http.StatusServiceUnavailable || !strings.Contains(string(internal), `"errors"`) {
			t.Fatalf("internal /readyz: %d %s, want 503 with the dependencies' errors", st, internal)
		}
	})

	// Last: it spends this address's allowance of unauthenticated requests.
	t.Run("unauthenticated requests are limited per address", func(t *testing.T) {
		var st int
		var h http.Header
		var body []byte
		for i := 0; i <= anonPerMinute; i++ {
			if st, h, body = do(t, "GET", sys.GatewayURL+"/api/v1/me", "", nil, nil); st == http.StatusTooManyRequests {
				break
			}
		}
		checkErrorBody(t, st, body, http.StatusTooManyRequests, "rate_limited")
		if s, err := strconv.Atoi(h.Get("Retry-After")); err != nil || s <= 0 {
			t.Fatalf("429 with Retry-After %q, want a positive number of seconds", h.Get("Retry-After"))
		}
		// Health probes and bad tokens count too; a valid token does not.
		wantError(t, http.StatusTooManyRequests, "rate_limited", "GET", sys.GatewayURL+"/healthz", "", nil, nil)
		wantError(t, http.StatusTooManyRequests, "rate_limited", "GET", sys.GatewayURL+"/api/v1/me", "not.a.token", nil, nil)
		alice.Must(http.StatusOK, "GET", "/me", nil, nil)
	})
}

// do sends one request and returns the status, headers and body.
func do(t *testing.T, method, url, token string, h http.Header, body []byte) (int, http.Header, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	if body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	client := &http.Client{Timeout: 15 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func status(t *testing.T, method, url, token string, h http.Header, body []byte) int {
	t.Helper()
	st, _, _ := do(t, method, url, token, h, body)
	return st
}

// wantError sends a request and checks it is refused with status and API.md's
// error body with code.
func wantError(t *testing.T, status int, code, method, url, token string, h http.Header, body []byte) {
	t.Helper()
	st, _, b := do(t, method, url, token, h, body)
	checkErrorBody(t, st, b, status, code)
}

func checkErrorBody(t *testing.T, st int, body []byte, status int, code string) {
	t.Helper()
	var e struct {
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if st != status {
		t.Fatalf("status %d, want %d: %s", st, status, body)
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error == nil || e.Error.Code != code || e.Error.Message == "" {
		t.Fatalf("body %s, want {\"error\": {\"code\": %q, \"message\": …}}", body, code)
	}
}

func jsonBody(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	r, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// resign keeps a real token's header and signature and swaps in claims of
// another user: the signature no longer matches.
func resign(t *testing.T, token string, userID int64) string {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q is not a JWS", token)
	}
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(token, claims); err != nil {
		t.Fatal(err)
	}
	claims["sub"] = strconv.FormatInt(userID, 10)
	b, _ := json.Marshal(claims)
	parts[1] = base64.RawURLEncoding.EncodeToString(b)
	return strings.Join(parts, ".")
}

// connectRecording logs in to NATS as user and returns its JetStream and
// what the server has refused it so far.
func connectRecording(t *testing.T, n *testkit.NATS, user string) (jetstream.JetStream, func() string) {
	t.Helper()
	var mu sync.Mutex
	var errs []string
	nc, js := n.ConnectAs(t, user, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		mu.Lock()
		errs = append(errs, err.Error())
		mu.Unlock()
	}))
	return js, func() string {
		_ = nc.Flush()
		mu.Lock()
		defer mu.Unlock()
		return strings.Join(errs, "\n")
	}
}

type streamSnapshot struct{ Msgs, FirstSeq, LastSeq uint64 }

func streamState(t *testing.T, js jetstream.JetStream, name string) streamSnapshot {
	t.Helper()
	s, err := js.Stream(context.Background(), name)
	if err != nil {
		t.Fatalf("stream %s: %v", name, err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return streamSnapshot{info.State.Msgs, info.State.FirstSeq, info.State.LastSeq}
}
