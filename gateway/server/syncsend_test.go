package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"testing"

	"github.com/centrifugal/gocent/v3"

	"github.com/logchat/gateway/server"
	"github.com/logchat/gateway/syncsend"
	"github.com/logchat/ingest/bus"
	"github.com/logchat/notifier/relay"
	"github.com/logchat/testkit"
)

// In the synchronous mode (the benchmark's baseline) a send is in MySQL, in
// the Redis chat list and on the chat's Centrifugo channel by the time it is
// answered, without any worker running, and the log gets nothing.
func TestSyncModeSendIsEverywhereWhenAnswered(t *testing.T) {
	h := newHarness(t)
	cent := testkit.StartCentrifugo(t)
	rl := relay.New(relay.Config{APIURL: cent.URL + "/api", APIKey: cent.APIKey}, slog.New(slog.DiscardHandler), nil)
	t.Cleanup(rl.Close)
	s := h.variant(func(c *server.Config) {
		c.Log = syncsend.New(h.store, bus.HandlerFunc(h.cache.ApplyEvents), rl)
	})
	ann, bob := s.register("ann"), s.register("bob")
	// Chats are created through the outbox, which publishes to the log.
	chat := s.direct(ann, bob)
	before := h.logCount()
	centrifugo := gocent.New(gocent.Config{Addr: cent.URL + "/api", Key: cent.APIKey})

	var last messageJSON
	for i := range 3 {
		m := s.send(ann, chat.ID, fmt.Sprintf("hello %d", i), fmt.Sprintf("c%d", i))
		if m.ID <= last.ID {
			t.Fatalf("id %d after %d: ids must increase within a chat", m.ID, last.ID)
		}
		last = m

		// No polling: each read happens right after the 202.
		var hist historyJSON
		s.must(http.StatusOK, "GET", chatPath(chat.ID, "/messages?limit=1"), bob.token, nil, &hist)
		if len(hist.Messages) != 1 || hist.Messages[0].ID != m.ID || hist.Messages[0].Text != m.Text {
			t.Fatalf("history right after send %d: %+v", m.ID, hist.Messages)
		}
		var list listJSON
		s.must(http.StatusOK, "GET", "/api/v1/chats", bob.token, nil, &list)
		if len(list.Chats) != 1 || list.Chats[0].LastMessage == nil || list.Chats[0].LastMessage.ID != m.ID ||
			list.Chats[0].UnreadCount != i+1 {
			t.Fatalf("bob's chat list right after send %d: %+v", m.ID, list.Chats)
		}
		res, err := centrifugo.History(context.Background(), chat.Channel, gocent.WithLimit(1), gocent.WithReverse(true))
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Publications) != 1 {
			t.Fatalf("channel %s right after send %d: %d publications", chat.Channel, m.ID, len(res.Publications))
		}
		var pub struct {
			Type    string      `json:"type"`
			Message messageJSON `json:"message"`
		}
		if err := json.Unmarshal(res.Publications[0].Data, &pub); err != nil || pub.Type != "message.created" || pub.Message.ID != m.ID {
			t.Fatalf("newest publication on %s: %s (%v), want message %d", chat.Channel, res.Publications[0].Data, err, m.ID)
		}
	}

	// A retry answers the original, and changes nothing.
	again := s.send(ann, chat.ID, "hello 2", "c2")
	if again.ID != last.ID {
		t.Fatalf("retried send got id %d, want the original %d", again.ID, last.ID)
	}
	var hist historyJSON
	s.must(http.StatusOK, "GET", chatPath(chat.ID, "/messages"), ann.token, nil, &hist)
	if len(hist.Messages) != 3 {
		t.Fatalf("history after a retry holds %d messages, want 3", len(hist.Messages))
	}
	// Reads move synchronously too.
	s.must(http.StatusNoContent, "POST", chatPath(chat.ID, "/read"), bob.token, map[string]any{"message_id": last.ID}, nil)
	var list listJSON
	s.must(http.StatusOK, "GET", "/api/v1/chats", bob.token, nil, &list)
	if list.Chats[0].UnreadCount != 0 {
		t.Fatalf("unread after marking read: %d", list.Chats[0].UnreadCount)
	}
	if n := h.logCount(); n != before {
		t.Fatalf("the log got %d events in sync mode, want none", n-before)
	}
}
