package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/sync/errgroup"

	"github.com/logchat/bench/internal/syncsend"
	"github.com/logchat/gateway/auth"
	"github.com/logchat/gateway/rtoken"
	"github.com/logchat/gateway/server"
	"github.com/logchat/ingest/bus"
	"github.com/logchat/notifier/relay"
	"github.com/logchat/shared/config"
	"github.com/logchat/shared/obs"
	"github.com/logchat/storage/chatcache"
	"github.com/logchat/storage/redisconn"
	"github.com/logchat/storage/sqlstore"
)

// settings are the gateway's, less the log's (no NATS), plus Centrifugo's
// server API (the baseline publishes itself). Defaults as the gateway's.
type settings struct {
	Addr, MySQLDSN, CounterDSN, RedisPrefix      string
	Redis                                        redisconn.Config
	CentrifugoAPIURL, CentrifugoAPIKey           string
	CentrifugoWSURL, CentrifugoSecret, JWTSecret string
	RealtimeTokenTTL, JWTTTL, RequestTimeout     time.Duration
	MembershipTTL, ShutdownTimeout               time.Duration
	BcryptCost, RateLimit, AuthRateLimit         int
	AnonRateLimit                                int
	PprofAddr                                    string
}

func readSettings(env *config.Env) settings {
	s := settings{
		Addr:             env.String("GATEWAY_ADDR", "127.0.0.1:8080"),
		MySQLDSN:         sqlstore.DSNFromEnv(env, "MYSQL_DSN"),
		CounterDSN:       env.Secret("MIGRATE_MYSQL_DSN", ""),
		Redis:            redisconn.FromEnv(env),
		RedisPrefix:      env.String("REDIS_PREFIX", "lc:"),
		CentrifugoAPIURL: env.String("CENTRIFUGO_API_URL", "http://127.0.0.1:8001/api"),
		// Secrets have no defaults, as for the gateway and the notifier.
		CentrifugoAPIKey: env.RequiredSecret("CENTRIFUGO_API_KEY"),
		CentrifugoWSURL:  env.String("CENTRIFUGO_WS_URL", "ws://127.0.0.1:8000/connection/websocket"),
		CentrifugoSecret: env.RequiredSecret("CENTRIFUGO_HMAC_SECRET"),
		RealtimeTokenTTL: env.Duration("REALTIME_TOKEN_TTL", time.Hour),
		JWTSecret:        env.RequiredSecret("JWT_SECRET"),
		JWTTTL:           env.Duration("JWT_TTL", 24*time.Hour),
		BcryptCost:       env.Int("BCRYPT_COST", bcrypt.DefaultCost),
		RateLimit:        env.Int("RATE_LIMIT_PER_MINUTE", 6000),
		AuthRateLimit:    env.Int("RATE_LIMIT_AUTH_PER_MINUTE", 3000),
		AnonRateLimit:    env.Int("RATE_LIMIT_ANON_PER_MINUTE", 3000),
		RequestTimeout:   env.Duration("REQUEST_TIMEOUT", 10*time.Second),
		MembershipTTL:    env.Duration("MEMBERSHIP_CACHE_TTL", 30*time.Second),
		ShutdownTimeout:  env.Duration("SHUTDOWN_TIMEOUT", 15*time.Second),
		PprofAddr:        env.String("PPROF_ADDR", ""),
	}
	env.Check(s.BcryptCost >= bcrypt.MinCost && s.BcryptCost <= bcrypt.MaxCost, "BCRYPT_COST must be %d..%d", bcrypt.MinCost, bcrypt.MaxCost)
	env.Check(s.RequestTimeout > 0 && s.ShutdownTimeout > 0 && s.JWTTTL > 0 && s.RealtimeTokenTTL > 0, "durations must be positive")
	return s
}

// run serves until ctx is cancelled, then lets the requests in flight finish.
func run(ctx context.Context, log *slog.Logger) error {
	env := config.New()
	s := readSettings(env)
	env.Log(log)
	if err := env.Err(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	log.Warn("the synchronous baseline: sends write MySQL, Redis and Centrifugo in the request, there is no log (a benchmark's comparison, not a deployment)")

	st, err := sqlstore.Open(ctx, s.MySQLDSN)
	if err != nil {
		return fmt.Errorf("open mysql: %w", err)
	}
	defer st.Close()
	// The schema is the migrate command's, as for the gateway (the baseline
	// runs on the gateway's database); the id counter's table is its own.
	if err := st.WaitForSchema(ctx, log); err != nil {
		return err
	}
	// The counter's table is the baseline's own, not the schema's: it is
	// created with the migrate account when one is given (the app account
	// may not run DDL), and used with it, like any bench-only table.
	counterDSN := s.MySQLDSN
	if s.CounterDSN != "" {
		counterDSN = s.CounterDSN
	}
	ids, err := syncsend.OpenCounter(ctx, counterDSN)
	if err != nil {
		return err
	}
	defer ids.Close()

	rdb, err := s.Redis.Client()
	if err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	defer rdb.Close()
	cache := chatcache.New(rdb, s.RedisPrefix, st)
	reg := obs.NewRegistry()
	rl := relay.New(relay.Config{APIURL: s.CentrifugoAPIURL, APIKey: s.CentrifugoAPIKey}, log, reg)
	defer rl.Close()
	passwords, err := auth.NewPasswords(s.BcryptCost)
	if err != nil {
		return err
	}
	gw := server.New(server.Config{
		Store: st, Cache: cache, Log: syncsend.New(st, ids, bus.HandlerFunc(cache.ApplyEvents), rl),
		Passwords: passwords, Tokens: auth.NewTokens(s.JWTSecret, s.JWTTTL),
		// Tokens are checked against the revocation list as the gateway's
		// are, so that both designs pay the same for authentication.
		Revocations: auth.NewRedisRevocations(rdb, s.RedisPrefix, log),
		Realtime:    rtoken.New(s.CentrifugoSecret, s.RealtimeTokenTTL), RealtimeURL: s.CentrifugoWSURL,
		Logger: log, Registry: reg,
		Checks:                 obs.Checks{"mysql": st.Ping, "redis": cache.Ping},
		RateLimitPerMinute:     s.RateLimit,
		AuthRateLimitPerMinute: s.AuthRateLimit,
		AnonRateLimitPerMinute: s.AnonRateLimit,
		RequestTimeout:         s.RequestTimeout,
		MembershipTTL:          s.MembershipTTL,
	})
	obs.ServePprof(s.PprofAddr, log)

	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", s.Addr, err)
	}
	log.Info("listening", "addr", ln.Addr().String())
	// The outbox relay outlives ctx: requests still in flight need it.
	relayCtx, stopRelay := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRelay()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return gw.Run(relayCtx) })
	g.Go(func() error { return gw.App.Listener(ln) })
	g.Go(func() error {
		<-gctx.Done()
		err := gw.App.ShutdownWithTimeout(s.ShutdownTimeout)
		stopRelay()
		return err
	})
	err = g.Wait()
	log.Info("stopped")
	return err
}
