package obs

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
)

// ReadyCollector exports what /readyz answers, at each scrape: logchat_ready
// (1 when every dependency answers) and logchat_dependency_up per dependency.
// `up` only says that /metrics answered; a process that answers but cannot
// reach MySQL is up and not ready, and the LogchatProcessNotReady alert
// (deploy/prometheus) needs to tell the two apart.
type ReadyCollector struct {
	checks     Checks
	ready, dep *prometheus.Desc
}

// NewReadyCollector returns the collector of checks.
func NewReadyCollector(checks Checks) *ReadyCollector {
	return &ReadyCollector{checks: checks,
		ready: prometheus.NewDesc("logchat_ready", "1 when every dependency of the process answers (its /readyz is 200), else 0.", nil, nil),
		dep: prometheus.NewDesc("logchat_dependency_up", "1 when the dependency answered the readiness check at this scrape, else 0.",
			[]string{"dependency"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *ReadyCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.ready; ch <- c.dep }

// Collect implements prometheus.Collector.
func (c *ReadyCollector) Collect(ch chan<- prometheus.Metric) {
	failed := c.checks.Run(context.Background())
	ready := 1.0
	if len(failed) > 0 {
		ready = 0
	}
	ch <- prometheus.MustNewConstMetric(c.ready, prometheus.GaugeValue, ready)
	for name := range c.checks {
		up := 1.0
		if _, bad := failed[name]; bad {
			up = 0
		}
		ch <- prometheus.MustNewConstMetric(c.dep, prometheus.GaugeValue, up, name)
	}
}
