package main

import (
	"net/netip"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/logchat/gateway/internal/chats"
	"github.com/logchat/gateway/internal/presence"
	"github.com/logchat/gateway/server"
	"github.com/logchat/ingest/bus"
	"github.com/logchat/shared/config"
	"github.com/logchat/shared/obs"
	"github.com/logchat/storage/redisconn"
	"github.com/logchat/storage/sqlstore"
	"github.com/logchat/storage/updates"
)

type settings struct {
	Addr string
	// InternalAddr serves /healthz, /readyz (with the dependencies' errors)
	// and /metrics, for the operator's probes and scraper only. Its
	// default is the first of scripts/stack.sh's HEALTH_PORT_BASE block,
	// whose next three ports are the workers' HEALTH_ADDR defaults.
	InternalAddr string
	NATS         bus.NATSConfig
	Topology     bus.Topology
	Publish      bus.PublisherConfig
	MySQLDSN     string
	// MySQLShards are the chat shards beyond the main database (secret),
	// MySQLShardWeights how new chats are spread over them and main.
	MySQLShards       []sqlstore.ShardDSN
	MySQLShardWeights map[string]int

	Redis       redisconn.Config
	RedisPrefix string
	Updates     updates.Settings // the update streams' time to live (GET /updates)

	CentrifugoWSURL  string
	CentrifugoSecret string
	CentrifugoAPIURL string // typing and presence publish and ask through it
	CentrifugoAPIKey string
	PresenceInterval time.Duration
	RealtimeTokenTTL time.Duration
	SubscriptionTTL  time.Duration

	JWTSecret  string
	JWTTTL     time.Duration
	BcryptCost int

	RateLimitPerMinute     int
	AuthRateLimitPerMinute int
	AnonRateLimitPerMinute int
	PublicMetrics          bool
	LoginMaxFailures       int
	LoginFailureWindow     time.Duration
	TrustedProxies         []netip.Prefix
	ProxyHeader            string

	PprofAddr string // PPROF_ADDR: serve net/http/pprof there ("" is off)
	Tracing   obs.TracingConfig

	WebDir          string
	RequestTimeout  time.Duration
	MembershipTTL   time.Duration
	GroupMaxMembers int
	ShutdownTimeout time.Duration
}

