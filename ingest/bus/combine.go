package bus

import (
	"context"
	"time"

	"github.com/logchat/shared/event"
)

// combiner merges the batches that several partitions of one worker have
// ready into one handler call.
//
// Why: a worker consumes every partition separately (that is what lets
// partitions move between instances), so at a moderate rate each partition's
// batch holds a few events, and a handler call per partition batch means a
// MySQL transaction, a Redis pipeline or a Centrifugo request for a handful
// of events; measured at about 1,600 msg/s over 8 partitions, the persister's
// batches held 8 events. Combining them is what batching at every hop needs.
//
// Order is kept: a partition hands over one batch at a time and waits for its
// result, so its events reach the handler in log order, and events of one
// chat are always in one partition. A combined call that fails is not retried
// combined: every partition in it retries its own events alone, so one
// partition's poison or back-off never holds up another.
//
// Batching is natural: while calls are in flight, the next partitions' batches
// queue up and go together in the next call, so calls grow with the load
// instead of waiting on a timer (CombineLinger adds such a wait, for a worker whose
// per-call cost dwarfs a few milliseconds of latency).
type combiner struct {
	handle   func(events []event.Event) error
	maxBatch int           // a call takes partition batches while it holds fewer events than this
	linger   time.Duration // how long a call waits for more partitions after the first; 0 is none
	queue    chan *combineReq
}

type combineReq struct {
	events []event.Event
	done   chan combineResult
}

type combineResult struct {
	err    error
	shared bool // the call held other partitions' events too
}

func newCombiner(handle func([]event.Event) error, maxBatch int, linger time.Duration, partitions int) *combiner {
	return &combiner{handle: handle, maxBatch: maxBatch, linger: linger,
		queue: make(chan *combineReq, partitions)}
}

// run serves calls until ctx ends. Each of `parallel` loops makes one call at
// a time; more than one keeps a dependency busy while a call's result travels.
func (c *combiner) run(ctx context.Context, parallel int) {
	for range max(parallel, 1) - 1 {
		go c.loop(ctx)
	}
	c.loop(ctx)
}

func (c *combiner) loop(ctx context.Context) {
	for {
		var first *combineReq
		select {
		case first = <-c.queue:
		case <-ctx.Done():
			return
		}
		group := c.gather(first)
		events := group[0].events
		if len(group) > 1 {
			n := 0
			for _, r := range group {
				n += len(r.events)
			}
			events = make([]event.Event, 0, n)
			for _, r := range group {
				events = append(events, r.events...)
			}
		}
		err := c.handle(events)
		for _, r := range group {
			r.done <- combineResult{err: err, shared: len(group) > 1}
		}
	}
}

// gather adds to first the partition batches that are queued (or, with a
// linger, arrive in time) while the call holds fewer than maxBatch events.
func (c *combiner) gather(first *combineReq) []*combineReq {
	group := []*combineReq{first}
	n := len(first.events)
	var deadline <-chan time.Time
	if c.linger > 0 {
		t := time.NewTimer(c.linger)
		defer t.Stop()
		deadline = t.C
	}
	for n < c.maxBatch {
		select {
		case r := <-c.queue:
			group = append(group, r)
			n += len(r.events)
			continue
		default:
		}
		if deadline == nil {
			return group
		}
		select {
		case r := <-c.queue:
			group = append(group, r)
			n += len(r.events)
		case <-deadline:
			return group
		}
	}
	return group
}

// call applies one partition's batch, possibly together with others'.
func (c *combiner) call(events []event.Event) combineResult {
	r := &combineReq{events: events, done: make(chan combineResult, 1)}
	c.queue <- r
	return <-r.done
}
