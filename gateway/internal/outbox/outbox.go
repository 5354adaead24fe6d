// Package outbox gets the log events of chat and membership changes to the
// log: the transaction that makes a change also stages its event in MySQL
// (sqlstore's outbox table), and a Relay publishes the staged events after
// commit, in order, and deletes each one the log acknowledged.
//
// Why an outbox and not an append inside the transaction: an append followed
// by a failed commit leaves the log describing a chat that does not exist,
// and an append that fails would fail the change although MySQL could take
// it. Here the change and its event commit or roll back together, and a log
// that is down only delays the event (docs/design.md).
//
// Order across gateway instances: only the instance holding the outbox lock
// publishes (sqlstore.Store.DrainOutbox), in outbox id order, stopping at the
// first failure; a chat's changes are serialized by its row lock, so its
// events are staged, and published, in commit order. An instance that staged
// an event and finds another one draining waits for the lock and drains
// after it (Flush), so no event waits for the periodic sweep, which only
// collects what a crashed instance left behind.
package outbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/logchat/ingest/bus"
	"github.com/logchat/shared/domain"
	"github.com/logchat/shared/event"
	"github.com/logchat/storage/sqlstore"
)

// Stage returns the sqlstore.Stage of a change: the event of type t by actor
// at the given time, its payload made by data from the chat as the change
// left it.
//
// Each staged event gets a Nats-Msg-Id of its own, random and kept with the
// row: publishing the row again after a crash (published, not yet deleted) is
// then dropped by the stream's duplicate window, and a database rebuilt
// from scratch, whose outbox ids start over, can never collide with ids the
// stream still remembers.
//
// The row keeps the trace context of the request that staged it, and the
// relay appends the event in that trace: the change's journey through the
// workers shares the request's trace.id, as a message's does.
func Stage(t event.Type, actor int64, at time.Time, data func(domain.Chat) any) sqlstore.Stage {
	return func(ctx context.Context, chat domain.Chat) (sqlstore.OutboxEvent, error) {
		env, err := event.New(t, chat.ID, actor, at, data(chat))
		if err != nil {
			return sqlstore.OutboxEvent{}, err
		}
		env.ChatVersion = chat.Version
		payload, err := env.Encode()
		if err != nil {
			return sqlstore.OutboxEvent{}, fmt.Errorf("encode %s: %w", t, err)
		}
		var nonce [16]byte
		_, _ = rand.Read(nonce[:]) // crypto/rand.Read never fails
		return sqlstore.OutboxEvent{
			Subject:     bus.PublishSubject(chat.ID, event.SubjectKind(t)),
			MsgID:       fmt.Sprintf("o:%d:%s", chat.ID, hex.EncodeToString(nonce[:])),
			Payload:     payload,
			TraceParent: traceParent(ctx),
		}, nil
	}
}

// Store is the outbox table (*sqlstore.Store).
type Store interface {
	OutboxPending(ctx context.Context) (bool, error)
	DrainOutbox(ctx context.Context, wait time.Duration, publish func(context.Context, sqlstore.OutboxRow) error) (int, error)
}

// Log is where staged events go: the stream (*chatlog.Log), or anything
// standing in for it (the benchmark's synchronous baseline).
type Log interface {
	// AppendStaged appends payload to subject with msgID as its Nats-Msg-Id,
	// and returns once it is durable (or was a duplicate).
	AppendStaged(ctx context.Context, subject string, payload []byte, msgID string) error
}

// Config tunes a Relay; zero values take the defaults.
type Config struct {
	// Sweep is how often the relay looks for events nobody published (an
	// instance that crashed after commit, a log that was down). 1s.
	Sweep time.Duration
	// LockWait is how long a pass waits for another instance's drain. 5s.
	LockWait time.Duration
}

