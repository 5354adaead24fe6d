package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/logchat/ingest/bus"
	"github.com/logchat/ingest/worker"
	"github.com/logchat/shared/config"
	"github.com/logchat/shared/domain"
	"github.com/logchat/shared/event"
	"github.com/logchat/storage/chatcache"
	"github.com/logchat/storage/sqlstore"
	"github.com/logchat/testkit"
	"github.com/logchat/testkit/workertest"
)

// stack is the worker's world: the log, MySQL written as the gateway and
// the persister write it, and the worker's Redis prefix.
type stack struct {
	t      *testing.T
	js     jetstream.JetStream // the gateway's user
	pub    *bus.Publisher
	st     *sqlstore.Store
	rdb    redis.UniversalClient
	prefix string
	health string
}

func newStack(t *testing.T) *stack {
	t.Helper()
	n := testkit.StartNATS(t)
	_, admin := n.Connect(t)
	if err := bus.ProvisionStreams(t.Context(), admin, bus.DefaultTopology()); err != nil {
		t.Fatal(err)
	}
	// Each side logs in as in production: the gateway appends, the worker
	// (NATS_PASSWORD below) consumes with its own user.
	_, js := n.ConnectAs(t, "gateway")
	pub := bus.NewPublisher(js, bus.DefaultPublisherConfig(), nil)
	pctx, stop := context.WithCancel(context.Background())
	t.Cleanup(stop)
	go pub.Run(pctx)

	st, dsn := workertest.MigratedMySQL(t)
	rdb, prefix := testkit.RedisUnderTest(t)
	s := &stack{t: t, js: js, pub: pub, st: st, rdb: rdb, prefix: prefix,
		health: fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t))}
	t.Setenv("NATS_URL", n.URL)
	t.Setenv("NATS_PASSWORD", n.Password("cachewarm"))
	t.Setenv("REDIS_ADDR", "")
	for _, kv := range testkit.RedisUnderTestEnv(t) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	t.Setenv("REDIS_PREFIX", prefix)
	t.Setenv("MYSQL_DSN", dsn)
	t.Setenv("HEALTH_ADDR", s.health)
	t.Setenv("WORKER_BACKOFF_MAX", "200ms")
	return s
}

// startWorker runs the real worker (worker.Run with this command's spec)
// until the test ends, and checks that it stops cleanly.
func (s *stack) startWorker() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	log := slog.New(slog.NewTextHandler(testWriter{s.t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	go func() { done <- worker.Run(ctx, log, spec()) }()
	s.t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				s.t.Errorf("worker stopped with %v", err)
			}
		case <-time.After(20 * time.Second):
			s.t.Error("worker did not stop within 20s of cancellation")
		}
	})
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func (s *stack) user(name string) domain.User {
	u, err := s.st.CreateUser(s.t.Context(), name, []byte("hash"), time.Now())
	if err != nil {
		s.t.Fatal(err)
	}
	return u
}

// publishChat appends a new chat's event, as the gateway's outbox relay does
// after the chat is committed.
func (s *stack) publishChat(chat domain.Chat, err error) domain.Chat {
	s.t.Helper()
	if err != nil {
		s.t.Fatal(err)
	}
	env, err := event.New(event.ChatCreated, chat.ID, chat.Members[0].User.ID, chat.CreatedAt, event.ChatCreatedData{Chat: chat})
	if err == nil {
		_, err = s.pub.Publish(context.Background(), env, "")
	}
	if err != nil {
		s.t.Fatal(err)
	}
	return chat
}

// send appends a message as the gateway does, and writes it to MySQL as the
// persister would.
func (s *stack) send(chatID int64, author domain.User, text string) int64 {
	s.t.Helper()
	clientID := testkit.RandomID()
	env, err := event.New(event.MessageCreated, chatID, author.ID, time.Now(),
		event.MessageCreatedData{Author: author, Text: text, ClientID: clientID})
	if err != nil {
		s.t.Fatal(err)
	}
	ack, err := s.pub.Publish(s.t.Context(), env, fmt.Sprintf("m:%d:%d:%s", chatID, author.ID, clientID))
	if err != nil {
		s.t.Fatal(err)
	}
	m := domain.Message{ID: int64(ack.Seq), ChatID: chatID, Author: author, Text: text, SentAt: env.At, ClientID: clientID}
	if err := s.st.ApplyBatch(s.t.Context(), sqlstore.Batch{Progress: sqlstore.Progress{0: ack.Seq}, Messages: []domain.Message{m}}); err != nil {
		s.t.Fatal(err)
	}
	return m.ID
}

