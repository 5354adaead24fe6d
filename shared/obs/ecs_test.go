package obs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/logchat/shared/obs"
)

func lines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		if err := obs.CheckECSLine(l); err != nil {
			t.Errorf("line fails the ECS check: %v\n%s", err, l)
		}
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("not JSON: %s", l)
		}
		out = append(out, m)
	}
	return out
}

func newLogger(buf *bytes.Buffer, level slog.Level) *slog.Logger {
	return slog.New(obs.NewECSHandler(buf, obs.ECSOptions{Service: "persister", Version: "v1.2.3", Level: level}))
}

var (
	traceID = trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}
	spanID  = trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7}
	inSpan  = trace.ContextWithSpanContext(context.Background(),
		trace.NewSpanContext(trace.SpanContextConfig{TraceID: traceID, SpanID: spanID, TraceFlags: trace.FlagsSampled}))
)

func TestECSLine(t *testing.T) {
	var buf bytes.Buffer
	log := newLogger(&buf, slog.LevelInfo).With("worker", "persister", "chat_id", int64(7))
	var opErr error = &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	log.WarnContext(inSpan, "batch failed, retrying", "err", fmt.Errorf("insert messages: %w", opErr),
		"user_id", 42, "message_id", uint64(1001), "seq", uint64(1001), "attempt", 2, "url", "nats://x",
		"http.response.status_code", 503)
	log.Info("no error", "err", error(nil))
	log.Debug("not written at info")

	got := lines(t, &buf)
	if len(got) != 2 {
		t.Fatalf("%d lines, want 2: %s", len(got), buf.String())
	}
	l := got[0]
	want := map[string]any{
		"log.level": "warn", "message": "batch failed, retrying", "ecs.version": obs.ECSVersion,
		"service.name": "persister", "service.version": "v1.2.3", "event.dataset": "logchat.persister",
		"trace.id": "4bf92f3577b34da6a3ce929d0e0e4736", "span.id": "00f067aa0ba902b7",
		"error.message": "insert messages: dial tcp: connection refused", "error.type": "*net.OpError",
		"labels.chat_id": "7", "labels.user_id": "42", "labels.message_id": "1001",
		"event.sequence": float64(1001), "logchat.attempt": float64(2), "logchat.worker": "persister",
		// A plain "url" would collide with ECS's url object: custom fields
		// live under logchat.
		"logchat.url": "nats://x", "http.response.status_code": float64(503),
	}
	for k, v := range want {
		if l[k] != v {
			t.Errorf("%s = %#v, want %#v", k, l[k], v)
		}
	}
	ts, err := time.Parse(time.RFC3339Nano, l["@timestamp"].(string))
	if err != nil || time.Since(ts) > time.Minute || !strings.HasSuffix(l["@timestamp"].(string), "Z") {
		t.Errorf("@timestamp %v: %v (want UTC, now)", l["@timestamp"], err)
	}
	for _, k := range []string{"time", "level", "msg", "err", "service"} {
		if _, ok := l[k]; ok {
			t.Errorf("slog's own field %q is still there", k)
		}
	}
	// A nil error is no error, and a line outside a span has no trace.
	for _, k := range []string{"error.message", "error.type", "trace.id", "span.id"} {
		if _, ok := got[1][k]; ok {
			t.Errorf("line without error or span has %s: %v", k, got[1])
		}
	}
}

// A plain error (errors.New, fmt.Errorf) has a message but no type worth a field.
func TestECSErrorTypeOnlyWhenKnown(t *testing.T) {
	var buf bytes.Buffer
	newLogger(&buf, slog.LevelInfo).Error("exit", "err", fmt.Errorf("config: %w", errors.New("JWT_SECRET is unset")))
	l := lines(t, &buf)[0]
	if l["error.message"] != "config: JWT_SECRET is unset" || l["error.type"] != nil {
		t.Errorf("error fields: %v %v", l["error.message"], l["error.type"])
	}
}

// Logger binds a request's id and trace: lines logged without a context
// (log.Warn) still name both.
func TestLoggerBindsRequestAndTrace(t *testing.T) {
	var buf bytes.Buffer
	ctx := obs.WithRequestID(inSpan, "req-1")
	obs.Logger(ctx, newLogger(&buf, slog.LevelInfo)).Warn("chat list from cache failed; reading MySQL", "err", errors.New("redis down"))
	l := lines(t, &buf)[0]
	if l["http.request.id"] != "req-1" || l["trace.id"] != traceID.String() || l["span.id"] != spanID.String() {
		t.Errorf("bound line: %v", l)
	}
	// Without either, Logger is the logger itself.
	base := newLogger(&buf, slog.LevelInfo)
	if obs.Logger(context.Background(), base) != base {
		t.Error("Logger made a new logger for a context without request or span")
	}
}

// The checker itself: it must refuse what the handler never writes.
func TestCheckECSLineRefuses(t *testing.T) {
	base := `"@timestamp":"2026-11-30T17:00:00.123Z","log.level":"info","message":"m","ecs.version":"` + obs.ECSVersion +
		`","service.name":"gateway","service.version":"abc","event.dataset":"logchat.gateway"`
	if err := obs.CheckECSLine([]byte("{" + base + "}")); err != nil {
		t.Fatalf("a good line refused: %v", err)
	}
	for name, extra := range map[string]string{
		"unknown plain key":  `"status":200`,
		"label not a string": `"labels.chat_id":7`,
		"status a string":    `"http.response.status_code":"200"`,
		"short trace id":     `"trace.id":"abc","span.id":"00f067aa0ba902b7"`,
		"trace without span": `"trace.id":"4bf92f3577b34da6a3ce929d0e0e4736"`,
		"duration fraction":  `"event.duration":1.5`,
		"bad level":          `"log.level":"WARN"`,
	} {
		line := "{" + base + "," + extra + "}"
		if name == "bad level" {
			line = "{" + strings.Replace(base, `"log.level":"info"`, extra, 1) + "}"
		}
		if err := obs.CheckECSLine([]byte(line)); err == nil {
			t.Errorf("%s: accepted %s", name, line)
		}
	}
	if err := obs.CheckECSLine([]byte(`{"message":"m"}`)); err == nil {
		t.Error("a line without the required fields accepted")
	}
}
