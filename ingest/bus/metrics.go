package bus

import "github.com/prometheus/client_golang/prometheus"

// Metrics of the consumer runtime, labelled by worker type. Processed,
// Failed, CallSize and CallSeconds are per handler call, counted by the
// Instrument middleware; the others are the runtime's own: a partition's
// batch from delivery to ack (retries included), dead letters and lag.
type Metrics struct {
	Processed    *prometheus.CounterVec
	Failed       *prometheus.CounterVec
	DeadLettered *prometheus.CounterVec
	BatchSize    *prometheus.HistogramVec
	BatchSeconds *prometheus.HistogramVec
	CallSize     *prometheus.HistogramVec
	CallSeconds  *prometheus.HistogramVec
	Lag          *prometheus.GaugeVec
}

// NewMetrics creates the runtime's metrics and registers them with reg, if any.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Processed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logchat_events_processed_total", Help: "Events applied."}, []string{"worker"}),
		Failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logchat_events_failed_total", Help: "Handler calls that failed (retried, or their poison dead-lettered)."}, []string{"worker"}),
		DeadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logchat_events_dead_lettered_total", Help: "Events moved to the dead-letter stream."}, []string{"worker"}),
		BatchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "logchat_batch_size", Help: "Events per applied partition batch.",
			Buckets: []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000}}, []string{"worker"}),
		BatchSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "logchat_batch_seconds", Help: "Time to apply a partition batch, retries included.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}, []string{"worker"}),
		CallSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "logchat_handler_call_size", Help: "Events per handler call, partitions' batches combined.",
			Buckets: []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000}}, []string{"worker"}),
		CallSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "logchat_handler_call_seconds", Help: "Duration of one handler call.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}, []string{"worker"}),
		Lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "logchat_consumer_lag_events", Help: "Events in the partition not yet delivered to this worker."}, []string{"worker", "partition"}),
	}
	if reg != nil {
		reg.MustRegister(m.Processed, m.Failed, m.DeadLettered, m.BatchSize, m.BatchSeconds, m.CallSize, m.CallSeconds, m.Lag)
	}
	return m
}
