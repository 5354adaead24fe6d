package relay_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/centrifugal/gocent/v3"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/logchat/ingest/bus"
	"github.com/logchat/notifier/relay"
	"github.com/logchat/shared/apijson"
	"github.com/logchat/shared/domain"
	"github.com/logchat/shared/event"
	"github.com/logchat/testkit"
)

// logFixture is the real log (in-process NATS), a group-commit publisher, and
// the real consumer runtime running a relay, as cmd/notifier wires them.
type logFixture struct {
	js   jetstream.JetStream
	topo bus.Topology
	pub  *bus.Publisher
	h    *countingHandler
}

// countingHandler is the relay with its failures counted; Ping is the relay's,
// so the runtime still tells an outage from poison.
type countingHandler struct {
	*relay.Relay
	failures atomic.Int64
}

func (h *countingHandler) Handle(ctx context.Context, evs []event.Event) error {
	err := h.Relay.Handle(ctx, evs)
	if err != nil {
		h.failures.Add(1)
	}
	return err
}

func startLog(t *testing.T, c *testkit.Centrifugo) *logFixture {
	t.Helper()
	n := testkit.StartNATS(t)
	_, js := n.Connect(t)
	topo := bus.DefaultTopology()
	topo.Partitions = 4
	topo.AckWait = 2 * time.Second
	topo.PinnedTTL = 2 * time.Second
	ctx, cancel := context.WithCancel(context.Background())
	if err := bus.ProvisionStreams(ctx, js, topo); err != nil {
		t.Fatal(err)
	}
	pub := bus.NewPublisher(js, bus.DefaultPublisherConfig(), nil)
	go pub.Run(ctx)

	h := &countingHandler{Relay: newRelay(c)}
	cfg := bus.DefaultRunnerConfig("notifier", 50)
	cfg.BackoffMin = 20 * time.Millisecond
	cfg.BackoffMax = 200 * time.Millisecond
	runner := &bus.Runner{JS: js, Topology: topo, Config: cfg, Handler: h, Log: quiet}
	done := make(chan error, 1)
	go func() { done <- runner.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("runner: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("runner did not stop")
		}
	})
	return &logFixture{js: js, topo: topo, pub: pub, h: h}
}

func (f *logFixture) append(t *testing.T, typ event.Type, chat int64, data any) uint64 {
	t.Helper()
	env, err := event.New(typ, chat, alice.ID, time.Now(), data)
	if err != nil {
		t.Fatal(err)
	}
	ack, err := f.pub.Publish(context.Background(), env, "")
	if err != nil {
		t.Fatalf("append %s: %v", typ, err)
	}
	return ack.Seq
}

// sendMessages appends n messages to a chat, one after another, and returns their ids.
func (f *logFixture) sendMessages(t *testing.T, chat int64, n int, prefix string) []int64 {
	ids := make([]int64, n)
	for i := range n {
		ids[i] = int64(f.append(t, event.MessageCreated, chat, event.MessageCreatedData{Author: alice, Text: fmt.Sprintf("%s%d", prefix, i), ClientID: fmt.Sprintf("%s%d", prefix, i)}))
	}
	return ids
}

