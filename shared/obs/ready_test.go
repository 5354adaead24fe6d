package obs

import (
	"context"
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestReadyCollectorFollowsTheChecks(t *testing.T) {
	redisDown := false
	checks := Checks{
		"mysql": func(context.Context) error { return nil },
		"redis": func(context.Context) error {
			if redisDown {
				return errors.New("connection refused")
			}
			return nil
		},
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewReadyCollector(checks))
	read := func() map[string]float64 {
		t.Helper()
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]float64{}
		for _, f := range families {
			for _, m := range f.GetMetric() {
				key := f.GetName()
				for _, l := range m.GetLabel() {
					key += "/" + l.GetValue()
				}
				out[key] = m.GetGauge().GetValue()
			}
		}
		return out
	}
	got := read()
	if got["logchat_ready"] != 1 || got["logchat_dependency_up/mysql"] != 1 || got["logchat_dependency_up/redis"] != 1 || len(got) != 3 {
		t.Fatalf("all answering: %v", got)
	}
	redisDown = true
	got = read()
	if got["logchat_ready"] != 0 || got["logchat_dependency_up/mysql"] != 1 || got["logchat_dependency_up/redis"] != 0 {
		t.Fatalf("redis down: %v", got)
	}
}
