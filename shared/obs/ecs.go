package obs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// Logs are JSON lines in the Elastic Common Schema (ECS), so that Filebeat
// or Elastic Agent can ship them to Elasticsearch as they are:
//
//	{"@timestamp":"2026-11-30T17:02:03.456Z","log.level":"info","message":"request",
//	 "ecs.version":"8.11.0","service.name":"gateway","service.version":"3f2a9c1d0e7b",
//	 "event.dataset":"logchat.gateway","http.request.method":"POST", …,
//	 "trace.id":"4bf92f3577b34da6a3ce929d0e0e4736","span.id":"00f067aa0ba902b7"}
//
// Elastic publishes ECS loggers for zap, logrus and zerolog but none for
// log/slog (their issue tracker still asks for one), so this is a thin
// handler over slog's own JSONHandler: it renames the three built-in fields,
// adds the service fields to every line, the trace and span ids of the
// context the line is logged with, and translates the attribute keys the
// code uses (translateKey). Call sites may also use ECS names directly
// ("http.response.status_code", "event.duration"): a key with a dot is
// written as it is.

// ECSVersion is the version of the schema the lines follow.
const ECSVersion = "8.11.0"

// Fields whose meaning ECS defines, as this package writes them.
const (
	FieldTraceID = "trace.id"
	FieldSpanID  = "span.id"
	FieldError   = "error.message"
	FieldErrType = "error.type"
)

// Labels: the ids of the domain, as ECS labels (keyword values, hence
// strings), so that one chat's, user's or message's lines are found by one
// term query however the line was logged.
const (
	LabelChat    = "labels.chat_id"
	LabelUser    = "labels.user_id"
	LabelMessage = "labels.message_id"
)

// customNamespace holds attributes ECS has no field for. ECS asks for custom
// fields under a namespace of their own, so that a field the schema adds
// later (say a top-level "url" object, which a plain "url" string would
// collide with) never conflicts with ours.
const customNamespace = "logchat."

// ECSOptions configure NewECSHandler.
type ECSOptions struct {
	Service string       // service.name
	Version string       // service.version; ServiceVersion() when empty
	Level   slog.Leveler // the lowest level written (info when nil)
}

// NewECSHandler returns a handler that writes ECS JSON lines to w.
func NewECSHandler(w io.Writer, o ECSOptions) slog.Handler {
	if o.Version == "" {
		o.Version = ServiceVersion()
	}
	if o.Level == nil {
		o.Level = slog.LevelInfo
	}
	inner := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: o.Level, ReplaceAttr: replaceBuiltin})
	return &ecsHandler{inner: inner.WithAttrs([]slog.Attr{
		slog.String("ecs.version", ECSVersion),
		slog.String("service.name", o.Service),
		slog.String("service.version", o.Version),
		// One dataset per program: Kibana's "logs of the notifier" is one
		// term, whatever host the line came from.
		slog.String("event.dataset", "logchat."+o.Service),
	})}
}

// replaceBuiltin gives slog's own fields their ECS names. @timestamp is in
// UTC, as Elasticsearch stores it; the level in lower case, as ECS loggers
// of other languages write it.
func replaceBuiltin(groups []string, a slog.Attr) slog.Attr {
	if len(groups) > 0 {
		return a
	}
	switch a.Key {
	case slog.TimeKey:
		if a.Value.Kind() == slog.KindTime {
			return slog.Time("@timestamp", a.Value.Time().UTC())
		}
		a.Key = "@timestamp"
	case slog.LevelKey:
		if l, ok := a.Value.Any().(slog.Level); ok {
			return slog.String("log.level", levelName(l))
		}
		a.Key = "log.level"
	case slog.MessageKey:
		a.Key = "message"
	}
	return a
}

func levelName(l slog.Level) string {
	switch {
	case l < slog.LevelInfo:
		return "debug"
	case l < slog.LevelWarn:
		return "info"
	case l < slog.LevelError:
		return "warn"
	default:
		return "error"
	}
}

type ecsHandler struct {
	inner slog.Handler
	// grouped: a WithGroup is open, so attributes land inside it and keys
	// are the caller's own (only top-level keys are translated).
	grouped bool
}

func (h *ecsHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.inner.Enabled(ctx, l) }

func (h *ecsHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	hasTrace := false
	r.Attrs(func(a slog.Attr) bool {
		if h.grouped {
			out.AddAttrs(a)
			return true
		}
		appendECS(&out, a, &hasTrace)
		return true
	})
	if !hasTrace {
		if sc := spanContext(ctx); sc.IsValid() {
			out.AddAttrs(slog.String(FieldTraceID, sc.TraceID().String()), slog.String(FieldSpanID, sc.SpanID().String()))
		}
	}
	return h.inner.Handle(ctx, out)
}

