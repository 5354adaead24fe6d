package access_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/logchat/ingest/access"
	"github.com/logchat/ingest/bus"
	"github.com/logchat/shared/domain"
	"github.com/logchat/shared/event"
	"github.com/logchat/testkit"
)

// Every test here runs against a real nats-server configured from
// access.ServerConfig (testkit.StartNATS), the rendering that deployments use.

// client is a connection that keeps the server's asynchronous errors: a
// refused publish or subscription is reported that way, not as the result of
// the call (a refused request just gets no answer).
type client struct {
	nc   *nats.Conn
	js   jetstream.JetStream
	mu   sync.Mutex
	errs []string
}

func connect(t *testing.T, n *testkit.NATS, user string) *client {
	t.Helper()
	c := &client{}
	c.nc, c.js = n.ConnectAs(t, user, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		c.mu.Lock()
		c.errs = append(c.errs, err.Error())
		c.mu.Unlock()
	}))
	return c
}

// refused waits until the server has reported a permissions violation for
// the subject (verb "Publish to" or "Subscription to").
func (c *client) refused(t *testing.T, verb, subject string) {
	t.Helper()
	want := strings.ToLower(fmt.Sprintf("permissions violation for %s %q", verb, subject))
	deadline := time.Now().Add(5 * time.Second)
	for {
		_ = c.nc.Flush()
		c.mu.Lock()
		errs := append([]string(nil), c.errs...)
		c.mu.Unlock()
		for _, e := range errs {
			if strings.Contains(strings.ToLower(e), want) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no permissions violation for %s %q; server errors: %q", verb, subject, errs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// noViolations fails if the server refused anything on this connection.
func (c *client) noViolations(t *testing.T) {
	t.Helper()
	_ = c.nc.Flush()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.errs) > 0 {
		t.Fatalf("the server refused something the role needs: %q", c.errs)
	}
}

// short is a deadline for requests expected to go unanswered.
func short(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	t.Cleanup(cancel)
	return ctx
}

func setup(t *testing.T) (*testkit.NATS, bus.Topology, *client) {
	t.Helper()
	n := testkit.StartNATS(t)
	topo := bus.DefaultTopology()
	topo.Partitions = 2
	admin := connect(t, n, access.Admin)
	if err := bus.ProvisionStreams(context.Background(), admin.js, topo); err != nil {
		t.Fatalf("the admin provisions: %v", err)
	}
	return n, topo, admin
}

func message(t *testing.T, chatID int64, text string) event.Envelope {
	t.Helper()
	env, err := event.New(event.MessageCreated, chatID, 1, time.Now(), event.MessageCreatedData{
		Author: domain.User{ID: 1, Name: "alice"}, Text: text, ClientID: text,
	})
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func TestAnonymousAndWrongCredentialsAreRefused(t *testing.T) {
	n := testkit.StartNATS(t)
	for name, opts := range map[string][]nats.Option{
		"anonymous":             nil,
		"wrong password":        {nats.UserInfo(access.Gateway, "not-the-password-0123456789")},
		"another user's secret": {nats.UserInfo(access.Gateway, n.Password("persister"))},
		"unknown user":          {nats.UserInfo("intruder", n.Password(access.Admin))},
	} {
		t.Run(name, func(t *testing.T) {
			nc, err := nats.Connect(n.URL, opts...)
			if err == nil {
				nc.Close()
				t.Fatal("connected")
			}
			if !errors.Is(err, nats.ErrAuthorization) {
				t.Fatalf("err = %v, want an authorization violation", err)
			}
		})
	}
}

func TestGatewayAppendsAndReadsBackButCannotConsumeOrDestroy(t *testing.T) {
	n, topo, admin := setup(t)
	gw := connect(t, n, access.Gateway)
	ctx := context.Background()

	// What the gateway does at start and for readiness.
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := bus.ProvisionRetrying(wctx, gw.js, topo, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatalf("the gateway finds the provisioned streams: %v", err)
	}
	if err := bus.PingNATS(gw.js)(ctx); err != nil {
		t.Fatalf("readiness: %v", err)
	}
	members, err := gw.nc.SubscribeSync(bus.PublishSubjectPattern(event.KindMember))
	if err != nil {
		t.Fatal(err)
	}

	// Group commit: concurrent sends become atomic batches (and one by one
	// below PUBLISH_SMALL_BATCH), each acknowledged on the gateway's inbox.
	cfg := bus.DefaultPublisherConfig()
	cfg.Window = 20 * time.Millisecond
	pub := bus.NewPublisher(gw.js, cfg, nil)
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	go pub.Run(pctx)
	const sends = 40
	seqs := make([]uint64, sends)
	var wg sync.WaitGroup
	for i := range sends {
		wg.Go(func() {
			ack, err := pub.Publish(ctx, message(t, int64(1+i%3), fmt.Sprintf("m%d", i)), fmt.Sprintf("m%d", i))
			if err != nil {
				t.Errorf("send %d: %v", i, err)
			}
			seqs[i] = ack.Seq
		})
	}
	wg.Wait()
	member, _ := event.New(event.MemberRemoved, 2, 1, time.Now(), event.MemberRemovedData{UserID: 7})
	if _, err := pub.Publish(ctx, member, ""); err != nil {
		t.Fatalf("member event: %v", err)
	}
	if _, err := members.NextMsg(5 * time.Second); err != nil {
		t.Fatalf("the member event's append was not seen by the gateway's subscription: %v", err)
	}

	stream, err := gw.js.Stream(ctx, topo.Stream)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.GetMsg(ctx, seqs[0]); err != nil {
		t.Fatalf("read back by sequence: %v", err)
	}
	if _, err := stream.GetLastMsgForSubject(ctx, bus.StoredSubjectPattern(1, event.KindMessage)); err != nil {
		t.Fatalf("a chat's newest message: %v", err)
	}
	gw.noViolations(t)

	t.Run("cannot create a worker's consumer", func(t *testing.T) {
		if _, err := gw.js.CreateOrUpdateConsumer(short(t), topo.Stream, topo.ConsumerConfig("persister", 0, 10)); err == nil {
			t.Fatal("created")
		}
		gw.refused(t, "Publish to", "$JS.API.CONSUMER.CREATE.CHAT.persister_p00.ev.0.>")
	})
	t.Run("cannot delete the stream", func(t *testing.T) {
		if err := gw.js.DeleteStream(short(t), topo.Stream); err == nil {
			t.Fatal("deleted")
		}
		gw.refused(t, "Publish to", "$JS.API.STREAM.DELETE.CHAT")
	})
	t.Run("cannot purge the stream", func(t *testing.T) {
		if err := stream.Purge(short(t)); err == nil {
			t.Fatal("purged")
		}
		gw.refused(t, "Publish to", "$JS.API.STREAM.PURGE.CHAT")
	})
	t.Run("cannot create a stream", func(t *testing.T) {
		if _, err := gw.js.CreateStream(short(t), jetstream.StreamConfig{Name: "SPY", Subjects: []string{"chat.>"}}); err == nil {
			t.Fatal("created")
		}
		gw.refused(t, "Publish to", "$JS.API.STREAM.CREATE.SPY")
	})
	t.Run("cannot read the dead letters", func(t *testing.T) {
		if _, err := gw.nc.Request("$JS.API.DIRECT.GET."+topo.DLQStream, []byte(`{"seq":1}`), time.Second); err == nil {
			t.Fatal("answered")
		}
		gw.refused(t, "Publish to", "$JS.API.DIRECT.GET.CHAT_DLQ")
	})
	t.Run("cannot append other kinds or dead letters", func(t *testing.T) {
		for _, subj := range []string{"chat.1.bogus", "chat.1.msg.extra", "dlq.persister"} {
			if err := gw.nc.Publish(subj, []byte("x")); err != nil {
				t.Fatal(err)
			}
			gw.refused(t, "Publish to", subj)
		}
	})
	t.Run("cannot listen to every append or another service's replies", func(t *testing.T) {
		for _, subj := range []string{"chat.>", "ev.>", "_INBOX.persister.>", "_INBOX.>"} {
			if _, err := gw.nc.SubscribeSync(subj); err != nil {
				t.Fatal(err)
			}
			gw.refused(t, "Subscription to", subj)
		}
	})

	// Nothing the refused calls asked for happened.
	info, err := admin.js.Stream(ctx, topo.Stream)
	if err != nil {
		t.Fatalf("the stream is gone: %v", err)
	}
	if got := info.CachedInfo().State.Msgs; got != sends+1 {
		t.Fatalf("stream holds %d events, want %d", got, sends+1)
	}
	if _, err := admin.js.Consumer(ctx, topo.Stream, bus.ConsumerName("persister", 0)); !errors.Is(err, jetstream.ErrConsumerNotFound) {
		t.Fatalf("the gateway's consumer exists: %v", err)
	}
}

// recorder is a handler that remembers what it applied and dead-letters one
// event.
type recorder struct {
	mu     sync.Mutex
	seen   map[uint64]bool
	poison string
}

func (r *recorder) Handle(_ context.Context, events []event.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range events {
		if e.Type == event.MessageCreated && strings.Contains(string(e.Data), r.poison) {
			if !r.seen[e.Seq] {
				r.seen[e.Seq] = true
				return bus.PermanentAt(e.Seq, errors.New("poison"))
			}
			continue
		}
		r.seen[e.Seq] = true
	}
	return nil
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen)
}

func TestWorkerRunsItsOwnConsumersOnly(t *testing.T) {
	n, topo, admin := setup(t)
	ctx := context.Background()
	gw := connect(t, n, access.Gateway)
	const events = 30
	for i := range events {
		// Chats 1..6 spread over both partitions.
		env := message(t, int64(1+i%6), fmt.Sprintf("e%d", i))
		if i == 7 {
			env = message(t, int64(1+i%6), "poison-e7")
		}
		b, _ := env.Encode()
		if _, err := gw.js.Publish(ctx, bus.PublishSubject(env.ChatID, event.KindMessage), b); err != nil {
			t.Fatal(err)
		}
	}

	// The whole consumer runtime as the persister: it creates and updates its
	// consumers, pulls with the priority group, resets a consumer when it is
	// pinned, acks, notes its pin in the bucket and dead-letters.
	p := connect(t, n, "persister")
	h := &recorder{seen: map[uint64]bool{}, poison: "poison-e7"}
	rc := bus.DefaultRunnerConfig("persister", 10)
	runner := &bus.Runner{JS: p.js, Topology: topo, Config: rc, Handler: h,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Instance: "test"}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- runner.Run(rctx) }()
	t.Cleanup(func() {
		stop()
		<-done
	})

	eventually(t, "every event applied, acked and the poison dead-lettered", func() (bool, string) {
		if h.count() != events {
			return false, fmt.Sprintf("applied %d of %d", h.count(), events)
		}
		for part := range topo.Partitions {
			c, err := admin.js.Consumer(ctx, topo.Stream, bus.ConsumerName("persister", part))
			if err != nil {
				return false, err.Error()
			}
			info := c.CachedInfo()
			if info.NumPending != 0 || info.NumAckPending != 0 {
				return false, fmt.Sprintf("partition %d: pending %d, ack pending %d", part, info.NumPending, info.NumAckPending)
			}
		}
		dlq, err := admin.js.Stream(ctx, topo.DLQStream)
		if err != nil {
			return false, err.Error()
		}
		if n := dlq.CachedInfo().State.Msgs; n != 1 {
			return false, fmt.Sprintf("%d dead letters", n)
		}
		kv, err := admin.js.KeyValue(ctx, bus.PinsBucket)
		if err != nil {
			return false, err.Error()
		}
		if _, err := kv.Get(ctx, bus.PinKey("persister", 0)); err != nil {
			return false, "pin not noted: " + err.Error()
		}
		return true, ""
	})
	p.noViolations(t)

	w := connect(t, n, "persister")
	stream, err := w.js.Stream(ctx, topo.Stream)
	if err != nil {
		t.Fatalf("stream info: %v", err)
	}
	t.Run("cannot append", func(t *testing.T) {
		if _, err := w.js.Publish(short(t), "chat.1.msg", []byte("{}")); err == nil {
			t.Fatal("appended")
		}
		w.refused(t, "Publish to", "chat.1.msg")
	})
	t.Run("cannot delete or purge the stream", func(t *testing.T) {
		if err := w.js.DeleteStream(short(t), topo.Stream); err == nil {
			t.Fatal("deleted")
		}
		w.refused(t, "Publish to", "$JS.API.STREAM.DELETE.CHAT")
		if err := stream.Purge(short(t)); err == nil {
			t.Fatal("purged")
		}
		w.refused(t, "Publish to", "$JS.API.STREAM.PURGE.CHAT")
		if err := w.js.DeleteStream(short(t), topo.DLQStream); err == nil {
			t.Fatal("deleted the dead letters")
		}
		w.refused(t, "Publish to", "$JS.API.STREAM.DELETE.CHAT_DLQ")
	})
	t.Run("cannot touch another worker's consumers", func(t *testing.T) {
		if _, err := w.js.CreateOrUpdateConsumer(short(t), topo.Stream, topo.ConsumerConfig("cachewarm", 0, 10)); err == nil {
			t.Fatal("created")
		}
		w.refused(t, "Publish to", "$JS.API.CONSUMER.CREATE.CHAT.cachewarm_p00.ev.0.>")
		for _, subj := range []string{
			"$JS.API.CONSUMER.MSG.NEXT.CHAT.cachewarm_p00",
			"$JS.API.CONSUMER.RESET.CHAT.cachewarm_p00",
			"$JS.API.CONSUMER.DELETE.CHAT.persister_p00",
			"$JS.ACK.CHAT.cachewarm_p00.1.1.1.1.0",
		} {
			if err := w.nc.Publish(subj, nil); err != nil {
				t.Fatal(err)
			}
			w.refused(t, "Publish to", subj)
		}
	})
	t.Run("cannot create consumers outside the topology", func(t *testing.T) {
		cfg := topo.ConsumerConfig("persister", 0, 10)
		cfg.Durable, cfg.FilterSubject = "persister_spy", ">"
		if _, err := w.js.CreateOrUpdateConsumer(short(t), topo.Stream, cfg); err == nil {
			t.Fatal("created")
		}
		w.refused(t, "Publish to", "$JS.API.CONSUMER.CREATE.CHAT.persister_spy.>")
	})
	t.Run("reads another worker's consumer info (lag metrics)", func(t *testing.T) {
		if _, err := w.nc.Request("$JS.API.CONSUMER.INFO.CHAT.cachewarm_p00", nil, 2*time.Second); err != nil {
			t.Fatalf("consumer info: %v", err)
		}
	})
	t.Run("reads an event by sequence only, not by subject", func(t *testing.T) {
		// By sequence: the lag metrics' age of the oldest unacked event.
		if _, err := stream.GetMsg(short(t), 1); err != nil {
			t.Fatalf("get by sequence: %v", err)
		}
		if _, err := stream.GetLastMsgForSubject(short(t), "ev.>"); err == nil {
			t.Fatal("read by subject")
		}
		w.refused(t, "Publish to", "$JS.API.DIRECT.GET.CHAT.ev.>")
	})
	t.Run("cannot write another worker's dead letters or pins", func(t *testing.T) {
		for _, subj := range []string{"dlq.cachewarm", "$KV.LOGCHAT_PINS.cachewarm.0"} {
			if err := w.nc.Publish(subj, []byte("x")); err != nil {
				t.Fatal(err)
			}
			w.refused(t, "Publish to", subj)
		}
	})
	t.Run("cannot listen to appends or another service's replies", func(t *testing.T) {
		for _, subj := range []string{"chat.*.member", "_INBOX.gateway.>"} {
			if _, err := w.nc.SubscribeSync(subj); err != nil {
				t.Fatal(err)
			}
			w.refused(t, "Subscription to", subj)
		}
	})
}

// The operator's user may do what nobody else may: the dead letters can be
// purged and streams deleted.
func TestAdminMayPurgeAndDelete(t *testing.T) {
	n, topo, admin := setup(t)
	_ = n
	ctx := context.Background()
	dlq, err := admin.js.Stream(ctx, topo.DLQStream)
	if err != nil {
		t.Fatal(err)
	}
	if err := dlq.Purge(ctx); err != nil {
		t.Fatalf("purge: %v", err)
	}
	if err := admin.js.DeleteStream(ctx, topo.DLQStream); err != nil {
		t.Fatalf("delete: %v", err)
	}
	admin.noViolations(t)
}

func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30s (%s)", what, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
