package worker_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/logchat/ingest/worker"
	"github.com/logchat/shared/config"
	"github.com/logchat/testkit"
)

type own struct{ Key, Mode string }

// spec is a worker whose Open only records that it was called.
func spec(opened *bool) worker.Spec[own] {
	return worker.Spec[own]{
		Name: "probe", DefaultBatch: 10, DefaultAddr: "127.0.0.1:0",
		Config: func(env *config.Env) own {
			o := own{Key: env.Secret("PROBE_KEY", "dev-key"), Mode: env.String("PROBE_MODE", "a")}
			env.Check(o.Mode == "a" || o.Mode == "b", "PROBE_MODE must be a or b")
			return o
		},
		Open: func(context.Context, own, worker.Deps) (worker.Opened, error) {
			*opened = true
			return worker.Opened{}, nil
		},
	}
}

func TestBadSettingsEndTheStartBeforeAnythingIsOpened(t *testing.T) {
	t.Setenv("WORKER_BATCH", "5000")
	t.Setenv("WORKER_LINGER", "soon")
	t.Setenv("STREAM_PARTITIONS", "0")
	t.Setenv("PROBE_MODE", "c")
	t.Setenv("PROBE_KEY", "hunter2")
	t.Setenv("NATS_PASSWORD", "a-password-of-this-installation")
	// Nothing listens here: a connection attempt would hang or fail
	// differently, and Open would be called.
	t.Setenv("NATS_URL", "nats://127.0.0.1:1")
	var logs bytes.Buffer
	opened := false
	err := worker.Run(t.Context(), slog.New(slog.NewJSONHandler(&logs, nil)), spec(&opened))
	if err == nil {
		t.Fatal("started with bad settings")
	}
	for _, name := range []string{"WORKER_BATCH", "WORKER_LINGER", "partitions", "PROBE_MODE"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
	if opened {
		t.Error("the worker's dependencies were opened before its settings were valid")
	}
	if !strings.Contains(logs.String(), `"PROBE_KEY":"***"`) || strings.Contains(logs.String(), "hunter2") ||
		strings.Contains(logs.String(), "a-password-of-this-installation") {
		t.Errorf("the settings' log line must mask the secret: %s", logs.String())
	}
}

func TestLoadConfigReadsCommonAndOwnSettings(t *testing.T) {
	t.Setenv("WORKER_BATCH", "20")
	t.Setenv("WORKER_CALLS", "0")
	t.Setenv("NATS_PASSWORD", "a-password-of-this-installation")
	t.Setenv("PROBE_MODE", "b")
	opened := false
	cfg, err := worker.LoadConfig(spec(&opened), config.New())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Runner.Worker != "probe" || cfg.Runner.Batch != 20 || cfg.Runner.Calls != 0 || cfg.NATS.User != "probe" ||
		cfg.Own.Mode != "b" || cfg.Own.Key != "dev-key" || cfg.HealthAddr != "127.0.0.1:0" {
		t.Fatalf("config %+v", cfg)
	}
}

// A worker whose NATS login is refused exits with an error instead of
// running on without ever becoming ready (waiting cannot fix a password).
func TestRefusedNATSLoginEndsTheWorker(t *testing.T) {
	n := testkit.StartNATS(t)
	t.Setenv("NATS_URL", n.URL)
	t.Setenv("NATS_USER", "persister")
	t.Setenv("NATS_PASSWORD", "not-the-password-of-this-installation")
	t.Setenv("HEALTH_ADDR", "127.0.0.1:0")
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	opened := false
	err := worker.Run(ctx, slog.New(slog.NewJSONHandler(io.Discard, nil)), spec(&opened))
	if ctx.Err() != nil {
		t.Fatal("the worker was still waiting for NATS after a minute")
	}
	if err == nil || !strings.Contains(strings.ToLower(err.Error()), "authorization") {
		t.Fatalf("err = %v, want the refused login", err)
	}
}
