package obs

import (
	"context"
	"log/slog"
)

type requestIDKey struct{}

// WithRequestID returns ctx carrying the id of the request (or event) it
// serves, so that code below the edge logs with that id without knowing
// where it came from (Logger).
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// Logger is log with the request_id ctx carries, if any. The logger is made
// only when something is logged: a request that logs nothing pays for the
// context value alone.
func Logger(ctx context.Context, log *slog.Logger) *slog.Logger {
	if id, ok := ctx.Value(requestIDKey{}).(string); ok && id != "" {
		return log.With("request_id", id)
	}
	return log
}
