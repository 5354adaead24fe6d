package workertest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/logchat/ingest/bus"
	"github.com/logchat/shared/event"
	"github.com/logchat/testkit"
)

// within bounds every wait of the suite: generous, since the machine may be
// busy with other tests; a wait ends as soon as its condition holds.
const within = 60 * time.Second

// harness is one test's world: a log holding the scenario, the worker's
// projection on fresh services, and the worker's instances.
type harness struct {
	t    *testing.T
	w    Worker
	sc   *Scenario
	nats *testkit.NATS
	js   jetstream.JetStream // the test's own connection, as the admin: appends, inspection, replay
	topo bus.Topology
	proj Projection

	events  []event.Event  // the decodable events, as the runtime hands them over
	lastSeq map[int]uint64 // partition -> its last sequence
	seen    *seen          // events that reached the handler, by sequence
}

func newHarness(t *testing.T, w Worker, sc *Scenario) *harness {
	t.Helper()
	n := testkit.StartNATS(t)
	_, js := n.Connect(t)
	topo := bus.DefaultTopology()
	topo.Partitions = 4
	// Short, so that a dead instance's events are redelivered soon (the
	// pinned TTL is the shortest the topology allows).
	topo.AckWait = 2 * time.Second
	topo.PinnedTTL = 2 * time.Second
	if err := bus.ProvisionStreams(t.Context(), js, topo); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, w: w, sc: sc, nats: n, js: js, topo: topo, lastSeq: map[int]uint64{}, seen: &seen{n: map[uint64]int{}}}
	h.appendScenario()
	h.proj = w.Open(t, sc)
	return h
}

// appendScenario writes the scenario to the log, one append at a time, so
// that append i gets sequence i+1, and reads the events back as the runtime
// will see them (with their partitions).
func (h *harness) appendScenario() {
	ctx := h.t.Context()
	for i, a := range h.sc.Appends {
		msg := nats.NewMsg(a.Subject())
		if a.Raw != nil {
			msg.Data = a.Raw
		} else {
			b, err := a.Envelope.Encode()
			if err != nil {
				h.t.Fatal(err)
			}
			msg.Data = b
		}
		if a.MsgID != "" {
			msg.Header.Set(jetstream.MsgIDHeader, a.MsgID)
		}
		ack, err := h.js.PublishMsg(ctx, msg)
		if err != nil {
			h.t.Fatalf("append %d: %v", i+1, err)
		}
		if ack.Sequence != uint64(i+1) || ack.Duplicate {
			h.t.Fatalf("append %d got sequence %d (duplicate %v): the scenario needs its own sequence", i+1, ack.Sequence, ack.Duplicate)
		}
	}
	s, err := h.js.Stream(ctx, h.topo.Stream)
	if err != nil {
		h.t.Fatal(err)
	}
	for seq := uint64(1); seq <= uint64(len(h.sc.Appends)); seq++ {
		raw, err := s.GetMsg(ctx, seq)
		if err != nil {
			h.t.Fatal(err)
		}
		// Stored subjects are ev.<partition>.<chat>.<kind>.
		p, err := strconv.Atoi(strings.Split(raw.Subject, ".")[1])
		if err != nil {
			h.t.Fatalf("stored subject %q: %v", raw.Subject, err)
		}
		h.lastSeq[p] = seq
		env, err := event.Decode(raw.Data)
		if err != nil {
			continue // the runtime dead-letters it; no handler sees it
		}
		h.events = append(h.events, event.Event{Seq: seq, Partition: p, Envelope: env})
	}
}

// instance is one running worker process: its own NATS connection, a
// runtime, and a handler built for it.
type instance struct {
	h      *harness
	nc     *nats.Conn
	cancel context.CancelFunc
	done   chan error
	dead   atomic.Bool
	down   atomic.Bool // the dependency's probe fails (see probe)
}

// start runs a worker instance with a handler of its own (as a process
// started now builds it), mws around it.
func (h *harness) start(mws ...Middleware) *instance {
	h.t.Helper()
	// Its own connection, as the worker's NATS user: its permissions are
	// the production ones, and killing it cuts only this instance off.
	nc, js := h.nats.ConnectAs(h.t, h.w.Name)
	in := &instance{h: h, nc: nc, done: make(chan error, 1)}
	cfg := bus.DefaultRunnerConfig(h.w.Name, 8) // small: the scenario spans many batches
	cfg.BackoffMin, cfg.BackoffMax, cfg.ProbeEvery = 10*time.Millisecond, 100*time.Millisecond, 20*time.Millisecond
	// A short drain: a killed instance's drain only fails until it ends.
	cfg.MaxAttempts, cfg.DrainTimeout = 3, 3*time.Second
	chain := []bus.Middleware{in.gate}
	for _, mw := range mws {
		chain = append(chain, mw(in))
	}
	chain = append(chain, h.seen.count)
	r := &bus.Runner{JS: js, Topology: h.topo, Config: cfg, Handler: probe{h.proj.Handler(h.t), in}, Middleware: chain,
		Log: logger(h.t, h.w.Name), Instance: fmt.Sprintf("%s-%p", h.w.Name, in)}
	ctx, cancel := context.WithCancel(context.Background())
	in.cancel = cancel
	go func() { in.done <- r.Run(ctx) }()
	h.t.Cleanup(func() { in.stop() })
	return in
}

