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

// LagCollector exports, at each scrape, what `ingest status` says about the
// consumers of the worker types it is given: the same function
// (consumerStatus) computes both. Every worker process exports every worker
// type's partitions, all of them (not only those it holds): any instance
// answers for the whole system, a standby shows the lag a dead holder
// leaves, and the lag of a type whose every instance is down is still
// exported by the others (its user may read other consumers' info, not
// touch them: ingest/access). Several processes export the same numbers,
// which rules aggregate with max by (worker, partition). Read at scrape time
// rather than on delivery: an idle or stuck worker still shows the backlog
// growing, and the figures are never older than the scrape.
type LagCollector struct {
	JS       jetstream.JetStream
	Topology bus.Topology
	Workers  []string
	Log      *slog.Logger
	Timeout  time.Duration // per scrape; 0 means 3 s

	up, pending, ackPending, redelivered, ackFloor, lagSeconds, deadLetters, lastSeq *prometheus.Desc
}

// NewLagCollector returns the collector of the lag of workers' consumers.
func NewLagCollector(js jetstream.JetStream, t bus.Topology, workers []string, log *slog.Logger) *LagCollector {
	part := []string{"worker", "partition"}
	return &LagCollector{JS: js, Topology: t, Workers: workers, Log: log,
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

// Collect implements prometheus.Collector. A failed read (NATS down, a type
// whose consumers do not exist yet) is logchat_consumer_lag_up 0 and no lag
// series for that type, never a failed scrape: the process's other metrics
// still matter then.
func (c *LagCollector) Collect(ch chan<- prometheus.Metric) {
	timeout := c.Timeout
	if timeout == 0 {
		timeout = 3 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for _, w := range c.Workers {
		c.collect(ctx, ch, w)
	}
}

func (c *LagCollector) collect(ctx context.Context, ch chan<- prometheus.Metric, worker string) {
	lag, err := ReadWorkerLag(ctx, c.JS, c.Topology, worker)
	if err != nil {
		if c.Log != nil {
			c.Log.Debug("lag metrics: read failed", "worker", worker, "err", err)
		}
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0, worker)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1, worker)
	for p, cs := range lag.Consumers {
		labels := []string{worker, strconv.Itoa(p)}
		ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(cs.Pending), labels...)
		ch <- prometheus.MustNewConstMetric(c.ackPending, prometheus.GaugeValue, float64(cs.AckPending), labels...)
		ch <- prometheus.MustNewConstMetric(c.redelivered, prometheus.GaugeValue, float64(cs.Redelivered), labels...)
		ch <- prometheus.MustNewConstMetric(c.ackFloor, prometheus.GaugeValue, float64(cs.AckFloor), labels...)
		ch <- prometheus.MustNewConstMetric(c.lagSeconds, prometheus.GaugeValue, cs.LagSeconds, labels...)
	}
	ch <- prometheus.MustNewConstMetric(c.deadLetters, prometheus.GaugeValue, float64(lag.DeadLetters), worker)
	ch <- prometheus.MustNewConstMetric(c.lastSeq, prometheus.GaugeValue, float64(lag.LastSeq), worker)
}
