package bus

import (
	"context"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/logchat/shared/event"
	"github.com/logchat/shared/obs"
)

// One trace per message (docs/design.md, "Logs and traces"). An append
// carries the W3C trace context of the request that made it in the event's
// headers in the log (HeaderTraceParent), and every worker continues that
// trace for each event it applies: the same trace.id is on the gateway's,
// the persister's, cachewarm's and the notifier's lines about one message.
//
// A handler call applies many events, each from another trace. Its span
// (Tracing) belongs to a trace of its own and links to the trace of every
// event; each event also gets a short span in its own trace, linked back to
// the call's, under which its lines are logged. With one event the call's
// span is simply a child of that event's.

// HeaderTraceParent is the header an event's trace context travels in.
const HeaderTraceParent = "traceparent"

// The propagation format is W3C Trace Context, always: the log's headers
// are a contract between processes, not a matter of the global otel setup.
var traceContext propagation.TraceContext

const tracerName = "github.com/logchat/ingest/bus"

func tracer() trace.Tracer { return otel.Tracer(tracerName) }

// headerCarrier adapts NATS headers to the propagation API. NATS header
// names are case-sensitive; the W3C names are lower case.
type headerCarrier nats.Header

func (h headerCarrier) Get(key string) string { return nats.Header(h).Get(key) }
func (h headerCarrier) Set(key, value string) { nats.Header(h).Set(key, value) }
func (h headerCarrier) Keys() []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	return keys
}

// InjectTrace writes the trace context of ctx into msg's headers (nothing
// when ctx has none).
func InjectTrace(ctx context.Context, msg *nats.Msg) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return
	}
	if msg.Header == nil {
		msg.Header = nats.Header{}
	}
	traceContext.Inject(ctx, headerCarrier(msg.Header))
}

// TraceParentContext returns ctx continuing the trace of a W3C traceparent
// value (ctx itself when it is empty or malformed).
func TraceParentContext(ctx context.Context, traceparent string) context.Context {
	if traceparent == "" {
		return ctx
	}
	return traceContext.Extract(ctx, propagation.MapCarrier{HeaderTraceParent: traceparent})
}

// EventSpanContext is the span an event was appended in (invalid when the
// event carries no trace: appended before tracing, or by hand).
func EventSpanContext(ev event.Event) trace.SpanContext {
	if ev.TraceParent == "" {
		return trace.SpanContext{}
	}
	return trace.SpanContextFromContext(TraceParentContext(context.Background(), ev.TraceParent))
}

