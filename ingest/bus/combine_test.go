package bus

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/logchat/shared/event"
)

// evs returns n events of one partition with consecutive sequences from seq.
func evs(partition int, seq uint64, n int) []event.Event {
	out := make([]event.Event, n)
	for i := range out {
		out[i] = event.Event{Seq: seq + uint64(i), Partition: partition}
	}
	return out
}

func TestCombinerMergesQueuedPartitionBatchesUpToTheLimit(t *testing.T) {
	calls := make(chan []event.Event, 10)
	release := make(chan error)
	c := newCombiner(func(e []event.Event) error { calls <- e; return <-release }, 3, 0, 8)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.run(ctx, 1)

	results := make(chan combineResult, 4)
	submit := func(e []event.Event) { go func() { results <- c.call(e) }() }

	submit(evs(0, 1, 1))
	first := <-calls // the only loop is now busy with partition 0
	if len(first) != 1 || first[0].Partition != 0 {
		t.Fatalf("first call: %+v", first)
	}
	submit(evs(1, 10, 2))
	submit(evs(2, 20, 2))
	submit(evs(3, 30, 2))
	waitQueued(t, c, 3)
	release <- nil
	if r := <-results; r.err != nil || r.shared {
		t.Fatalf("partition 0 alone: %+v", r)
	}

	second := <-calls
	if len(second) != 4 {
		t.Fatalf("second call should take two batches of 2 (limit 3 reached after the second), got %d events", len(second))
	}
	partitions := map[int]bool{}
	for i, e := range second {
		partitions[e.Partition] = true
		if i%2 == 1 && (e.Partition != second[i-1].Partition || e.Seq != second[i-1].Seq+1) {
			t.Fatalf("a partition's batch was split or reordered: %+v", second)
		}
	}
	if len(partitions) != 2 {
		t.Fatalf("second call holds partitions %v, want two", partitions)
	}
	boom := errors.New("boom")
	release <- boom
	for range 2 {
		if r := <-results; !errors.Is(r.err, boom) || !r.shared {
			t.Fatalf("a failed combined call must report the error as shared: %+v", r)
		}
	}

	third := <-calls
	if len(third) != 2 || partitions[third[0].Partition] {
		t.Fatalf("third call should be the remaining partition's batch: %+v", third)
	}
	release <- nil
	if r := <-results; r.err != nil || r.shared {
		t.Fatalf("remaining partition: %+v", r)
	}
}

func TestCombinerLingerWaitsForLaterBatches(t *testing.T) {
	calls := make(chan []event.Event, 10)
	c := newCombiner(func(e []event.Event) error { calls <- e; return nil }, 100, time.Second, 8)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.run(ctx, 1)

	done := make(chan combineResult, 2)
	// The first request is queued here, so that once the queue is empty
	// again the loop has taken it and is lingering: the second arrives
	// after the call started gathering, and only the linger brings it in.
	first := &combineReq{events: evs(0, 1, 1), done: make(chan combineResult, 1)}
	c.queue <- first
	go func() { done <- <-first.done }()
	deadline := time.Now().Add(5 * time.Second)
	for len(c.queue) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the loop did not take the first request")
		}
		time.Sleep(time.Millisecond)
	}
	go func() { done <- c.call(evs(1, 5, 1)) }()
	got := <-calls
	if len(got) != 2 {
		t.Fatalf("a batch arriving within the linger should join the call: %+v", got)
	}
	for range 2 {
		if r := <-done; r.err != nil || !r.shared {
			t.Fatalf("result: %+v", r)
		}
	}
}

func waitQueued(t *testing.T, c *combiner, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(c.queue) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests queued, want %d", len(c.queue), n)
		}
		time.Sleep(time.Millisecond)
	}
}
