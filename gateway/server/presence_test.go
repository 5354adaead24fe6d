package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/centrifugal/centrifuge-go"
	"github.com/centrifugal/gocent/v3"

	"github.com/logchat/gateway/internal/presence"
	"github.com/logchat/gateway/rtoken"
	"github.com/logchat/gateway/server"
	"github.com/logchat/testkit"
)

// realtimeHarness is a gateway wired to a Centrifugo of the test's own, as
// deployed: typing and presence publish and ask through its server API, and
// clients connect with the gateway's tokens. Presence is swept every 100 ms.
type realtimeHarness struct {
	*harness
	cent *testkit.Centrifugo
	api  *gocent.Client
}

func (h *harness) withRealtime() *realtimeHarness {
	h.t.Helper()
	c := testkit.StartCentrifugo(h.t)
	g := h.variant(func(cfg *server.Config) {
		cfg.Realtime, cfg.RealtimeURL = rtoken.New(c.HMACSecret, time.Hour), c.WSURL
		cfg.Centrifugo = presence.NewAPI(c.URL+"/api", c.APIKey, &http.Client{Timeout: 5 * time.Second})
		cfg.Redis, cfg.RedisPrefix = h.rdb, h.prefix
		cfg.PresenceInterval = 100 * time.Millisecond
	})
	return &realtimeHarness{harness: g, cent: c, api: gocent.New(gocent.Config{Addr: c.URL + "/api", Key: c.APIKey})}
}

// rtClient is a user connected to Centrifugo the way API.md tells clients
// to: a connection token from GET /realtime/token, a subscription token per
// channel. It records every publication per channel, in arrival order.
type rtClient struct {
	h      *realtimeHarness
	who    client
	client *centrifuge.Client

	mu   sync.Mutex
	pubs map[string][]map[string]any
}

func (h *realtimeHarness) connect(c client) *rtClient {
	h.t.Helper()
	var tok struct {
		URL             string `json:"url"`
		Token           string `json:"token"`
		PersonalChannel string `json:"personal_channel"`
	}
	h.must(http.StatusOK, "GET", "/api/v1/realtime/token", c.token, nil, &tok)
	r := &rtClient{h: h, who: c, pubs: map[string][]map[string]any{}}
	r.client = centrifuge.NewJsonClient(tok.URL, centrifuge.Config{Token: tok.Token})
	connected := make(chan struct{})
	var once sync.Once
	r.client.OnConnected(func(centrifuge.ConnectedEvent) { once.Do(func() { close(connected) }) })
	if err := r.client.Connect(); err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(r.client.Close)
	select {
	case <-connected:
	case <-time.After(10 * time.Second):
		h.t.Fatalf("%s did not connect", c.Name)
	}
	// Every 1.1 client holds its personal channel: that subscription is
	// what makes it online.
	r.subscribe(tok.PersonalChannel)
	return r
}

// subscribe subscribes to channel and waits until it is subscribed.
func (r *rtClient) subscribe(channel string) {
	r.h.t.Helper()
	var tok struct {
		Token string `json:"token"`
	}
	r.h.must(http.StatusOK, "POST", "/api/v1/realtime/subscription-token", r.who.token, map[string]string{"channel": channel}, &tok)
	sub, err := r.client.NewSubscription(channel, centrifuge.SubscriptionConfig{Token: tok.Token, Recoverable: true, Positioned: true})
	if err != nil {
		r.h.t.Fatal(err)
	}
	subscribed := make(chan struct{})
	var once sync.Once
	sub.OnSubscribed(func(centrifuge.SubscribedEvent) { once.Do(func() { close(subscribed) }) })
	sub.OnPublication(func(e centrifuge.PublicationEvent) {
		var v map[string]any
		if err := json.Unmarshal(e.Data, &v); err != nil {
			r.h.t.Errorf("publication %s: %v", e.Data, err)
			return
		}
		r.mu.Lock()
		r.pubs[channel] = append(r.pubs[channel], v)
		r.mu.Unlock()
	})
	if err := sub.Subscribe(); err != nil {
		r.h.t.Fatal(err)
	}
	select {
	case <-subscribed:
	case <-time.After(10 * time.Second):
		r.h.t.Fatalf("%s did not subscribe to %s", r.who.Name, channel)
	}
}

// received is what channel delivered so far that keep accepts, in order.
func (r *rtClient) received(channel string, keep func(map[string]any) bool) []map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []map[string]any
	for _, p := range r.pubs[channel] {
		if keep(p) {
			out = append(out, p)
		}
	}
	return out
}

