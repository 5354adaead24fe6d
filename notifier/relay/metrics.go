package relay

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	published   prometheus.Counter
	failed      prometheus.Counter
	pipeSeconds prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "logchat_notifier_publications_total", Help: "Publications Centrifugo accepted.",
		}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "logchat_notifier_publication_failures_total", Help: "Publications not accepted (refused, or their request failed).",
		}),
		pipeSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "logchat_notifier_pipe_seconds", Help: "Duration of one pipe request to Centrifugo.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
	}
	if reg != nil {
		reg.MustRegister(m.published, m.failed, m.pipeSeconds)
	}
	return m
}
