package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/logchat/gateway/auth"
	"github.com/logchat/gateway/internal/chatlog"
	"github.com/logchat/gateway/internal/presence"
	"github.com/logchat/gateway/rtoken"
	"github.com/logchat/gateway/server"
	"github.com/logchat/ingest/bus"
	"github.com/logchat/shared/config"
	"github.com/logchat/shared/obs"
	"github.com/logchat/storage/chatcache"
	"github.com/logchat/storage/redisconn"
	"github.com/logchat/storage/sqlstore"
	"github.com/logchat/storage/updates"
)

// run serves until ctx is cancelled, then stops accepting connections, lets
// the requests in flight finish and only then stops the publisher, which
// commits whatever appends are still queued, and the outbox relay, which
// publishes what the last requests staged.
func run(ctx context.Context, log *slog.Logger) error {
	env := config.New()
	s := readSettings(env)
	env.Log(log)
	if err := env.Err(); err != nil {
		return fmt.Errorf("config: %w", err)
	}

	shutdownTracing, err := obs.SetupTracing(ctx, "gateway", s.Tracing, log)
	if err != nil {
		return err
	}
	defer func() { _ = shutdownTracing(context.WithoutCancel(ctx)) }()

	nc, js, err := bus.Connect(s.NATS, "gateway", log)
	if err != nil {
		return err
	}
	defer nc.Close()
	if err := bus.ProvisionRetrying(ctx, js, s.Topology, log); err != nil {
		return fmt.Errorf("provision streams: %w", err)
	}
	stream, err := js.Stream(ctx, s.Topology.Stream)
	if err != nil {
		return fmt.Errorf("open stream %s: %w", s.Topology.Stream, err)
	}

	st, err := sqlstore.Open(ctx, s.MySQLDSN, sqlstore.WithShards(s.MySQLShards), sqlstore.WithShardWeights(s.MySQLShardWeights))
	if err != nil {
		return fmt.Errorf("open mysql: %w", err)
	}
	defer st.Close()
	if err := st.WaitForSchema(ctx, log); err != nil {
		return err
	}

	rdb, err := s.Redis.Client()
	if err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	defer rdb.Close()
	cache := chatcache.New(rdb, s.RedisPrefix, st)

	passwords, err := auth.NewPasswords(s.BcryptCost)
	if err != nil {
		return err
	}
	reg := obs.NewRegistry()
	pub := bus.NewPublisher(js, s.Publish, reg)
	webDir := server.WebDirIfPresent(s.WebDir)
	if webDir == "" {
		log.Info("no web client to serve", "web_dir", s.WebDir)
	}
	// The main database only (sqlstore.PingMain says why); Redis as a
	// whole, not each master of a cluster (redisconn.PingAny says why).
	checks := obs.Checks{"mysql": st.PingMain, "redis": func(ctx context.Context) error { return redisconn.PingAny(ctx, rdb) }, "nats": bus.PingNATS(js)}
	reg.MustRegister(obs.NewReadyCollector(checks))
	gw := server.New(server.Config{
		Store: st, Cache: cache, Updates: updates.New(rdb, s.RedisPrefix, s.Updates.Keep, s.Updates.IdleTTL), Log: chatlog.New(pub, js, stream, s.Publish.Timeout),
		Passwords: passwords, Tokens: auth.NewTokens(s.JWTSecret, s.JWTTTL),
		// Logouts are shared by every instance through Redis (their Run is
		// gw.Run's), as are the failed logins of each account.
		Revocations:  auth.NewRedisRevocations(rdb, s.RedisPrefix, log),
		LoginLimiter: auth.NewLoginLimiter(rdb, s.RedisPrefix, s.LoginMaxFailures, s.LoginFailureWindow),
		Realtime:     rtoken.New(s.CentrifugoSecret, s.RealtimeTokenTTL).WithSubscriptionTTL(s.SubscriptionTTL), RealtimeURL: s.CentrifugoWSURL,
		Logger: log, Registry: reg,
		Checks:                 checks,
		RateLimitPerMinute:     s.RateLimitPerMinute,
		AuthRateLimitPerMinute: s.AuthRateLimitPerMinute,
		AnonRateLimitPerMinute: s.AnonRateLimitPerMinute,
		PublicMetrics:          s.PublicMetrics,
		TrustedProxies:         s.TrustedProxies,
		ProxyHeader:            s.ProxyHeader,
		RequestTimeout:         s.RequestTimeout,
		MembershipTTL:          s.MembershipTTL,
		GroupMaxMembers:        s.GroupMaxMembers,
		NATS:                   nc,
		WebDir:                 webDir,
		// Typing and presence; not a readiness check: with Centrifugo down
		// only typing fails, and sends must not.
		Centrifugo:       presence.NewAPI(s.CentrifugoAPIURL, s.CentrifugoAPIKey, &http.Client{Timeout: 5 * time.Second}),
		Redis:            rdb,
		RedisPrefix:      s.RedisPrefix,
		PresenceInterval: s.PresenceInterval,
	})

	obs.ServePprof(s.PprofAddr, log)

	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", s.Addr, err)
	}
	log.Info("listening", "addr", ln.Addr().String())
	// /metrics, and /readyz with its errors, for the operator: the
	// dependencies' errors are never on the address clients reach, nor is
	// /metrics when GATEWAY_PUBLIC_METRICS=false (docs/security.md).
	internal, err := net.Listen("tcp", s.InternalAddr)
	if err != nil {
		ln.Close()
		return fmt.Errorf("listen %s (GATEWAY_INTERNAL_ADDR): %w", s.InternalAddr, err)
	}

	// The publisher and the outbox relay outlive ctx: requests still in
	// flight after the signal need them, and each finishes its work when
	// stopped (the queue committed, the staged events published).
	pubCtx, stopPub := context.WithCancel(context.WithoutCancel(ctx))
	defer stopPub()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return pub.Run(pubCtx) })
	g.Go(func() error { return gw.Run(pubCtx) })
	g.Go(func() error { return gw.App.Listener(ln) })
	g.Go(func() error {
		health := &obs.Server{Checks: checks, Registry: reg, Log: log}
		return health.Serve(gctx, internal)
	})
	g.Go(func() error {
		<-gctx.Done()
		log.Info("shutting down")
		err := gw.App.ShutdownWithTimeout(s.ShutdownTimeout)
		stopPub()
		return err
	})
	err = g.Wait()
	log.Info("stopped")
	return err
}
