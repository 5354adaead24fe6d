package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/logchat/shared/event"
)

// RunnerConfig tunes the consumer runtime of one worker type.
type RunnerConfig struct {
	Worker       string        // consumer name prefix and dead-letter subject: persister, cachewarm, notifier
	Batch        int           // events per handler call; the consumer's MaxAckPending is InFlightBatches of them
	MaxAttempts  int           // tries of one event, its dependency healthy, before it is dead-lettered
	IsolateAfter int           // failed batch tries before events are retried one at a time
	BackoffMin   time.Duration // first retry delay
	BackoffMax   time.Duration // cap of the exponential back-off
	DrainTimeout time.Duration // how long shutdown may spend finishing buffered events
	// ProbeEvery: while a back-off longer than this is waited out, a Pinger
	// handler's dependency is probed this often, and once a probe that failed
	// is followed by one that answers (the outage has ended), the retry comes
	// at once instead of at the end of a back-off of up to BackoffMax. 0 never
	// probes.
	ProbeEvery time.Duration
	// Calls is how many handler calls may be in flight at once, each combining
	// the batches the partitions have ready (see combiner); 0 calls the handler
	// once per partition batch, the partitions in parallel.
	Calls int
	// Linger is how long a busy partition waits for more events after the
	// first of a batch, for a projection whose cost is per call rather than
	// per event (a transaction, a pipeline). Adaptive: it waits only when
	// the previous event arrived less than Linger before this one, so an
	// event after a quiet spell is applied at once and a lone message gains
	// no latency, while a steady trickle shares one call among several
	// events instead of paying a call, an ack and a commit for each. A full
	// batch never waits. 0 never waits.
	Linger time.Duration
	// CombineLinger is how long a combined call waits for more partitions'
	// batches after the first; 0 takes only what is ready (what calls in
	// flight let queue up meanwhile is combined anyway).
	CombineLinger time.Duration
}

// DefaultRunnerConfig is a sensible runtime for a worker.
func DefaultRunnerConfig(worker string, batch int) RunnerConfig {
	return RunnerConfig{
		Worker: worker, Batch: batch, MaxAttempts: 5, IsolateAfter: 3,
		BackoffMin: 100 * time.Millisecond, BackoffMax: 10 * time.Second, DrainTimeout: 10 * time.Second,
		ProbeEvery: 250 * time.Millisecond, Calls: 2,
	}
}

// Runner consumes every partition of the log for one worker type.
type Runner struct {
	JS       jetstream.JetStream
	Topology Topology
	Config   RunnerConfig
	Handler  Handler // the worker: see the contract in handler.go
	// Middleware wraps every call of Handler, the first outermost
	// (worker.Run installs Logging and Instrument).
	Middleware []Middleware
	Log        *slog.Logger
	Metrics    *Metrics
	// Instance names this process in `ingest status` (default host:pid).
	Instance string

	chain Handler // Handler inside Middleware
}

