package obs

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

type requestIDKey struct{}

// WithRequestID returns ctx carrying the id of the request (or event) it
// serves, so that code below the edge logs with that id without knowing
// where it came from (Logger).
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// Logger is log with the request id and the trace ctx carries, if any:
// every line it writes names the request (http.request.id) and its trace
// (trace.id, span.id), even when logged without a context (log.Warn). The
// logger is made only when something is logged: a request that logs nothing
// pays for the context value alone.
func Logger(ctx context.Context, log *slog.Logger) *slog.Logger {
	id, _ := ctx.Value(requestIDKey{}).(string)
	sc := trace.SpanContextFromContext(ctx)
	if id == "" && !sc.IsValid() {
		return log
	}
	h := log.Handler()
	if sc.IsValid() {
		h = boundHandler{Handler: h, span: sc}
	}
	l := slog.New(h)
	if id != "" {
		l = l.With("request_id", id)
	}
	return l
}

// boundHandler logs with the span it was bound to when the line's own
// context carries none.
type boundHandler struct {
	slog.Handler
	span trace.SpanContext
}

func (h boundHandler) Handle(ctx context.Context, r slog.Record) error {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		ctx = trace.ContextWithSpanContext(ctx, h.span)
	}
	return h.Handler.Handle(ctx, r)
}

func (h boundHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return boundHandler{Handler: h.Handler.WithAttrs(attrs), span: h.span}
}

func (h boundHandler) WithGroup(name string) slog.Handler {
	return boundHandler{Handler: h.Handler.WithGroup(name), span: h.span}
}
