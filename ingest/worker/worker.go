// Package worker is the common main of every projection worker (persister,
// cachewarm, notifier): configuration, logging, NATS, stream provisioning, the
// consumer runtime and the health server, all under one errgroup. A worker
// supplies only its handler and its own settings.
package worker

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/logchat/ingest/bus"
	"github.com/logchat/shared/config"
	"github.com/logchat/shared/obs"
)

// Spec describes one worker type.
type Spec struct {
	Name         string // persister, cachewarm, notifier
	DefaultBatch int
	DefaultAddr  string // health server address
	// Setup reads the worker's own settings from env and builds its handler.
	// It runs after the common settings are read and before they are validated.
	// The returned checks join NATS in /readyz; close runs at shutdown.
	Setup func(ctx context.Context, env *config.Env, deps Deps) (h bus.Handler, checks obs.Checks, close func(), err error)
}

// Deps are the common pieces handed to Setup.
type Deps struct {
	Log      *slog.Logger
	Registry *prometheus.Registry
}

// Main runs the worker until SIGINT or SIGTERM and exits the process.
func Main(spec Spec) {
	log := obs.NewLogger(spec.Name)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := Run(ctx, log, spec); err != nil {
		log.Error("exit", "err", err)
		os.Exit(1)
	}
}

// Run runs the worker until ctx is cancelled.
func Run(ctx context.Context, log *slog.Logger, spec Spec) error {
	env := config.New()
	natsCfg := bus.NATSFromEnv(env, spec.Name) // the worker's own NATS user (ingest/access)
	topo := bus.TopologyFromEnv(env)
	addr := env.String("HEALTH_ADDR", spec.DefaultAddr)
	pprofAddr := env.String("PPROF_ADDR", "") // opt-in profiling of a real run
	rc := bus.DefaultRunnerConfig(spec.Name, env.Int("WORKER_BATCH", spec.DefaultBatch))
	rc.MaxAttempts = env.Int("WORKER_MAX_ATTEMPTS", rc.MaxAttempts)
	rc.BackoffMax = env.Duration("WORKER_BACKOFF_MAX", rc.BackoffMax)
	rc.Calls = env.Int("WORKER_CALLS", rc.Calls)
	rc.Linger = env.Duration("WORKER_LINGER", rc.Linger)
	env.Check(rc.Batch >= 1 && rc.Batch <= 1000, "WORKER_BATCH must be 1..1000")
	env.Check(rc.Calls >= 0 && rc.Calls <= 64, "WORKER_CALLS must be 0..64 (0: a handler call per partition batch)")
	env.Check(rc.Linger >= 0 && rc.Linger <= time.Second, "WORKER_LINGER must be 0..1s")

	reg := obs.NewRegistry()
	handler, checks, closeFn, err := spec.Setup(ctx, env, Deps{Log: log, Registry: reg})
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	if closeFn != nil {
		defer closeFn()
	}
	env.Log(log)
	if err := env.Err(); err != nil {
		return fmt.Errorf("config: %w", err)
	}

	obs.ServePprof(pprofAddr, log)
	nc, js, err := bus.Connect(natsCfg, spec.Name, log)
	if err != nil {
		return err
	}
	defer nc.Close()
	if checks == nil {
		checks = obs.Checks{}
	}
	checks["nats"] = bus.PingNATS(js)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return (&obs.Server{Addr: addr, Checks: checks, Registry: reg, Log: log}).Run(gctx)
	})
	g.Go(func() error {
		if err := bus.ProvisionRetrying(gctx, js, topo, log); err != nil {
			return nil // cancelled while waiting for NATS
		}
		runner := &bus.Runner{JS: js, Topology: topo, Config: rc, Handler: handler, Log: log, Metrics: bus.NewMetrics(reg)}
		log.Info("consuming", "partitions", topo.Partitions, "batch", rc.Batch, "calls", rc.Calls, "linger", rc.Linger)
		return runner.Run(gctx)
	})
	err = g.Wait()
	log.Info("stopped")
	return err
}