func (s *stack) read(chatID int64, u domain.User, msgID int64) {
	s.t.Helper()
	env, _ := event.New(event.ReadMoved, chatID, u.ID, time.Now(), event.ReadMovedData{UserID: u.ID, MessageID: msgID})
	ack, err := s.pub.Publish(s.t.Context(), env, "")
	if err != nil {
		s.t.Fatal(err)
	}
	if err := s.st.ApplyBatch(s.t.Context(), sqlstore.Batch{Progress: sqlstore.Progress{0: ack.Seq},
		Reads: []sqlstore.ReadMove{{ChatID: chatID, UserID: u.ID, MessageID: msgID}}}); err != nil {
		s.t.Fatal(err)
	}
}

// eventually polls cond until it holds, failing the test after the deadline.
func eventually(t *testing.T, within time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; last state: %s", what, within, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// countingLoader counts the chat-list rebuilds a reader makes.
type countingLoader struct {
	chatcache.Loader
	rebuilds atomic.Int64
}

func (l *countingLoader) AllUserChats(ctx context.Context, userID int64) ([]sqlstore.ChatRow, error) {
	l.rebuilds.Add(1)
	return l.Loader.AllUserChats(ctx, userID)
}

func js(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// fromMySQL is each user's chat list computed from MySQL alone (a cache of
// its own, empty, so that every list is rebuilt from the store).
func (s *stack) fromMySQL(users ...domain.User) map[int64]string {
	rdb, prefix := testkit.RedisUnderTest(s.t)
	c := chatcache.New(rdb, prefix, s.st)
	out := map[int64]string{}
	for _, u := range users {
		page, _, err := c.ChatList(s.t.Context(), u.ID, "", 200)
		if err != nil {
			s.t.Fatal(err)
		}
		out[u.ID] = js(page)
	}
	return out
}

func TestWorkerProjectsTheLogAndRecoversFromAFlush(t *testing.T) {
	s := newStack(t)
	ctx := t.Context()
	alice, bob, carol := s.user("alice"), s.user("bob"), s.user("carol")
	users := []domain.User{alice, bob, carol}
	loader := &countingLoader{Loader: s.st}
	reader := chatcache.New(s.rdb, s.prefix, loader)
	// Lists made complete (empty) before any chat exists: from here on only
	// the worker's events can fill them.
	for _, u := range users {
		if _, _, err := reader.ChatList(ctx, u.ID, "", 10); err != nil {
			t.Fatal(err)
		}
	}
	s.startWorker()

	group := s.publishChat(s.st.CreateGroupChat(ctx, "team", alice.ID, []domain.Member{
		{User: alice, Role: domain.RoleAdmin}, {User: bob, Role: domain.RoleMember}, {User: carol, Role: domain.RoleMember}}, time.Now(), nil))
	direct, _, err := s.st.CreateDirectChat(ctx, alice, bob, time.Now(), nil)
	s.publishChat(direct, err)
	var sent []int64
	for i := range 5 {
		sent = append(sent, s.send(group.ID, alice, fmt.Sprintf("hello %d", i)))
	}
	s.read(group.ID, carol, sent[2])
	lastDirect := s.send(direct.ID, bob, "hi alice")

	eventually(t, 10*time.Second, "bob's list from the worker", func() (bool, string) {
		page, _, err := reader.ChatList(ctx, bob.ID, "", 10)
		if err != nil || len(page) != 2 {
			return false, fmt.Sprintf("%s %v", js(page), err)
		}
		d, g := page[0], page[1]
		ok := d.ID == direct.ID && d.Title == "alice" && d.LastMessage != nil && d.LastMessage.ID == lastDirect && d.UnreadCount == 0 &&
			g.ID == group.ID && g.LastMessage != nil && g.LastMessage.ID == sent[4] && g.UnreadCount == 5 && g.MembersCount == 3
		return ok, js(page)
	})
	eventually(t, 10*time.Second, "carol's read position", func() (bool, string) {
		sum, err := reader.Summary(ctx, carol.ID, group.ID)
		return err == nil && sum.ReadMessageID == sent[2] && sum.UnreadCount == 2, fmt.Sprintf("%+v %v", sum, err)
	})
	if n := loader.rebuilds.Load(); n != int64(len(users)) {
		t.Fatalf("%d rebuilds from MySQL; the worker alone should have filled the lists", n)
	}
	want := s.fromMySQL(users...)
	for _, u := range users {
		page, _, _ := reader.ChatList(ctx, u.ID, "", 200)
		if js(page) != want[u.ID] {
			t.Fatalf("%s's list:\n cache %s\n MySQL %s", u.Name, js(page), want[u.ID])
		}
	}

	// Redis loses everything. The next messages make the worker load the
	// chats' members from MySQL: the lists are written before anyone reads.
	if err := testkit.DeleteRedisPrefix(ctx, s.rdb, s.prefix); err != nil {
		t.Fatal(err)
	}
	after := s.send(group.ID, bob, "after the flush")
	afterDirect := s.send(direct.ID, alice, "me too")
	eventually(t, 10*time.Second, "the worker's writes after the flush", func() (bool, string) {
		lid, _ := s.rdb.HGet(ctx, fmt.Sprintf("%s{c:%d}", s.prefix, group.ID), "lid").Result()
		score, err := s.rdb.ZScore(ctx, fmt.Sprintf("%s{u:%d}:chats", s.prefix, carol.ID), fmt.Sprintf("%019d", group.ID)).Result()
		dlid, _ := s.rdb.HGet(ctx, fmt.Sprintf("%s{c:%d}", s.prefix, direct.ID), "lid").Result()
		return lid == fmt.Sprint(after) && dlid == fmt.Sprint(afterDirect) && err == nil && score > 0,
			fmt.Sprintf("group lid %q, direct lid %q, carol's entry %v %v", lid, dlid, score, err)
	})
	want = s.fromMySQL(users...)
	for _, u := range users {
		page, _, err := reader.ChatList(ctx, u.ID, "", 200)
		if err != nil || js(page) != want[u.ID] {
			t.Fatalf("%s's list after the flush (%v):\n cache %s\n MySQL %s", u.Name, err, js(page), want[u.ID])
		}
	}

	resp, err := http.Get("http://" + s.health + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("readyz %d: %s", resp.StatusCode, body)
	}
}

func TestReadSettingsChecksEveryValueBeforeAnythingIsOpened(t *testing.T) {
	t.Setenv("REDIS_ADDR", "localhost")
	t.Setenv("CACHE_RECENT_MESSAGES", "0")
	t.Setenv("MYSQL_DSN", "root:secret@tcp(127.0.0.1:3306)/")
	env := config.New()
	readSettings(env)
	err := env.Err()
	for _, name := range []string{"REDIS_ADDR", "CACHE_RECENT_MESSAGES", "MYSQL_DSN"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("error %v does not name %s", err, name)
		}
	}
	if strings.Contains(fmt.Sprint(err), "secret") {
		t.Errorf("the error shows the DSN's password: %v", err)
	}
}

func TestHandlerMapsBadEventsAndProbesBothStores(t *testing.T) {
	rdb, prefix := testkit.RedisUnderTest(t)
	h := &handler{cache: chatcache.New(rdb, prefix, nil), mysql: pingFunc(func(context.Context) error { return nil })}
	env := event.Envelope{V: 1, Type: event.ReadMoved, ChatID: 1, Data: json.RawMessage(`[]`)}
	err := h.Handle(t.Context(), []event.Event{{Seq: 7, Envelope: env}})
	// Permanent, the event named in words only: the runtime isolates it.
	var perm *bus.PermanentError
	if !errors.As(err, &perm) || perm.Seq != 0 || !strings.Contains(err.Error(), "event 7 ") {
		t.Fatalf("undecodable payload: %v, want a permanent error about event 7", err)
	}
	if err := h.Ping(t.Context()); err != nil {
		t.Fatalf("ping: %v", err)
	}
	down := errors.New("mysql down")
	h.mysql = pingFunc(func(context.Context) error { return down })
	if err := h.Ping(t.Context()); !errors.Is(err, down) {
		t.Fatalf("ping with MySQL down: %v", err)
	}
	dead := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t)), MaxRetries: -1})
	defer dead.Close()
	h = &handler{cache: chatcache.New(dead, prefix, nil), mysql: pingFunc(func(context.Context) error { return nil })}
	if err := h.Ping(t.Context()); err == nil {
		t.Fatal("ping with Redis down succeeded")
	}
}

type pingFunc func(context.Context) error

func (f pingFunc) Ping(ctx context.Context) error { return f(ctx) }