func (h *ecsHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if h.grouped {
		return &ecsHandler{inner: h.inner.WithAttrs(attrs), grouped: true}
	}
	out := slog.NewRecord(time.Time{}, 0, "", 0)
	var ignored bool
	for _, a := range attrs {
		appendECS(&out, a, &ignored)
	}
	translated := make([]slog.Attr, 0, out.NumAttrs())
	out.Attrs(func(a slog.Attr) bool { translated = append(translated, a); return true })
	return &ecsHandler{inner: h.inner.WithAttrs(translated)}
}

func (h *ecsHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	if !h.grouped {
		name = translateKey(name)
	}
	return &ecsHandler{inner: h.inner.WithGroup(name), grouped: true}
}

// appendECS adds a to out under its ECS name. An error becomes
// error.message and, when its type says more than "an error", error.type; a
// nil error is left out; an id of the domain becomes a label (a string).
func appendECS(out *slog.Record, a slog.Attr, hasTrace *bool) {
	a.Value = a.Value.Resolve()
	if a.Key == "" && a.Value.Kind() == slog.KindGroup { // inline group
		for _, g := range a.Value.Group() {
			appendECS(out, g, hasTrace)
		}
		return
	}
	key := translateKey(a.Key)
	switch key {
	case FieldError:
		appendError(out, a.Value)
		return
	case LabelChat, LabelUser, LabelMessage:
		out.AddAttrs(slog.String(key, labelValue(a.Value)))
		return
	case FieldTraceID:
		*hasTrace = true
	}
	a.Key = key
	out.AddAttrs(a)
}

// translateKey maps the keys the code logs with to ECS fields. A key with a
// dot is already an ECS (or ECS-style) field name.
func translateKey(k string) string {
	if strings.Contains(k, ".") || strings.HasPrefix(k, "@") {
		return k
	}
	switch k {
	case "err", "error":
		return FieldError
	case "chat_id", "chat":
		return LabelChat
	case "user_id":
		return LabelUser
	case "message_id":
		return LabelMessage
	case "request_id":
		return "http.request.id"
	case "seq":
		// The event's position in the log, which makes the order of
		// events unambiguous: what ECS's event.sequence is for.
		return "event.sequence"
	case "reason":
		return "event.reason"
	}
	return customNamespace + k
}

func labelValue(v slog.Value) string {
	switch v.Kind() {
	case slog.KindString:
		return v.String()
	case slog.KindInt64:
		return strconv.FormatInt(v.Int64(), 10)
	case slog.KindUint64:
		return strconv.FormatUint(v.Uint64(), 10)
	default:
		return fmt.Sprint(v.Any())
	}
}

func appendError(out *slog.Record, v slog.Value) {
	if v.Kind() != slog.KindAny {
		if s := v.String(); s != "" {
			out.AddAttrs(slog.String(FieldError, s))
		}
		return
	}
	err, ok := v.Any().(error)
	if !ok {
		if v.Any() != nil {
			out.AddAttrs(slog.String(FieldError, fmt.Sprint(v.Any())))
		}
		return
	}
	if err == nil {
		return
	}
	out.AddAttrs(slog.String(FieldError, err.Error()))
	if t := errorType(err); t != "" {
		out.AddAttrs(slog.String(FieldErrType, t))
	}
}

// errorType names the innermost error of a chain that has a type of its own
// ("*mysql.MySQLError", "*net.OpError"), or "" when every link is only a
// message (errors.New, fmt.Errorf, errors.Join): ECS's error.type is the
// "class" of the error, and a plain message has none worth a field.
func errorType(err error) string {
	found := ""
	for ; err != nil; err = errors.Unwrap(err) {
		switch t := fmt.Sprintf("%T", err); t {
		case "*errors.errorString", "*fmt.wrapError", "*fmt.wrapErrors", "*errors.joinError":
		default:
			found = t
		}
	}
	return found
}

// spanContext is the span a line is logged in: the context's own, or the
// one a Logger(ctx, …) was bound to.
func spanContext(ctx context.Context) trace.SpanContext {
	if ctx == nil {
		return trace.SpanContext{}
	}
	return trace.SpanContextFromContext(ctx)
}

// ServiceVersion is the version of this build: the module version when it
// was built from a tagged module, else the commit it was built from (12
// digits, "-dirty" with uncommitted changes), else "devel".
var ServiceVersion = sync.OnceValue(func() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev string
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "devel"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return rev
})
