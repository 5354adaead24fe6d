// Package relay turns log events into Centrifugo publications (API.md,
// "Realtime"). It is the notifier's bus.Handler.
//
// Order. A batch holds one partition's events in log order, and every event
// of a chat lives in one partition, so publishing a batch's publications in
// batch order keeps each chat's channel in id order. They go out as gocent
// pipes: one HTTP request per pipe, and Centrifugo's /api handler runs a
// pipe's commands one after another in the order sent
// (internal/api/handler_legacy.go, handleAPI, in Centrifugo v6.9.1; the test
// TestOnePipeKeepsLogOrder checks it against the real server). Pipes of one
// batch are sent sequentially, never concurrently.
//
// Retries. Centrifugo answers each command of a pipe separately, so a pipe can
// partly succeed. Publications already accepted are remembered until their
// batch succeeds, and a retry of the batch (the runtime calls Handle again
// with the same events or a suffix) sends only the rest: subscribers do not
// see those twice. After a failure in the middle of a pipe, the commands after
// it were still applied, so a retried publication can arrive after later ones
// of its chat; clients order message.created by id (API.md) and read.updated
// only moves forward, so that is harmless. When a whole request fails
// (Centrifugo down, timeout) nothing is known to be accepted and the whole
// remainder is sent again; a request cut off mid-way can then show a
// publication twice, which clients tolerate (they drop known message ids).
package relay

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/centrifugal/gocent/v3"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/logchat/ingest/bus"
	"github.com/logchat/shared/event"
	"github.com/logchat/storage/updates"
)

// Config says where Centrifugo's server API is.
type Config struct {
	APIURL  string        // Centrifugo's /api endpoint, e.g. http://127.0.0.1:8000/api
	APIKey  string        // http_api.key of Centrifugo's configuration
	Timeout time.Duration // per HTTP request; 0 means 10s
	MaxPipe int           // publications per HTTP request; 0 means 1000
	// HTTPClient replaces the default keep-alive client (tests count requests with it).
	HTTPClient *http.Client
	// Updates is the per-user update stream: every personal publication is
	// written there first and carries its cursor (API.md, "Per-user
	// updates"). Nil publishes the version 1 personal publications only,
	// without cursors (the benchmark's synchronous baseline).
	Updates *updates.Store
	// Members loads a chat's members that Updates does not know; may be nil.
	Members MembersLoader
}

// Relay publishes events to Centrifugo. It implements bus.Handler and bus.Pinger.
type Relay struct {
	client  *gocent.Client
	http    *http.Client
	maxPipe int
	log     *slog.Logger
	metrics *metrics
	updates *updates.Store
	loader  MembersLoader

	mu       sync.Mutex
	accepted map[pubKey]struct{} // publications Centrifugo took during a batch that then failed
}

// pubKey names one publication of one event: the event's sequence is unique
// in the log; an event's chat-channel commands are always built in the same
// order (idx), and it has at most one personal publication per user.
type pubKey struct {
	seq  uint64
	idx  int
	user int64 // the recipient of a personal publication of the update stream
}

// maxRemembered bounds the accepted set. Entries of an event that is never
// retried here (dead-lettered, or redelivered to another instance) would
// otherwise stay forever; forgetting costs at most a duplicate publication.
const maxRemembered = 100_000

var (
	_ bus.Handler = (*Relay)(nil)
	_ bus.Pinger  = (*Relay)(nil)
)

// New builds a relay. reg may be nil.
func New(cfg Config, log *slog.Logger, reg prometheus.Registerer) *Relay {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.MaxPipe <= 0 {
		cfg.MaxPipe = 1000
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = NewHTTPClient(cfg.Timeout)
	}
	return &Relay{
		client:   gocent.New(gocent.Config{Addr: cfg.APIURL, Key: cfg.APIKey, HTTPClient: hc}),
		http:     hc,
		maxPipe:  cfg.MaxPipe,
		log:      log,
		metrics:  newMetrics(reg),
		accepted: map[pubKey]struct{}{},
		updates:  cfg.Updates,
		loader:   cfg.Members,
	}
}

// NewHTTPClient is a client that keeps connections to Centrifugo alive, so
// that a pipe per batch costs no TCP handshake. Every partition may have a
// request in flight, hence the idle pool per host. No proxy: Centrifugo's API
// is an internal service, and a proxy from the environment must not see it.
func NewHTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:          64,
			MaxIdleConnsPerHost:   64,
			IdleConnTimeout:       60 * time.Second,
			ResponseHeaderTimeout: timeout,
		},
	}
}

