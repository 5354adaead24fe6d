package ops_test

import (
	"context"
	"io"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/logchat/ingest/bus"
	"github.com/logchat/ingest/ops"
	"github.com/logchat/shared/event"
	"github.com/logchat/testkit"
)

// blockingHandler holds every call until released: its events stay
// delivered and unacknowledged (ack pending) meanwhile.
type blockingHandler struct{ release chan struct{} }

func (h *blockingHandler) Handle(ctx context.Context, _ []event.Event) error {
	select {
	case <-h.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *blockingHandler) Ping(context.Context) error { return nil }

// The lag metrics a worker exports and `ingest status` read the same
// consumers through the same code: on a real stream, with a dead letter, a
// backlog nobody consumes and events held unacknowledged, both give the same
// numbers. The collector logs in as the persister's own NATS user, so its
// permissions are proven too.
func TestLagMetricsAgreeWithStatus(t *testing.T) {
	n := testkit.StartNATS(t)
	_, js := n.Connect(t)
	topo := bus.DefaultTopology()
	topo.Partitions = testkit.NATSPartitions // the users' permissions name these consumers
	ctx := context.Background()
	if err := bus.ProvisionStreams(ctx, js, topo); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"persister", "cachewarm"} {
		if _, err := bus.ProvisionConsumers(ctx, js, topo, w, 10); err != nil {
			t.Fatal(err)
		}
	}
	pub := bus.NewPublisher(js, bus.PublisherConfig{Timeout: 5 * time.Second}, nil)
	publish := func(chat int64, text string) {
		t.Helper()
		env, _ := event.New(event.MessageCreated, chat, 1, time.Now(), map[string]string{"text": text})
		if _, err := pub.Publish(ctx, env, ""); err != nil {
			t.Fatal(err)
		}
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	run := func(h bus.Handler) (stop func()) {
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = (&bus.Runner{JS: js, Topology: topo, Config: bus.DefaultRunnerConfig("persister", 10), Handler: h,
				Log: quiet, Instance: "lag-test"}).Run(rctx)
		}()
		return func() { cancel(); <-done }
	}

	_, wjs := n.ConnectAs(t, "persister")
	reg := prometheus.NewRegistry()
	// The persister's user exports the cachewarm's lag too, which nothing
	// consumes here: a type with no instance left.
	reg.MustRegister(ops.NewLagCollector(wjs, topo, []string{"persister", "cachewarm"}, quiet))

	// 1. Six events over several chats, one poison: five applied, one dead letter.
	for i := range 6 {
		text := "x"
		if i == 2 {
			text = "bad"
		}
		publish(int64(i+1), text)
	}
	h := &countingHandler{applied: map[uint64]int{}}
	stop := run(h)
	waitUntil(t, "five applied, one dead-lettered", func() bool {
		rep, err := ops.Status(ctx, js, topo)
		e, _ := h.total()
		return err == nil && e == 5 && rep.DeadLetters == 1
	})
	stop()

	// 2. A backlog nobody consumes.
	for i := range 4 {
		publish(int64(10+i), "y")
	}
	got := compareLag(t, ctx, js, topo, reg)
	if got.pending != 4 || got.lagSeconds <= 0 || got.deadLetters != 1 {
		t.Fatalf("backlog: pending %v, max lag %vs, dead letters %v; want 4, > 0, 1", got.pending, got.lagSeconds, got.deadLetters)
	}

	// 3. The backlog delivered and held unacknowledged.
	b := &blockingHandler{release: make(chan struct{})}
	stop = run(b)
	waitUntil(t, "the backlog delivered, unacked", func() bool {
		rep, err := ops.Status(ctx, js, topo)
		if err != nil {
			return false
		}
		var ackPending int
		for _, c := range rep.Consumers {
			ackPending += c.AckPending
		}
		return ackPending == 4
	})
	got = compareLag(t, ctx, js, topo, reg)
	if got.ackPending != 4 || got.pending != 0 || got.lagSeconds <= 0 {
		t.Fatalf("held: ack pending %v, pending %v, max lag %vs; want 4, 0, > 0", got.ackPending, got.pending, got.lagSeconds)
	}
	close(b.release)
	waitUntil(t, "everything acknowledged", func() bool {
		rep, err := ops.Status(ctx, js, topo)
		if err != nil {
			return false
		}
		for _, c := range rep.Consumers {
			if strings.HasPrefix(c.Name, "persister_") && c.AckPending+int(c.Pending) > 0 {
				return false
			}
		}
		return true
	})
	stop()
	got = compareLag(t, ctx, js, topo, reg)
	if got.ackPending != 0 || got.pending != 0 || got.lagSeconds != 0 {
		t.Fatalf("caught up: ack pending %v, pending %v, max lag %vs; want 0", got.ackPending, got.pending, got.lagSeconds)
	}
}

