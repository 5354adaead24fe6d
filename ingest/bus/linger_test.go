package bus

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// stubMsg is a delivery that linger only counts (no rewind is pending, so
// none of its methods is called).
type stubMsg struct{ jetstream.Msg }

func lingerRunner(batch int, linger time.Duration) *partitionRunner {
	return &partitionRunner{Runner: &Runner{Config: RunnerConfig{Batch: batch, Linger: linger}}}
}

func TestLingerAppliesAnEventAfterAQuietSpellAtOnce(t *testing.T) {
	pr := lingerRunner(10, time.Hour)
	inbox := make(chan jetstream.Msg, 1)
	done := make(chan []jetstream.Msg, 1)
	go func() { done <- pr.linger(t.Context(), inbox, []jetstream.Msg{stubMsg{}}) }()
	select {
	case b := <-done:
		if len(b) != 1 {
			t.Fatalf("batch of %d, want the one event", len(b))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the first event after a quiet spell waited for company (linger is an hour)")
	}
}

func TestLingerGathersABusyPartitionsEventsIntoOneCall(t *testing.T) {
	pr := lingerRunner(3, time.Hour)
	pr.lastArrival = time.Now() // the previous event came just now: busy
	inbox := make(chan jetstream.Msg, 2)
	done := make(chan []jetstream.Msg, 1)
	go func() { done <- pr.linger(t.Context(), inbox, []jetstream.Msg{stubMsg{}}) }()
	inbox <- stubMsg{}
	inbox <- stubMsg{}
	select {
	case b := <-done:
		if len(b) != 3 {
			t.Fatalf("batch of %d, want the 3 events that came while it lingered", len(b))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a full batch still waited")
	}
}

func TestLingerEndsAtItsDeadlineOrWithTheRunner(t *testing.T) {
	pr := lingerRunner(10, 20*time.Millisecond)
	pr.lastArrival = time.Now()
	start := time.Now()
	b := pr.linger(t.Context(), make(chan jetstream.Msg), []jetstream.Msg{stubMsg{}})
	if len(b) != 1 || time.Since(start) < 20*time.Millisecond {
		t.Fatalf("batch of %d after %v, want 1 after the linger", len(b), time.Since(start))
	}

	pr = lingerRunner(10, time.Hour)
	pr.lastArrival = time.Now()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if b := pr.linger(ctx, make(chan jetstream.Msg), []jetstream.Msg{stubMsg{}}); len(b) != 1 {
		t.Fatalf("batch of %d on stop, want 1", len(b))
	}
}
