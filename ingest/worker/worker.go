// Package worker is the common main of every projection worker (persister,
// cachewarm, notifier): configuration, logging, NATS, stream provisioning, the
// consumer runtime and the health server, all under one errgroup. A worker
// supplies its own settings, how to open its dependencies and its handler
// (the contract is in ingest/bus/handler.go).
//
// Start-up order: the whole configuration (common and the worker's own) is
// read from the environment and validated first, then logged with secrets
// masked; a bad value ends the process with every problem named, before any
// connection is made. Only then are the worker's dependencies opened and
// NATS connected.
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
	"github.com/logchat/ingest/ops"
	"github.com/logchat/shared/config"
	"github.com/logchat/shared/obs"
)

// Spec describes one worker type; C is its own settings.
type Spec[C any] struct {
	Name         string // persister, cachewarm, notifier
	DefaultBatch int
	// DefaultLinger is the adaptive wait of a busy partition for more events
	// (bus.RunnerConfig.Linger): for a projection that pays per call and
	// whose readers do not wait on it; 0 for one on the delivery path.
	DefaultLinger time.Duration
	DefaultAddr   string // health server address
	// Config reads the worker's own settings from env and states their rules
	// with env.Check. It must open nothing: it runs before the settings are
	// known to be valid.
	Config func(env *config.Env) C
	// Open connects to the worker's dependencies with validated settings
	// and builds its handler.
	Open func(ctx context.Context, cfg C, deps Deps) (Opened, error)
	// Middleware wraps the handler inside the common Tracing, Logging and
	// Instrument.
	Middleware []bus.Middleware
}

// Deps are the common pieces handed to Open.
type Deps struct {
	Log      *slog.Logger
	Registry *prometheus.Registry
}

// Opened is what a worker's Open built.
type Opened struct {
	Handler bus.Handler
	Checks  obs.Checks // joined by NATS in /readyz
	Close   func()     // run at shutdown; may be nil
}

// Config is everything one worker process reads from its environment.
type Config[C any] struct {
	NATS       bus.NATSConfig // the worker's own NATS user (ingest/access)
	Topology   bus.Topology
	HealthAddr string
	PprofAddr  string // opt-in profiling of a real run; "" is off
	Tracing    obs.TracingConfig
	Runner     bus.RunnerConfig
	Own        C // the worker's own settings
}

// LoadConfig reads the worker's whole configuration from env and validates
// it. It opens nothing. The error names every bad setting.
func LoadConfig[C any](spec Spec[C], env *config.Env) (Config[C], error) {
	cfg := Config[C]{
		NATS:       bus.NATSFromEnv(env, spec.Name),
		Topology:   bus.TopologyFromEnv(env),
		HealthAddr: env.String("HEALTH_ADDR", spec.DefaultAddr),
		PprofAddr:  env.String("PPROF_ADDR", ""),
		Tracing:    obs.TracingFromEnv(env),
	}
	rc := bus.DefaultRunnerConfig(spec.Name, env.Int("WORKER_BATCH", spec.DefaultBatch))
	rc.MaxAttempts = env.Int("WORKER_MAX_ATTEMPTS", rc.MaxAttempts)
	rc.BackoffMax = env.Duration("WORKER_BACKOFF_MAX", rc.BackoffMax)
	rc.Calls = env.Int("WORKER_CALLS", rc.Calls)
	rc.Linger = env.Duration("WORKER_LINGER", spec.DefaultLinger)
	env.Check(cfg.HealthAddr != "", "HEALTH_ADDR must not be empty")
	env.Check(rc.Batch >= 1 && rc.Batch <= 1000, "WORKER_BATCH must be 1..1000")
	env.Check(rc.MaxAttempts >= 1, "WORKER_MAX_ATTEMPTS must be at least 1")
	env.Check(rc.BackoffMax >= rc.BackoffMin, "WORKER_BACKOFF_MAX must be at least %v", rc.BackoffMin)
	env.Check(rc.Calls >= 0 && rc.Calls <= 64, "WORKER_CALLS must be 0..64 (0: a handler call per partition batch)")
	env.Check(rc.Linger >= 0 && rc.Linger <= time.Second, "WORKER_LINGER must be 0..1s")
	cfg.Runner = rc
	if spec.Config != nil {
		cfg.Own = spec.Config(env)
	}
	return cfg, env.Err()
}

// Main runs the worker until SIGINT or SIGTERM and exits the process.
func Main[C any](spec Spec[C]) {
	if config.DescribeIfAsked(func(env *config.Env) { _, _ = LoadConfig(spec, env) }) {
		return
	}
	log := obs.NewLogger(spec.Name)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := Run(ctx, log, spec); err != nil {
		log.Error("exit", "err", err)
		os.Exit(1)
	}
}

// Run runs the worker until ctx is cancelled.
func Run[C any](ctx context.Context, log *slog.Logger, spec Spec[C]) error {
	env := config.New()
	cfg, err := LoadConfig(spec, env)
	// Logged even when invalid: the line shows what the process was given.
	env.Log(log)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}

	shutdownTracing, err := obs.SetupTracing(ctx, spec.Name, cfg.Tracing, log)
	if err != nil {
		return err
	}
	defer func() { _ = shutdownTracing(context.WithoutCancel(ctx)) }()

	reg := obs.NewRegistry()
	opened, err := spec.Open(ctx, cfg.Own, Deps{Log: log, Registry: reg})
	if err != nil {
		return fmt.Errorf("open %s: %w", spec.Name, err)
	}
	if opened.Close != nil {
		defer opened.Close()
	}

	obs.ServePprof(cfg.PprofAddr, log)
	nc, js, err := bus.Connect(cfg.NATS, spec.Name, log)
	if err != nil {
		return err
	}
	defer nc.Close()
	checks := obs.Checks{}
	for name, check := range opened.Checks {
		checks[name] = check
	}
	checks["nats"] = bus.PingNATS(js)
	reg.MustRegister(obs.NewReadyCollector(checks))

	metrics := bus.NewMetrics(reg)
	// Lag as `ingest status` computes it, read from JetStream at each scrape,
	// of every worker type (ops.LagCollector says why).
	reg.MustRegister(ops.NewLagCollector(js, cfg.Topology, ops.Workers, log))
	// Tracing outermost: the call's lines and spans below are in its span.
	mws := append([]bus.Middleware{bus.Tracing(log, spec.Name), bus.Logging(log), bus.Instrument(metrics, spec.Name)}, spec.Middleware...)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return (&obs.Server{Addr: cfg.HealthAddr, Checks: checks, Registry: reg, Log: log}).Run(gctx)
	})
	g.Go(func() error {
		if err := bus.ProvisionRetrying(gctx, js, cfg.Topology, log); err != nil {
			if gctx.Err() != nil {
				return nil // stopped while waiting for NATS
			}
			// A permanent refusal (a wrong password): exit loudly rather
			// than run forever without becoming ready.
			return fmt.Errorf("log: %w", err)
		}
		runner := &bus.Runner{JS: js, Topology: cfg.Topology, Config: cfg.Runner, Handler: opened.Handler,
			Middleware: mws, Log: log, Metrics: metrics}
		log.Info("consuming", "partitions", cfg.Topology.Partitions, "batch", cfg.Runner.Batch,
			"calls", cfg.Runner.Calls, "linger", cfg.Runner.Linger)
		return runner.Run(gctx)
	})
	err = g.Wait()
	log.Info("stopped")
	return err
}
