// Package workertest is the conformance suite of the worker contract
// (ingest/bus/handler.go): every projection worker (persister, cachewarm,
// notifier) runs it in its own tests, on real services (in-process NATS
// JetStream, MariaDB, Redis, a Centrifugo process), through the real consumer
// runtime.
//
// A worker takes part through an adapter (Worker): how to build its
// projection on fresh services, its handler as a new process would build it,
// and a snapshot of the projection (MySQL rows, Redis keys, publications as
// Centrifugo holds them). Every check runs the scenario's log (NewScenario)
// under some trouble and compares the snapshot with the reference: a fresh
// projection where each event was handed to the handler once, alone, in log
// order. The checks:
//
//   - the same batch delivered twice has one effect;
//   - redelivery after the handler's context is cancelled mid-batch (part of
//     the batch applied) converges;
//   - redelivery after the process dies mid-batch (part of the batch
//     applied, nothing acked) converges on another instance;
//   - a poison event reaches the dead-letter stream with its reason, and the
//     worker goes on;
//   - cancelling the worker mid-batch stops it cleanly without acking what
//     was not applied, and a restart converges;
//   - replay from sequence 1 over the live projection converges.
//
// Building the reference checks the handler itself: every event returns nil,
// and each poison event a bus.PermanentError.
package workertest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logchat/ingest/bus"
	"github.com/logchat/ingest/ops"
	"github.com/logchat/shared/event"
)

// Worker is one worker's adapter.
type Worker struct {
	Name string // its consumer name and dead-letter subject: persister, cachewarm, notifier
	// Open builds the worker's projection on fresh real services for one
	// test, with what other processes write beside the log already there
	// (the gateway's users, chats and memberships: SeedMySQL).
	Open func(t *testing.T, sc *Scenario) Projection
}

// Projection is a worker's projection on one test's services.
type Projection interface {
	// Handler builds the worker's handler over the projection's services as
	// a process starting now would: nothing remembered from another one.
	Handler(t *testing.T) bus.Handler
	// Snapshot reads the projection as key -> canonical value: two
	// projections are the same when their snapshots are equal. Only what the
	// log determines belongs in it (no wall-clock times); a projection whose
	// consumers tolerate duplicates (the notifier's clients) says here which.
	Snapshot(t *testing.T) map[string]string
}

// Run runs the suite against w.
func Run(t *testing.T, w Worker) {
	sc := NewScenario()
	ref := reference(t, w, sc)
	t.Run("a clean run matches each event applied once", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, w, sc)
		h.start()
		h.waitApplied()
		h.matches("after a clean run", ref)
	})
	t.Run("the same batch delivered twice has one effect", func(t *testing.T) {
		t.Parallel()
		checkTwice(t, w, sc, ref)
	})
	t.Run("redelivery after the handler's context is cancelled mid-batch converges", func(t *testing.T) {
		t.Parallel()
		checkCancelledContext(t, w, sc, ref)
	})
	t.Run("redelivery after the process dies mid-batch converges", func(t *testing.T) {
		t.Parallel()
		checkCrash(t, w, sc, ref)
	})
	t.Run("poison is dead-lettered with its reason and the worker goes on", func(t *testing.T) {
		t.Parallel()
		checkPoison(t, w, sc, ref)
	})
	t.Run("cancelling mid-batch stops cleanly without acking", func(t *testing.T) {
		t.Parallel()
		checkCancelMidBatch(t, w, sc, ref)
	})
	t.Run("replay from sequence 1 converges", func(t *testing.T) {
		t.Parallel()
		checkReplay(t, w, sc, ref)
	})
}

// reference is the projection of each event handed to a fresh handler once,
// alone, in log order. It checks the handler's side of the contract on the
// way: nil for every event but the poison, a permanent error for those; and
// batching must not matter: the whole log (poison left out) in one call
// projects the same.
// Reference is w's projection of the scenario's log, each event handed to
// a fresh handler once, alone, in log order: what every check compares
// with. A worker's own tests compare references of two ways to open it.
func Reference(t *testing.T, w Worker) map[string]string {
	t.Helper()
	return reference(t, w, NewScenario())
}

func reference(t *testing.T, w Worker, sc *Scenario) map[string]string {
	t.Helper()
	h := newHarness(t, w, sc)
	handler := h.proj.Handler(t)
	for _, ev := range h.events {
		err := handler.Handle(t.Context(), []event.Event{ev})
		var perm *bus.PermanentError
		switch {
		case sc.Appends[ev.Seq-1].Poison:
			if !errors.As(err, &perm) || perm.Seq != 0 && perm.Seq != ev.Seq {
				t.Fatalf("poison event %d (%s %s): the handler returned %v; want a permanent error about it "+
					"(bus.PermanentAt(%d, err) or bus.Permanent(err))", ev.Seq, ev.Type, ev.Data, err, ev.Seq)
			}
		case err != nil:
			t.Fatalf("event %d (%s) alone: %v", ev.Seq, ev.Type, err)
		}
	}
	alone := h.proj.Snapshot(t)
	if len(alone) == 0 {
		t.Fatal("the reference projection is empty: the snapshot reads nothing")
	}

	whole := newHarness(t, w, sc)
	if err := whole.proj.Handler(t).Handle(t.Context(), whole.applicable()); err != nil {
		t.Fatalf("the whole log in one call: %v", err)
	}
	if d := Diff(alone, whole.proj.Snapshot(t)); d != "" {
		t.Fatalf("the whole log in one call projects otherwise than each event alone (want: alone; got: in one call):\n%s", d)
	}
	return alone
}

