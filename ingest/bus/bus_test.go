package bus_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/logchat/ingest/bus"
	"github.com/logchat/shared/event"
	"github.com/logchat/shared/retry"
	"github.com/logchat/testkit"
)

func setup(t *testing.T) (jetstream.JetStream, bus.Topology) { return setupB(t) }

func setupB(t testing.TB) (jetstream.JetStream, bus.Topology) {
	t.Helper()
	n := testkit.StartNATS(t)
	_, js := n.Connect(t)
	topo := bus.DefaultTopology()
	topo.Partitions = 4
	topo.AckWait = 2 * time.Second
	topo.PinnedTTL = 2 * time.Second
	ctx := context.Background()
	if err := bus.ProvisionStreams(ctx, js, topo); err != nil {
		t.Fatal(err)
	}
	// Provisioning twice changes nothing and fails nothing.
	if err := bus.ProvisionStreams(ctx, js, topo); err != nil {
		t.Fatalf("second provisioning: %v", err)
	}
	return js, topo
}

func msgEnvelopeB(t testing.TB) event.Envelope {
	return msgEnvelope(t, 1, "a benchmark message of a typical length, about sixty bytes")
}

func msgEnvelope(t testing.TB, chat int64, text string) event.Envelope {
	env, err := event.New(event.MessageCreated, chat, 1, time.Now(), event.MessageCreatedData{Text: text, ClientID: text})
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func TestGroupCommitAssignsConsecutiveIDsAndDeduplicates(t *testing.T) {
	// Both ways a batch is committed: atomic batches always (SmallBatch 0),
	// and appends published one by one always (every batch is "small").
	for _, small := range []int{0, 1000} {
		t.Run(fmt.Sprintf("small batch %d", small), func(t *testing.T) {
			cfg := bus.DefaultPublisherConfig()
			cfg.SmallBatch = small
			testGroupCommit(t, cfg)
		})
	}
}

func testGroupCommit(t *testing.T, cfg bus.PublisherConfig) {
	js, _ := setup(t)
	pub := startPublisher(t, js, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	const n = 300
	acks := make([]bus.Ack, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, err := pub.Publish(ctx, msgEnvelope(t, int64(1+i%7), fmt.Sprint(i)), fmt.Sprintf("id-%d", i))
			if err != nil {
				t.Errorf("publish %d: %v", i, err)
			}
			acks[i] = a
		}()
	}
	wg.Wait()
	seen := map[uint64]bool{}
	for i, a := range acks {
		if a.Seq == 0 || seen[a.Seq] || a.Duplicate {
			t.Fatalf("ack %d = %+v: want a fresh, unique sequence", i, a)
		}
		seen[a.Seq] = true
	}
	// Each acknowledged sequence holds the event that was published for it.
	s, _ := js.Stream(ctx, "CHAT")
	for i := 0; i < n; i++ {
		raw, err := s.GetMsg(ctx, acks[i].Seq)
		if err != nil {
			t.Fatal(err)
		}
		if got := raw.Header.Get(jetstream.MsgIDHeader); got != fmt.Sprintf("id-%d", i) {
			t.Fatalf("seq %d holds %q, want id-%d", acks[i].Seq, got, i)
		}
	}

	// Retries of already stored ids, mixed with new ones in the same batch window.
	var wg2 sync.WaitGroup
	retries := make([]bus.Ack, 20)
	for i := range 20 {
		wg2.Add(1)
		go func() {
			defer wg2.Done()
			id := fmt.Sprintf("id-%d", i)
			if i%2 == 1 {
				id = fmt.Sprintf("new-%d", i)
			}
			a, err := pub.Publish(ctx, msgEnvelope(t, 3, id), id)
			if err != nil {
				t.Errorf("retry publish: %v", err)
			}
			retries[i] = a
		}()
	}
	wg2.Wait()
	for i, a := range retries {
		if i%2 == 0 && (!a.Duplicate || a.Seq != acks[i].Seq) {
			t.Fatalf("retry of id-%d = %+v, want duplicate of seq %d", i, a, acks[i].Seq)
		}
		if i%2 == 1 && (a.Duplicate || seen[a.Seq]) {
			t.Fatalf("new id %d = %+v, want a fresh sequence", i, a)
		}
	}
	info, _ := s.Info(ctx)
	if info.State.Msgs != n+10 {
		t.Fatalf("stream holds %d messages, want %d", info.State.Msgs, n+10)
	}
}

func TestStoredSubjectsArePartitionedAndLastMessageIsFoundByChat(t *testing.T) {
	js, topo := setup(t)
	pub := bus.NewPublisher(js, bus.PublisherConfig{Timeout: 5 * time.Second}, nil)
	ctx := context.Background()
	var last uint64
	for i := range 5 {
		a, err := pub.Publish(ctx, msgEnvelope(t, 42, fmt.Sprint(i)), "")
		if err != nil {
			t.Fatal(err)
		}
		last = a.Seq
		if _, err := pub.Publish(ctx, msgEnvelope(t, 43, fmt.Sprint(i)), ""); err != nil {
			t.Fatal(err)
		}
	}
	s, _ := js.Stream(ctx, topo.Stream)
	m, err := s.GetLastMsgForSubject(ctx, bus.StoredSubjectPattern(42, event.KindMessage))
	if err != nil {
		t.Fatalf("last message by wildcard subject: %v", err)
	}
	if m.Sequence != last {
		t.Fatalf("last message of chat 42 = %d, want %d", m.Sequence, last)
	}
	if _, err := s.GetLastMsgForSubject(ctx, bus.StoredSubjectPattern(44, event.KindMessage)); !errors.Is(err, jetstream.ErrMsgNotFound) {
		t.Fatalf("chat without messages: err = %v, want ErrMsgNotFound", err)
	}
}

// recorder is a handler that records what it applied, failing on demand.
type recorder struct {
	mu      sync.Mutex
	applied map[int64][]uint64 // chat -> seqs in the order applied
	count   map[uint64]int
	failFor func(ev event.Event) error
	// widest is the most partitions one handler call has held.
	widest int
}

func newRecorder() *recorder {
	return &recorder{applied: map[int64][]uint64{}, count: map[uint64]int{}}
}

func (r *recorder) Handle(_ context.Context, evs []event.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	partitions := map[int]bool{}
	for _, ev := range evs {
		partitions[ev.Partition] = true
	}
	r.widest = max(r.widest, len(partitions))
	for _, ev := range evs {
		if r.failFor != nil {
			if err := r.failFor(ev); err != nil {
				return err
			}
		}
	}
	for _, ev := range evs {
		if r.count[ev.Seq] == 0 {
			r.applied[ev.ChatID] = append(r.applied[ev.ChatID], ev.Seq)
		}
		r.count[ev.Seq]++
	}
	return nil
}

func (r *recorder) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.count)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startPublisher runs a group-commit publisher until the test ends.
func startPublisher(t *testing.T, js jetstream.JetStream, cfg bus.PublisherConfig) *bus.Publisher {
	t.Helper()
	pub := bus.NewPublisher(js, cfg, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = pub.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return pub
}

func runner(js jetstream.JetStream, topo bus.Topology, h bus.Handler) *bus.Runner {
	cfg := bus.DefaultRunnerConfig("test", 50)
	cfg.BackoffMin = 10 * time.Millisecond
	cfg.BackoffMax = 50 * time.Millisecond
	return &bus.Runner{JS: js, Topology: topo, Config: cfg, Handler: h, Log: testLogger()}
}

func TestRunnerAppliesEachChatInOrderAndDeadLettersPoison(t *testing.T) {
	js, topo := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pub := startPublisher(t, js, bus.DefaultPublisherConfig())

	rec := newRecorder()
	transientLeft := 3
	rec.failFor = func(ev event.Event) error {
		if string(ev.Data) == `{"boom":true}` {
			return bus.PermanentAt(ev.Seq, errors.New("semantically invalid"))
		}
		if transientLeft > 0 {
			transientLeft--
			return errors.New("database briefly down")
		}
		return nil
	}
	done := make(chan error, 1)
	go func() { done <- runner(js, topo, rec).Run(ctx) }()

	nc := js.Conn()
	const perChat = 60
	var poisonSeq uint64
	for i := range perChat {
		for chat := int64(1); chat <= 5; chat++ {
			if _, err := pub.Publish(ctx, msgEnvelope(t, chat, fmt.Sprint(i)), ""); err != nil {
				t.Fatal(err)
			}
		}
		if i == 10 {
			// Undecodable bytes, appended by hand.
			if _, err := js.Publish(ctx, bus.PublishSubject(2, "msg"), []byte("not json")); err != nil {
				t.Fatal(err)
			}
			env := msgEnvelope(t, 3, "x")
			env.Data = []byte(`{"boom":true}`)
			b, _ := env.Encode()
			a, err := js.PublishMsg(ctx, &nats.Msg{Subject: bus.PublishSubject(3, "msg"), Data: b})
			if err != nil {
				t.Fatal(err)
			}
			poisonSeq = a.Sequence
		}
	}
	_ = nc
	waitFor(t, "all events applied", func() bool { return rec.total() == 5*perChat })
	rec.mu.Lock()
	for chat, seqs := range rec.applied {
		for i := 1; i < len(seqs); i++ {
			if seqs[i] <= seqs[i-1] {
				t.Fatalf("chat %d applied out of order: %v", chat, seqs)
			}
		}
	}
	rec.mu.Unlock()

	dlq, _ := js.Stream(ctx, topo.DLQStream)
	waitFor(t, "two dead letters", func() bool {
		info, _ := dlq.Info(ctx)
		return info.State.Msgs == 2
	})
	var reasons []string
	for seq := uint64(1); seq <= 2; seq++ {
		m, err := dlq.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		reasons = append(reasons, m.Header.Get(bus.HeaderDLQReason))
		if m.Header.Get(bus.HeaderDLQSeq) == fmt.Sprint(poisonSeq) && m.Header.Get(bus.HeaderDLQReason) == "" {
			t.Fatal("poison dead letter lacks its reason")
		}
	}
	if reasons[0] == "" || reasons[1] == "" {
		t.Fatalf("dead letters without reasons: %q", reasons)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("runner stopped with %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("runner did not stop after cancel")
	}
}

func TestRunnerCombinesPartitionsBatchesIntoOneHandlerCall(t *testing.T) {
	for _, calls := range []int{0, 2} {
		t.Run(fmt.Sprintf("calls=%d", calls), func(t *testing.T) {
			js, topo := setup(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			pub := startPublisher(t, js, bus.DefaultPublisherConfig())

			// The log is written before the worker starts, so every
			// partition has its whole backlog (about 80 events, under the
			// batch of 200) ready at once.
			const chats, perChat = 16, 20
			for i := range perChat {
				for chat := int64(1); chat <= chats; chat++ {
					if _, err := pub.Publish(ctx, msgEnvelope(t, chat, fmt.Sprint(i)), ""); err != nil {
						t.Fatal(err)
					}
				}
			}
			rec := newRecorder()
			r := runner(js, topo, rec)
			r.Config.Batch = 200
			r.Config.Calls = calls
			// A call waits up to a second for more partitions' batches
			// while it holds fewer than 200 events: the first call takes the
			// other partitions' backlogs with it, whatever the goroutines'
			// timing. (Batches queuing while calls are in flight are
			// combined too; combine_test.go checks that step by step.)
			r.Config.CombineLinger = time.Second
			done := make(chan error, 1)
			go func() { done <- r.Run(ctx) }()
			waitFor(t, "all events applied", func() bool { return rec.total() == chats*perChat })

			rec.mu.Lock()
			defer rec.mu.Unlock()
			for chat, seqs := range rec.applied {
				for i := 1; i < len(seqs); i++ {
					if seqs[i] <= seqs[i-1] {
						t.Fatalf("chat %d applied out of order: %v", chat, seqs)
					}
				}
			}
			for seq, n := range rec.count {
				if n != 1 {
					t.Fatalf("event %d applied %d times", seq, n)
				}
			}
			if calls == 0 && rec.widest != 1 {
				t.Fatalf("without combining a call held %d partitions", rec.widest)
			}
			if calls > 0 && rec.widest < 2 {
				t.Fatalf("with combining no call held more than %d partition", rec.widest)
			}
		})
	}
}

func TestTwoRunnersSharePartitionsWithoutConcurrentChats(t *testing.T) {
	js, topo := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pub := startPublisher(t, js, bus.DefaultPublisherConfig())

	// One recorder shared by both instances: it sees every application, and
	// complains if a chat is in two handler calls at once.
	rec := newRecorder()
	var busyMu sync.Mutex
	busy := map[int64]bool{}
	h := bus.HandlerFunc(func(ctx context.Context, evs []event.Event) error {
		chats := map[int64]bool{}
		busyMu.Lock()
		for _, ev := range evs {
			if busy[ev.ChatID] && !chats[ev.ChatID] {
				t.Errorf("chat %d processed concurrently", ev.ChatID)
			}
			busy[ev.ChatID] = true
			chats[ev.ChatID] = true
		}
		busyMu.Unlock()
		time.Sleep(time.Millisecond)
		err := rec.Handle(ctx, evs)
		busyMu.Lock()
		for c := range chats {
			busy[c] = false
		}
		busyMu.Unlock()
		return err
	})
	for range 2 {
		go runner(js, topo, h).Run(ctx)
	}
	for i := range 100 {
		for chat := int64(1); chat <= 8; chat++ {
			if _, err := pub.Publish(ctx, msgEnvelope(t, chat, fmt.Sprint(i)), ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitFor(t, "all applied", func() bool { return rec.total() == 800 })
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for chat, seqs := range rec.applied {
		for i := 1; i < len(seqs); i++ {
			if seqs[i] <= seqs[i-1] {
				t.Fatalf("chat %d applied out of order", chat)
			}
		}
	}
}

func TestPublishFailsFastWhileTheLogIsDown(t *testing.T) {
	n := testkit.StartNATS(t)
	_, js := n.Connect(t)
	topo := bus.DefaultTopology()
	if err := bus.ProvisionStreams(context.Background(), js, topo); err != nil {
		t.Fatal(err)
	}
	pub := bus.NewPublisher(js, bus.DefaultPublisherConfig(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go pub.Run(ctx)
	if _, err := pub.Publish(ctx, msgEnvelope(t, 1, "before"), "k1"); err != nil {
		t.Fatal(err)
	}
	n.Shutdown()
	start := time.Now()
	_, err := pub.Publish(ctx, msgEnvelope(t, 1, "during"), "k2")
	if !errors.Is(err, bus.ErrUnavailable) {
		t.Fatalf("publish while down: %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Fatalf("publish while down took %v; a client must not hang", d)
	}
	n.Restart(t)
	waitFor(t, "reconnect", func() bool { return js.Conn().IsConnected() })
	// The failed publish may still have reached the log (it was buffered
	// while the client had not yet noticed the outage): the retry is either
	// stored now or answered as a duplicate, never stored twice.
	a, err := pub.Publish(ctx, msgEnvelope(t, 1, "during"), "k2")
	if err != nil {
		t.Fatalf("retry after restart: %v", err)
	}
	again, err := pub.Publish(ctx, msgEnvelope(t, 1, "during"), "k2")
	if err != nil || !again.Duplicate || again.Seq != a.Seq {
		t.Fatalf("second retry: %+v %v, want a duplicate of %d", again, err, a.Seq)
	}
	s, _ := js.Stream(ctx, topo.Stream)
	if info, _ := s.Info(ctx); info.State.Msgs != 2 {
		t.Fatalf("stream holds %d events, want 2", info.State.Msgs)
	}
}

func testLogger() *slog.Logger {
	if os.Getenv("BUS_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// flakyPinger fails the first n calls of Handle, and its dependency always
// answers Ping: the failures look like an outage that ends just as the
// runtime gives up on the batch.
type flakyPinger struct {
	recorder
	failures atomic.Int32
	pings    atomic.Int32
}

func (f *flakyPinger) Handle(ctx context.Context, evs []event.Event) error {
	if f.failures.Add(-1) >= 0 {
		return errors.New("connection refused")
	}
	return f.recorder.Handle(ctx, evs)
}

func (f *flakyPinger) Ping(context.Context) error {
	f.pings.Add(1)
	return nil
}

func TestAnOutageThatJustEndedIsNotPoison(t *testing.T) {
	js, topo := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := &flakyPinger{recorder: *newRecorder()}
	r := runner(js, topo, h)
	// Exactly as many failures as the runtime allows one event.
	h.failures.Store(int32(r.Config.IsolateAfter + r.Config.MaxAttempts))
	go r.Run(ctx)
	pub := bus.NewPublisher(js, bus.PublisherConfig{Timeout: 5 * time.Second}, nil)
	if _, err := pub.Publish(ctx, msgEnvelope(t, 1, "x"), ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the event applied", func() bool { return h.total() == 1 })
	dlq, _ := js.Stream(ctx, topo.DLQStream)
	if info, _ := dlq.Info(ctx); info.State.Msgs != 0 {
		t.Fatalf("%d dead letters: an event that succeeds once its dependency is back is not poison", info.State.Msgs)
	}
}

// outageHandler fails while its dependency is down, and its Ping says so.
type outageHandler struct {
	recorder
	down      atomic.Bool
	tries     atomic.Int32
	downPings atomic.Int32 // probes that found the dependency down
}

func (o *outageHandler) Handle(ctx context.Context, evs []event.Event) error {
	o.tries.Add(1)
	if o.down.Load() {
		return errors.New("connection refused")
	}
	return o.recorder.Handle(ctx, evs)
}

func (o *outageHandler) Ping(context.Context) error {
	if o.down.Load() {
		o.downPings.Add(1)
		return errors.New("connection refused")
	}
	return nil
}

// runnerWithLongBackoff retries a failed batch only after an hour, unless
// its dependency's return ends the wait.
func runnerWithLongBackoff(js jetstream.JetStream, topo bus.Topology, h bus.Handler) *bus.Runner {
	r := runner(js, topo, h)
	r.Config.BackoffMin = time.Hour
	r.Config.BackoffMax = time.Hour
	r.Config.ProbeEvery = 20 * time.Millisecond
	return r
}

func TestTheEndOfAnOutageEndsTheBackoff(t *testing.T) {
	js, topo := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := &outageHandler{recorder: *newRecorder()}
	h.down.Store(true)
	go runnerWithLongBackoff(js, topo, h).Run(ctx)
	pub := startPublisher(t, js, bus.DefaultPublisherConfig())
	if _, err := pub.Publish(ctx, msgEnvelope(t, 1, "x"), ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first, failed try", func() bool { return h.tries.Load() >= 1 })
	waitFor(t, "a few probes that see the dependency down", func() bool { return h.downPings.Load() >= 3 })
	h.down.Store(false)
	// The back-off is an hour: only the probe can bring the retry this soon.
	waitFor(t, "the event applied once the dependency is back", func() bool { return h.total() == 1 })
}

func TestAFailureWithTheDependencyUpWaitsItsBackoff(t *testing.T) {
	js, topo := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := &flakyPinger{recorder: *newRecorder()} // fails, yet Ping answers
	h.failures.Store(1)
	go runnerWithLongBackoff(js, topo, h).Run(ctx)
	pub := startPublisher(t, js, bus.DefaultPublisherConfig())
	if _, err := pub.Publish(ctx, msgEnvelope(t, 1, "x"), ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first, failed try", func() bool { return h.failures.Load() <= 0 })
	// Many probes pass, every one answers: no early retry.
	probes := h.pings.Load()
	waitFor(t, "ten more probes", func() bool { return h.pings.Load() >= probes+10 })
	if n := h.total(); n != 0 {
		t.Fatalf("%d events applied: a failure with the dependency up must wait out its back-off", n)
	}
}

func TestAPermanentErrorThatNamesNoEventIsFoundOneEventAtATime(t *testing.T) {
	js, topo := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rec := newRecorder()
	rec.failFor = func(ev event.Event) error {
		if strings.Contains(string(ev.Data), `"text":"poison"`) {
			return bus.Permanent(errors.New("the payload can never apply"))
		}
		return nil
	}
	// A middleware sees every call the runtime makes: the sizes of those
	// that held the poison.
	var mu sync.Mutex
	var poisonCalls []int
	var poison uint64
	r := runner(js, topo, rec)
	r.Middleware = []bus.Middleware{func(next bus.Handler) bus.Handler {
		return bus.HandlerFunc(func(ctx context.Context, evs []event.Event) error {
			mu.Lock()
			for _, ev := range evs {
				if ev.Seq == poison {
					poisonCalls = append(poisonCalls, len(evs))
				}
			}
			mu.Unlock()
			return next.Handle(ctx, evs)
		})
	}}
	pub := startPublisher(t, js, bus.DefaultPublisherConfig())
	// Written before the worker starts, so that batches hold several.
	for i := range 10 {
		text := fmt.Sprint("fine ", i)
		if i == 4 {
			text = "poison"
		}
		a, err := pub.Publish(ctx, msgEnvelope(t, 1, text), "")
		if err != nil {
			t.Fatal(err)
		}
		if i == 4 {
			mu.Lock()
			poison = a.Seq
			mu.Unlock()
		}
	}
	go r.Run(ctx)
	waitFor(t, "the nine other events applied", func() bool { return rec.total() == 9 })
	dlq, _ := js.Stream(ctx, topo.DLQStream)
	waitFor(t, "one dead letter", func() bool {
		info, _ := dlq.Info(ctx)
		return info.State.Msgs == 1
	})
	m, err := dlq.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if m.Header.Get(bus.HeaderDLQSeq) != fmt.Sprint(poison) || m.Header.Get(bus.HeaderDLQReason) != "the payload can never apply" {
		t.Fatalf("dead letter %v, want event %d with its reason", m.Header, poison)
	}
	mu.Lock()
	defer mu.Unlock()
	// However the events were batched, the poison was last called alone,
	// and was not retried alone: that is where the runtime knew it.
	if n := len(poisonCalls); n == 0 || poisonCalls[n-1] != 1 || n > 1 && poisonCalls[n-2] == 1 {
		t.Fatalf("calls holding the poison had %v events: want it last called alone, once", poisonCalls)
	}
}

// A log provisioned with one partition count is never re-provisioned or used
// with another: new events of a chat would land where its old ones are not
// consumed. Both the admin's provisioning and every process's start refuse,
// naming the count to use.
func TestAnotherPartitionCountOverAnExistingLogIsRefused(t *testing.T) {
	js, topo := setup(t) // 4 partitions
	other := topo
	other.Partitions = 1
	ctx := t.Context()
	err := bus.ProvisionStreams(ctx, js, other)
	if err == nil || !strings.Contains(err.Error(), "STREAM_PARTITIONS=4") {
		t.Fatalf("provisioning with 1 partition over 4: %v", err)
	}
	err = bus.StreamsExist(ctx, js, other)
	if err == nil || !retry.IsPermanent(err) || !strings.Contains(err.Error(), "has 4 partitions") {
		t.Fatalf("a process started with 1 partition over 4: %v", err)
	}
	info, err := js.Stream(ctx, topo.Stream)
	if err != nil {
		t.Fatal(err)
	}
	if dest := info.CachedInfo().Config.SubjectTransform.Destination; !strings.Contains(dest, "partition(4,") {
		t.Fatalf("the refused provisioning changed the stream: %s", dest)
	}
	if err := bus.StreamsExist(ctx, js, topo); err != nil {
		t.Fatalf("the right count: %v", err)
	}
}

// A batch stuck in an outage longer than AckWait keeps only its own events
// alive; events delivered behind it wait in the inbox, time out and are
// delivered again, so the inbox holds them twice. When the outage ends they
// are applied once each: a handler that is not idempotent in effect (the
// notifier publishes) must not see an event twice in one call.
func TestEventsDeliveredAgainDuringAnOutageAreAppliedOnce(t *testing.T) {
	js, topo := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := &outageHandler{recorder: *newRecorder()}
	h.down.Store(true)
	go runner(js, topo, h).Run(ctx)
	pub := bus.NewPublisher(js, bus.PublisherConfig{Timeout: 5 * time.Second}, nil)
	publish := func(i int) {
		if _, err := pub.Publish(ctx, msgEnvelope(t, 1, fmt.Sprint("m", i)), ""); err != nil {
			t.Fatal(err)
		}
	}
	// The first event alone is the stuck batch; the others queue behind it.
	publish(0)
	waitFor(t, "the first batch failing", func() bool { return h.tries.Load() >= 1 })
	const n = 20
	for i := 1; i < n; i++ {
		publish(i)
	}
	waitFor(t, "queued events delivered again", func() bool {
		for p := range topo.Partitions {
			cons, err := js.Consumer(ctx, topo.Stream, bus.ConsumerName("test", p))
			if err != nil {
				continue
			}
			if info, err := cons.Info(ctx); err == nil && info.NumAckPending >= n && info.NumRedelivered >= n-1 {
				return true
			}
		}
		return false
	})
	h.down.Store(false)
	waitFor(t, "every event applied", func() bool { return h.total() == n })
	h.mu.Lock()
	defer h.mu.Unlock()
	for seq, c := range h.count {
		if c != 1 {
			t.Errorf("event %d handed to the handler %d times, want 1", seq, c)
		}
	}
}
