// Package chatlog is the chat log as the gateway reaches it: the JetStream
// stream, appended to through the group-commit publisher (sends, reads) or
// one acknowledged append at a time (the outbox's staged events), and read
// back by sequence.
package chatlog

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/logchat/ingest/bus"
	"github.com/logchat/shared/domain"
	"github.com/logchat/shared/event"
)

// Publisher appends with group commit (*bus.Publisher).
type Publisher interface {
	Publish(ctx context.Context, env event.Envelope, msgID string) (bus.Ack, error)
}

// Log is the stream.
type Log struct {
	pub    Publisher
	js     jetstream.JetStream
	stream jetstream.Stream
	// timeout bounds one staged append.
	timeout time.Duration
}

// New returns the log over a publisher, the JetStream context and the stream
// (of that context). timeout bounds each append of a staged event (3s when 0).
func New(pub Publisher, js jetstream.JetStream, stream jetstream.Stream, timeout time.Duration) *Log {
	if timeout <= 0 {
		timeout = 3 * time.Second
	}
	return &Log{pub: pub, js: js, stream: stream, timeout: timeout}
}

// Append appends an event through the group-commit publisher.
func (l *Log) Append(ctx context.Context, env event.Envelope, msgID string) (bus.Ack, error) {
	return l.pub.Publish(ctx, env, msgID)
}

// AppendStaged appends an event the outbox staged, as it was staged, and
// returns once the stream has it on disk (or had it already: a duplicate of
// msgID). One at a time, not group-committed: chat and membership changes are
// few, and waiting for each keeps a failed one from being overtaken by a
// later event of its chat.
func (l *Log) AppendStaged(ctx context.Context, subject string, payload []byte, msgID string) error {
	if !l.js.Conn().IsConnected() {
		// Fail fast: waiting out the timeout would only hold the outbox lock.
		return fmt.Errorf("%w: not connected to NATS", bus.ErrUnavailable)
	}
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	msg := nats.NewMsg(subject)
	msg.Data = payload
	msg.Header.Set(jetstream.MsgIDHeader, msgID)
	// A span of the trace ctx carries (the staging request's), which the
	// event carries on to the workers.
	ctx, span := bus.StartAppend(ctx, subject, "staged")
	bus.InjectTrace(ctx, msg)
	ack, err := l.js.PublishMsg(ctx, msg)
	var seq uint64
	if ack != nil {
		seq = ack.Sequence
	}
	bus.EndAppend(span, seq, err)
	if err != nil {
		return fmt.Errorf("%w: append %s: %v", bus.ErrUnavailable, subject, err)
	}
	return nil
}

// Message reads the message with id back from the log: domain.ErrNotFound
// when the log has no such event, or it is not a message of chatID.
func (l *Log) Message(ctx context.Context, chatID, id int64) (domain.Message, error) {
	if id <= 0 {
		return domain.Message{}, fmt.Errorf("event %d: %w", id, domain.ErrNotFound)
	}
	raw, err := l.stream.GetMsg(ctx, uint64(id))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return domain.Message{}, fmt.Errorf("event %d: %w", id, domain.ErrNotFound)
	}
	if err != nil {
		return domain.Message{}, fmt.Errorf("read event %d: %w", id, err)
	}
	env, err := event.Decode(raw.Data)
	if err != nil {
		return domain.Message{}, fmt.Errorf("event %d: %w", id, err)
	}
	if env.Type != event.MessageCreated || env.ChatID != chatID {
		return domain.Message{}, fmt.Errorf("event %d is no message of chat %d: %w", id, chatID, domain.ErrNotFound)
	}
	return event.Event{Seq: raw.Sequence, Envelope: env}.Message()
}

// NewestMessageID is the sequence of the last message event of the chat in
// the stream (0 for none): readable from the moment its send was answered,
// unlike MySQL, which may lag.
func (l *Log) NewestMessageID(ctx context.Context, chatID int64) (int64, error) {
	raw, err := l.stream.GetLastMsgForSubject(ctx, bus.StoredSubjectPattern(chatID, event.KindMessage))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("newest message of chat %d: %w", chatID, err)
	}
	return int64(raw.Sequence), nil
}

// LastChange is the sequence of the newest change (edit, delete, hide) of any
// message of a chat in the log, 0 for none, and the log partition the chat's
// events land in (known only when there is a change).
func (l *Log) LastChange(ctx context.Context, chatID int64) (seq uint64, partition int, err error) {
	raw, err := l.stream.GetLastMsgForSubject(ctx, bus.StoredSubjectPattern(chatID, event.KindChange))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("newest change of chat %d: %w", chatID, err)
	}
	p, err := bus.PartitionOf(raw.Subject)
	if err != nil {
		return 0, 0, err
	}
	return raw.Sequence, p, nil
}