func checkTwice(t *testing.T, w Worker, sc *Scenario, ref map[string]string) {
	h := newHarness(t, w, sc)
	// Every call the runtime makes reaches the handler twice in a row.
	twice := func(*instance) bus.Middleware {
		return func(next bus.Handler) bus.Handler {
			return bus.HandlerFunc(func(ctx context.Context, evs []event.Event) error {
				if err := next.Handle(ctx, evs); err != nil {
					return err
				}
				return next.Handle(ctx, evs)
			})
		}
	}
	h.start(twice)
	h.waitApplied()
	h.waitFor("every event handled twice", func() (bool, string) { return h.seen.atLeast(h.applicable(), 2) })
	h.matches("with every batch delivered twice", ref)
}

func checkCancelledContext(t *testing.T, w Worker, sc *Scenario, ref map[string]string) {
	h := newHarness(t, w, sc)
	// Every other batch of two or more events fails once: its first half is
	// applied, then the handler is called for the whole batch with its
	// context cancelled, as a call cut off by a deadline. The runtime
	// retries it; each batch fails only once, so no event looks like poison.
	var mu sync.Mutex
	failed := map[string]bool{}
	var cut atomic.Int32
	cancelled := func(*instance) bus.Middleware {
		return func(next bus.Handler) bus.Handler {
			n := 0
			return bus.HandlerFunc(func(ctx context.Context, evs []event.Event) error {
				mu.Lock()
				key := batchKey(evs)
				n++
				fail := len(evs) >= 2 && !failed[key] && n%2 == 1
				failed[key] = failed[key] || fail
				mu.Unlock()
				if !fail {
					return next.Handle(ctx, evs)
				}
				if err := next.Handle(ctx, evs[:len(evs)/2]); err != nil {
					return err
				}
				cctx, cancel := context.WithCancel(ctx)
				cancel()
				err := next.Handle(cctx, evs)
				cut.Add(1)
				return fmt.Errorf("cut off mid-batch (the handler said %v): %w", err, context.Canceled)
			})
		}
	}
	h.start(cancelled)
	h.waitApplied()
	if cut.Load() == 0 {
		t.Fatal("no batch of two or more events was cut off: the check proved nothing")
	}
	h.matches(fmt.Sprintf("after %d batches cut off mid-way and redelivered", cut.Load()), ref)
}

func checkCrash(t *testing.T, w Worker, sc *Scenario, ref map[string]string) {
	h := newHarness(t, w, sc)
	died := make(chan map[uint64]int, 1)
	// The third call of two or more events applies its first half; then the
	// process dies: no further effect, nothing acked.
	var calls atomic.Int32
	crash := func(in *instance) bus.Middleware {
		return func(next bus.Handler) bus.Handler {
			return bus.HandlerFunc(func(ctx context.Context, evs []event.Event) error {
				if len(evs) < 2 || calls.Add(1) != 3 {
					return next.Handle(ctx, evs)
				}
				err := next.Handle(ctx, evs[:len(evs)/2])
				in.kill()
				died <- h.seen.counts(evs)
				return fmt.Errorf("the process died mid-batch (its first half: %v)", err)
			})
		}
	}
	h.start(crash)
	var lost map[uint64]int // the batch the dead process held: how often each event was handled then
	select {
	case lost = <-died:
	case <-time.After(within):
		t.Fatal("the instance never got a third batch of two or more events")
	}
	// Another process takes over once the dead one's pin expires, from the
	// partitions' ack floors. (The dead one's runtime goes on failing,
	// without effects or acks, until the test ends.)
	h.start()
	h.waitApplied()
	h.waitFor("the batch the dead process held handled again", func() (bool, string) { return h.seen.grew(lost) })
	h.matches("after a process died mid-batch and another took over", ref)
}

