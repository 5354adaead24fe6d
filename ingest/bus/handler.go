package bus

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/logchat/shared/event"
)

// The worker contract: what every projection worker (persister, cachewarm,
// notifier) implements, and what the consumer runtime (Runner) promises it.
//
// A Handler is called with events of one or several partitions, each
// partition's events in log order (a chat's events always share a partition).
//
//   - nil: every event's effect is durable. The runtime acks the events.
//   - an error: "call me again". The runtime retries with capped exponential
//     back-off, with the same events or a suffix of them (after a crash,
//     another instance may get them again), so a Handler must be idempotent:
//     an event applied twice, or replayed from any earlier sequence, changes
//     nothing more. After a few failed tries it goes one event at a time, and
//     an event that keeps failing while the handler's Pinger answers is
//     dead-lettered as poison; while Ping fails it is an outage, and nothing
//     is dead-lettered.
//   - a permanent error (PermanentAt, Permanent): an event that retrying can
//     never fix. It goes to the dead-letter stream with the error as its
//     reason, and the rest is applied without it. PermanentAt names the
//     event; Permanent leaves it to the runtime, which then finds it by
//     calling the handler one event at a time. Handlers translate their
//     storage's errors into these at their edge (a payload that does not
//     decode, domain.ErrInvalid, an id another message holds): that is the
//     only way a worker says "permanent".
//
// Events of a Type the handler does not know must be skipped (nil), not
// rejected: newer producers may be running.
//
// The context carries the call's deadline; the runtime does not cancel it at
// shutdown: a call that has started is let finish, so a graceful stop throws
// no work away, and a call that fails then is not acked.
//
// Middleware (func(Handler) Handler) wraps every call: metrics, logging and
// tracing (Instrument, Logging, Tracing). The Runner applies its Middleware
// around its Handler; Ping is always asked of the Handler itself.
type Handler interface {
	Handle(ctx context.Context, events []event.Event) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, events []event.Event) error

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, events []event.Event) error { return f(ctx, events) }

// Pinger is implemented by handlers whose dependency can be probed. It is how
// the runtime tells a poison event (the dependency answers, yet this one event
// keeps failing) from an outage (nothing works): only the former is dead-lettered.
type Pinger interface {
	Ping(ctx context.Context) error
}

// PermanentError marks an event that retrying can never fix. Find it with
// errors.As; Seq 0 means the handler did not say which event of the call it is.
type PermanentError struct {
	Seq uint64
	Err error
}

func (e *PermanentError) Error() string {
	if e.Seq == 0 {
		return fmt.Sprintf("permanent: %v", e.Err)
	}
	return fmt.Sprintf("event %d: %v", e.Seq, e.Err)
}

func (e *PermanentError) Unwrap() error { return e.Err }

// PermanentAt says that the event with sequence seq can never be applied, for
// the reason err. The runtime dead-letters it and calls again with the rest.
func PermanentAt(seq uint64, err error) error { return &PermanentError{Seq: seq, Err: err} }

// Permanent says that an event of the call can never be applied, without
// saying which: the runtime calls the handler one event at a time, and the
// event that fails permanently alone is dead-lettered. Cheap for a rare
// poison event; a handler that knows the sequence uses PermanentAt.
func Permanent(err error) error { return &PermanentError{Err: err} }

// Middleware wraps a Handler with something every call needs: metrics,
// logging, tracing. It must pass the events and the error through unchanged
// (a permanent error must stay one).
type Middleware func(Handler) Handler

// Chain wraps h in mws; the first is the outermost.
func Chain(h Handler, mws ...Middleware) Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}

// Instrument counts handler calls in m under the worker's label: events per
// call (partitions' batches combined), events applied, calls that failed.
func Instrument(m *Metrics, worker string) Middleware {
	size := m.CallSize.WithLabelValues(worker)
	seconds := m.CallSeconds.WithLabelValues(worker)
	processed := m.Processed.WithLabelValues(worker)
	failed := m.Failed.WithLabelValues(worker)
	return func(next Handler) Handler {
		return HandlerFunc(func(ctx context.Context, events []event.Event) error {
			started := time.Now()
			err := next.Handle(ctx, events)
			size.Observe(float64(len(events)))
			seconds.Observe(time.Since(started).Seconds())
			if err != nil {
				failed.Inc()
			} else {
				processed.Add(float64(len(events)))
			}
			return err
		})
	}
}

// Logging writes a debug line per handler call: how many events, the
// sequences they span, how long it took and how it ended. The runtime itself
// logs its decisions (retry, dead-letter) at warn and error.
func Logging(log *slog.Logger) Middleware {
	return func(next Handler) Handler {
		return HandlerFunc(func(ctx context.Context, events []event.Event) error {
			if !log.Enabled(ctx, slog.LevelDebug) || len(events) == 0 {
				return next.Handle(ctx, events)
			}
			started := time.Now()
			err := next.Handle(ctx, events)
			lo, hi := events[0].Seq, events[0].Seq
			for _, ev := range events[1:] {
				lo, hi = min(lo, ev.Seq), max(hi, ev.Seq)
			}
			log.DebugContext(ctx, "handler call", "events", len(events), "first_seq", lo, "last_seq", hi,
				"duration", time.Since(started), "err", err)
			return err
		})
	}
}
