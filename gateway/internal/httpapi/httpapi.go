// Package httpapi is the gateway's HTTP API (API.md) on Fiber. Handlers only
// bind the request, call the application layer (accounts, chats, messages,
// realtime) and translate its answer; every error goes through one classifier
// (errors.go), so that every answer that is not 2xx has the body
// {"error": {"code", "message"}}, Fiber's own errors included.
package httpapi

import (
	"context"
	"log/slog"
	"net/netip"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	segmentjson "github.com/segmentio/encoding/json"

	"github.com/logchat/gateway/internal/accounts"
	"github.com/logchat/gateway/internal/chats"
	"github.com/logchat/gateway/internal/messages"
	"github.com/logchat/gateway/internal/people"
	"github.com/logchat/gateway/internal/presence"
	"github.com/logchat/gateway/internal/realtime"
	"github.com/logchat/shared/obs"
)

// BodyLimit is the largest request body API.md accepts (413 beyond).
const BodyLimit = 64 << 10

// readLimit is the largest body the server reads at all. A body over
// BodyLimit but under readLimit is read whole and answered 413 on an intact
// connection; refusing it while the client is still writing (what a plain
// BodyLimit does) resets the connection, and the client may see the reset
// instead of the 413.
const readLimit = people.MaxAvatarBytes + 1<<20

// Config is what the API is built from.
type Config struct {
	Accounts *accounts.Service
	Chats    *chats.Service
	Messages *messages.Service
	Realtime *realtime.Service
	People   *people.Service
	Updates  Updates // GET /updates
	// Typing publishes typing notices (POST /chats/{id}/typing); nil
	// answers that endpoint 503.
	Typing *presence.Typing

	Log *slog.Logger
	// Registry holds the request metrics. The internal listener
	// (GATEWAY_INTERNAL_ADDR) always serves it; the public address serves it
	// too when PublicMetrics is set.
	Registry *prometheus.Registry
	// PublicMetrics serves /metrics beside /api/v1, as the API contract
	// (API.md, "Health") asks. A deployment turns it off
	// (GATEWAY_PUBLIC_METRICS=false) and scrapes the internal listener, so
	// that clients do not read the gateway's internals (docs/security.md).
	PublicMetrics bool
	Checks        obs.Checks // dependencies /readyz probes

	// RateLimitPerMinute is the requests each user may make per minute, and
	// AuthRateLimitPerMinute those each client IP may make to /auth/*. 0 is off.
	RateLimitPerMinute     int
	AuthRateLimitPerMinute int
	// AnonRateLimitPerMinute is the requests each client address may make
	// per minute without a valid token (any path: the API, the web client,
	// health); 0 is off.
	AnonRateLimitPerMinute int

	// TrustedProxies are the reverse proxies whose ProxyHeader
	// (X-Forwarded-For when empty) names the client; with none, the client
	// is the TCP peer and forwarded headers are ignored.
	TrustedProxies []netip.Prefix
	ProxyHeader    string

	RequestTimeout time.Duration // deadline of each request's dependency calls; 10s when 0
	WebDir         string        // the built web client, served at "/"; "" serves none
	// RealtimeURL is Centrifugo's WebSocket endpoint, which the
	// Content-Security-Policy lets the web client connect to.
	RealtimeURL string
	// OnShutdown runs when the app shuts down (after the requests in flight).
	OnShutdown func() error
}

// api holds the handlers' dependencies.
type api struct {
	accounts *accounts.Service
	chats    *chats.Service
	messages *messages.Service
	realtime *realtime.Service
	people   *people.Service
	updates  Updates
	typer    *presence.Typing
	log      *slog.Logger
	checks   obs.Checks
	timeout  time.Duration
	metrics  *httpMetrics
	proxies  proxies
}

