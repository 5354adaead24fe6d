package ops_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logchat/ingest/bus"
	"github.com/logchat/ingest/ops"
	"github.com/logchat/shared/event"
	"github.com/logchat/testkit"
)

// countingHandler counts applications per event and refuses "bad" events
// permanently until fixed.
type countingHandler struct {
	mu      sync.Mutex
	applied map[uint64]int
	fixed   atomic.Bool
}

func (h *countingHandler) Handle(_ context.Context, evs []event.Event) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, ev := range evs {
		if string(ev.Data) == `{"text":"bad"}` && !h.fixed.Load() {
			return bus.PermanentAt(ev.Seq, errors.New("cannot apply bad"))
		}
	}
	for _, ev := range evs {
		h.applied[ev.Seq]++
	}
	return nil
}

func (h *countingHandler) count(seq uint64) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.applied[seq]
}

func (h *countingHandler) total() (events, applications int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, n := range h.applied {
		events++
		applications += n
	}
	return
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestReplayAndDeadLetterRetry(t *testing.T) {
	n := testkit.StartNATS(t)
	_, js := n.Connect(t)
	topo := bus.DefaultTopology()
	topo.Partitions = 3
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := bus.ProvisionStreams(ctx, js, topo); err != nil {
		t.Fatal(err)
	}
	h := &countingHandler{applied: map[uint64]int{}}
	cfg := bus.DefaultRunnerConfig("persister", 20)
	go (&bus.Runner{JS: js, Topology: topo, Config: cfg, Handler: h, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}).Run(ctx)

	pub := bus.NewPublisher(js, bus.PublisherConfig{Timeout: 5 * time.Second}, nil)
	var badSeq uint64
	for i := range 30 {
		text := "ok"
		if i == 12 {
			text = "bad"
		}
		env, _ := event.New(event.MessageCreated, int64(i%5+1), 1, time.Now(), map[string]string{"text": text})
		a, err := pub.Publish(ctx, env, "")
		if err != nil {
			t.Fatal(err)
		}
		if i == 12 {
			badSeq = a.Seq
		}
	}
	waitUntil(t, "29 good events applied", func() bool { e, _ := h.total(); return e == 29 })

	list, err := ops.ListDeadLetters(ctx, js, topo)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].OrigSeq != badSeq || list[0].Worker != "persister" || list[0].Reason == "" || list[0].Partition < 0 {
		t.Fatalf("dead letters = %+v, want the bad event (seq %d) with worker, reason and partition", list, badSeq)
	}

	// After a fix, retry gives the event back to its worker.
	h.fixed.Store(true)
	if _, err := ops.RetryDeadLetter(ctx, js, topo, list[0].Seq); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the retried event applied", func() bool { return h.count(badSeq) == 1 })
	if list, _ := ops.ListDeadLetters(ctx, js, topo); len(list) != 0 {
		t.Fatalf("dead letters after retry = %+v, want none", list)
	}

	// Replay from the start: every event is applied once more.
	res, err := ops.Replay(ctx, js, topo, "persister", 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != topo.Partitions {
		t.Fatalf("replay reset %d consumers, want %d", len(res), topo.Partitions)
	}
	waitUntil(t, "every event applied twice", func() bool {
		for seq := uint64(1); seq <= 30; seq++ {
			if h.count(seq) < 2 {
				return false
			}
		}
		return true
	})

	// SeqAt finds the first event at or after a time.
	seq, err := ops.SeqAt(ctx, js, topo.Stream, time.Now().Add(-time.Hour))
	if err != nil || seq != 1 {
		t.Fatalf("SeqAt(an hour ago) = %d, %v; want 1", seq, err)
	}
	if _, err := ops.Replay(ctx, js, topo, "nobody", 1); err == nil {
		t.Fatal("replaying a worker that never ran must fail")
	}
}