// Close drops idle connections.
func (r *Relay) Close() { r.http.CloseIdleConnections() }

// Ping asks Centrifugo for its info: it answers only when it is up and the API
// key is right, which is what every publish needs too; and pings the update
// streams' Redis, which every batch writes before it publishes. The runtime
// tells an outage (Ping fails: wait) from poison (Ping answers: dead-letter)
// by it, so it must cover every dependency of Handle.
func (r *Relay) Ping(ctx context.Context) error {
	if _, err := r.client.Info(ctx); err != nil {
		return fmt.Errorf("centrifugo info: %w", err)
	}
	if r.updates != nil {
		if err := r.updates.Ping(ctx); err != nil {
			return fmt.Errorf("update streams: %w", err)
		}
	}
	if r.loader != nil {
		if err := r.loader.Ping(ctx); err != nil {
			return fmt.Errorf("members loader: %w", err)
		}
	}
	return nil
}

// pending is one command of a pipe: a publication, or (unsubscribe set) the
// end of a user's subscription to Channel.
type pending struct {
	Publication
	unsubscribe string // a user id: unsubscribe them from Channel instead of publishing
	key         pubKey
}

// maxFanoutPerFlush bounds the personal updates a batch holds in memory at
// once: a batch of 1,000 messages to a group of 10,000 is ten million
// updates, so the batch is written and published in parts of about this
// many (each part whole events, in log order).
const maxFanoutPerFlush = 5000

// Handle publishes a batch's publications in log order. A malformed event or a
// publication Centrifugo rejects as invalid is a bus.Permanent error; anything
// else (Centrifugo down, Redis down, an internal error) is a plain error,
// retried.
//
// With update streams, the batch goes out in parts (maxFanoutPerFlush): each
// part's updates are written to the streams, then its publications sent.
// When a later part fails, what the earlier parts sent is remembered like
// the failed part's accepted publications, so the retry does not send it
// again.
func (r *Relay) Handle(ctx context.Context, events []event.Event) error {
	var plan *fanoutPlan
	if r.updates != nil {
		var err error
		if plan, err = r.newFanoutPlan(ctx, events); err != nil {
			return err
		}
	}
	var sent []pubKey // what this call's parts sent
	fail := func(err error) error {
		r.remember(sent)
		return err
	}
	from := 0
	for i, ev := range events {
		if plan != nil {
			if err := plan.add(ev); err != nil {
				return fail(err)
			}
		}
		// A part ends with the batch, or once its updates fill a part.
		if i < len(events)-1 && (plan == nil || plan.size() < maxFanoutPerFlush) {
			continue
		}
		keys, err := r.publish(ctx, events[from:i+1], plan)
		sent = append(sent, keys...)
		if err != nil {
			return fail(err)
		}
		from = i + 1
	}
	r.forget(sent)
	return nil
}

// publish sends the publications of events (a part of a batch), the personal
// ones from plan (written to the streams first). It returns the keys of what
// Centrifugo accepted.
func (r *Relay) publish(ctx context.Context, events []event.Event, plan *fanoutPlan) ([]pubKey, error) {
	var personal map[uint64][]pending
	if plan != nil {
		var err error
		if personal, err = plan.flush(ctx); err != nil {
			return nil, err
		}
	}
	pubs := make([]pending, 0, len(events))
	for _, ev := range events {
		unsubs, err := Unsubscriptions(ev)
		if err != nil {
			return nil, bus.PermanentAt(ev.Seq, fmt.Errorf("%s: %w", ev.Type, err))
		}
		// With update streams the personal publications come from the
		// plan, with their cursors; without, as version 1 made them.
		publications := Publications
		if plan != nil {
			publications = ChatPublications
		}
		ps, err := publications(ev)
		if err != nil {
			// Before anything of this part is sent: the rest of the batch
			// is retried without this event, so order is kept.
			return nil, bus.PermanentAt(ev.Seq, fmt.Errorf("%s: %w", ev.Type, err))
		}
		// An event's commands keep fixed indexes (unsubscriptions first),
		// so that a retry knows which of them Centrifugo already took.
		for i, u := range unsubs {
			pubs = append(pubs, pending{Publication: Publication{Channel: u.Channel}, unsubscribe: u.User, key: pubKey{seq: ev.Seq, idx: i}})
		}
		for j, p := range ps {
			pubs = append(pubs, pending{Publication: p, key: pubKey{seq: ev.Seq, idx: len(unsubs) + j}})
		}
		pubs = append(pubs, personal[ev.Seq]...)
	}
	todo := r.skipAccepted(pubs)
	var taken []pubKey
	for start := 0; start < len(todo); start += r.maxPipe {
		chunk := todo[start:min(start+r.maxPipe, len(todo))]
		ok, err := r.send(ctx, chunk)
		taken = append(taken, ok...)
		if err != nil {
			// Later pipes are not sent: they may hold later events of the
			// failed publication's chat.
			return taken, err
		}
	}
	keys := make([]pubKey, len(pubs))
	for i, p := range pubs {
		keys[i] = p.key
	}
	return keys, nil
}