// New builds the Fiber app serving the whole API, /healthz, /readyz, /metrics
// when cfg.PublicMetrics, and the web client.
func New(cfg Config) *fiber.App {
	a := &api{
		accounts: cfg.Accounts, chats: cfg.Chats, messages: cfg.Messages, realtime: cfg.Realtime, people: cfg.People,
		updates: cfg.Updates, typer: cfg.Typing, log: cfg.Log, checks: cfg.Checks, timeout: cfg.RequestTimeout,
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.timeout <= 0 {
		a.timeout = 10 * time.Second
	}
	reg := cfg.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	a.metrics = newHTTPMetrics(reg)
	a.proxies = proxies{trusted: cfg.TrustedProxies, header: cfg.ProxyHeader}
	if a.proxies.header == "" {
		a.proxies.header = fiber.HeaderXForwardedFor
	}
	trusted := make([]string, len(cfg.TrustedProxies))
	for i, p := range cfg.TrustedProxies {
		trusted[i] = p.String()
	}

	app := fiber.New(fiber.Config{
		AppName: "logchat-gateway",
		// Answers are encoded with a faster drop-in encoding/json (the same
		// output); bind decodes request bodies with the same library.
		JSONEncoder:           segmentjson.Marshal,
		BodyLimit:             readLimit,
		ErrorHandler:          a.errorHandler,
		DisableStartupMessage: true,
		ReadTimeout:           30 * time.Second,
		WriteTimeout:          30 * time.Second,
		IdleTimeout:           120 * time.Second,
		// Forwarded headers (X-Forwarded-Proto, -Host) are believed from
		// the trusted proxies only. The client address is proxies.clientIP,
		// not Ctx.IP: no ProxyHeader here.
		EnableTrustedProxyCheck: true,
		TrustedProxies:          trusted,
	})
	// The security headers first, so that every answer has them; the
	// encoding refused before anything reads the body.
	// Requests without a valid token are limited per address before their
	// body is looked at.
	chain := []any{a.observe, a.recover, securityHeaders(cfg.RealtimeURL)}
	if cfg.AnonRateLimitPerMinute > 0 {
		anon := rateLimit(cfg.AnonRateLimitPerMinute, func(c *fiber.Ctx) string { return "anon:" + a.proxies.clientIP(c) })
		chain = append(chain, a.unlessAuthenticated(anon))
	}
	app.Use(append(chain, refuseEncoded, limitBody, a.withDeadline)...)
	if cfg.OnShutdown != nil {
		app.Hooks().OnShutdown(cfg.OnShutdown)
	}

	app.Get("/healthz", a.healthz)
	app.Get("/readyz", a.readyz)
	if cfg.PublicMetrics {
		app.Get("/metrics", metricsHandler(reg))
	}

	v1 := app.Group("/api/v1")
	perIP := rateLimit(cfg.AuthRateLimitPerMinute, func(c *fiber.Ctx) string { return "ip:" + a.proxies.clientIP(c) })
	v1.Post("/auth/register", perIP, a.register)
	v1.Post("/auth/login", perIP, a.login)

	// Every other endpoint needs a token; the user's limiter runs after it
	// so that it can key on the user.
	perUser := rateLimit(cfg.RateLimitPerMinute, func(c *fiber.Ctx) string { return "u:" + formatID(caller(c).ID) })
	authed := func(h fiber.Handler) []fiber.Handler { return []fiber.Handler{a.authenticate, perUser, h} }
	v1.Post("/auth/logout", authed(a.logout)...)
	v1.Get("/me", authed(a.me)...)
	v1.Get("/users", authed(a.searchUsers)...)
	v1.Get("/users/:id", authed(a.profile)...)
	v1.Patch("/me", authed(a.updateMe)...)
	v1.Put("/me/avatar", authed(a.setAvatar)...)
	v1.Delete("/me/avatar", authed(a.deleteAvatar)...)
	v1.Get("/me/blocks", authed(a.blocked)...)
	v1.Put("/me/blocks/:user_id", authed(a.block)...)
	v1.Delete("/me/blocks/:user_id", authed(a.unblock)...)
	v1.Get("/me/privacy", authed(a.privacy)...)
	v1.Patch("/me/privacy", authed(a.setPrivacy)...)
	// Avatars need no token: an <img> cannot send one, and a key is
	// unguessable and names a picture its owner made public.
	v1.Get("/avatars/:key", a.avatar)
	v1.Post("/chats", authed(a.createChat)...)
	v1.Get("/chats", authed(a.listChats)...)
	v1.Get("/chats/:id", authed(a.getChat)...)
	v1.Patch("/chats/:id", authed(a.updateChat)...)
	v1.Patch("/chats/:id/members/:user_id", authed(a.setRole)...)
	v1.Post("/chats/:id/members", authed(a.addMember)...)
	v1.Delete("/chats/:id/members/:user_id", authed(a.removeMember)...)
	v1.Post("/chats/:id/messages", authed(a.sendMessage)...)
	v1.Get("/chats/:id/messages", authed(a.history)...)
	v1.Get("/search/messages", authed(a.searchMessages)...)
	v1.Patch("/chats/:id/messages/:mid", authed(a.editMessage)...)
	v1.Delete("/chats/:id/messages/:mid", authed(a.deleteMessage)...)
	v1.Delete("/chats/:id/history", authed(a.clearHistory)...)
	v1.Post("/chats/:id/read", authed(a.markRead)...)
	v1.Post("/chats/:id/typing", authed(a.typing)...)
	v1.Get("/realtime/token", authed(a.realtimeToken)...)
	v1.Post("/realtime/subscription-token", authed(a.subscriptionToken)...)
	v1.Get("/updates", authed(a.updatesAfter)...)

	if cfg.WebDir != "" {
		app.Use(webClient(cfg.WebDir))
	}
	return app
}

// withDeadline bounds the dependency calls of a request: fasthttp does not
// cancel a request's context when the client goes away, so without a deadline
// a hung dependency would hold handlers forever. The context also carries the
// request id, for whatever the application layer logs.
func (a *api) withDeadline(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(obs.WithRequestID(context.Background(), requestID(c)), a.timeout)
	defer cancel()
	c.SetUserContext(ctx)
	return c.Next()
}
