package relay_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/centrifugal/centrifuge-go"
	"github.com/golang-jwt/jwt/v5"

	"github.com/logchat/notifier/relay"
	"github.com/logchat/testkit"
)

// Helpers shared by the tests: a real Centrifugo client (centrifuge-go) that
// authenticates like the gateway will make clients do, with HS256 tokens.

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func newRelay(c *testkit.Centrifugo) *relay.Relay {
	return relay.New(relay.Config{APIURL: c.URL + "/api", APIKey: c.APIKey}, quiet, nil)
}

func sign(t testing.TB, secret string, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func connToken(t testing.TB, c *testkit.Centrifugo, user int64) string {
	return sign(t, c.HMACSecret, jwt.MapClaims{"sub": strconv.FormatInt(user, 10), "exp": time.Now().Add(time.Hour).Unix()})
}

func subToken(t testing.TB, c *testkit.Centrifugo, user int64, channel string) string {
	return sign(t, c.HMACSecret, jwt.MapClaims{"sub": strconv.FormatInt(user, 10), "channel": channel, "exp": time.Now().Add(time.Hour).Unix()})
}

// subscriber is one connected user recording what it receives.
type subscriber struct {
	t      testing.TB
	c      *testkit.Centrifugo
	user   int64
	client *centrifuge.Client

	mu           sync.Mutex
	pubs         map[string][]json.RawMessage // channel -> data, in arrival order
	subscribed   map[string]int               // channel -> times subscribed
	unsubscribed map[string]centrifuge.UnsubscribedEvent
	errs         map[string][]error             // channel -> subscription errors
	disconnects  []centrifuge.DisconnectedEvent // terminal disconnects (the server refused the connection)
	connects     int
}

func connect(t testing.TB, c *testkit.Centrifugo, user int64) *subscriber {
	t.Helper()
	s := &subscriber{t: t, c: c, user: user, pubs: map[string][]json.RawMessage{},
		subscribed: map[string]int{}, unsubscribed: map[string]centrifuge.UnsubscribedEvent{}, errs: map[string][]error{}}
	s.client = centrifuge.NewJsonClient(c.WSURL, centrifuge.Config{
		Token:             connToken(t, c, user),
		MinReconnectDelay: 50 * time.Millisecond,
		MaxReconnectDelay: 300 * time.Millisecond,
	})
	connected := make(chan struct{}, 1)
	s.client.OnDisconnected(func(e centrifuge.DisconnectedEvent) {
		s.mu.Lock()
		s.disconnects = append(s.disconnects, e)
		s.mu.Unlock()
	})
	s.client.OnConnected(func(centrifuge.ConnectedEvent) {
		s.mu.Lock()
		s.connects++
		s.mu.Unlock()
		select {
		case connected <- struct{}{}:
		default:
		}
	})
	if err := s.client.Connect(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.client.Close)
	select {
	case <-connected:
	case <-time.After(10 * time.Second):
		t.Fatalf("user %d did not connect within 10s", user)
	}
	return s
}

// subscribe subscribes with the given token ("" for none) and does not wait.
func (s *subscriber) subscribeAsync(channel, token string) *centrifuge.Subscription {
	s.t.Helper()
	sub, err := s.client.NewSubscription(channel, centrifuge.SubscriptionConfig{
		Token:               token,
		Recoverable:         true,
		Positioned:          true,
		MinResubscribeDelay: 50 * time.Millisecond,
		MaxResubscribeDelay: 300 * time.Millisecond,
	})
	if err != nil {
		s.t.Fatal(err)
	}
	sub.OnPublication(func(e centrifuge.PublicationEvent) {
		s.mu.Lock()
		s.pubs[channel] = append(s.pubs[channel], json.RawMessage(e.Data))
		s.mu.Unlock()
	})
	sub.OnSubscribed(func(centrifuge.SubscribedEvent) {
		s.mu.Lock()
		s.subscribed[channel]++
		s.mu.Unlock()
	})
	sub.OnError(func(e centrifuge.SubscriptionErrorEvent) {
		s.mu.Lock()
		s.errs[channel] = append(s.errs[channel], e.Error)
		s.mu.Unlock()
	})
	sub.OnUnsubscribed(func(e centrifuge.UnsubscribedEvent) {
		s.mu.Lock()
		s.unsubscribed[channel] = e
		s.mu.Unlock()
	})
	if err := sub.Subscribe(); err != nil {
		s.t.Fatal(err)
	}
	return sub
}

// subscribe subscribes with a valid token and waits until it is subscribed.
func (s *subscriber) subscribe(channel string) {
	s.t.Helper()
	s.subscribeAsync(channel, subToken(s.t, s.c, s.user, channel))
	waitFor(s.t, fmt.Sprintf("user %d subscribed to %s", s.user, channel), func() bool { return s.timesSubscribed(channel) >= 1 })
}

func (s *subscriber) timesSubscribed(channel string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.subscribed[channel]
}

func (s *subscriber) received(channel string) []json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]json.RawMessage(nil), s.pubs[channel]...)
}

// waitCount waits until at least n publications arrived on channel and returns them all.
func (s *subscriber) waitCount(channel string, n int) []json.RawMessage {
	s.t.Helper()
	waitFor(s.t, fmt.Sprintf("%d publications on %s for user %d", n, channel, s.user), func() bool { return len(s.received(channel)) >= n })
	return s.received(channel)
}

// waitFor polls cond until it holds, failing the test after a deadline.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// decode unmarshals a publication, failing the test on bad JSON.
func decode[T any](t testing.TB, raw json.RawMessage) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("publication %s: %v", raw, err)
	}
	return v
}

// messageIDs extracts message ids from message.created publications.
func messageIDs(t testing.TB, raws []json.RawMessage) []int64 {
	t.Helper()
	ids := make([]int64, 0, len(raws))
	for _, r := range raws {
		p := decode[struct {
			Type    string `json:"type"`
			Message struct {
				ID int64 `json:"id"`
			} `json:"message"`
		}](t, r)
		if p.Type != "message.created" {
			t.Fatalf("want message.created, got %s", r)
		}
		ids = append(ids, p.Message.ID)
	}
	return ids
}

// checkStrictlyIncreasing fails when ids are out of order or repeated.
func checkStrictlyIncreasing(t testing.TB, what string, ids []int64) {
	t.Helper()
	for i := 1; i < len(ids); i++ {
		if ids[i] <= ids[i-1] {
			t.Fatalf("%s: id %d follows %d at position %d (out of order or duplicate): %v", what, ids[i], ids[i-1], i, ids)
		}
	}
}
