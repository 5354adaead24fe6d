package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/logchat/gateway/internal/chatlog"
	"github.com/logchat/gateway/internal/outbox"
	"github.com/logchat/ingest/bus"
	"github.com/logchat/shared/domain"
	"github.com/logchat/shared/event"
	"github.com/logchat/storage/sqlstore"
	"github.com/logchat/testkit"
)

// world is a migrated MySQL database and a NATS server with the stream.
type world struct {
	st     *sqlstore.Store
	nats   *testkit.NATS
	js     jetstream.JetStream
	stream jetstream.Stream
	users  []domain.User
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := t.Context()
	n := testkit.StartNATS(t)
	_, js := n.Connect(t)
	topo := bus.DefaultTopology()
	topo.Partitions = 2
	if err := bus.ProvisionStreams(ctx, js, topo); err != nil {
		t.Fatal(err)
	}
	stream, err := js.Stream(ctx, topo.Stream)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlstore.Open(ctx, testkit.MySQL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	w := &world{st: st, nats: n, js: js, stream: stream}
	for i := range 4 {
		u, err := st.CreateUser(ctx, fmt.Sprintf("u%d", i), []byte("h"), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		w.users = append(w.users, u)
	}
	return w
}

// relay starts a relay (a gateway instance's) until the test ends.
func (w *world) relay(t *testing.T, sweep time.Duration) *outbox.Relay {
	r := outbox.New(w.st, chatlog.New(nil, w.js, w.stream, time.Second), nil, outbox.Config{Sweep: sweep}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return r
}

// createGroup makes a group of users[0] as the gateway does: the chat and
// its staged event in one transaction.
func (w *world) createGroup(ctx context.Context, title string) (domain.Chat, error) {
	at := time.Now()
	admin := w.users[0]
	return w.st.CreateGroupChat(ctx, title, admin.ID, []domain.Member{{User: admin, Role: domain.RoleAdmin}}, at,
		outbox.Stage(event.ChatCreated, admin.ID, at, func(c domain.Chat) any { return event.ChatCreatedData{Chat: c} }))
}

func (w *world) addMember(ctx context.Context, chatID int64, u domain.User) error {
	at := time.Now()
	m := domain.Member{User: u, Role: domain.RoleMember}
	_, _, err := w.st.AddMember(ctx, chatID, u, m.Role, at, outbox.Stage(event.MemberAdded, w.users[0].ID, at,
		func(c domain.Chat) any { return event.MemberAddedData{Member: m, Chat: c} }))
	return err
}

func (w *world) group(t *testing.T, title string) domain.Chat {
	t.Helper()
	chat, err := w.createGroup(t.Context(), title)
	if err != nil {
		t.Fatal(err)
	}
	return chat
}

func (w *world) add(t *testing.T, chatID int64, u domain.User) {
	t.Helper()
	if err := w.addMember(t.Context(), chatID, u); err != nil {
		t.Fatal(err)
	}
}

// events lists the log's events by chat, in log order.
func (w *world) events(t *testing.T) map[int64][]event.Event {
	t.Helper()
	ctx := t.Context()
	info, err := w.stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int64][]event.Event{}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := w.stream.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		env, err := event.Decode(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		out[env.ChatID] = append(out[env.ChatID], event.Event{Seq: seq, Envelope: env})
	}
	return out
}

func (w *world) pending(t *testing.T) bool {
	t.Helper()
	p, err := w.st.OutboxPending(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Flush returns once what was committed before it is in the log: no sweep
// is waited for (the sweep here is an hour).
func TestFlushPublishesWhatWasCommitted(t *testing.T) {
	w := newWorld(t)
	r := w.relay(t, time.Hour)
	chat := w.group(t, "g")
	w.add(t, chat.ID, w.users[1])
	if err := r.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	evs := w.events(t)[chat.ID]
	if len(evs) != 2 || evs[0].Type != event.ChatCreated || evs[1].Type != event.MemberAdded {
		t.Fatalf("events of chat %d: %+v, want chat.created then member.added", chat.ID, evs)
	}
	if w.pending(t) {
		t.Fatal("published events are still staged")
	}
}

// A relay that published a row and died before deleting it leaves the row;
// publishing it again is dropped by the stream: the event is there once.
func TestRepublishedRowIsDeduplicated(t *testing.T) {
	w := newWorld(t)
	chat := w.group(t, "g")
	// The dead relay's publish, without the delete.
	crashed := errors.New("crashed before the delete")
	if _, err := w.st.DrainOutbox(t.Context(), time.Second, func(ctx context.Context, row sqlstore.OutboxRow) error {
		if err := chatlog.New(nil, w.js, w.stream, 0).AppendStaged(ctx, row.Subject, row.Payload, row.MsgID); err != nil {
			return err
		}
		return crashed
	}); !errors.Is(err, crashed) {
		t.Fatalf("drain: %v", err)
	}
	if !w.pending(t) || len(w.events(t)[chat.ID]) != 1 {
		t.Fatal("setup: want the event in the log and its row still staged")
	}
	r := w.relay(t, time.Hour)
	if err := r.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if w.pending(t) {
		t.Fatal("row still staged after the relay's pass")
	}
	if evs := w.events(t)[chat.ID]; len(evs) != 1 {
		t.Fatalf("chat.created %d times in the log, want once", len(evs))
	}
}

// While the log is down, changes still commit and their events wait; when it
// is back, the sweep publishes them, each once, in order.
func TestEventsWaitForTheLog(t *testing.T) {
	w := newWorld(t)
	r := w.relay(t, 50*time.Millisecond)
	w.nats.Shutdown()
	chat := w.group(t, "g")
	w.add(t, chat.ID, w.users[1])
	w.add(t, chat.ID, w.users[2])
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	if err := r.Flush(ctx); err == nil {
		t.Fatal("flush succeeded with the log down")
	}
	if !w.pending(t) {
		t.Fatal("nothing staged")
	}
	w.nats.Restart(t)
	eventually(t, "the staged events published", func() bool { return !w.pending(t) })
	evs := w.events(t)[chat.ID]
	if len(evs) != 3 || evs[0].Type != event.ChatCreated || evs[1].Type != event.MemberAdded || evs[2].Type != event.MemberAdded {
		t.Fatalf("events %+v, want chat.created and two member.added", evs)
	}
	for i, want := range map[int]int{1: 2, 2: 3} {
		d, err := event.Payload[event.MemberAddedData](evs[i].Envelope)
		if err != nil || len(d.Chat.Members) != want {
			t.Fatalf("member.added %d carries %d members (%v), want %d (commit order)", i, len(d.Chat.Members), err, want)
		}
	}
}

// Gateway instances share the outbox: with three relays and concurrent
// changes, every event is in the log once, and each chat's in commit order.
func TestRelaysOfSeveralInstances(t *testing.T) {
	w := newWorld(t)
	relays := []*outbox.Relay{w.relay(t, time.Hour), w.relay(t, time.Hour), w.relay(t, time.Hour)}
	const chats = 6
	var wg sync.WaitGroup
	ids := make([]int64, chats)
	errs := make([]error, chats)
	for i := range chats {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := relays[i%len(relays)]
			chat, err := w.createGroup(t.Context(), fmt.Sprint("g", i))
			if err != nil {
				errs[i] = err
				return
			}
			ids[i] = chat.ID
			_ = r.Flush(t.Context()) // the change is made; a failed flush only delays its event
			for _, u := range w.users[1:] {
				if errs[i] = w.addMember(t.Context(), chat.ID, u); errs[i] != nil {
					return
				}
				_ = r.Flush(t.Context())
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	for _, r := range relays {
		if err := r.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	all := w.events(t)
	for _, id := range ids {
		evs := all[id]
		if len(evs) != len(w.users) {
			t.Fatalf("chat %d: %d events, want %d", id, len(evs), len(w.users))
		}
		if evs[0].Type != event.ChatCreated {
			t.Fatalf("chat %d: first event %s", id, evs[0].Type)
		}
		for i, ev := range evs[1:] {
			d, err := event.Payload[event.MemberAddedData](ev.Envelope)
			if err != nil || len(d.Chat.Members) != i+2 {
				t.Fatalf("chat %d, event %d: %d members (%v), want %d", id, i+1, len(d.Chat.Members), err, i+2)
			}
		}
	}
}

// The staged event carries the chat's version after the change, which the
// persister needs to replay chats and members (sqlstore/chatreplay.go).
func TestStagedEventCarriesTheChatVersion(t *testing.T) {
	at := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	chat := domain.Chat{ID: 7, Kind: domain.KindGroup, Title: "t", CreatedAt: at, Version: 3}
	ev, err := outbox.Stage(event.ChatUpdated, 1, at, func(c domain.Chat) any { return event.ChatUpdatedData{Chat: c} })(t.Context(), chat)
	if err != nil {
		t.Fatal(err)
	}
	env, err := event.Decode(ev.Payload)
	if err != nil {
		t.Fatal(err)
	}
	if env.ChatVersion != 3 || env.Type != event.ChatUpdated || env.ChatID != 7 {
		t.Fatalf("staged %+v, want chat.updated of chat 7 at version 3", env)
	}
}