// waitFor waits until channel delivered n publications keep accepts and
// returns them.
func (r *rtClient) waitFor(channel string, n int, keep func(map[string]any) bool) []map[string]any {
	r.h.t.Helper()
	eventually(r.h.t, fmt.Sprintf("%d publications on %s for %s", n, channel, r.who.Name), func() bool {
		return len(r.received(channel, keep)) >= n
	})
	return r.received(channel, keep)
}

// ofType keeps the publications of the given types.
func ofType(types ...string) func(map[string]any) bool {
	return func(p map[string]any) bool {
		for _, t := range types {
			if p["type"] == t {
				return true
			}
		}
		return false
	}
}

// aboutUser keeps presence.updated of one user, and markers.
func aboutUser(id int64) func(map[string]any) bool {
	return func(p map[string]any) bool {
		return p["type"] == "marker" || (p["type"] == "presence.updated" && p["user_id"] == float64(id))
	}
}

// marker publishes {"type":"marker","n":n} on channel through the server
// API: what a subscriber receives before it was published before it.
func (h *realtimeHarness) marker(channel string, n int) {
	h.t.Helper()
	if _, err := h.api.Publish(context.Background(), channel, fmt.Appendf(nil, `{"type":"marker","n":%d}`, n), gocent.WithSkipHistory(true)); err != nil {
		h.t.Fatal(err)
	}
}

func types(pubs []map[string]any) []string {
	out := make([]string, len(pubs))
	for i, p := range pubs {
		out[i] = fmt.Sprint(p["type"])
	}
	return out
}

// Typing (API.md 1.1): a member who may send publishes `typing` on the chat
// channel, at most once every 3 s (further calls 204, nothing published),
// never into the log or the channel's history; the rule and errors of
// sending otherwise.
//
// On one Redis and on Redis Cluster (its SET NX PX key per chat and user).
func TestTyping(t *testing.T) {
	for _, backend := range testkit.RedisBackends {
		t.Run(backend, func(t *testing.T) { testTyping(t, backend) })
	}
}

func testTyping(t *testing.T, backend string) {
	h := newHarness(t, onRedis(backend)).withRealtime()
	alice, bob, carol, muted := h.register("alice"), h.register("bob"), h.register("carol"), h.register("muted")
	d := h.direct(alice, bob)
	g := h.group(alice, "team", bob, muted)
	h.must(http.StatusOK, "PATCH", chatPath(g.ID, fmt.Sprintf("/members/%d", muted.ID)), alice.token, map[string]string{"role": "muted"}, nil)
	events := h.logCount()

	b := h.connect(bob)
	b.subscribe(d.Channel)
	// bob's own presence.updated goes to the chat too: only typing notices
	// and markers count here.
	typing := ofType("typing", "marker")
	first := time.Now()
	h.must(http.StatusNoContent, "POST", chatPath(d.ID, "/typing"), alice.token, nil, nil)
	got := b.waitFor(d.Channel, 1, typing)
	want := map[string]any{"type": "typing", "chat_id": float64(d.ID),
		"user": map[string]any{"id": float64(alice.ID), "name": "alice", "avatar_url": nil}}
	if fmt.Sprint(got[0]) != fmt.Sprint(want) {
		t.Fatalf("typing publication %v, want %v", got[0], want)
	}
	// Again at once: 204 and nothing. bob's own notice (another user: not
	// throttled) is published after it, so a second notice of alice's
	// would arrive before bob's.
	h.must(http.StatusNoContent, "POST", chatPath(d.ID, "/typing"), alice.token, nil, nil)
	h.must(http.StatusNoContent, "POST", chatPath(d.ID, "/typing"), alice.token, nil, nil)
	if time.Since(first) >= presence.TypingInterval {
		t.Fatalf("the repeated calls took %v, beyond the 3 s window: they prove nothing", time.Since(first))
	}
	h.must(http.StatusNoContent, "POST", chatPath(d.ID, "/typing"), bob.token, nil, nil)
	got = b.waitFor(d.Channel, 2, typing)
	if len(got) != 2 || got[1]["user"].(map[string]any)["id"] != float64(bob.ID) {
		t.Fatalf("after alice's repeated calls and bob's: %v", got)
	}
	// Past the window alice's next call publishes again.
	eventually(t, "the throttle to lapse", func() bool {
		h.must(http.StatusNoContent, "POST", chatPath(d.ID, "/typing"), alice.token, nil, nil)
		return len(b.received(d.Channel, typing)) >= 3
	})
	if got := b.received(d.Channel, typing); len(got) != 3 || got[2]["user"].(map[string]any)["id"] != float64(alice.ID) {
		t.Fatalf("after the window: %v", got)
	}

	// Ephemeral: not in the channel's history, not in the log.
	hist, err := h.api.History(context.Background(), d.Channel, gocent.WithLimit(100))
	if err != nil {
		t.Fatal(err)
	}
	if len(hist.Publications) != 0 {
		t.Fatalf("typing kept in the channel's history: %d publications", len(hist.Publications))
	}
	if n := h.logCount(); n != events {
		t.Fatalf("typing appended %d events to the log", n-events)
	}

	// Who may type: who may send.
	h.fails(http.StatusNotFound, "not_found", "POST", chatPath(d.ID, "/typing"), carol.token, nil)
	h.fails(http.StatusNotFound, "not_found", "POST", chatPath(999999, "/typing"), alice.token, nil)
	h.fails(http.StatusNotFound, "not_found", "POST", "/api/v1/chats/x/typing", alice.token, nil)
	h.fails(http.StatusUnauthorized, "unauthenticated", "POST", chatPath(d.ID, "/typing"), "", nil)
	h.fails(http.StatusForbidden, "forbidden", "POST", chatPath(g.ID, "/typing"), muted.token, nil)
	h.must(http.StatusNoContent, "POST", chatPath(g.ID, "/typing"), bob.token, nil, nil)
	h.must(http.StatusNoContent, "PUT", fmt.Sprintf("/api/v1/me/blocks/%d", alice.ID), bob.token, nil, nil)
	for _, c := range []client{alice, bob} {
		h.fails(http.StatusForbidden, "forbidden", "POST", chatPath(d.ID, "/typing"), c.token, nil)
	}
	// None of the refused calls published anything: a marker is next.
	h.marker(d.Channel, 1)
	if got := b.waitFor(d.Channel, 4, typing); len(got) != 4 || types(got)[3] != "marker" {
		t.Fatalf("refused calls published: %v", types(got))
	}
}

