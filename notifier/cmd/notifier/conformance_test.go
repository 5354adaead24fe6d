package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/centrifugal/gocent/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/logchat/ingest/bus"
	"github.com/logchat/ingest/worker"
	"github.com/logchat/storage/redisconn"
	"github.com/logchat/storage/updates"
	"github.com/logchat/testkit"
	"github.com/logchat/testkit/workertest"
)

// The notifier passes the worker contract's conformance suite: its
// projection is the publications Centrifugo holds in each channel's history.
func TestConformance(t *testing.T) {
	workertest.Run(t, workertest.Worker{Name: "notifier", Open: openNotifier})
}

type notifierProjection struct {
	s        settings
	api      *gocent.Client
	rdb      *redis.Client
	channels []string
}

// openNotifier starts a Centrifugo of the test's own (its history is the
// projection, so it must start empty), and gives the update streams a Redis
// prefix of their own and a database holding what the gateway writes (where
// members of chats the streams never saw are loaded from).
func openNotifier(t *testing.T, sc *workertest.Scenario) workertest.Projection {
	c := testkit.StartCentrifugo(t)
	rdb, prefix := testkit.Redis(t)
	s := settings{APIURL: c.URL + "/api", APIKey: c.APIKey,
		Redis: redisconn.Config{Addr: testkit.RedisAddr()}, RedisPrefix: prefix, MySQLDSN: workertest.SeededMySQL(t, sc)}
	return &notifierProjection{s: s, channels: sc.Channels(), rdb: rdb,
		api: gocent.New(gocent.Config{Addr: s.APIURL, Key: s.APIKey})}
}

// Handler opens the notifier as its main does.
func (p *notifierProjection) Handler(t *testing.T) bus.Handler {
	o, err := open(t.Context(), p.s, worker.Deps{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(o.Close)
	return o.Handler
}

// Snapshot is what a client learns from each channel, by the client
// contract (docs/API.md, "Realtime"), which decides which duplicates are
// harmless. The notifier cannot avoid every one: a batch redelivered to a
// new process (a crash, a replay) is published again, because Centrifugo
// took it but the ack was not stored. Clients drop a message.created whose
// id they have, apply read.updated only forward, and upsert chat.added and
// drop chat.removed by chat id, so a publication repeated later changes
// nothing for them — except a chat.added repeated after the chat.removed
// that followed it, which would bring the chat back.
//
// So, per channel and chat (order is promised per chat only: chats are in
// different partitions), the snapshot holds the distinct publications in the
// order of their first arrival: nothing lost, nothing reordered, nothing
// unknown. And per personal channel, the chats a client holds after applying
// the whole history: a duplicate that undoes a removal shows there.
//
// Personal publications carry a cursor. A publication sent again (same
// cursor) is a duplicate clients drop, so distinctness includes it; but the
// numbers depend on how the partitions interleaved and the stream id is
// random, so the value compared leaves it out. Each user's update stream in
// Redis belongs to the projection too (streamSnapshot).
func (p *notifierProjection) Snapshot(t *testing.T) map[string]string {
	out := p.streamSnapshot(t)
	for _, ch := range p.channels {
		hist, err := p.api.History(context.Background(), ch, gocent.WithLimit(1000))
		if err != nil {
			t.Fatalf("history of %s: %v", ch, err)
		}
		firsts := map[int64][]string{}
		seen := map[string]bool{}
		holds := map[int64]bool{}
		personal := false
		for _, pub := range hist.Publications {
			var head struct {
				Type    string `json:"type"`
				ChatID  int64  `json:"chat_id"`
				Message struct {
					ChatID int64 `json:"chat_id"`
				} `json:"message"`
				Chat struct {
					ID int64 `json:"id"`
				} `json:"chat"`
			}
			if err := json.Unmarshal(pub.Data, &head); err != nil {
				t.Fatalf("publication on %s: %s: %v", ch, pub.Data, err)
			}
			chat := max(head.ChatID, head.Message.ChatID, head.Chat.ID)
			switch head.Type {
			case "chat.added":
				holds[chat], personal = true, true
			case "chat.removed":
				delete(holds, chat)
				personal = true
			}
			if !seen[string(pub.Data)] {
				seen[string(pub.Data)] = true
				firsts[chat] = append(firsts[chat], withoutCursor(t, pub.Data))
			}
		}
		for chat, pubs := range firsts {
			out[fmt.Sprintf("%s chat %d", ch, chat)] = strings.Join(pubs, "\n")
		}
		if personal {
			var ids []string
			for chat := range holds {
				ids = append(ids, fmt.Sprint(chat))
			}
			sort.Strings(ids)
			out[ch+" holds"] = strings.Join(ids, " ")
		}
	}
	return out
}

// withoutCursor is a publication with its cursor left out.
func withoutCursor(t *testing.T, data []byte) string {
	var v map[string]json.RawMessage
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("publication %s: %v", data, err)
	}
	delete(v, "cursor")
	out, _ := json.Marshal(v)
	return string(out)
}

// streamSnapshot is every user's update stream as GET /updates returns it
// from the start: per user and chat, the updates in order without their
// cursors; and per user whether the numbers run 1..n without a gap.
func (p *notifierProjection) streamSnapshot(t *testing.T) map[string]string {
	ctx := t.Context()
	store := updates.New(p.rdb, p.s.RedisPrefix, 0, 0)
	out := map[string]string{}
	for _, ch := range p.channels {
		uidText, ok := strings.CutPrefix(ch, "user:")
		if !ok {
			continue
		}
		uid, err := strconv.ParseInt(uidText, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		cur, err := store.Current(ctx, uid)
		if err != nil {
			t.Fatal(err)
		}
		start := updates.Cursor{Stream: cur.Stream}
		perChat := map[int64][]string{}
		n := int64(0)
		for {
			page, err := store.After(ctx, uid, start, 1000)
			if err != nil {
				t.Fatalf("updates of user %d: %v", uid, err)
			}
			for _, raw := range page.Updates {
				n++
				var head struct {
					Cursor  string `json:"cursor"`
					ChatID  int64  `json:"chat_id"`
					Message struct {
						ChatID int64 `json:"chat_id"`
					} `json:"message"`
					Chat struct {
						ID int64 `json:"id"`
					} `json:"chat"`
				}
				if err := json.Unmarshal(raw, &head); err != nil {
					t.Fatal(err)
				}
				if want := (updates.Cursor{N: n, Stream: cur.Stream}).String(); head.Cursor != want {
					t.Fatalf("user %d: update %d has cursor %s, want %s", uid, n, head.Cursor, want)
				}
				chat := max(head.ChatID, head.Message.ChatID, head.Chat.ID)
				perChat[chat] = append(perChat[chat], withoutCursor(t, raw))
			}
			start = page.Cursor
			if !page.HasMore {
				break
			}
		}
		for chat, ups := range perChat {
			out[fmt.Sprintf("stream %d chat %d", uid, chat)] = strings.Join(ups, "\n")
		}
	}
	return out
}
