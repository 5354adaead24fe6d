package verify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/logchat/ingest/bus"
	"github.com/logchat/ingest/ops"
	"github.com/logchat/persister/projection"
	"github.com/logchat/searcher/index"
	"github.com/logchat/shared/domain"
	"github.com/logchat/shared/event"
	"github.com/logchat/storage/chatcache"
)

// applier is one worker's code over a scratch target.
type applier struct {
	name  string
	apply func(ctx context.Context, events []event.Event) error
	// refused tells a permanent refusal (the runtime dead-letters the event)
	// from a failure of the check; seq is the refused event when known.
	refused func(err error) (seq uint64, ok bool)
}

func persisterApplier(h *projection.Handler) applier {
	return applier{name: "persister", apply: h.Handle, refused: func(err error) (uint64, bool) {
		var perm *bus.PermanentError
		if errors.As(err, &perm) {
			return perm.Seq, true
		}
		return 0, false
	}}
}

// searcherApplier is the searcher's handler: a refusal names its event
// (bus.PermanentAt) or none (bus.Permanent), as the persister's.
func searcherApplier(h *index.Handler) applier {
	a := persisterApplier(nil)
	a.name, a.apply = "searcher", h.Handle
	return a
}

// cachewarmApplier is what cachewarm's handler does: chatcache.ApplyEvents,
// with domain.ErrInvalid the event's permanent refusal.
func cachewarmApplier(c *chatcache.Cache) applier {
	return applier{name: "cachewarm", apply: c.ApplyEvents, refused: func(err error) (uint64, bool) {
		return 0, errors.Is(err, domain.ErrInvalid)
	}}
}

// applyBatch applies one partition batch as the runtime does: a refused
// event is set aside (dead-lettered, live) and the rest applied again; when
// the refusal names no event, the batch is applied one event at a time.
func (a applier) applyBatch(ctx context.Context, events []event.Event, rep *Report) error {
	for len(events) > 0 {
		err := a.apply(ctx, events)
		if err == nil {
			return nil
		}
		seq, ok := a.refused(err)
		if !ok {
			return fmt.Errorf("%s: apply events %d..%d to the scratch target: %w", a.name, events[0].Seq, events[len(events)-1].Seq, err)
		}
		if seq == 0 {
			if len(events) == 1 {
				seq = events[0].Seq
			} else {
				for _, ev := range events {
					if err := a.applyBatch(ctx, []event.Event{ev}, rep); err != nil {
						return err
					}
				}
				return nil
			}
		}
		rep.Refused[a.name] = append(rep.Refused[a.name], seq)
		kept := events[:0:0]
		for _, ev := range events {
			if ev.Seq != seq {
				kept = append(kept, ev)
			}
		}
		if len(kept) == len(events) {
			return fmt.Errorf("%s refused event %d, which is not in the batch: %w", a.name, seq, err)
		}
		events = kept
	}
	return nil
}

// rebuild reads the log from sequence 1 to rep.LastSeq with an ordered
// consumer (ephemeral: the workers' durable consumers are not touched) and
// applies it per partition, in log order, in batches of at most o.Batch.
// It returns the last sequence of each partition up to S.
func rebuild(ctx context.Context, o Options, stream jetstream.Stream, rep *Report, persister *projection.Handler, searcher *index.Handler, cache *chatcache.Cache) (map[int]uint64, error) {
	lastOf := map[int]uint64{}
	if rep.LastSeq == 0 {
		return lastOf, nil
	}
	appliers := []applier{persisterApplier(persister), searcherApplier(searcher), cachewarmApplier(cache)}
	pending := map[int][]event.Event{}
	flush := func(p int) error {
		batch := pending[p]
		if len(batch) == 0 {
			return nil
		}
		for _, a := range appliers {
			if err := a.applyBatch(ctx, batch, rep); err != nil {
				return err
			}
		}
		pending[p] = nil
		return nil
	}
	c, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		return nil, fmt.Errorf("read the log: %w", err)
	}
	started := time.Now()
	var read uint64 // the last sequence read
	for done := false; !done; {
		// No more than S still holds: a fetch returns as soon as it has
		// them, instead of waiting out its time for events that will not
		// come (only a gap left by deleted events waits).
		msgs, err := c.Fetch(int(min(uint64(o.Batch), rep.LastSeq-read)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return nil, fmt.Errorf("read the log: %w", err)
		}
		got := 0
		for m := range msgs.Messages() {
			got++
			meta, err := m.Metadata()
			if err != nil {
				return nil, fmt.Errorf("read the log: %w", err)
			}
			seq := meta.Sequence.Stream
			read = max(read, seq)
			if seq > rep.LastSeq {
				done = true
				continue
			}
			if seq == rep.LastSeq || meta.NumPending == 0 {
				done = true
			}
			p, err := bus.PartitionOf(m.Subject())
			if err != nil {
				return nil, err
			}
			lastOf[p] = max(lastOf[p], seq)
			rep.Events++
			env, err := event.Decode(m.Data())
			if err != nil {
				// Every worker dead-letters what does not decode.
				for _, a := range appliers {
					rep.Refused[a.name] = append(rep.Refused[a.name], seq)
				}
				continue
			}
			pending[p] = append(pending[p], event.Event{Seq: seq, Partition: p, Envelope: env})
			if len(pending[p]) >= o.Batch {
				if err := flush(p); err != nil {
					return nil, err
				}
			}
		}
		if err := msgs.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return nil, fmt.Errorf("read the log: %w", err)
		}
		if got == 0 && !done {
			return nil, fmt.Errorf("read the log: nothing more after %d events within 5 s, short of sequence %d", rep.Events, rep.LastSeq)
		}
	}
	for p := range pending {
		if err := flush(p); err != nil {
			return nil, err
		}
	}
	o.Log.Info("rebuilt from the log", slog.Int("events", rep.Events), slog.Duration("took", time.Since(started)))
	return lastOf, nil
}

// liveWorkers are the workers whose projections are compared.
var liveWorkers = []string{"persister", "cachewarm", "searcher"}

// waitForWorkers waits until every partition consumer of the live persister,
// searcher and cachewarm has acknowledged the partition's last event up to S.
func waitForWorkers(ctx context.Context, o Options, lastOf map[int]uint64) error {
	deadline := time.Now().Add(o.Wait)
	for {
		st, err := ops.Status(ctx, o.JS, o.Topology)
		if err != nil {
			return fmt.Errorf("read the consumers: %w", err)
		}
		floors := map[string]uint64{}
		for _, c := range st.Consumers {
			floors[c.Name] = c.AckFloor
		}
		var behind []string
		for _, w := range liveWorkers {
			for p, last := range lastOf {
				name := bus.ConsumerName(w, p)
				floor, ok := floors[name]
				if !ok {
					return fmt.Errorf("consumer %s does not exist: has the %s run?", name, w)
				}
				if floor < last {
					behind = append(behind, fmt.Sprintf("%s at %d of %d", name, floor, last))
				}
			}
		}
		if len(behind) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the live workers have not applied the log up to sequence %d within %v: %s", maxSeq(lastOf), o.Wait, strings.Join(behind, ", "))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func maxSeq(m map[int]uint64) uint64 {
	var out uint64
	for _, v := range m {
		out = max(out, v)
	}
	return out
}