// Without Centrifugo's API the gateway cannot publish: typing is 503.
func TestTypingWithoutCentrifugo(t *testing.T) {
	h := newHarness(t)
	alice, bob := h.register("alice"), h.register("bob")
	d := h.direct(alice, bob)
	h.fails(http.StatusServiceUnavailable, "unavailable", "POST", chatPath(d.ID, "/typing"), alice.token, nil)
}

type presenceJSON struct {
	Type       string  `json:"type"`
	UserID     int64   `json:"user_id"`
	Online     bool    `json:"online"`
	LastSeenAt *string `json:"last_seen_at"`
}

func asPresence(t *testing.T, p map[string]any) presenceJSON {
	t.Helper()
	b, _ := json.Marshal(p)
	var out presenceJSON
	if err := json.Unmarshal(b, &out); err != nil || out.Type != "presence.updated" {
		t.Fatalf("not a presence.updated: %s", b)
	}
	return out
}

// Presence (API.md 1.1): a user with a realtime connection is online; when
// the last one closes they are offline with last_seen_at set; the partner
// of each direct chat is told live on the chat's channel; last_seen:
// nobody and blocks hide it all.
//
// On one Redis and on Redis Cluster (the sweeper's lease and online set).
func TestPresence(t *testing.T) {
	for _, backend := range testkit.RedisBackends {
		t.Run(backend, func(t *testing.T) { testPresence(t, backend) })
	}
}

