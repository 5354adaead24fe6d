package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/limiter"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/logchat/shared/domain"
	"github.com/logchat/shared/obs"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

type ctxKey int

const (
	keyRequestID ctxKey = iota
	keyCaller
	keyToken
	keySpanContext // the context holding the request's span
	keyMessageID   // the id of the message a request sent, for its log line
)

// observe is the outermost middleware: it names the request, starts its
// span (continuing the caller's W3C traceparent, or a new trace), turns an
// error into its answer here rather than after the chain (so that the status
// is known), counts the request by route and status, and logs it.
func (a *api) observe(c *fiber.Ctx) error {
	start := time.Now()
	id := c.Get(fiber.HeaderXRequestID)
	if !validRequestID(id) {
		id = newRequestID()
	} else {
		id = strings.Clone(id) // fasthttp reuses the header buffer
	}
	c.Locals(keyRequestID, id)
	c.Set(fiber.HeaderXRequestID, id)
	// The route is known only after routing: the span is named then.
	ctx, span := tracer.Start(propagation.TraceContext{}.Extract(context.Background(), requestHeaders{c}), "HTTP",
		trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(start))
	c.Locals(keySpanContext, ctx)

	if err := c.Next(); err != nil {
		if herr := a.errorHandler(c, err); herr != nil {
			c.Status(fiber.StatusInternalServerError)
		}
	}
	status := c.Response().StatusCode()
	route := c.Route().Path
	if route == "/" { // only the global middleware matched: unknown path or the web client
		route = "other"
	}
	elapsed := time.Since(start)
	method := methodLabel(c.Method())
	a.metrics.requests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	a.metrics.seconds.WithLabelValues(method, route).Observe(elapsed.Seconds())
	if span.IsRecording() {
		span.SetName(method + " " + route)
		span.SetAttributes(attribute.String("http.request.method", method), attribute.String("http.route", route),
			attribute.String("url.path", c.Path()), attribute.Int("http.response.status_code", status))
		if status >= 500 {
			span.SetStatus(codes.Error, "")
		}
	}
	span.End()
	if a.log.Enabled(ctx, slog.LevelDebug) {
		attrs := append(make([]slog.Attr, 0, 10), slog.String("request_id", id),
			slog.String("http.request.method", method), slog.String("url.path", c.Path()), slog.String("route", route),
			slog.Int("http.response.status_code", status), slog.Int64("event.duration", elapsed.Nanoseconds()))
		a.log.LogAttrs(ctx, slog.LevelDebug, "request", append(attrs, requestLabels(c)...)...)
	}
	return nil
}

// requestLabels are the ids a request is about, for its log line: the
// caller, the chat of a /chats/:id route, and the message (sent, or named
// by :mid).
func requestLabels(c *fiber.Ctx) []slog.Attr {
	var out []slog.Attr
	if u, ok := c.Locals(keyCaller).(domain.User); ok {
		out = append(out, slog.Int64(obs.LabelUser, u.ID))
	}
	if id := c.Params("id"); id != "" && strings.HasPrefix(c.Route().Path, "/api/v1/chats/:id") {
		out = append(out, slog.String(obs.LabelChat, strings.Clone(id)))
	}
	if mid, ok := c.Locals(keyMessageID).(int64); ok {
		out = append(out, slog.Int64(obs.LabelMessage, mid))
	} else if mid := c.Params("mid"); mid != "" {
		out = append(out, slog.String(obs.LabelMessage, strings.Clone(mid)))
	}
	return out
}

var tracer = otel.Tracer("github.com/logchat/gateway/internal/httpapi")

// spanContext is the context holding the request's span (observe), for
// lines logged outside the handlers' context.
func spanContext(c *fiber.Ctx) context.Context {
	if ctx, ok := c.Locals(keySpanContext).(context.Context); ok {
		return ctx
	}
	return context.Background()
}

// requestHeaders reads the trace context headers of a request. Values are
// copied: fasthttp reuses its buffers after the request, and a span context
// keeps its tracestate.
type requestHeaders struct{ c *fiber.Ctx }

