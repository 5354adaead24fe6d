package ops

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/logchat/ingest/bus"
)

// LagCollector exports, at each scrape, what `ingest status` says about one
// worker type's consumers: the same function (consumerStatus) computes both.
// Each worker process exports its own worker type's partitions, all of them
// (not only those it holds), so that any instance answers for the whole type
// and a standby shows the lag a dead holder leaves; several instances export
// the same numbers, which rules aggregate with max by (worker, partition).
// Read at scrape time rather than on delivery: an idle or stuck worker still
// shows the backlog growing, and the figures are never older than the scrape.
// When a type has no instance left, nothing exports its lag: the
// LogchatProcessDown alert covers that case (deploy/prometheus).
type LagCollector struct {
	JS       jetstream.JetStream
	Topology bus.Topology
	Worker   string
	Log      *slog.Logger
	Timeout  time.Duration // per scrape; 0 means 3 s

	up, pending, ackPending, redelivered, ackFloor, lagSeconds, deadLetters, lastSeq *prometheus.Desc
}

// NewLagCollector returns the collector of worker's lag.
func NewLagCollector(js jetstream.JetStream, t bus.Topology, worker string, log *slog.Logger) *LagCollector {
	part := []string{"worker", "partition"}
	return &LagCollector{JS: js, Topology: t, Worker: worker, Log: log,
		up: prometheus.NewDesc("logchat_consumer_lag_up",
			"1 when the lag of this worker's consumers could be read from JetStream at this scrape, else 0.", []string{"worker"}, nil),
		pending: prometheus.NewDesc("logchat_consumer_pending_events",
			"Events of the partition not yet delivered to the worker (ingest status: PENDING).", part, nil),
		ackPending: prometheus.NewDesc("logchat_consumer_ack_pending_events",
			"Events delivered to the worker and not yet acknowledged (ingest status: ACK PENDING).", part, nil),
		redelivered: prometheus.NewDesc("logchat_consumer_redelivered_events",
			"Unacknowledged events delivered more than once (ingest status: REDELIVERED).", part, nil),
		ackFloor: prometheus.NewDesc("logchat_consumer_ack_floor_sequence",
			"The log sequence up to which the partition is acknowledged (ingest status: ACK FLOOR).", part, nil),
		lagSeconds: prometheus.NewDesc("logchat_consumer_lag_seconds",
			"Age of the oldest unacknowledged event of the partition; 0 when none waits (ingest status: LAG).", part, nil),
		deadLetters: prometheus.NewDesc("logchat_dead_letters",
			"Dead letters of this worker type still stored in the dead-letter stream (ingest dlq list).", []string{"worker"}, nil),
		lastSeq: prometheus.NewDesc("logchat_log_last_sequence",
			"The log's last sequence, as the worker's read of its lag saw it.", []string{"worker"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *LagCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.pending, c.ackPending, c.redelivered, c.ackFloor, c.lagSeconds, c.deadLetters, c.lastSeq} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. A failed read (NATS down) is
// logchat_consumer_lag_up 0 and no lag series, never a failed scrape: the
// process's other metrics still matter then.
func (c *LagCollector) Collect(ch chan<- prometheus.Metric) {
	timeout := c.Timeout
	if timeout == 0 {
		timeout = 3 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	lag, err := ReadWorkerLag(ctx, c.JS, c.Topology, c.Worker)
	if err != nil {
		if c.Log != nil {
			c.Log.Debug("lag metrics: read failed", "err", err)
		}
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0, c.Worker)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1, c.Worker)
	for p, cs := range lag.Consumers {
		labels := []string{c.Worker, strconv.Itoa(p)}
		ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(cs.Pending), labels...)
		ch <- prometheus.MustNewConstMetric(c.ackPending, prometheus.GaugeValue, float64(cs.AckPending), labels...)
		ch <- prometheus.MustNewConstMetric(c.redelivered, prometheus.GaugeValue, float64(cs.Redelivered), labels...)
		ch <- prometheus.MustNewConstMetric(c.ackFloor, prometheus.GaugeValue, float64(cs.AckFloor), labels...)
		ch <- prometheus.MustNewConstMetric(c.lagSeconds, prometheus.GaugeValue, cs.LagSeconds, labels...)
	}
	ch <- prometheus.MustNewConstMetric(c.deadLetters, prometheus.GaugeValue, float64(lag.DeadLetters), c.Worker)
	ch <- prometheus.MustNewConstMetric(c.lastSeq, prometheus.GaugeValue, float64(lag.LastSeq), c.Worker)
}
