// Package bus is everything about the log in one place: the stream and consumer
// topology as code, its idempotent provisioning, the publisher the gateway uses
// and the consumer runtime every worker uses.
//
// Subjects. Producers publish to chat.<chat_id>.<kind> (kind: msg, read, member,
// chat). The stream's subject transform rewrites that on intake to
// ev.<partition>.<chat_id>.<kind>, where partition = partition(P, chat_id) is
// NATS's own deterministic hash of the chat id. Each worker type has one durable
// consumer per partition, filtered on ev.<partition>.>, so all events of one
// chat reach one consumer, in log order.
//
// Invariant: one chat's events are never processed concurrently by one worker
// type. That holds because (1) a partition's consumer is pinned to one client at a
// time (priority group with PriorityPolicyPinned), (2) a client processes its
// partition's events strictly one batch after another, in delivery order, and
// (3) a client newly pinned to a partition first resets the consumer to its ack
// floor (consumer.go, pinChange and rewind), so the events a dead client held
// unacked are delivered again, in log order, before anything newer.
//
// Because of (3), ordering does not need MaxAckPending to equal the batch: it
// is InFlightBatches batches, so the next batches are delivered while one is
// being applied, and delivery and processing overlap.
//
// Changing Partitions changes where future events land; old events keep their
// stored subjects. Do it only with every worker drained (see README).
package bus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Topology describes the stream and its consumers.
type Topology struct {
	Stream    string // the log
	DLQStream string // dead-lettered events with reasons
	// Partitions is fixed at first provisioning (CheckPartitions refuses
	// another count over an existing log). It bounds how many instances of
	// one worker type share the work, and it is paid for at every load:
	// each partition is a consumer per worker type whose state the server
	// rewrites (create, write, fsync, rename) up to ten times a second while
	// events flow, and it splits each worker's calls further. So it is as
	// many as the instances that actually run: 1 on one machine (measured:
	// at 100 msg/s 4 partitions cost nats-server ~100 state rewrites a
	// second, a third of its CPU; docs/performance.md), 2 or more where
	// several instances of a worker run.
	Partitions      int
	DuplicateWindow time.Duration // how long a send's idempotency key is remembered
	MaxAge          time.Duration // how far back a replay can go
	MaxBytes        int64         // -1: unlimited
	Replicas        int
	AckWait         time.Duration // redelivery delay after a crash
	PinnedTTL       time.Duration // fail-over delay after a client stops pulling
}

// DefaultTopology is the topology of a developer machine.
func DefaultTopology() Topology {
	return Topology{
		Stream:          "CHAT",
		DLQStream:       "CHAT_DLQ",
		Partitions:      1,
		DuplicateWindow: 2 * time.Hour,
		MaxAge:          7 * 24 * time.Hour,
		MaxBytes:        -1,
		Replicas:        1,
		AckWait:         30 * time.Second,
		PinnedTTL:       5 * time.Second,
	}
}

// PriorityGroup is the one group name every worker pulls with.
const PriorityGroup = "workers"

// PublishSubject is where producers append an event of the given kind.
func PublishSubject(chatID int64, kind string) string {
	return fmt.Sprintf("chat.%d.%s", chatID, kind)
}

// PublishSubjectPattern matches what producers append of one kind, every chat.
// A plain NATS subscription to it sees each append as it is published (the
// stream's subject transform applies to the stored copy only).
func PublishSubjectPattern(kind string) string { return "chat.*." + kind }

// StoredSubjectPattern matches the stored subject of one chat's events of one kind,
// whatever partition they landed in.
func StoredSubjectPattern(chatID int64, kind string) string {
	return fmt.Sprintf("ev.*.%d.%s", chatID, kind)
}

// PartitionOf reads the partition from a stored subject
// (ev.<partition>.<chat_id>.<kind>).
func PartitionOf(storedSubject string) (int, error) {
	parts := strings.Split(storedSubject, ".")
	if len(parts) != 4 || parts[0] != "ev" {
		return 0, fmt.Errorf("%q is not a stored event subject", storedSubject)
	}
	p, err := strconv.Atoi(parts[1])
	if err != nil || p < 0 {
		return 0, fmt.Errorf("%q is not a stored event subject", storedSubject)
	}
	return p, nil
}

// PartitionFilter is the filter subject of partition p's consumers.
func PartitionFilter(p int) string { return fmt.Sprintf("ev.%d.>", p) }

// ConsumerName is the durable name of a worker type's consumer for partition p.
func ConsumerName(worker string, p int) string { return fmt.Sprintf("%s_p%02d", worker, p) }

// StreamConfig is the stream as code.
func (t Topology) StreamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        t.Stream,
		Description: "every chat event; MySQL, Redis and realtime are projections of it",
		Subjects:    []string{"chat.*.*"},
		SubjectTransform: &jetstream.SubjectTransformConfig{
			Source:      "chat.*.*",
			Destination: fmt.Sprintf("ev.{{partition(%d,1)}}.{{wildcard(1)}}.{{wildcard(2)}}", t.Partitions),
		},
		Storage:            jetstream.FileStorage,
		Retention:          jetstream.LimitsPolicy,
		Discard:            jetstream.DiscardOld,
		MaxAge:             t.MaxAge,
		MaxBytes:           t.MaxBytes,
		Duplicates:         t.DuplicateWindow,
		Replicas:           t.Replicas,
		AllowDirect:        true,
		AllowAtomicPublish: true,
	}
}