func (h requestHeaders) Get(key string) string { return strings.Clone(h.c.Get(key)) }
func (h requestHeaders) Set(string, string)    {}
func (h requestHeaders) Keys() []string        { return nil }

// methodLabel returns a constant for a request method. Fiber's strings point
// into fasthttp's reused buffers, and a metric keeps its label values forever.
func methodLabel(m string) string {
	for _, known := range []string{fiber.MethodGet, fiber.MethodPost, fiber.MethodDelete, fiber.MethodPut,
		fiber.MethodPatch, fiber.MethodHead, fiber.MethodOptions} {
		if m == known {
			return known
		}
	}
	return "other"
}

func requestID(c *fiber.Ctx) string {
	id, _ := c.Locals(keyRequestID).(string)
	return id
}

// validRequestID accepts a caller's X-Request-ID only if it is short and plain,
// so that it can go into logs as it is.
func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func newRequestID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// recover turns a handler's panic into a failed request instead of a dead process.
func (a *api) recover(c *fiber.Ctx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			a.log.ErrorContext(spanContext(c), "panic", "request_id", requestID(c), "panic", r, "error.stack_trace", string(debug.Stack()))
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return c.Next()
}

// authenticate checks the bearer token and remembers the caller.
func (a *api) authenticate(c *fiber.Ctx) error {
	if _, ok := c.Locals(keyCaller).(domain.User); ok {
		return c.Next() // unlessAuthenticated verified it already
	}
	token := bearer(c)
	if token == "" {
		return errUnauth("missing bearer token")
	}
	u, err := a.accounts.Caller(token)
	if errors.Is(err, domain.ErrUnavailable) {
		// The revocation list could not be asked: the token may have been
		// logged out. 503, safe to retry; never accepted unchecked.
		return err
	}
	if err != nil {
		return errUnauth("invalid or expired token")
	}
	c.Locals(keyCaller, u)
	c.Locals(keyToken, token)
	return c.Next()
}

// bearer is the request's bearer token, "" when it has none.
func bearer(c *fiber.Ctx) string {
	scheme, token, ok := strings.Cut(c.Get(fiber.HeaderAuthorization), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return token
}

// unlessAuthenticated runs limit for requests that carry no valid token:
// whoever has one is limited per user (perUser) instead. A valid token's
// caller is remembered for authenticate, which then does not verify again.
func (a *api) unlessAuthenticated(limit fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if token := bearer(c); token != "" {
			if u, err := a.accounts.Caller(token); err == nil {
				c.Locals(keyCaller, u)
				c.Locals(keyToken, token)
				return c.Next()
			}
		}
		return limit(c)
	}
}

// caller is the authenticated user of the request.
func caller(c *fiber.Ctx) domain.User {
	u, _ := c.Locals(keyCaller).(domain.User)
	return u
}

// rateLimit allows perMinute requests per key in a sliding minute and answers
// 429 with Retry-After beyond that. perMinute 0 turns it off.
func rateLimit(perMinute int, key func(*fiber.Ctx) string) fiber.Handler {
	if perMinute <= 0 {
		return func(c *fiber.Ctx) error { return c.Next() }
	}
	return limiter.New(limiter.Config{
		Max:               perMinute,
		Expiration:        time.Minute,
		KeyGenerator:      key,
		LimiterMiddleware: limiter.SlidingWindow{},
		// The limiter has set Retry-After by now.
		LimitReached: func(*fiber.Ctx) error {
			return &httpError{fiber.StatusTooManyRequests, codeRateLimited, "too many requests; retry after the time in Retry-After"}
		},
	})
}

type httpMetrics struct {
	requests *prometheus.CounterVec
	seconds  *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "logchat_http_requests_total", Help: "HTTP requests by method, route and status.",
		}, []string{"method", "route", "status"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "logchat_http_request_seconds", Help: "HTTP request latency by method and route.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"method", "route"}),
	}
	reg.MustRegister(m.requests, m.seconds)
	return m
}

func metricsHandler(g prometheus.Gatherer) fiber.Handler {
	return adaptor.HTTPHandler(promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
}

func formatID(id int64) string { return strconv.FormatInt(id, 10) }
