package ops

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/logchat/ingest/bus"
)

// Workers are the worker types whose consumers can be replayed.
var Workers = []string{"persister", "cachewarm", "notifier", "searcher"}

// ReplayResult says where one partition consumer was moved.
type ReplayResult struct {
	Consumer string `json:"consumer"`
	ResetSeq uint64 `json:"reset_seq"`
}

// Replay moves every partition consumer of worker back so that it applies the
// log again from sequence from (1 = everything the stream still holds). The
// worker's instances keep running: they receive the events again, and every
// effect being idempotent, the projection converges to the same state.
func Replay(ctx context.Context, js jetstream.JetStream, t bus.Topology, worker string, from uint64) ([]ReplayResult, error) {
	if from == 0 {
		from = 1
	}
	s, err := js.Stream(ctx, t.Stream)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", t.Stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, err
	}
	// A reset below the first stored event is refused by the server: start
	// from what the stream still holds.
	from = max(from, info.State.FirstSeq)
	var out []ReplayResult
	for p := 0; p < t.Partitions; p++ {
		name := bus.ConsumerName(worker, p)
		res, err := s.ResetConsumerToSequence(ctx, name, from)
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			return out, fmt.Errorf("consumer %s does not exist: has %s ever run?", name, worker)
		}
		if err != nil {
			return out, fmt.Errorf("reset %s to %d: %w", name, from, err)
		}
		out = append(out, ReplayResult{Consumer: name, ResetSeq: res.ResetSeq})
	}
	return out, nil
}

// SeqAt finds the sequence of the first event stored at or after t.
func SeqAt(ctx context.Context, js jetstream.JetStream, stream string, t time.Time) (uint64, error) {
	c, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &t,
	})
	if err != nil {
		return 0, err
	}
	m, err := c.Next(jetstream.FetchMaxWait(2 * time.Second))
	if errors.Is(err, jetstream.ErrNoMessages) || errors.Is(err, context.DeadlineExceeded) {
		return 0, fmt.Errorf("no event stored since %s", t.Format(time.RFC3339))
	}
	if err != nil {
		return 0, err
	}
	meta, err := m.Metadata()
	if err != nil {
		return 0, err
	}
	return meta.Sequence.Stream, nil
}
