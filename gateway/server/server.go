// Package server assembles the gateway: the application layer (accounts,
// chats, messages, realtime, membership), the outbox relay behind it and the
// HTTP API in front, from the stores and the chat log it is given.
//
// The gateway's main gives it the real log (the JetStream stream). The one
// other user is the benchmark's synchronous baseline (bench/cmd/baseline),
// which gives it a Log that writes MySQL, Redis and Centrifugo in the
// request instead: the same rules and HTTP layer, another way to write.
package server

import (
	"context"
	"log/slog"
	"net/netip"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/logchat/gateway/auth"
	"github.com/logchat/gateway/internal/accounts"
	"github.com/logchat/gateway/internal/chatlog"
	"github.com/logchat/gateway/internal/chats"
	"github.com/logchat/gateway/internal/httpapi"
	"github.com/logchat/gateway/internal/membership"
	"github.com/logchat/gateway/internal/messages"
	"github.com/logchat/gateway/internal/outbox"
	"github.com/logchat/gateway/internal/people"
	"github.com/logchat/gateway/internal/presence"
	"github.com/logchat/gateway/internal/realtime"
	"github.com/logchat/gateway/rtoken"
	"github.com/logchat/shared/obs"
	"github.com/logchat/storage/chatcache"
	"github.com/logchat/storage/sqlstore"
)

// Store is everything the gateway asks of MySQL (*sqlstore.Store).
type Store interface {
	accounts.Store
	chats.Store
	messages.Store
	membership.Store
	realtime.Store
	outbox.Store
	people.Store
	presence.Store
}

// Cache is everything the gateway asks of the Redis projection
// (*chatcache.Cache).
type Cache interface {
	chats.Cache
	messages.Cache
	membership.Projection
}

// Log is the chat log: sends and reads are appended to it and read back from
// it, and the outbox's staged events appended to it.
type Log interface {
	messages.Log
	outbox.Log
}

var (
	_ Store = (*sqlstore.Store)(nil)
	_ Cache = (*chatcache.Cache)(nil)
	_ Log   = (*chatlog.Log)(nil)
)

// Config is what the gateway is built from.
type Config struct {
	Store Store
	Cache Cache
	Log   Log
	// Updates is the per-user update streams (*updates.Store) that GET
	// /updates reads.
	Updates httpapi.Updates

	Passwords *auth.Passwords
	Tokens    *auth.Tokens
	// Revocations, when set, is the list of logged-out tokens shared by
	// every gateway instance: Tokens refuse what it holds, POST
	// /auth/logout writes to it, and Run listens to other instances'
	// logouts. Without it logout is 503.
	Revocations *auth.RedisRevocations
	// LoginLimiter, when set, refuses an account's logins after too many
	// failures (429), shared by every instance.
	LoginLimiter *auth.LoginLimiter
	Realtime     *rtoken.Issuer
	RealtimeURL  string // CENTRIFUGO_WS_URL, handed to clients

	Logger   *slog.Logger
	Registry *prometheus.Registry // metrics are registered here and /metrics serves it
	Checks   obs.Checks           // dependencies /readyz probes

	// RateLimitPerMinute is the requests each user may make per minute, and
	// AuthRateLimitPerMinute those each client IP may make to /auth/*. 0 is off.
	RateLimitPerMinute     int
	AuthRateLimitPerMinute int
	// AnonRateLimitPerMinute is the requests each client address may make
	// per minute without a valid token (every path). 0 is off.
	AnonRateLimitPerMinute int
	// PublicMetrics serves /metrics beside /api/v1 (API.md); see httpapi.
	PublicMetrics bool
	// TrustedProxies are the reverse proxies (addresses, ranges) whose
	// ProxyHeader (X-Forwarded-For when "") names the client; with none the
	// client is the TCP peer (ParseTrustedProxies reads TRUSTED_PROXIES).
	TrustedProxies []netip.Prefix
	ProxyHeader    string

	RequestTimeout time.Duration // deadline of each request's dependency calls; 10s when 0
	// MembershipTTL is how long a membership answer from MySQL is reused
	// (MEMBERSHIP_CACHE_TTL); 0 asks MySQL every time.
	MembershipTTL time.Duration
	// GroupMaxMembers is the most members a group may have
	// (GROUP_MAX_MEMBERS); chats.DefaultGroupMaxMembers when 0.
	GroupMaxMembers int
	// NATS, when set, is watched for removals made through other gateway
	// instances, which then take effect here at once.
	NATS   *nats.Conn
	WebDir string // the built web client, served at "/"; "" serves none
	// Outbox tunes the relay of staged events (zero: its defaults).
	Outbox outbox.Config

	// Centrifugo, when set, is its server API, through which the gateway
	// publishes typing notices and asks who is online (presence, with
	// Redis and RedisPrefix); without it POST /chats/{id}/typing is 503
	// and nobody is online.
	Centrifugo  presence.Centrifugo
	Redis       redis.UniversalClient
	RedisPrefix string
	// PresenceInterval is how often presence is swept
	// (PRESENCE_SWEEP_INTERVAL); presence.DefaultInterval when 0.
	PresenceInterval time.Duration
}