// DLQStreamConfig is the dead-letter stream: one subject per worker type.
func (t Topology) DLQStreamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        t.DLQStream,
		Description: "events a worker could not apply, with the reason in headers",
		Subjects:    []string{"dlq.>"},
		Storage:     jetstream.FileStorage,
		MaxAge:      30 * 24 * time.Hour,
		Replicas:    t.Replicas,
		AllowDirect: true,
	}
}

// InFlightBatches is how many batches a partition's client may hold unacked:
// one being applied, the next ones already delivered.
const InFlightBatches = 4

// ConsumerConfig is worker's consumer for partition p.
func (t Topology) ConsumerConfig(worker string, p, batch int) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:        ConsumerName(worker, p),
		Description:    fmt.Sprintf("%s, partition %d", worker, p),
		FilterSubject:  PartitionFilter(p),
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		AckPolicy:      jetstream.AckAllPolicy,
		AckWait:        t.AckWait,
		MaxDeliver:     -1, // poison is detected by the runtime, never dropped by the server
		MaxAckPending:  InFlightBatches * batch,
		PriorityPolicy: jetstream.PriorityPolicyPinned,
		PriorityGroups: []string{PriorityGroup},
		PinnedTTL:      t.PinnedTTL,
	}
}

// CheckPartitions refuses to run with a partition count other than the one
// an existing log was provisioned with: events are placed by the count, so a
// different one would route new events of a chat to a consumer that never
// saw its old ones, and updating the stream would leave the old partitions'
// unapplied events to no consumer at all.
func (t Topology) CheckPartitions(existing jetstream.StreamConfig) error {
	n, ok := partitionsOf(existing)
	if !ok || n == t.Partitions {
		return nil
	}
	return fmt.Errorf("the log %s has %d partitions but STREAM_PARTITIONS is %d: the count is fixed once the stream exists; "+
		"set STREAM_PARTITIONS=%d (README: changing the partitions)", existing.Name, n, t.Partitions, n)
}

// partitionsOf reads the partition count from a stream's subject transform.
func partitionsOf(cfg jetstream.StreamConfig) (int, bool) {
	if cfg.SubjectTransform == nil {
		return 0, false
	}
	dest := cfg.SubjectTransform.Destination
	i := strings.Index(dest, "{{partition(")
	if i < 0 {
		return 0, false
	}
	var n int
	if _, err := fmt.Sscanf(dest[i+len("{{partition("):], "%d,", &n); err != nil {
		return 0, false
	}
	return n, true
}

// Validate checks the topology.
func (t Topology) Validate() error {
	var errs []error
	if t.Partitions < 1 || t.Partitions > 1024 {
		errs = append(errs, fmt.Errorf("partitions must be 1..1024, got %d", t.Partitions))
	}
	if t.DuplicateWindow < time.Hour {
		errs = append(errs, fmt.Errorf("duplicate window must be at least 1h (the API promises it), got %v", t.DuplicateWindow))
	}
	if t.PinnedTTL < 2*time.Second {
		errs = append(errs, fmt.Errorf("pinned TTL must be at least 2s (idle clients re-pull every TTL/3, at least 1s), got %v", t.PinnedTTL))
	}
	if t.Stream == "" || t.DLQStream == "" {
		errs = append(errs, errors.New("stream names must not be empty"))
	}
	return errors.Join(errs...)
}

// ProvisionStreams creates or updates the log and the dead-letter stream.
// It is idempotent and safe to run from every process at start.
func ProvisionStreams(ctx context.Context, js jetstream.JetStream, t Topology) error {
	if err := t.Validate(); err != nil {
		return err
	}
	if s, err := js.Stream(ctx, t.Stream); err == nil {
		if err := t.CheckPartitions(s.CachedInfo().Config); err != nil {
			return err
		}
	} else if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("provision stream %s: %w", t.Stream, err)
	}
	for _, cfg := range []jetstream.StreamConfig{t.StreamConfig(), t.DLQStreamConfig()} {
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("provision stream %s: %w", cfg.Name, err)
		}
	}
	if _, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: PinsBucket, Description: "which worker instance holds which partition (ingest status)",
		History: 1, Replicas: t.Replicas,
	}); err != nil {
		return fmt.Errorf("provision bucket %s: %w", PinsBucket, err)
	}
	return nil
}

// PinsBucket is the key-value bucket where a worker instance notes, when it
// becomes the pinned client of a partition, its name and pin id, so that
// `ingest status` can name the instance behind the server's opaque pin id.
const PinsBucket = "LOGCHAT_PINS"

// PinKey is the bucket key of a worker type's partition.
func PinKey(worker string, p int) string { return fmt.Sprintf("%s.%d", worker, p) }

// ProvisionConsumers creates or updates every partition consumer of one worker type.
func ProvisionConsumers(ctx context.Context, js jetstream.JetStream, t Topology, worker string, batch int) ([]jetstream.Consumer, error) {
	out := make([]jetstream.Consumer, 0, t.Partitions)
	for p := 0; p < t.Partitions; p++ {
		c, err := js.CreateOrUpdateConsumer(ctx, t.Stream, t.ConsumerConfig(worker, p, batch))
		if err != nil {
			return nil, fmt.Errorf("provision consumer %s: %w", ConsumerName(worker, p), err)
		}
		out = append(out, c)
	}
	return out, nil
}