// Run provisions the worker's consumers and processes events until ctx is
// cancelled, then finishes the events it already holds and returns.
func (r *Runner) Run(ctx context.Context) error {
	if r.Metrics == nil {
		r.Metrics = NewMetrics(nil)
	}
	r.chain = Chain(r.Handler, r.Middleware...)
	var consumers []jetstream.Consumer
	for {
		// The log may be down when a worker starts: wait for it, never exit.
		var err error
		consumers, err = ProvisionConsumers(ctx, r.JS, r.Topology, r.Config.Worker, r.Config.Batch)
		if err == nil {
			break
		}
		r.Log.Warn("provision consumers, retrying", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
	var comb *combiner
	if r.Config.Calls > 0 && len(consumers) > 1 {
		// With one partition there is nothing to combine: the combiner
		// would only add a goroutine hand-off to every call.
		comb = newCombiner(r.handle, r.Config.Batch, r.Config.CombineLinger, len(consumers))
		// The combiner outlives the partitions: their graceful drain still
		// applies events through it.
		cctx, stopCombiner := context.WithCancel(context.Background())
		defer stopCombiner()
		go comb.run(cctx, r.Config.Calls)
	}
	g, gctx := errgroup.WithContext(ctx)
	for p, c := range consumers {
		pr := &partitionRunner{Runner: r, partition: p, consumer: c, combiner: comb,
			log: r.Log.With("worker", r.Config.Worker, "partition", p)}
		g.Go(func() error { return pr.run(gctx) })
	}
	err := g.Wait()
	// Acks are not confirmed (process): the last ones leave before the
	// connection is closed, or their events would be delivered again.
	if ferr := r.JS.Conn().FlushTimeout(2 * time.Second); ferr != nil && r.JS.Conn().IsConnected() {
		r.Log.Warn("flush the last acks", "err", ferr)
	}
	return err
}

// handle calls the handler, inside its middleware, detached from the shutdown
// signal: a batch that has started is finished, so a graceful stop does not
// throw away work in flight.
func (r *Runner) handle(events []event.Event) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return r.chain.Handle(ctx, events)
}

type partitionRunner struct {
	*Runner
	partition int
	consumer  jetstream.Consumer
	combiner  *combiner // nil: the handler is called per partition batch
	log       *slog.Logger
	lastDone  uint64 // highest stream sequence applied by this client
	pin       string // the pin id this client holds the partition with
	// awaitRestart: after a rewind, deliveries are dropped until the first
	// one of the restarted numbering arrives.
	awaitRestart bool
	lastArrival  time.Time // when the previous event was taken from the inbox (Linger)
	lingerTimer  *time.Timer
}

var errStopped = errors.New("stopped before the batch was applied")

func (pr *partitionRunner) run(ctx context.Context) error {
	inbox := make(chan jetstream.Msg, 4*pr.Config.Batch)
	// Two batches buffered: the next batch is already here when one is acked.
	cc, err := pr.consumer.Consume(func(m jetstream.Msg) { inbox <- m },
		jetstream.PullMaxMessages(2*pr.Config.Batch),
		jetstream.PullPriorityGroup(PriorityGroup),
		// A pinned client loses its pin when it sends no pull request for
		// PinnedTTL; an idle client re-pulls when its request expires. So the
		// request must expire well within the TTL, or an idle partition would
		// be unpinned and re-pinned (and rewound) for nothing.
		jetstream.PullExpiry(max(time.Second, pr.Topology.PinnedTTL/3)),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			// Pin mismatches are the normal state of a standby instance.
			if errors.Is(err, jetstream.ErrPinIDMismatch) {
				return
			}
			pr.log.Debug("consume", "err", err)
		}))
	if err != nil {
		return fmt.Errorf("consume %s: %w", ConsumerName(pr.Config.Worker, pr.partition), err)
	}
	lag := pr.Metrics.Lag.WithLabelValues(pr.Config.Worker, strconv.Itoa(pr.partition))
	batch := make([]jetstream.Msg, 0, pr.Config.Batch)
	for {
		batch = batch[:0]
		select {
		case m := <-inbox:
			if pr.accept(m) {
				batch = append(batch, m)
			}
		case <-ctx.Done():
			cc.Stop()
			return pr.drain(inbox)
		}
		batch = pr.collect(inbox, batch)
		if len(batch) == 0 {
			continue
		}
		batch = pr.linger(ctx, inbox, batch)
		if pin := pinChange(batch, pr.pin); pin != "" {
			// This client has just been pinned to the partition. The previous
			// holder may have died with events delivered but unacked, and the
			// server would hand out newer events before redelivering those
			// after AckWait: a reordering, and a gap that acknowledging the
			// newer events (AckAll) would acknowledge away. So the consumer is
			// moved back to its ack floor, and what was delivered before that
			// is dropped: deliveries restart from the floor, in log order,
			// numbered from 1 again.
			if err := pr.rewind(ctx); err != nil {
				cc.Stop()
				return nil
			}
			pr.pin = pin
			pr.awaitRestart = true
			pr.notePin(pin)
			continue
		}
		if err := pr.process(ctx, batch, lag); err != nil {
			// Stopped mid-retry: nothing acked, the events are redelivered.
			cc.Stop()
			return nil
		}
	}
}

