package bus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/synadia-io/orbit.go/jetstreamext"

	"github.com/logchat/shared/event"
)

// ErrUnavailable means the log did not acknowledge the append: the event may or
// may not be stored. Callers answer 503; a client retry with the same
// idempotency key is deduplicated by the stream.
var ErrUnavailable = errors.New("log unavailable")

// Ack is the log's answer to one append.
type Ack struct {
	Seq       uint64 // the event's stream sequence: its id
	Duplicate bool   // the idempotency key was seen before; Seq is the original event's
}

// PublisherConfig tunes group commit.
type PublisherConfig struct {
	// GroupCommit coalesces concurrent appends into one atomic batch publish.
	// With fsync before acknowledgement (sync_interval: always) one batch costs
	// about one fsync, so this is what keeps durable sends fast.
	GroupCommit bool
	Window      time.Duration // how long the first append of a batch waits for company
	MaxBatch    int           // at most this many appends per batch (server limit 1000)
	Committers  int           // batches in flight at once; more appends wait and join the next batch
	Timeout     time.Duration // how long an append may wait for the log
	// SmallBatch: batches of fewer appends are published one by one instead
	// (asynchronously, in order, each with its own fsync). An atomic batch is
	// staged by the server in a store of its own (directories and files created,
	// written, fsynced and deleted), which costs about as much CPU as a dozen
	// single fsyncs; at moderate rates batches are small and that staging was
	// most of nats-server's CPU (docs/performance.md).
	SmallBatch int
}

// DefaultPublisherConfig is group commit with a 1 ms window.
func DefaultPublisherConfig() PublisherConfig {
	return PublisherConfig{GroupCommit: true, Window: time.Millisecond, MaxBatch: 500, Committers: 2, Timeout: 3 * time.Second, SmallBatch: 8}
}

type pubRequest struct {
	msg  *nats.Msg
	done chan pubResult
}

type pubResult struct {
	ack Ack
	err error
}

// Publisher appends events to the log.
type Publisher struct {
	js       jetstream.JetStream
	cfg      PublisherConfig
	reqs     chan pubRequest
	batchLen prometheus.Histogram
	fallback prometheus.Counter
	failures prometheus.Counter // publisher_metrics.go
}

// NewPublisher returns a publisher; Run must be running for group commit.
func NewPublisher(js jetstream.JetStream, cfg PublisherConfig, reg prometheus.Registerer) *Publisher {
	p := &Publisher{
		js:   js,
		cfg:  cfg,
		reqs: make(chan pubRequest, 4*max(cfg.MaxBatch, 1)),
		batchLen: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "logchat_publish_batch_size", Help: "Appends per group-commit batch.",
			Buckets: []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000},
		}),
		fallback: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "logchat_publish_batch_fallbacks_total", Help: "Batches republished one by one because one of their ids was a duplicate.",
		}),
		failures: newPublishFailures(),
	}
	if reg != nil {
		reg.MustRegister(p.batchLen, p.fallback, p.failures)
	}
	return p
}

// Publish appends one event. msgID, if not empty, is the idempotency key
// (Nats-Msg-Id): a second append with the same key within the duplicate window
// stores nothing and answers the original sequence with Duplicate set.
//
// The append is a span of ctx's trace, and the event carries that span's
// trace context in its headers (trace.go): the workers continue the trace.
func (p *Publisher) Publish(ctx context.Context, env event.Envelope, msgID string) (ack Ack, err error) {
	defer p.countFailure(&err)
	data, err := env.Encode()
	if err != nil {
		return Ack{}, err
	}
	msg := nats.NewMsg(PublishSubject(env.ChatID, event.SubjectKind(env.Type)))
	msg.Data = data
	if msgID != "" {
		msg.Header.Set(jetstream.MsgIDHeader, msgID)
	}
	ctx, span := startAppend(ctx, msg.Subject, env.Type)
	defer func() { endAppend(span, ack, err) }()
	InjectTrace(ctx, msg)
	if !p.js.Conn().IsConnected() {
		// Fail fast while the log is unreachable instead of letting the client
		// wait out the timeout; its retry with the same key is deduplicated.
		return Ack{}, fmt.Errorf("%w: not connected to NATS", ErrUnavailable)
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	if !p.cfg.GroupCommit {
		return p.publishOne(ctx, msg)
	}
	req := pubRequest{msg: msg, done: make(chan pubResult, 1)}
	select {
	case p.reqs <- req:
	case <-ctx.Done():
		return Ack{}, fmt.Errorf("%w: %v", ErrUnavailable, ctx.Err())
	}
	select {
	case r := <-req.done:
		return r.ack, r.err
	case <-ctx.Done():
		// The batch may still commit; the client's retry is deduplicated.
		return Ack{}, fmt.Errorf("%w: %v", ErrUnavailable, ctx.Err())
	}
}

// Run commits batches until ctx is cancelled. Pending appends at that point are
// still committed, so a graceful shutdown loses no accepted request.
func (p *Publisher) Run(ctx context.Context) error {
	if !p.cfg.GroupCommit {
		<-ctx.Done()
		return nil
	}
	// Group commit with pipelining: at most Committers batches are in flight.
	// While they are, new appends queue up, and the next batch takes all of
	// them (up to MaxBatch): under load batches grow by themselves, and one
	// fsync covers many appends. An idle publisher waits Window for company
	// before committing a lone append.
	slots := make(chan struct{}, max(p.cfg.Committers, 1))
	// Committers are long-lived goroutines: one started per batch began
	// with a small stack and grew it on every commit (a few per cent of the
	// gateway's CPU at moderate rates).
	work := make(chan []pubRequest)
	var wg sync.WaitGroup
	for range cap(slots) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for batch := range work {
				p.commit(batch)
				<-slots
			}
		}()
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		var first pubRequest
		select {
		case first = <-p.reqs:
		case <-ctx.Done():
			close(work)
			wg.Wait() // in-flight batches first, so that order is kept
			p.drain()
			return nil
		}
		batch := make([]pubRequest, 1, p.cfg.MaxBatch)
		batch[0] = first
		select {
		case slots <- struct{}{}:
			// A committer was free at once: give concurrent appends a moment.
			timer.Reset(p.cfg.Window)
		collect:
			for len(batch) < p.cfg.MaxBatch {
				select {
				case r := <-p.reqs:
					batch = append(batch, r)
				case <-timer.C:
					break collect
				}
			}
			timer.Stop()
		default:
			// Every committer is busy: appends gather until one is free.
			slots <- struct{}{}
		}
		batch = fill(p.reqs, batch, p.cfg.MaxBatch)
		work <- batch // a committer is free: this loop holds its slot
	}
}