// Middleware is a check's own middleware, given the instance it runs in.
type Middleware func(in *instance) bus.Middleware

// gate lets nothing through once the instance is dead: a dead process has
// no effects.
func (in *instance) gate(next bus.Handler) bus.Handler {
	return bus.HandlerFunc(func(ctx context.Context, evs []event.Event) error {
		if in.dead.Load() {
			return errors.New("the process is dead")
		}
		return next.Handle(ctx, evs)
	})
}

// probe is the worker's handler, with its Ping failing while a check says
// the dependency is down.
type probe struct {
	bus.Handler
	in *instance
}

func (p probe) Ping(ctx context.Context) error {
	if p.in.down.Load() {
		return errors.New("the dependency is down")
	}
	if pinger, ok := p.Handler.(bus.Pinger); ok {
		return pinger.Ping(ctx)
	}
	return nil
}

// kill ends the instance as a crash does: no effect and no ack after this.
func (in *instance) kill() {
	in.dead.Store(true)
	in.nc.Close()
}

// stop cancels the instance and returns what its Run returned.
func (in *instance) stop() error {
	in.cancel()
	select {
	case err := <-in.done:
		in.done <- err // a second stop gets the same answer
		in.nc.Close()
		return err
	case <-time.After(within):
		return errors.New("the runtime did not stop")
	}
}

// waitApplied waits until every partition's consumer has acked its last
// event, and nothing is pending: the log is applied (or dead-lettered).
func (h *harness) waitApplied() {
	h.t.Helper()
	h.waitFor("the whole log applied", func() (bool, string) {
		var state []string
		done := true
		for p, last := range h.lastSeq {
			info, err := h.consumer(p)
			if err != nil {
				return false, err.Error()
			}
			if info.AckFloor.Stream < last || info.NumAckPending > 0 || info.NumPending > 0 {
				done = false
			}
			state = append(state, fmt.Sprintf("p%d ack floor %d of %d, %d ack pending", p, info.AckFloor.Stream, last, info.NumAckPending))
		}
		return done, strings.Join(state, "; ")
	})
}

func (h *harness) consumer(p int) (*jetstream.ConsumerInfo, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := h.js.Consumer(ctx, h.topo.Stream, bus.ConsumerName(h.w.Name, p))
	if err != nil {
		return nil, err
	}
	return c.Info(ctx)
}

// applicable are the events that are no poison.
func (h *harness) applicable() []event.Event {
	var out []event.Event
	for _, ev := range h.events {
		if !h.sc.Appends[ev.Seq-1].Poison {
			out = append(out, ev)
		}
	}
	return out
}

// deadLetter is one event in the dead-letter stream.
type deadLetter struct {
	Seq    uint64
	Worker string
	Reason string
}

func (h *harness) deadLetters() []deadLetter {
	h.t.Helper()
	ctx := h.t.Context()
	s, err := h.js.Stream(ctx, h.topo.DLQStream)
	if err != nil {
		h.t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []deadLetter
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			h.t.Fatal(err)
		}
		orig, _ := strconv.ParseUint(m.Header.Get(bus.HeaderDLQSeq), 10, 64)
		out = append(out, deadLetter{Seq: orig, Worker: m.Header.Get(bus.HeaderDLQWorker), Reason: m.Header.Get(bus.HeaderDLQReason)})
	}
	return out
}

// waitFor polls cond until it holds, failing the test after the deadline
// with the last state cond described.
func (h *harness) waitFor(what string, cond func() (bool, string)) {
	h.t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("%s: not within %v; last state: %s", what, within, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// matches fails the test when the projection differs from want.
func (h *harness) matches(what string, want map[string]string) {
	h.t.Helper()
	if d := Diff(want, h.proj.Snapshot(h.t)); d != "" {
		h.t.Fatalf("%s: the %s projection differs from each event applied once, in log order:\n%s", what, h.w.Name, d)
	}
}

// seen counts the events that reached the handler.
type seen struct {
	mu sync.Mutex
	n  map[uint64]int
}

func (s *seen) count(next bus.Handler) bus.Handler {
	return bus.HandlerFunc(func(ctx context.Context, evs []event.Event) error {
		s.mu.Lock()
		for _, ev := range evs {
			s.n[ev.Seq]++
		}
		s.mu.Unlock()
		return next.Handle(ctx, evs)
	})
}

// counts says how often each of evs reached the handler so far.
func (s *seen) counts(evs []event.Event) map[uint64]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[uint64]int, len(evs))
	for _, ev := range evs {
		out[ev.Seq] = s.n[ev.Seq]
	}
	return out
}

// grew tells whether every event of before reached the handler again since.
func (s *seen) grew(before map[uint64]int) (bool, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for seq, n := range before {
		if s.n[seq] <= n {
			return false, fmt.Sprintf("event %d reached the handler %d times, as before", seq, n)
		}
	}
	return true, ""
}

// atLeast tells whether every one of events reached the handler n times.
func (s *seen) atLeast(events []event.Event, n int) (bool, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ev := range events {
		if s.n[ev.Seq] < n {
			return false, fmt.Sprintf("event %d reached the handler %d times", ev.Seq, s.n[ev.Seq])
		}
	}
	return true, ""
}

func logger(t *testing.T, worker string) *slog.Logger {
	if os.Getenv("WORKERTEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("worker", worker, "test", t.Name())
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