// Relay publishes staged events. Run must be running; Flush asks it for a
// pass and waits for it.
type Relay struct {
	store Store
	log   Log
	lg    *slog.Logger
	cfg   Config
	kick  chan struct{}

	mu       sync.Mutex
	started  uint64        // passes begun
	finished uint64        // passes ended (they run one at a time)
	lastErr  error         // of the last pass ended
	ended    chan struct{} // closed when a pass ends, then replaced
	failing  bool          // the last pass failed (to log a recovery once)

	published prometheus.Counter
	failures  prometheus.Counter
}

// New returns a relay from st to log; reg may be nil.
func New(st Store, log Log, lg *slog.Logger, cfg Config, reg prometheus.Registerer) *Relay {
	if cfg.Sweep <= 0 {
		cfg.Sweep = time.Second
	}
	if cfg.LockWait <= 0 {
		cfg.LockWait = 5 * time.Second
	}
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	r := &Relay{store: st, log: log, lg: lg, cfg: cfg, kick: make(chan struct{}, 1), ended: make(chan struct{}),
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "logchat_outbox_published_total", Help: "Staged chat and membership events appended to the log."}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "logchat_outbox_failed_passes_total", Help: "Outbox passes that stopped at an error (the log or MySQL down)."}),
	}
	if reg != nil {
		reg.MustRegister(r.published, r.failures)
	}
	return r
}

// Run publishes staged events whenever Flush asks and every Sweep, until ctx
// ends; then it makes one last pass, so that events committed by the last
// requests do not wait for another instance's sweep.
func (r *Relay) Run(ctx context.Context) error {
	t := time.NewTicker(r.cfg.Sweep)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			last, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.LockWait+5*time.Second)
			r.pass(last)
			cancel()
			return nil
		case <-r.kick:
		case <-t.C:
		}
		r.pass(ctx)
	}
}

// Flush asks for a pass and waits until one that began after the call has
// ended: then every event committed before the call is in the log, unless
// that pass failed (its error is returned; a later pass retries). ctx bounds
// the wait, not the pass.
func (r *Relay) Flush(ctx context.Context) error {
	r.mu.Lock()
	target := r.started + 1
	r.mu.Unlock()
	select {
	case r.kick <- struct{}{}:
	default: // a pass is asked for already; it begins after this call too
	}
	for {
		r.mu.Lock()
		if r.finished >= target {
			err := r.lastErr
			r.mu.Unlock()
			return err
		}
		ended := r.ended
		r.mu.Unlock()
		select {
		case <-ended:
		case <-ctx.Done():
			return fmt.Errorf("flush outbox: %w", ctx.Err())
		}
	}
}

func (r *Relay) pass(ctx context.Context) {
	r.mu.Lock()
	r.started++
	n := r.started
	r.mu.Unlock()

	err := r.drain(ctx)

	r.mu.Lock()
	r.finished, r.lastErr = n, err
	close(r.ended)
	r.ended = make(chan struct{})
	wasFailing := r.failing
	r.failing = err != nil && !errors.Is(err, sqlstore.ErrOutboxBusy)
	r.mu.Unlock()
	switch {
	case r.failing && !wasFailing:
		// Once per outage, not once per sweep: the sweep retries every second.
		r.lg.Warn("outbox: staged events wait for the log", "err", err)
	case wasFailing && err == nil:
		r.lg.Info("outbox: staged events published again")
	}
}

func (r *Relay) drain(ctx context.Context) error {
	// The cheap look first: an idle sweep takes no lock.
	pending, err := r.store.OutboxPending(ctx)
	if err != nil || !pending {
		return err
	}
	n, err := r.store.DrainOutbox(ctx, r.cfg.LockWait, func(ctx context.Context, row sqlstore.OutboxRow) error {
		// In the trace of the request that staged it (see Stage).
		return r.log.AppendStaged(bus.TraceParentContext(ctx, row.TraceParent), row.Subject, row.Payload, row.MsgID)
	})
	r.published.Add(float64(n))
	if err != nil {
		r.failures.Inc()
	}
	return err
}

// traceParent is the W3C traceparent of ctx's span, "" when it has none.
func traceParent(ctx context.Context) string {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ""
	}
	c := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, c)
	return c[bus.HeaderTraceParent]
}