// accept filters deliveries after a rewind: those numbered before it are
// stale; the first one after it has consumer sequence 1.
func (pr *partitionRunner) accept(m jetstream.Msg) bool {
	if !pr.awaitRestart {
		return true
	}
	meta, err := m.Metadata()
	if err != nil || meta.Sequence.Consumer != 1 {
		return false
	}
	pr.awaitRestart = false
	return true
}

// notePin records which instance holds the partition, for `ingest status`.
// Best effort: nothing depends on it.
func (pr *partitionRunner) notePin(pin string) {
	instance := pr.Instance
	if instance == "" {
		host, _ := os.Hostname()
		instance = fmt.Sprintf("%s:%d", host, os.Getpid())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	kv, err := pr.JS.KeyValue(ctx, PinsBucket)
	if err == nil {
		_, err = kv.PutString(ctx, PinKey(pr.Config.Worker, pr.partition), instance+" "+pin)
	}
	if err != nil {
		pr.log.Debug("note pin", "err", err)
	}
}

// pinChange returns the pin id of the batch when it is not the one this
// client holds ("" when unchanged). Every delivery of a pinned consumer
// carries the pin id of the client it was delivered to.
func pinChange(batch []jetstream.Msg, current string) string {
	for _, m := range batch {
		if pin := m.Headers().Get("Nats-Pin-Id"); pin != "" && pin != current {
			return pin
		}
	}
	return ""
}

// rewind resets the partition's consumer to its ack floor, retrying while the
// log is unreachable.
func (pr *partitionRunner) rewind(ctx context.Context) error {
	name := ConsumerName(pr.Config.Worker, pr.partition)
	for attempt := 1; ; attempt++ {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		// The acks sent so far reach the server before the reset does.
		err := pr.JS.Conn().FlushWithContext(rctx)
		if err == nil {
			_, err = pr.JS.ResetConsumer(rctx, pr.Topology.Stream, name)
		}
		cancel()
		if err == nil {
			pr.log.Info("pinned to partition; resumed from the ack floor")
			return nil
		}
		pr.log.Warn("reset consumer to its ack floor", "err", err)
		if err := pr.sleep(ctx, attempt, &keepalive{}); err != nil {
			return err
		}
	}
}

// collect appends what is already buffered, without waiting.
func (pr *partitionRunner) collect(inbox chan jetstream.Msg, batch []jetstream.Msg) []jetstream.Msg {
	for len(batch) < pr.Config.Batch {
		select {
		case m := <-inbox:
			if pr.accept(m) {
				batch = append(batch, m)
			}
		default:
			return batch
		}
	}
	return batch
}

// linger waits, while the partition is busy, up to Linger after the batch's
// first event for more (see RunnerConfig.Linger). Busy means the event
// before the batch came less than Linger before it.
func (pr *partitionRunner) linger(ctx context.Context, inbox chan jetstream.Msg, batch []jetstream.Msg) []jetstream.Msg {
	now := time.Now()
	busy := now.Sub(pr.lastArrival) < pr.Config.Linger
	pr.lastArrival = now
	if !busy || len(batch) >= pr.Config.Batch || pr.awaitRestart {
		return batch
	}
	if pr.lingerTimer == nil {
		pr.lingerTimer = time.NewTimer(pr.Config.Linger)
	} else {
		pr.lingerTimer.Reset(pr.Config.Linger)
	}
	defer pr.lingerTimer.Stop()
	for len(batch) < pr.Config.Batch {
		select {
		case m := <-inbox:
			if pr.accept(m) {
				batch = append(batch, m)
			}
		case <-pr.lingerTimer.C:
			pr.lastArrival = time.Now()
			return batch
		case <-ctx.Done():
			return batch
		}
	}
	pr.lastArrival = time.Now()
	return batch
}

// drain finishes the events already delivered to this client, so that a
// graceful stop does not leave them waiting out AckWait.
func (pr *partitionRunner) drain(inbox chan jetstream.Msg) error {
	ctx, cancel := context.WithTimeout(context.Background(), pr.Config.DrainTimeout)
	defer cancel()
	lag := pr.Metrics.Lag.WithLabelValues(pr.Config.Worker, strconv.Itoa(pr.partition))
	for {
		batch := pr.collect(inbox, make([]jetstream.Msg, 0, pr.Config.Batch))
		if len(batch) == 0 {
			return nil
		}
		if err := pr.process(ctx, batch, lag); err != nil {
			return nil
		}
	}
}

// process applies one batch and acks it. It returns errStopped only when ctx
// ends while the batch still fails; then nothing is acked.
func (pr *partitionRunner) process(ctx context.Context, msgs []jetstream.Msg, lag interface{ Set(float64) }) error {
	events := make([]event.Event, 0, len(msgs))
	byseq := make(map[uint64]jetstream.Msg, len(msgs))
	var last jetstream.Msg
	var lastSeq uint64
	replayed := false
	for _, m := range msgs {
		meta, err := m.Metadata()
		if err != nil {
			continue // not a JetStream message; nothing to ack
		}
		seq := meta.Sequence.Stream
		if seq > lastSeq {
			last, lastSeq = m, seq
			lag.Set(float64(meta.NumPending))
		}
		if _, twice := byseq[seq]; twice {
			// The same event delivered again while an earlier delivery
			// waited in the inbox (a batch stuck in an outage longer than
			// AckWait keeps only its own events alive): applied once, and
			// acknowledged through the newest delivery.
			byseq[seq] = m
			continue
		}
		if seq <= pr.lastDone {
			if meta.NumDelivered > 1 {
				// A redelivery of an event this client already applied (its
				// ack was lost or came late).
				continue
			}
			// A first delivery below lastDone is a replay: the consumer was
			// reset on purpose, so the event is applied again.
			replayed = true
		}
		env, err := event.Decode(m.Data())
		if err != nil {
			if err := pr.deadLetterRetrying(ctx, m, seq, err.Error()); err != nil {
				return err
			}
			continue
		}
		events = append(events, event.Event{Seq: seq, Partition: pr.partition, Envelope: env,
			TraceParent: m.Headers().Get(HeaderTraceParent)})
		byseq[seq] = m
	}
	if len(events) > 0 {
		if err := pr.apply(ctx, events, byseq, msgs); err != nil {
			return err
		}
	}
	if last != nil {
		// AckAll: acknowledging the highest sequence acknowledges the batch.
		// A plain ack, not a confirmed one: a confirmation is a reply the
		// server writes and this process wakes up for, per call, and all it
		// would buy is that a rewind (rare: a new pin) cannot overtake the
		// ack. rewind flushes the connection first instead; and an ack that
		// is lost or overtaken anyway only means events this client applied
		// are delivered again, which every handler tolerates (handler.go).
		if err := last.Ack(); err != nil {
			pr.log.Warn("ack", "seq", lastSeq, "err", err)
		}
		if replayed {
			pr.lastDone = lastSeq
		} else {
			pr.lastDone = max(pr.lastDone, lastSeq)
		}
	}
	return nil
}

// apply calls the handler until the batch is applied, dead-lettering events
// that can never be.
func (pr *partitionRunner) apply(ctx context.Context, events []event.Event, byseq map[uint64]jetstream.Msg, held []jetstream.Msg) error {
	started := time.Now()
	n := len(events)
	keepalive := newKeepalive(held, pr.Topology.AckWait)
	combined := pr.combiner != nil
	for attempt := 0; len(events) > 0; {
		var err error
		if combined && attempt == 0 {
			res := pr.combiner.call(events)
			if err = res.err; err != nil && res.shared {
				// The failure may be another partition's: retry alone, at once.
				combined = false
				continue
			}
		} else {
			err = pr.handle(events)
		}
		if err == nil {
			break
		}
		var perm *PermanentError
		if errors.As(err, &perm) {
			i := indexOf(events, perm.Seq)
			if perm.Seq == 0 && len(events) == 1 {
				i = 0 // a call of one event names it
			}
			if i >= 0 {
				seq := events[i].Seq
				if err := pr.deadLetterRetrying(ctx, byseq[seq], seq, perm.Err.Error()); err != nil {
					return err
				}
				events = append(events[:i:i], events[i+1:]...)
				continue
			}
			// Permanent, without saying which event: retrying the batch
			// cannot help, so find it one event at a time, at once.
			attempt = pr.Config.IsolateAfter
		} else {
			attempt++
		}
		if attempt >= pr.Config.IsolateAfter {
			// Find the one event that fails, if one does, by going one at a
			// time (a batch of one too: that is where poison is told from
			// an outage).
			for _, ev := range events {
				if err := pr.applyOne(ctx, ev, byseq[ev.Seq], keepalive); err != nil {
					return err
				}
			}
			break
		}
		pr.log.Warn("batch failed, retrying", "attempt", attempt, "events", len(events), "first_seq", events[0].Seq, "err", err)
		if err := pr.sleep(ctx, attempt, keepalive); err != nil {
			return err
		}
	}
	pr.Metrics.BatchSize.WithLabelValues(pr.Config.Worker).Observe(float64(n))
	pr.Metrics.BatchSeconds.WithLabelValues(pr.Config.Worker).Observe(time.Since(started).Seconds())
	return nil
}

func (pr *partitionRunner) applyOne(ctx context.Context, ev event.Event, m jetstream.Msg, keepalive *keepalive) error {
	one := []event.Event{ev}
	for attempt := 1; ; attempt++ {
		err := pr.handle(one)
		if err == nil {
			return nil
		}
		var perm *PermanentError
		if errors.As(err, &perm) {
			return pr.deadLetterRetrying(ctx, m, ev.Seq, perm.Err.Error())
		}
		if attempt >= pr.Config.MaxAttempts && pr.dependencyHealthy() {
			// The dependency answers now. One more try decides: the failures
			// so far may all belong to an outage that has just ended.
			if err = pr.handle(one); err == nil {
				return nil
			}
			if errors.As(err, &perm) {
				return pr.deadLetterRetrying(ctx, m, ev.Seq, perm.Err.Error())
			}
			if pr.dependencyHealthy() {
				// It answers, yet this event still fails: poison. An outage
				// (the probe fails too) is waited out instead.
				return pr.deadLetterRetrying(ctx, m, ev.Seq, fmt.Sprintf("failed %d times, the last with the dependency healthy: %v", attempt+1, err))
			}
		}
		pr.log.WarnContext(TraceParentContext(ctx, ev.TraceParent), "event failed, retrying", "attempt", attempt, "seq", ev.Seq, "type", ev.Type, "err", err)
		if err := pr.sleep(ctx, attempt, keepalive); err != nil {
			return err
		}
	}
}

func (pr *partitionRunner) dependencyHealthy() bool {
	p, ok := pr.Handler.(Pinger)
	if !ok {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return p.Ping(ctx) == nil
}

// sleep waits the back-off of the given attempt, keeping held events from
// being redelivered meanwhile. It ends early when the handler's dependency is
// seen down and then back up (see RunnerConfig.ProbeEvery): after an outage
// the backlog is applied within a probe interval of the dependency's return,
// not at the end of a back-off that grew during the outage. A failure while
// the dependency answers (a deadlock, a poison event) waits the full back-off,
// so it does not use up its attempts in a rush.
func (pr *partitionRunner) sleep(ctx context.Context, attempt int, k *keepalive) error {
	d := pr.Config.BackoffMin << min(attempt-1, 20)
	if d > pr.Config.BackoffMax || d <= 0 {
		d = pr.Config.BackoffMax
	}
	t := time.NewTimer(d)
	defer t.Stop()
	tick := time.NewTicker(max(pr.Topology.AckWait/3, 10*time.Millisecond))
	defer tick.Stop()
	var probe <-chan time.Time
	if _, canProbe := pr.Handler.(Pinger); canProbe && pr.Config.ProbeEvery > 0 && d > pr.Config.ProbeEvery {
		pt := time.NewTicker(pr.Config.ProbeEvery)
		defer pt.Stop()
		probe = pt.C
	}
	sawDown := false
	for {
		select {
		case <-t.C:
			k.touch()
			return nil
		case <-tick.C:
			k.touch()
		case <-probe:
			if !pr.dependencyHealthy() {
				sawDown = true
			} else if sawDown {
				pr.log.Info("dependency answers again, retrying now", "attempt", attempt)
				k.touch()
				return nil
			}
		case <-ctx.Done():
			return errStopped
		}
	}
}

// deadLetterRetrying publishes to the dead-letter stream, retrying while the
// log is unreachable: an event is acked only once its dead letter is stored.
func (pr *partitionRunner) deadLetterRetrying(ctx context.Context, m jetstream.Msg, seq uint64, reason string) error {
	for attempt := 1; ; attempt++ {
		err := pr.deadLetter(m, seq, reason)
		if err == nil {
			pr.Metrics.DeadLettered.WithLabelValues(pr.Config.Worker).Inc()
			// In the event's trace: its journey ends here.
			pr.log.ErrorContext(TraceParentContext(ctx, m.Headers().Get(HeaderTraceParent)), "event dead-lettered", "seq", seq, "reason", reason)
			return nil
		}
		pr.log.Warn("dead-letter publish failed", "seq", seq, "err", err)
		if err := pr.sleep(ctx, attempt, &keepalive{}); err != nil {
			return err
		}
	}
}

// Headers of a dead-lettered event.
const (
	HeaderDLQReason  = "Logchat-Dlq-Reason"
	HeaderDLQWorker  = "Logchat-Dlq-Worker"
	HeaderDLQSeq     = "Logchat-Dlq-Stream-Seq"
	HeaderDLQSubject = "Logchat-Dlq-Subject"
)

// DLQSubject is where a worker type's dead letters go.
func DLQSubject(worker string) string { return "dlq." + worker }

func (pr *partitionRunner) deadLetter(m jetstream.Msg, seq uint64, reason string) error {
	out := nats.NewMsg(DLQSubject(pr.Config.Worker))
	out.Data = m.Data()
	out.Header.Set(HeaderDLQReason, reason)
	out.Header.Set(HeaderDLQWorker, pr.Config.Worker)
	out.Header.Set(HeaderDLQSeq, strconv.FormatUint(seq, 10))
	out.Header.Set(HeaderDLQSubject, m.Subject())
	if tp := m.Headers().Get(HeaderTraceParent); tp != "" {
		out.Header.Set(HeaderTraceParent, tp)
	}
	// No Nats-Msg-Id on purpose: after `ingest dlq retry` the same event may
	// fail again and must be dead-lettered again. A crash between this publish
	// and the ack can leave two dead letters of one event; that is harmless.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := pr.JS.PublishMsg(ctx, out)
	return err
}

func indexOf(events []event.Event, seq uint64) int {
	for i, e := range events {
		if e.Seq == seq {
			return i
		}
	}
	return -1
}

// keepalive tells the server that held events are still being worked on, so
// that a long outage does not make it redeliver them to another instance.
type keepalive struct {
	msgs  []jetstream.Msg
	last  time.Time
	every time.Duration
}

func newKeepalive(msgs []jetstream.Msg, ackWait time.Duration) *keepalive {
	return &keepalive{msgs: msgs, last: time.Now(), every: ackWait / 3}
}

func (k *keepalive) touch() {
	if len(k.msgs) == 0 || time.Since(k.last) < k.every {
		return
	}
	for _, m := range k.msgs {
		_ = m.InProgress()
	}
	k.last = time.Now()
}