func checkPoison(t *testing.T, w Worker, sc *Scenario, ref map[string]string) {
	h := newHarness(t, w, sc)
	h.start()
	h.waitApplied()
	var want []uint64
	for i, a := range sc.Appends {
		if a.Poison {
			want = append(want, uint64(i+1))
		}
	}
	var dead []deadLetter
	h.waitFor("every poison event dead-lettered", func() (bool, string) {
		dead = h.deadLetters()
		return len(dead) >= len(want), fmt.Sprintf("%+v", dead)
	})
	got := map[uint64]deadLetter{}
	for _, d := range dead {
		if _, twice := got[d.Seq]; twice {
			t.Errorf("event %d dead-lettered twice on a clean run", d.Seq)
		}
		got[d.Seq] = d
	}
	for _, seq := range want {
		d, ok := got[seq]
		switch {
		case !ok:
			t.Errorf("poison event %d is not in the dead-letter stream: %+v", seq, dead)
		case d.Worker != w.Name:
			t.Errorf("dead letter of event %d names worker %q, want %q", seq, d.Worker, w.Name)
		case d.Reason == "" || strings.HasPrefix(d.Reason, "failed "):
			// "failed N times" is the runtime giving up on a failure it
			// could not classify: poison must be reported as permanent.
			t.Errorf("dead letter of event %d: reason %q, want the handler's (or the decoder's) own", seq, d.Reason)
		}
		delete(got, seq)
	}
	for seq, d := range got {
		t.Errorf("event %d dead-lettered, yet it is no poison: %q", seq, d.Reason)
	}
	// The worker went on: the events after each poison event are applied.
	h.matches("after dead-lettering the poison", ref)
}

func checkCancelMidBatch(t *testing.T, w Worker, sc *Scenario, ref map[string]string) {
	h := newHarness(t, w, sc)
	// The first batch of two or more events has its first half applied;
	// then everything from its second half fails for as long as this
	// instance lives, as when its dependency went down mid-batch.
	var mu sync.Mutex
	var blocked []event.Event
	retried := make(chan struct{}, 1)
	stuck := func(in *instance) bus.Middleware {
		return func(next bus.Handler) bus.Handler {
			return bus.HandlerFunc(func(ctx context.Context, evs []event.Event) error {
				mu.Lock()
				hit := intersects(evs, blocked)
				first := !hit && blocked == nil && len(evs) >= 2
				if first {
					blocked = append([]event.Event(nil), evs[len(evs)/2:]...)
				}
				mu.Unlock()
				switch {
				case first:
					if err := next.Handle(ctx, evs[:len(evs)/2]); err != nil {
						return err
					}
					// Its probe fails too: an outage, nothing is poison.
					in.down.Store(true)
					return errors.New("the dependency went down mid-batch")
				case hit:
					select {
					case retried <- struct{}{}:
					default:
					}
					return errors.New("the dependency is down")
				}
				return next.Handle(ctx, evs)
			})
		}
	}
	in := h.start(stuck)
	select {
	case <-retried: // failed, and being retried: the runtime is mid-batch
	case <-time.After(within):
		t.Fatal("no batch of two or more events was retried")
	}
	stopped := make(chan error, 1)
	go func() { stopped <- in.stop() }()
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatalf("stopping mid-batch: %v", err)
		}
	case <-time.After(within):
		t.Fatal("the runtime did not stop mid-batch")
	}
	mu.Lock()
	held := blocked
	mu.Unlock()
	for _, ev := range held {
		info, err := h.consumer(ev.Partition)
		if err != nil {
			t.Fatal(err)
		}
		if info.AckFloor.Stream >= ev.Seq {
			t.Fatalf("event %d was acked (partition %d's ack floor is %d), yet it was never applied", ev.Seq, ev.Partition, info.AckFloor.Stream)
		}
	}
	// A new process applies the rest.
	h.start()
	h.waitApplied()
	h.matches("after a stop mid-batch and a restart", ref)
}

func checkReplay(t *testing.T, w Worker, sc *Scenario, ref map[string]string) {
	h := newHarness(t, w, sc)
	h.start()
	h.waitApplied()
	h.matches("before the replay", ref)
	// As `ingest replay <worker> --from-seq 1` does, with the worker running.
	if _, err := ops.Replay(t.Context(), h.js, h.topo, w.Name, 1); err != nil {
		t.Fatal(err)
	}
	h.waitFor("every event handled again", func() (bool, string) { return h.seen.atLeast(h.events, 2) })
	h.waitApplied()
	h.matches("after a replay from sequence 1", ref)
}

func batchKey(evs []event.Event) string {
	var b strings.Builder
	for _, ev := range evs {
		fmt.Fprintf(&b, "%d,", ev.Seq)
	}
	return b.String()
}

func intersects(evs, set []event.Event) bool {
	for _, a := range evs {
		for _, b := range set {
			if a.Seq == b.Seq {
				return true
			}
		}
	}
	return false
}

// Diff describes how got differs from want, key by key ("" when equal).
func Diff(want, got map[string]string) string {
	keys := map[string]bool{}
	for k := range want {
		keys[k] = true
	}
	for k := range got {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	var b strings.Builder
	for _, k := range sorted {
		w, inWant := want[k]
		g, inGot := got[k]
		switch {
		case !inGot:
			fmt.Fprintf(&b, "  missing %s = %s\n", k, w)
		case !inWant:
			fmt.Fprintf(&b, "  extra   %s = %s\n", k, g)
		case w != g:
			fmt.Fprintf(&b, "  %s:\n    want %s\n    got  %s\n", k, w, g)
		}
	}
	return b.String()
}
