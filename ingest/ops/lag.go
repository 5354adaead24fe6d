package ops

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/logchat/ingest/bus"
)

// consumerStatus is one consumer's line of `ingest status` and, for the
// worker that owns the consumer, its lag metrics (WorkerLag): one function,
// so that the two cannot disagree. The lag in seconds is the age of the
// oldest event not yet acknowledged (the one after the ack floor), read by
// sequence from the log.
func consumerStatus(ctx context.Context, s jetstream.Stream, ci *jetstream.ConsumerInfo) ConsumerStatus {
	cs := ConsumerStatus{
		Name: ci.Name, Pending: ci.NumPending, AckPending: ci.NumAckPending, Redelivered: ci.NumRedelivered,
		LastDelivered: ci.Delivered.Stream, AckFloor: ci.AckFloor.Stream,
	}
	if ci.NumAckPending > 0 || ci.NumPending > 0 {
		if m, err := s.GetMsg(ctx, ci.AckFloor.Stream+1); err == nil {
			cs.LagSeconds = time.Since(m.Time).Seconds()
		}
	}
	for _, g := range ci.PriorityGroups {
		if g.PinnedClientID != "" {
			cs.Pinned, cs.PinnedSince = g.PinnedClientID, g.PinnedTS
		}
	}
	return cs
}

// WorkerLag is what `ingest status` reports about one worker type: its
// partition consumers, in partition order (Partition i is Consumers[i]), and
// its dead letters still stored. It needs only what the worker's own NATS
// user may do (ingest/access): the info of its consumers and of the two
// streams, and reading an event of the log by sequence.
type WorkerLag struct {
	Worker      string
	Consumers   []ConsumerStatus
	DeadLetters uint64
	LastSeq     uint64 // the log's last sequence
}

// ReadWorkerLag reads the lag of every partition consumer of worker.
func ReadWorkerLag(ctx context.Context, js jetstream.JetStream, t bus.Topology, worker string) (*WorkerLag, error) {
	s, err := js.Stream(ctx, t.Stream)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", t.Stream, err)
	}
	out := &WorkerLag{Worker: worker, LastSeq: s.CachedInfo().State.LastSeq}
	for p := range t.Partitions {
		c, err := s.Consumer(ctx, bus.ConsumerName(worker, p))
		if err != nil {
			return nil, fmt.Errorf("consumer %s: %w", bus.ConsumerName(worker, p), err)
		}
		out.Consumers = append(out.Consumers, consumerStatus(ctx, s, c.CachedInfo()))
	}
	dlq, err := js.Stream(ctx, t.DLQStream)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", t.DLQStream, err)
	}
	// Dead letters of this worker only: its subject's count in the stream.
	info, err := dlq.Info(ctx, jetstream.WithSubjectFilter(bus.DLQSubject(worker)))
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", t.DLQStream, err)
	}
	out.DeadLetters = info.State.Subjects[bus.DLQSubject(worker)]
	return out, nil
}
