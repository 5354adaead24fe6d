package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/logchat/ingest/bus"
	"github.com/logchat/persister/projection"
	"github.com/logchat/searcher/index"
	"github.com/logchat/shared/event"
	"github.com/logchat/storage/sqlstore"
)

// logCatchUp is the move's catch-up from the log (sqlstore.WithLogCatchUp):
// it reads the chat's events from the stream (its stored subjects only,
// with an ordered consumer, as `ingest verify` does: the workers' consumers
// are not touched) between the source's positions, and turns them into the
// persister's batch and the searcher's operations with the workers' own
// code (projection.Add, index.Op). An event a worker refuses was
// dead-lettered by it live, and is skipped here too; an event no longer in
// the stream (past its retention) is missing from the catch-up, which the
// move's comparison then finds, and the move copies the chat again under the
// lock instead.
func logCatchUp(js jetstream.JetStream, topo bus.Topology) sqlstore.CatchUp {
	return func(ctx context.Context, chatID int64, from, to sqlstore.LogPositions) (sqlstore.Batch, []sqlstore.SearchOp, error) {
		var b sqlstore.Batch
		var ops []sqlstore.SearchOp
		start, stop := uint64(0), uint64(0)
		first := true
		for _, pos := range []struct{ from, to sqlstore.Progress }{{from.Persister, to.Persister}, {from.Search, to.Search}} {
			for p, seq := range pos.to {
				if seq <= pos.from[p] {
					continue
				}
				if first || pos.from[p]+1 < start {
					start = pos.from[p] + 1
				}
				first = false
				stop = max(stop, seq)
			}
		}
		if stop == 0 {
			return b, ops, nil // nothing applied to the source since the copy
		}
		c, err := js.OrderedConsumer(ctx, topo.Stream, jetstream.OrderedConsumerConfig{
			FilterSubjects: []string{bus.StoredSubjectPattern(chatID, "*")},
			DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
			OptStartSeq:    start,
		})
		if err != nil {
			return b, ops, fmt.Errorf("read the log: %w", err)
		}
		for done := false; !done; {
			msgs, err := c.Fetch(500, jetstream.FetchMaxWait(2*time.Second))
			if err != nil {
				return b, ops, fmt.Errorf("read the log: %w", err)
			}
			got := 0
			for m := range msgs.Messages() {
				got++
				meta, err := m.Metadata()
				if err != nil {
					return b, ops, fmt.Errorf("read the log: %w", err)
				}
				seq := meta.Sequence.Stream
				if seq > stop {
					done = true
					break
				}
				// The last one wanted: stop here rather than wait out the
				// fetch for events that are not needed (or not there).
				done = seq == stop || meta.NumPending == 0
				p, err := bus.PartitionOf(m.Subject())
				if err != nil {
					return b, ops, err
				}
				env, err := event.Decode(m.Data())
				if err != nil {
					continue // dead-lettered by every worker
				}
				ev := event.Event{Seq: seq, Partition: p, Envelope: env}
				if from.Persister[p] < seq && seq <= to.Persister[p] {
					_ = projection.Add(&b, ev) // an error: the persister dead-lettered it
				}
				if from.Search[p] < seq && seq <= to.Search[p] {
					if op, ok, err := index.Op(ev); ok && err == nil {
						ops = append(ops, op)
					}
				}
				if done {
					break
				}
			}
			if err := msgs.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
				return b, ops, fmt.Errorf("read the log: %w", err)
			}
			if got == 0 {
				done = true // nothing more of the chat in the stream
			}
		}
		// The chat's own rows (chats, members) are main's, which the live
		// persister keeps; the positions are the target's own.
		b.Chats, b.Progress = nil, nil
		return b, ops, nil
	}
}