// send sends one pipe and returns the keys Centrifugo accepted.
func (r *Relay) send(ctx context.Context, chunk []pending) ([]pubKey, error) {
	pipe := r.client.Pipe()
	for _, p := range chunk {
		var err error
		if p.unsubscribe != "" {
			err = pipe.AddUnsubscribe(p.Channel, p.unsubscribe)
		} else {
			err = pipe.AddPublish(p.Channel, p.Data)
		}
		if err != nil {
			return nil, err
		}
	}
	// A span of the call's trace (bus.Tracing), which links to the trace
	// of every event whose publications are in the pipe.
	ctx, span := otel.Tracer("github.com/logchat/notifier/relay").Start(ctx, "centrifugo publish", trace.WithSpanKind(trace.SpanKindClient))
	defer span.End()
	started := time.Now()
	replies, err := r.client.SendPipe(ctx, pipe)
	r.metrics.pipeSeconds.Observe(time.Since(started).Seconds())
	if span.IsRecording() {
		span.SetAttributes(attribute.Int("logchat.centrifugo.commands", len(chunk)))
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		}
	}
	if err != nil {
		r.metrics.failed.Add(float64(len(chunk)))
		return nil, fmt.Errorf("centrifugo pipe of %d publications: %w", len(chunk), err)
	}
	taken := make([]pubKey, 0, len(chunk))
	var permanent, transient error
	for i, rep := range replies {
		p := chunk[i]
		if rep.Error == nil {
			taken = append(taken, p.key)
			continue
		}
		r.metrics.failed.Inc()
		cerr := fmt.Errorf("centrifugo refused publication %d of event %d to %s: %w", p.key.idx, p.key.seq, p.Channel, *rep.Error)
		switch {
		case permanentCode(rep.Error.Code):
			if permanent == nil {
				permanent = bus.PermanentAt(p.key.seq, cerr)
			}
		case transient == nil:
			transient = cerr
		}
	}
	r.metrics.published.Add(float64(len(taken)))
	if permanent != nil {
		// The runtime dead-letters that event and calls again at once
		// with the others; publications taken here are not sent twice.
		return taken, permanent
	}
	return taken, transient
}

// permanentCode tells the errors that the same command gets again however
// often it is sent (Centrifugo's apiproto errors). Everything else, above all
// 100 "internal server error" (e.g. its broker is down), is worth a retry; the
// runtime still dead-letters an event that fails while Ping succeeds.
func permanentCode(code int) bool {
	switch code {
	case 102, // unknown channel: no such namespace
		104, // method not found
		107, // bad request: e.g. the data is not what the namespace accepts
		108: // not available
		return true
	}
	return false
}

func (r *Relay) skipAccepted(pubs []pending) []pending {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.accepted) == 0 {
		return pubs
	}
	out := pubs[:0:0]
	for _, p := range pubs {
		if _, done := r.accepted[p.key]; !done {
			out = append(out, p)
		}
	}
	if skipped := len(pubs) - len(out); skipped > 0 {
		r.log.Info("retry skips publications already accepted", "skipped", skipped, "first_seq", pubs[0].key.seq)
	}
	return out
}

func (r *Relay) remember(keys []pubKey) {
	if len(keys) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.accepted)+len(keys) > maxRemembered {
		clear(r.accepted)
	}
	for _, k := range keys {
		r.accepted[k] = struct{}{}
	}
}

func (r *Relay) forget(keys []pubKey) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.accepted) == 0 {
		return
	}
	for _, k := range keys {
		delete(r.accepted, k)
	}
}