// Server is the gateway: App serves the API, Run the work behind it.
type Server struct {
	App         *fiber.App
	relay       *outbox.Relay
	revocations *auth.RedisRevocations
	presence    *presence.Tracker
}

// New builds the gateway. Serve App, and run Run until App has shut down.
func New(cfg Config) *Server {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	reg := cfg.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	relay := outbox.New(cfg.Store, cfg.Log, log, cfg.Outbox, reg)
	members := membership.New(cfg.Store, cfg.Cache, cfg.MembershipTTL)
	var onShutdown func() error
	if cfg.NATS != nil {
		sub, err := members.Watch(cfg.NATS, log)
		if err != nil {
			// Removals through other instances then take up to the TTL.
			log.Warn("watch membership changes", "err", err)
		}
		if sub != nil {
			onShutdown = sub.Unsubscribe
		}
	}
	if cfg.Revocations != nil {
		cfg.Tokens.UseRevocations(cfg.Revocations)
	}
	folks := people.New(cfg.Store, relay, outbox.Stage, log)
	if cfg.NATS != nil {
		sub, err := folks.Watch(cfg.NATS)
		if err != nil {
			// Renames through other instances then take up to its cache's TTL.
			log.Warn("watch profile changes", "err", err)
		}
		if sub != nil {
			prev := onShutdown
			onShutdown = func() error {
				if prev != nil {
					_ = prev()
				}
				return sub.Unsubscribe()
			}
		}
	}
	msgs := messages.New(cfg.Store, cfg.Cache, members, folks, cfg.Log)
	var typer *presence.Typing
	var tracker *presence.Tracker
	if cfg.Centrifugo != nil && cfg.Redis != nil {
		typer = presence.NewTyping(msgs, folks, cfg.Centrifugo, cfg.Redis, cfg.RedisPrefix)
		tracker = presence.NewTracker(cfg.Centrifugo, cfg.Store, cfg.Redis, cfg.RedisPrefix, cfg.PresenceInterval, log, reg)
		folks.TrackPresence(tracker)
	}
	accts := accounts.New(cfg.Store, cfg.Passwords, cfg.Tokens)
	if cfg.LoginLimiter != nil {
		accts.LimitLogins(cfg.LoginLimiter, log)
	}
	app := httpapi.New(httpapi.Config{
		Accounts: accts,
		Chats:    chats.New(cfg.Store, cfg.Cache, members, folks, relay, log, cfg.GroupMaxMembers),
		Messages: msgs,
		Typing:   typer,
		People:   folks,
		Updates:  cfg.Updates,
		Realtime: realtime.New(cfg.Store, cfg.Realtime, cfg.RealtimeURL),

		Log: log, Registry: reg, Checks: cfg.Checks,
		RateLimitPerMinute: cfg.RateLimitPerMinute, AuthRateLimitPerMinute: cfg.AuthRateLimitPerMinute,
		AnonRateLimitPerMinute: cfg.AnonRateLimitPerMinute,
		PublicMetrics:          cfg.PublicMetrics,
		TrustedProxies:         cfg.TrustedProxies, ProxyHeader: cfg.ProxyHeader,
		RequestTimeout: cfg.RequestTimeout, WebDir: cfg.WebDir, OnShutdown: onShutdown,
		RealtimeURL: cfg.RealtimeURL,
	})
	return &Server{App: app, relay: relay, revocations: cfg.Revocations, presence: tracker}
}

// Run publishes the events that changes staged in MySQL (the outbox relay)
// until ctx ends, then once more, listens to the logouts made through
// other instances, and sweeps presence (one instance at a time). Cancel ctx only after App has shut down: requests in
// flight wait for it.
func (s *Server) Run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.relay.Run(ctx) })
	if s.revocations != nil {
		g.Go(func() error { return s.revocations.Run(gctx) })
	}
	if s.presence != nil {
		g.Go(func() error { return s.presence.Run(gctx) })
	}
	return g.Wait()
}

// ParseTrustedProxies reads a list of addresses and CIDR ranges separated by
// commas or spaces (TRUSTED_PROXIES).
func ParseTrustedProxies(s string) ([]netip.Prefix, error) { return httpapi.ParseTrustedProxies(s) }

// WebDirIfPresent returns dir when it is a directory, else "" (no web client).
func WebDirIfPresent(dir string) string { return httpapi.WebDirIfPresent(dir) }
