package server_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/logchat/gateway/internal/chatlog"
	"github.com/logchat/gateway/server"
	"github.com/logchat/ingest/bus"
	"github.com/logchat/storage/sqlstore"
	"github.com/logchat/testkit"
)

// A dependency that does not answer is 503 unavailable, safe to retry.
func TestDependenciesDown(t *testing.T) {
	h := newHarness(t)
	alice, bob := h.register("alice"), h.register("bob")
	chat := h.direct(alice, bob)

	t.Run("mysql", func(t *testing.T) {
		dead, err := sqlstore.Open(context.Background(), fmt.Sprintf("root@tcp(127.0.0.1:%d)/x?timeout=500ms", testkit.FreePort(t)))
		if err != nil {
			t.Fatal(err)
		}
		v := h.variant(func(c *server.Config) { c.Store = dead })
		before := h.logCount()
		v.fails(http.StatusServiceUnavailable, "unavailable", "POST", "/api/v1/auth/login", "", map[string]string{"name": "alice", "password": "password-alice"})
		v.fails(http.StatusServiceUnavailable, "unavailable", "GET", "/api/v1/me", alice.token, nil)
		v.fails(http.StatusServiceUnavailable, "unavailable", "GET", chatPath(chat.ID, "/messages"), alice.token, nil)
		// A chat whose members the cache does not know: nobody can vouch for
		// the sender, so 503 and nothing appended.
		v.fails(http.StatusServiceUnavailable, "unavailable", "POST", chatPath(chat.ID, "/messages"), alice.token, map[string]any{"text": "hi", "client_id": "down-1"})
		if h.logCount() != before {
			t.Fatal("the log changed")
		}
	})

	t.Run("mysql, chat members cached", func(t *testing.T) {
		carol := h.register("carol")
		h.startProjections()
		cached := h.direct(alice, bob)
		eventually(t, "chat cached", func() bool {
			_, known, _ := h.cache.MemberOf(context.Background(), cached.ID, alice.ID)
			return known
		})
		dead, err := sqlstore.Open(context.Background(), fmt.Sprintf("root@tcp(127.0.0.1:%d)/x?timeout=500ms", testkit.FreePort(t)))
		if err != nil {
			t.Fatal(err)
		}
		v := h.variant(func(c *server.Config) { c.Store = dead })
		// The log is the buffer: a member's send is accepted through the outage.
		before := h.logCount()
		m := v.send(alice, cached.ID, "sent while MySQL is down", "down-2")
		if m.ID == 0 || h.logCount() != before+1 {
			t.Fatalf("send during the outage: %+v, log %d → %d", m, before, h.logCount())
		}
		// A non-member is still refused, from the cached members.
		v.fails(http.StatusNotFound, "not_found", "POST", chatPath(cached.ID, "/messages"), carol.token, map[string]any{"text": "hi", "client_id": "down-3"})
	})

	t.Run("nats", func(t *testing.T) {
		// A publisher that gives up quickly, so that the test does not wait 5 s.
		cfg := bus.DefaultPublisherConfig()
		cfg.Timeout = 300 * time.Millisecond
		pub := bus.NewPublisher(h.js, cfg, nil)
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = pub.Run(ctx) }()
		defer func() { stop(); <-done }()
		v := h.variant(func(c *server.Config) { c.Log = chatlog.New(pub, h.js, h.stream, cfg.Timeout) })

		h.nats.Shutdown()
		v.fails(http.StatusServiceUnavailable, "unavailable", "POST", chatPath(chat.ID, "/messages"), alice.token, map[string]any{"text": "hi", "client_id": "nats-1"})
		var ready struct {
			Failing []string `json:"failing"`
		}
		v.must(http.StatusServiceUnavailable, "GET", "/readyz", "", nil, &ready)
		if strings.Join(ready.Failing, ",") != "nats" {
			t.Fatalf("failing %v", ready.Failing)
		}

		h.nats.Restart(t)
		eventually(t, "ready again", func() bool { return v.do("GET", "/readyz", "", nil).status == http.StatusOK })
		// The client's retry with the same client_id: accepted once, whether or
		// not the failed attempt reached the log.
		var out struct {
			Message messageJSON `json:"message"`
		}
		v.must(http.StatusAccepted, "POST", chatPath(chat.ID, "/messages"), alice.token, map[string]any{"text": "hi", "client_id": "nats-1"}, &out)
		again := v.send(alice, chat.ID, "hi", "nats-1")
		if again.ID != out.Message.ID {
			t.Fatalf("retry got %d, first %d", again.ID, out.Message.ID)
		}
	})
}
