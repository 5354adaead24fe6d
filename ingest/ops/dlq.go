package ops

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/logchat/ingest/bus"
)

// DeadLetter is one event a worker gave up on.
type DeadLetter struct {
	Seq       uint64    `json:"seq"` // its sequence in the dead-letter stream
	Worker    string    `json:"worker"`
	Reason    string    `json:"reason"`
	OrigSeq   uint64    `json:"orig_seq"` // its sequence in the log
	Subject   string    `json:"subject"`
	Partition int       `json:"partition"`
	At        time.Time `json:"at"`
	Data      string    `json:"data"`
}

func deadLetterFrom(m *jetstream.RawStreamMsg) DeadLetter {
	d := DeadLetter{
		Seq: m.Sequence, Worker: m.Header.Get(bus.HeaderDLQWorker), Reason: m.Header.Get(bus.HeaderDLQReason),
		Subject: m.Header.Get(bus.HeaderDLQSubject), At: m.Time, Data: string(m.Data), Partition: -1,
	}
	d.OrigSeq, _ = strconv.ParseUint(m.Header.Get(bus.HeaderDLQSeq), 10, 64)
	// Stored subjects are ev.<partition>.<chat>.<kind>.
	if parts := strings.Split(d.Subject, "."); len(parts) == 4 && parts[0] == "ev" {
		if p, err := strconv.Atoi(parts[1]); err == nil {
			d.Partition = p
		}
	}
	return d
}

// ListDeadLetters returns every dead letter still stored, oldest first.
func ListDeadLetters(ctx context.Context, js jetstream.JetStream, t bus.Topology) ([]DeadLetter, error) {
	s, err := js.Stream(ctx, t.DLQStream)
	if err != nil {
		return nil, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, err
	}
	var out []DeadLetter
	if info.State.Msgs == 0 {
		return out, nil
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue // dropped
		}
		if err != nil {
			return nil, err
		}
		out = append(out, deadLetterFrom(m))
	}
	return out, nil
}

// ShowDeadLetter returns one dead letter.
func ShowDeadLetter(ctx context.Context, js jetstream.JetStream, t bus.Topology, seq uint64) (DeadLetter, error) {
	s, err := js.Stream(ctx, t.DLQStream)
	if err != nil {
		return DeadLetter{}, err
	}
	m, err := s.GetMsg(ctx, seq)
	if err != nil {
		return DeadLetter{}, fmt.Errorf("dead letter %d: %w", seq, err)
	}
	return deadLetterFrom(m), nil
}

// RetryDeadLetter gives the event back to its worker after a fix: the
// worker's consumer for the event's partition is moved back to the event, so
// the worker applies it (and, idempotently, what followed it in that
// partition) again. The dead letter is removed; if the event fails again, it
// is dead-lettered again with the new reason.
//
// Nothing is republished: a copy in the log would get a new sequence, and a
// message's id is its sequence.
func RetryDeadLetter(ctx context.Context, js jetstream.JetStream, t bus.Topology, seq uint64) (DeadLetter, error) {
	d, err := ShowDeadLetter(ctx, js, t, seq)
	if err != nil {
		return d, err
	}
	if d.Partition < 0 || d.OrigSeq == 0 || d.Worker == "" {
		return d, fmt.Errorf("dead letter %d lacks its origin (subject %q, seq %d, worker %q)", seq, d.Subject, d.OrigSeq, d.Worker)
	}
	s, err := js.Stream(ctx, t.Stream)
	if err != nil {
		return d, err
	}
	if _, err := s.ResetConsumerToSequence(ctx, bus.ConsumerName(d.Worker, d.Partition), d.OrigSeq); err != nil {
		return d, fmt.Errorf("reset %s to %d: %w", bus.ConsumerName(d.Worker, d.Partition), d.OrigSeq, err)
	}
	return d, DropDeadLetter(ctx, js, t, seq)
}

// DropDeadLetter deletes a dead letter for good.
func DropDeadLetter(ctx context.Context, js jetstream.JetStream, t bus.Topology, seq uint64) error {
	s, err := js.Stream(ctx, t.DLQStream)
	if err != nil {
		return err
	}
	if err := s.DeleteMsg(ctx, seq); err != nil {
		return fmt.Errorf("drop dead letter %d: %w", seq, err)
	}
	return nil
}