// readSettings reads the gateway's environment (docs/design.md lists it);
// problems are collected in env.
func readSettings(env *config.Env) settings {
	s := settings{
		Addr:         env.String("GATEWAY_ADDR", "127.0.0.1:8080"),
		InternalAddr: env.String("GATEWAY_INTERNAL_ADDR", "127.0.0.1:9100"),
		NATS:         bus.NATSFromEnv(env, "gateway"),
		Topology:     bus.TopologyFromEnv(env),
		Publish:      bus.PublisherConfigFromEnv(env),
		MySQLDSN:     sqlstore.DSNFromEnv(env, "MYSQL_DSN"),
		MySQLShards:  sqlstore.ShardsFromEnv(env, "MYSQL_SHARDS"),

		Redis:       redisconn.FromEnv(env),
		RedisPrefix: env.String("REDIS_PREFIX", "lc:"),
		Updates:     updates.SettingsFromEnv(env),

		CentrifugoWSURL: env.String("CENTRIFUGO_WS_URL", "ws://127.0.0.1:8000/connection/websocket"),
		// Secrets have no defaults: a committed value would let anyone mint
		// tokens (config.RequiredSecret refuses the ones that once were).
		CentrifugoSecret: env.RequiredSecret("CENTRIFUGO_HMAC_SECRET"),
		CentrifugoAPIURL: env.String("CENTRIFUGO_API_URL", "http://127.0.0.1:8001/api"),
		CentrifugoAPIKey: env.RequiredSecret("CENTRIFUGO_API_KEY"),
		PresenceInterval: env.Duration("PRESENCE_SWEEP_INTERVAL", presence.DefaultInterval),
		RealtimeTokenTTL: env.Duration("REALTIME_TOKEN_TTL", time.Hour),
		// Short, unlike the connection's: a subscription token still valid
		// after its holder left the chat would let them subscribe again, so
		// its lifetime bounds that window (the client SDK refreshes it).
		SubscriptionTTL: env.Duration("SUBSCRIPTION_TOKEN_TTL", 5*time.Minute),

		JWTSecret:  env.RequiredSecret("JWT_SECRET"),
		JWTTTL:     env.Duration("JWT_TTL", 24*time.Hour),
		BcryptCost: env.Int("BCRYPT_COST", bcrypt.DefaultCost),

		// Generous: a person never gets near them, a runaway client does.
		RateLimitPerMinute:     env.Int("RATE_LIMIT_PER_MINUTE", 6000),
		AuthRateLimitPerMinute: env.Int("RATE_LIMIT_AUTH_PER_MINUTE", 3000),
		AnonRateLimitPerMinute: env.Int("RATE_LIMIT_ANON_PER_MINUTE", 3000),
		// API.md promises /metrics beside /api/v1; a deployment turns it
		// off and scrapes GATEWAY_INTERNAL_ADDR (docs/security.md).
		PublicMetrics:      env.Bool("GATEWAY_PUBLIC_METRICS", true),
		LoginMaxFailures:   env.Int("LOGIN_MAX_FAILURES", 10),
		LoginFailureWindow: env.Duration("LOGIN_FAILURE_WINDOW", 15*time.Minute),

		PprofAddr: env.String("PPROF_ADDR", ""),
		Tracing:   obs.TracingFromEnv(env),

		WebDir:          env.String("WEB_DIR", "web/dist"),
		RequestTimeout:  env.Duration("REQUEST_TIMEOUT", 10*time.Second),
		MembershipTTL:   env.Duration("MEMBERSHIP_CACHE_TTL", 30*time.Second),
		GroupMaxMembers: env.Int("GROUP_MAX_MEMBERS", chats.DefaultGroupMaxMembers),
		ShutdownTimeout: env.Duration("SHUTDOWN_TIMEOUT", 15*time.Second),
	}
	env.Check(s.JWTTTL > 0, "JWT_TTL must be positive")
	env.Check(s.PresenceInterval >= 50*time.Millisecond && s.PresenceInterval <= time.Minute, "PRESENCE_SWEEP_INTERVAL must be 50ms to 1m")
	env.Check(strings.HasPrefix(s.CentrifugoAPIURL, "http://") || strings.HasPrefix(s.CentrifugoAPIURL, "https://"),
		"CENTRIFUGO_API_URL must be an http(s) URL such as http://127.0.0.1:8001/api")
	env.Check(s.RealtimeTokenTTL > 0, "REALTIME_TOKEN_TTL must be positive")
	env.Check(s.SubscriptionTTL > 0, "SUBSCRIPTION_TOKEN_TTL must be positive")
	env.Check(s.GroupMaxMembers >= 2, "GROUP_MAX_MEMBERS must be at least 2")
	env.Check(s.BcryptCost >= bcrypt.MinCost && s.BcryptCost <= bcrypt.MaxCost, "BCRYPT_COST must be %d..%d", bcrypt.MinCost, bcrypt.MaxCost)
	env.Check(s.RateLimitPerMinute >= 0, "RATE_LIMIT_PER_MINUTE must be >= 0 (0 is off)")
	env.Check(s.AuthRateLimitPerMinute >= 0, "RATE_LIMIT_AUTH_PER_MINUTE must be >= 0 (0 is off)")
	proxies, err := server.ParseTrustedProxies(env.String("TRUSTED_PROXIES", ""))
	env.Check(err == nil, "TRUSTED_PROXIES: %v", err)
	s.TrustedProxies = proxies
	s.ProxyHeader = env.String("PROXY_HEADER", "X-Forwarded-For")
	env.Check(s.ProxyHeader != "", "PROXY_HEADER must not be empty")
	env.Check(s.AnonRateLimitPerMinute >= 0, "RATE_LIMIT_ANON_PER_MINUTE must be >= 0 (0 is off)")
	env.Check(s.LoginMaxFailures >= 0, "LOGIN_MAX_FAILURES must be >= 0 (0 is off)")
	env.Check(s.LoginFailureWindow > 0, "LOGIN_FAILURE_WINDOW must be positive")
	env.Check(s.RequestTimeout > 0, "REQUEST_TIMEOUT must be positive")
	env.Check(s.MembershipTTL >= 0 && s.MembershipTTL <= time.Minute, "MEMBERSHIP_CACHE_TTL must be 0 (off) to 1m")
	env.Check(s.ShutdownTimeout > 0, "SHUTDOWN_TIMEOUT must be positive")
	env.Check(s.Addr != "", "GATEWAY_ADDR must not be empty")
	env.Check(s.InternalAddr != s.Addr, "GATEWAY_INTERNAL_ADDR must differ from GATEWAY_ADDR")
	s.MySQLShardWeights = sqlstore.ShardWeightsFromEnv(env, s.MySQLShards)
	return s
}