type lagTotals struct{ pending, ackPending, lagSeconds, deadLetters float64 }

// compareLag reads `ingest status` (as the admin) and scrapes the collector
// (as the worker) and fails on any difference; the lag in seconds may differ
// by the time between the two reads. It returns the metrics' totals.
func compareLag(t *testing.T, ctx context.Context, js jetstream.JetStream, topo bus.Topology, reg *prometheus.Registry) lagTotals {
	t.Helper()
	start := time.Now()
	rep, err := ops.Status(ctx, js, topo)
	if err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	between := time.Since(start).Seconds()

	// metric name -> worker/partition ("worker/" for per-worker ones) -> value
	got := map[string]map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if got[f.GetName()] == nil {
				got[f.GetName()] = map[string]float64{}
			}
			got[f.GetName()][labels["worker"]+"/"+labels["partition"]] = m.GetGauge().GetValue()
		}
	}
	var dlq uint64 // the persister's: the only dead letters here
	if l, err := ops.ListDeadLetters(ctx, js, topo); err == nil {
		dlq = uint64(len(l))
	} else {
		t.Fatal(err)
	}
	var tot lagTotals
	for _, worker := range []string{"persister", "cachewarm"} {
		if got["logchat_consumer_lag_up"][worker+"/"] != 1 {
			t.Fatalf("logchat_consumer_lag_up{worker=%s} = %v, want 1 (metrics: %v)", worker, got["logchat_consumer_lag_up"], got)
		}
		want := map[string]uint64{"persister": dlq, "cachewarm": 0}[worker]
		if got["logchat_dead_letters"][worker+"/"] != float64(want) || rep.DeadLetters != dlq {
			t.Fatalf("dead letters of %s: metric %v, status %d", worker, got["logchat_dead_letters"][worker+"/"], want)
		}
		if got["logchat_log_last_sequence"][worker+"/"] != float64(rep.Streams[0].LastSeq) {
			t.Fatalf("last sequence: metric %v, status %d", got["logchat_log_last_sequence"][worker+"/"], rep.Streams[0].LastSeq)
		}
		seen := 0
		for _, c := range rep.Consumers {
			var part string
			for p := range topo.Partitions {
				if bus.ConsumerName(worker, p) == c.Name {
					part = worker + "/" + strconv.Itoa(p)
				}
			}
			if part == "" {
				continue // another worker's
			}
			seen++
			for name, want := range map[string]float64{
				"logchat_consumer_pending_events":     float64(c.Pending),
				"logchat_consumer_ack_pending_events": float64(c.AckPending),
				"logchat_consumer_redelivered_events": float64(c.Redelivered),
				"logchat_consumer_ack_floor_sequence": float64(c.AckFloor),
			} {
				v, ok := got[name][part]
				if !ok || v != want {
					t.Fatalf("%s{%s} = %v (present %v), ingest status says %v", name, part, v, ok, want)
				}
			}
			lag := got["logchat_consumer_lag_seconds"][part]
			if math.Abs(lag-c.LagSeconds) > between+0.001 || (c.LagSeconds == 0) != (lag == 0) {
				t.Fatalf("lag of %s: metric %vs, status %vs (read %vs apart)", part, lag, c.LagSeconds, between)
			}
			if worker == "persister" {
				tot.pending += got["logchat_consumer_pending_events"][part]
				tot.ackPending += got["logchat_consumer_ack_pending_events"][part]
				tot.lagSeconds = math.Max(tot.lagSeconds, lag)
			}
		}
		if seen != topo.Partitions {
			t.Fatalf("status has %d %s consumers; want %d", seen, worker, topo.Partitions)
		}
	}
	if len(got["logchat_consumer_pending_events"]) != 2*topo.Partitions {
		t.Fatalf("metrics have %d partitions, want %d", len(got["logchat_consumer_pending_events"]), 2*topo.Partitions)
	}
	tot.deadLetters = got["logchat_dead_letters"]["persister/"]
	return tot
}