// Tracing is the middleware that continues each event's trace in a worker
// (see the top of this file), and writes a debug line per event in that
// trace: what was applied, in which sequence, for which chat, user and
// message, how long the call took and how it ended. worker.Run installs it
// outermost, so that everything below it (the handler's own spans and lines,
// Logging's) is inside the call's span.
func Tracing(log *slog.Logger, worker string) Middleware {
	t := tracer()
	callName, eventName := worker+" apply", worker+" apply event"
	return func(next Handler) Handler {
		return HandlerFunc(func(ctx context.Context, events []event.Event) error {
			if len(events) == 0 {
				return next.Handle(ctx, events)
			}
			parents := make([]trace.SpanContext, len(events))
			links := make([]trace.Link, 0, len(events))
			for i, ev := range events {
				parents[i] = EventSpanContext(ev)
				if parents[i].IsValid() {
					links = append(links, trace.Link{SpanContext: parents[i]})
				}
			}
			parent := ctx
			if len(events) == 1 && parents[0].IsValid() {
				parent = trace.ContextWithRemoteSpanContext(ctx, parents[0])
			}
			cctx, span := t.Start(parent, callName, trace.WithSpanKind(trace.SpanKindConsumer), trace.WithLinks(links...))
			started := time.Now()
			err := next.Handle(cctx, events)
			ended := time.Now()
			if span.IsRecording() {
				span.SetAttributes(attribute.String("messaging.system", "nats"),
					attribute.String("messaging.consumer.group.name", worker),
					attribute.Int("messaging.batch.message_count", len(events)))
				if err != nil {
					span.RecordError(err)
					span.SetStatus(codes.Error, err.Error())
				}
			}
			debug := log.Enabled(ctx, slog.LevelDebug)
			if debug || (span.IsRecording() && len(events) > 1) {
				callLink := trace.Link{SpanContext: span.SpanContext()}
				for i, ev := range events {
					ectx := cctx
					if len(events) > 1 {
						// The event's own span, in its own trace, as long
						// as the call that applied it.
						var es trace.Span
						ectx, es = t.Start(trace.ContextWithRemoteSpanContext(ctx, parents[i]), eventName,
							trace.WithSpanKind(trace.SpanKindConsumer), trace.WithTimestamp(started), trace.WithLinks(callLink))
						if es.IsRecording() {
							es.SetAttributes(attribute.String("messaging.consumer.group.name", worker),
								attribute.Int64("messaging.message.id", int64(ev.Seq)),
								attribute.String("logchat.event.type", string(ev.Type)))
							if err != nil {
								es.SetStatus(codes.Error, err.Error())
							}
						}
						es.End(trace.WithTimestamp(ended))
					}
					if debug {
						logEvent(ectx, log, ev, ended.Sub(started), err)
					}
				}
			}
			span.End(trace.WithTimestamp(ended))
			return err
		})
	}
}

// logEvent writes the per-event line of Tracing, in the event's trace.
func logEvent(ctx context.Context, log *slog.Logger, ev event.Event, took time.Duration, err error) {
	attrs := make([]slog.Attr, 0, 9)
	attrs = append(attrs,
		slog.String("event.action", string(ev.Type)),
		slog.Uint64("event.sequence", ev.Seq),
		slog.Int64("event.duration", took.Nanoseconds()),
		slog.Int64(obs.LabelChat, ev.ChatID),
		slog.Int64(obs.LabelUser, ev.ActorID),
		slog.Int("partition", ev.Partition))
	if ev.Type == event.MessageCreated {
		// A message's id is its event's sequence.
		attrs = append(attrs, slog.Uint64(obs.LabelMessage, ev.Seq))
	}
	msg := "event applied"
	if err != nil {
		msg = "event not applied"
		attrs = append(attrs, slog.String("event.outcome", "failure"), slog.Any("err", err))
	} else {
		attrs = append(attrs, slog.String("event.outcome", "success"))
	}
	log.LogAttrs(ctx, slog.LevelDebug, msg, attrs...)
}

// startAppend starts the span of one append to the log. Its attributes are
// set only when it is recorded: a span nobody exports costs no more than its
// ids.
func startAppend(ctx context.Context, subject string, t event.Type) (context.Context, trace.Span) {
	ctx, span := tracer().Start(ctx, "append "+string(t), trace.WithSpanKind(trace.SpanKindProducer))
	if span.IsRecording() {
		span.SetAttributes(attribute.String("messaging.system", "nats"),
			attribute.String("messaging.operation.type", "send"),
			attribute.String("messaging.destination.name", subject))
	}
	return ctx, span
}

func endAppend(span trace.Span, ack Ack, err error) {
	if span.IsRecording() {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		} else {
			span.SetAttributes(attribute.Int64("messaging.message.id", int64(ack.Seq)), attribute.Bool("logchat.duplicate", ack.Duplicate))
		}
	}
	span.End()
}

// StartAppend is startAppend for appends that do not go through the
// Publisher (the gateway's outbox relay): end the span with EndAppend.
func StartAppend(ctx context.Context, subject, what string) (context.Context, trace.Span) {
	return startAppend(ctx, subject, event.Type(what))
}

// EndAppend ends a span of StartAppend with the append's outcome.
func EndAppend(span trace.Span, seq uint64, err error) { endAppend(span, Ack{Seq: seq}, err) }