func (f *logFixture) deadLetters(t *testing.T) uint64 {
	s, err := f.js.Stream(context.Background(), f.topo.DLQStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// From the log to a subscriber: each chat's messages arrive exactly once, in
// id order, with the ids the log assigned; chats and reads reach personal channels.
func TestRunnerRelaysTheLog(t *testing.T) {
	c := testkit.StartCentrifugo(t)
	f := startLog(t, c)
	s := connect(t, c, alice.ID)
	s.subscribe(domain.PersonalChannel(alice.ID))
	chats := []int64{1, 2, 3}
	for _, chat := range chats {
		s.subscribe(domain.ChatChannel(chat))
	}
	for _, chat := range chats {
		f.append(t, event.ChatCreated, chat, event.ChatCreatedData{Chat: domain.Chat{ID: chat, Kind: domain.KindGroup,
			Title: fmt.Sprint("room ", chat), CreatedAt: time.Now(),
			Members: []domain.Member{{User: alice, Role: domain.RoleAdmin}, {User: bob, Role: domain.RoleMember}}}})
	}

	// Three chats written concurrently, so batches mix chats and partitions.
	const perChat = 200
	sent := make(map[int64][]int64)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, chat := range chats {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids := f.sendMessages(t, chat, perChat, fmt.Sprintf("c%d-", chat))
			mu.Lock()
			sent[chat] = ids
			mu.Unlock()
		}()
	}
	wg.Wait()
	readSeq := f.append(t, event.ReadMoved, 1, event.ReadMovedData{UserID: alice.ID, MessageID: sent[1][perChat-1]})
	_ = readSeq

	for _, chat := range chats {
		ch := domain.ChatChannel(chat)
		// The read of chat 1 comes last on its channel: once it is here,
		// every message is, and a duplicate would be too.
		want := perChat
		if chat == 1 {
			want++
		}
		raws := s.waitCount(ch, want)
		if chat == 1 {
			if r := decode[apijson.ReadUpdated](t, raws[perChat]); r.Type != apijson.TypeReadUpdated || r.MessageID != sent[1][perChat-1] {
				t.Fatalf("last on chat:1 = %s, want the read", raws[perChat])
			}
			raws = raws[:perChat]
		}
		if got := messageIDs(t, raws); !reflect.DeepEqual(got, sent[chat]) {
			t.Fatalf("%s received ids %v,\nthe log assigned %v", ch, got, sent[chat])
		}
	}

	// Personal channel: three chat.added (chats are in different partitions,
	// so in any order between them), then the read, after chat 1's chat.added.
	raws := s.waitCount(domain.PersonalChannel(alice.ID), 4)
	var added []int64
	for i, raw := range raws {
		var p struct{ Type string }
		_ = json.Unmarshal(raw, &p)
		switch p.Type {
		case apijson.TypeChatAdded:
			a := decode[apijson.ChatAdded](t, raw)
			if a.Chat.Title != fmt.Sprint("room ", a.Chat.ID) || a.Chat.MembersCount != 2 || a.Chat.Channel != domain.ChatChannel(a.Chat.ID) {
				t.Fatalf("chat.added %s", raw)
			}
			added = append(added, a.Chat.ID)
		case apijson.TypeReadUpdated:
			if len(added) == 0 || !contains(added, 1) {
				t.Fatalf("read.updated of chat 1 at position %d came before its chat.added: %s", i, raws)
			}
		default:
			t.Fatalf("unexpected %s", raw)
		}
	}
	sort.Slice(added, func(i, j int) bool { return added[i] < added[j] })
	if !reflect.DeepEqual(added, chats) {
		t.Fatalf("chat.added for %v, want %v", added, chats)
	}
	if n := f.deadLetters(t); n != 0 {
		t.Fatalf("%d events dead-lettered", n)
	}
}

func contains(xs []int64, x int64) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// Centrifugo dies mid-stream: the runtime retries (Ping fails, so nothing is
// dead-lettered), and once Centrifugo is back what was written meanwhile and
// afterwards is published, in order, once.
func TestCentrifugoOutageIsRetried(t *testing.T) {
	c := testkit.StartCentrifugo(t)
	f := startLog(t, c)
	s := connect(t, c, alice.ID)
	ch := domain.ChatChannel(1)
	s.subscribe(ch)

	before := f.sendMessages(t, 1, 50, "before-")
	if got := messageIDs(t, s.waitCount(ch, 50)); !reflect.DeepEqual(got, before) {
		t.Fatalf("before the outage: got %v, want %v", got, before)
	}

	c.Stop()
	during := f.sendMessages(t, 1, 50, "during-")
	waitFor(t, "the relay to fail and retry", func() bool { return f.h.failures.Load() >= 3 })
	if err := f.h.Ping(context.Background()); err == nil {
		t.Fatal("ping succeeds while Centrifugo is down")
	}

	c.Start(t)
	waitFor(t, "the subscriber to resubscribe", func() bool { return s.timesSubscribed(ch) >= 2 })
	after := f.sendMessages(t, 1, 50, "after-")

	// The live subscriber gets everything written after it came back; what
	// was relayed before it resubscribed is in the channel's history.
	waitFor(t, "the last message live", func() bool {
		ids := messageIDs(t, s.received(ch))
		return len(ids) > 0 && ids[len(ids)-1] == after[len(after)-1]
	})
	live := messageIDs(t, s.received(ch))[len(before):]
	checkStrictlyIncreasing(t, "live after the outage", live)
	if len(live) < len(after) || !reflect.DeepEqual(live[len(live)-len(after):], after) {
		t.Fatalf("live after the outage %v, want it to end with %v", live, after)
	}

	// The new Centrifugo's history holds exactly what was written during and
	// after the outage, in order: nothing lost, nothing twice.
	api := gocent.New(gocent.Config{Addr: c.URL + "/api", Key: c.APIKey})
	hist, err := api.History(context.Background(), ch, gocent.WithLimit(1000))
	if err != nil {
		t.Fatal(err)
	}
	raws := make([]json.RawMessage, len(hist.Publications))
	for i, p := range hist.Publications {
		raws[i] = p.Data
	}
	want := append(append([]int64(nil), during...), after...)
	if got := messageIDs(t, raws); !reflect.DeepEqual(got, want) {
		t.Fatalf("history after the outage:\n got %v\nwant %v", got, want)
	}
	if n := f.deadLetters(t); n != 0 {
		t.Fatalf("%d events dead-lettered during an outage", n)
	}
}
