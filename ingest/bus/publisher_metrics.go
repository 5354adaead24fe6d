package bus

import "github.com/prometheus/client_golang/prometheus"

// newPublishFailures counts appends that were not acknowledged: the caller
// got an error (a send answers 503, the outbox retries its row). The alert
// LogchatPublishErrors (deploy/prometheus) watches it.
func newPublishFailures() prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{
		Name: "logchat_publish_failures_total",
		Help: "Appends to the log that failed (NATS unreachable, timed out or refused).",
	})
}

func (p *Publisher) countFailure(err *error) {
	if *err != nil {
		p.failures.Inc()
	}
}