// fill appends what is queued, without waiting.
func fill(reqs chan pubRequest, batch []pubRequest, limit int) []pubRequest {
	for len(batch) < limit {
		select {
		case r := <-reqs:
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

// drain commits whatever is queued when the publisher stops.
func (p *Publisher) drain() {
	for {
		batch := fill(p.reqs, make([]pubRequest, 0, p.cfg.MaxBatch), p.cfg.MaxBatch)
		if len(batch) == 0 {
			return
		}
		p.commit(batch)
	}
}

func (p *Publisher) commit(batch []pubRequest) {
	p.batchLen.Observe(float64(len(batch)))
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.Timeout)
	defer cancel()
	if len(batch) == 1 {
		ack, err := p.publishOne(ctx, batch[0].msg)
		batch[0].done <- pubResult{ack, err}
		return
	}
	if len(batch) < p.cfg.SmallBatch {
		p.publishEach(ctx, batch)
		return
	}
	msgs := make([]*nats.Msg, len(batch))
	for i, r := range batch {
		msgs[i] = r.msg
	}
	back, err := jetstreamext.PublishMsgBatch(ctx, p.js, msgs, jetstreamext.BatchFlowControl{AckFirst: false, AckTimeout: p.cfg.Timeout})
	if err == nil {
		// An atomic batch is stored consecutively and acknowledged with the
		// sequence of its last message.
		first := back.Sequence - uint64(len(batch)) + 1
		for i, r := range batch {
			r.done <- pubResult{ack: Ack{Seq: first + uint64(i)}}
		}
		return
	}
	if !isDuplicateInBatch(err) {
		for _, r := range batch {
			r.done <- pubResult{err: fmt.Errorf("%w: atomic batch: %v", ErrUnavailable, err)}
		}
		return
	}
	// One id was already in the duplicate window (a client retry), which fails
	// the whole atomic batch. Publish one by one, in order: each gets its own
	// acknowledgement, the duplicate its original sequence. Retries are rare.
	p.fallback.Inc()
	for _, r := range batch {
		r.msg.Header.Del(jetstreamext.BatchIDHeader)
		r.msg.Header.Del(jetstreamext.BatchSeqHeader)
		r.msg.Header.Del(jetstreamext.BatchCommitHeader)
	}
	p.publishEach(ctx, batch)
}

// publishEach publishes a small batch one append at a time, pipelined: every
// append is sent before the first acknowledgement is awaited. One connection
// keeps them in order.
func (p *Publisher) publishEach(ctx context.Context, batch []pubRequest) {
	futures := make([]jetstream.PubAckFuture, len(batch))
	for i, r := range batch {
		f, err := p.js.PublishMsgAsync(r.msg)
		if err != nil {
			r.done <- pubResult{err: fmt.Errorf("%w: %v", ErrUnavailable, err)}
			continue
		}
		futures[i] = f
	}
	for i, f := range futures {
		if f == nil {
			continue
		}
		var res pubResult
		select {
		case pa := <-f.Ok():
			res.ack = Ack{Seq: pa.Sequence, Duplicate: pa.Duplicate}
		case err := <-f.Err():
			res.err = fmt.Errorf("%w: %v", ErrUnavailable, err)
		case <-ctx.Done():
			res.err = fmt.Errorf("%w: %v", ErrUnavailable, ctx.Err())
		}
		batch[i].done <- res
	}
}

func (p *Publisher) publishOne(ctx context.Context, msg *nats.Msg) (Ack, error) {
	pa, err := p.js.PublishMsg(ctx, msg)
	if err != nil {
		return Ack{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return Ack{Seq: pa.Sequence, Duplicate: pa.Duplicate}, nil
}

func isDuplicateInBatch(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode == 10201 {
		return true
	}
	return strings.Contains(err.Error(), "duplicate message")
}