func testPresence(t *testing.T, backend string) {
	h := newHarness(t, onRedis(backend)).withRealtime()
	alice, bob, carol, erin := h.register("alice"), h.register("bob"), h.register("carol"), h.register("erin")
	dAB, dAC, dEB := h.direct(alice, bob), h.direct(carol, alice), h.direct(erin, bob)
	h.must(http.StatusNoContent, "PUT", fmt.Sprintf("/api/v1/me/blocks/%d", carol.ID), alice.token, nil, nil)
	h.must(http.StatusOK, "PATCH", "/api/v1/me/privacy", erin.token, map[string]string{"last_seen": "nobody"}, nil)
	profile := func(viewer client, of client) profileJSON {
		var p profileJSON
		h.must(http.StatusOK, "GET", fmt.Sprintf("/api/v1/users/%d", of.ID), viewer.token, nil, &p)
		return p
	}
	if p := profile(bob, alice); p.Online || p.LastSeenAt != nil {
		t.Fatalf("alice before she ever connected: %+v", p)
	}

	b := h.connect(bob)
	b.subscribe(dAB.Channel)
	b.subscribe(dEB.Channel)
	c := h.connect(carol)
	c.subscribe(dAC.Channel)

	// erin shows nobody her presence: she sees herself online, bob does not.
	e := h.connect(erin)
	eventually(t, "erin online, to herself", func() bool { return profile(erin, erin).Online })
	if p := profile(bob, erin); p.Online || p.LastSeenAt != nil {
		t.Fatalf("bob sees erin's hidden presence: %+v", p)
	}

	// alice connects: bob sees it live and in her profile; carol, whom she
	// blocks, does not.
	a := h.connect(alice)
	eventually(t, "alice online", func() bool { return profile(bob, alice).Online })
	up := asPresence(t, b.waitFor(dAB.Channel, 1, aboutUser(alice.ID))[0])
	if up.UserID != alice.ID || !up.Online || up.LastSeenAt != nil {
		t.Fatalf("alice coming online: %+v", up)
	}
	if p := profile(carol, alice); p.Online || p.LastSeenAt != nil {
		t.Fatalf("carol, blocked, sees %+v", p)
	}

	// alice's last connection closes: offline, last seen then, for bob live.
	a.client.Close()
	eventually(t, "alice offline", func() bool { return !profile(bob, alice).Online })
	p := profile(bob, alice)
	if p.LastSeenAt == nil || !timeFormat.MatchString(*p.LastSeenAt) {
		t.Fatalf("alice after she left: %+v", p)
	}
	got := b.waitFor(dAB.Channel, 2, aboutUser(alice.ID))
	down := asPresence(t, got[1])
	if len(got) != 2 || down.UserID != alice.ID || down.Online || down.LastSeenAt == nil || *down.LastSeenAt != *p.LastSeenAt {
		t.Fatalf("alice going offline: %+v (profile says %v)", got, *p.LastSeenAt)
	}
	if p := profile(carol, alice); p.Online || p.LastSeenAt != nil {
		t.Fatalf("carol, blocked, sees %+v", p)
	}
	if p := profile(alice, alice); p.LastSeenAt == nil {
		t.Fatalf("alice's own profile hides her last seen: %+v", p)
	}

	// Every sweep that could have published about erin (to bob's dEB) or
	// about alice to carol (dAC) finished before the one bob just heard
	// from: a marker published now arrives after anything they sent.
	h.marker(dEB.Channel, 1)
	h.marker(dAC.Channel, 2)
	if got := b.waitFor(dEB.Channel, 1, aboutUser(erin.ID)); len(got) != 1 || got[0]["type"] != "marker" {
		t.Fatalf("erin's hidden presence reached bob: %v", got)
	}
	if got := c.waitFor(dAC.Channel, 1, aboutUser(alice.ID)); len(got) != 1 || got[0]["type"] != "marker" {
		t.Fatalf("alice's presence reached carol, whom she blocks: %v", got)
	}
	_ = e

	// Changing who may see it is live too: alice, online again, hides her
	// last seen (bob is told what the profile tells him: offline, never
	// seen), shows it again, then blocks bob.
	h.connect(alice)
	got = b.waitFor(dAB.Channel, 3, aboutUser(alice.ID))
	if up := asPresence(t, got[2]); !up.Online || up.LastSeenAt == nil || *up.LastSeenAt != *p.LastSeenAt {
		t.Fatalf("alice back online: %+v (last seen %s)", up, *p.LastSeenAt)
	}
	for i, step := range []struct {
		method, path string
		body         any
		online       bool
	}{
		{"PATCH", "/api/v1/me/privacy", map[string]string{"last_seen": "nobody"}, false},
		{"PATCH", "/api/v1/me/privacy", map[string]string{"last_seen": "everyone"}, true},
		{"PUT", fmt.Sprintf("/api/v1/me/blocks/%d", bob.ID), nil, false},
	} {
		r := h.do(step.method, step.path, alice.token, step.body)
		if r.status != http.StatusOK && r.status != http.StatusNoContent {
			t.Fatalf("%s %s: %d %s", step.method, step.path, r.status, r.body)
		}
		got := b.waitFor(dAB.Channel, 4+i, aboutUser(alice.ID))
		up := asPresence(t, got[3+i])
		if up.Online != step.online || (up.LastSeenAt != nil) != step.online {
			t.Fatalf("after %s %s bob is told %+v", step.method, step.path, up)
		}
		if pr := profile(bob, alice); pr.Online != step.online {
			t.Fatalf("after %s %s bob's view of alice's profile: %+v", step.method, step.path, pr)
		}
	}
}
