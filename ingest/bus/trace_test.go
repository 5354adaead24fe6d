package bus_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/logchat/ingest/bus"
	"github.com/logchat/shared/event"
	"github.com/logchat/shared/obs"
)

// recordSpans installs a tracer provider that records every span.
func recordSpans(t *testing.T) *tracetest.SpanRecorder {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { otel.SetTracerProvider(prev); _ = tp.Shutdown(context.Background()) })
	return rec
}

// newTrace returns a context in a fresh trace, as a request's would be.
func newTrace(t *testing.T, name string) (context.Context, trace.Span) {
	return otel.Tracer("test").Start(context.Background(), name)
}

func traceparentOf(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	return fmt.Sprintf("00-%s-%s-01", sc.TraceID(), sc.SpanID())
}

// A handler call of several events is a span of its own, linked to the trace
// of each event; each event gets a span in its own trace, and its debug line
// carries that trace. A call of one event continues the event's trace.
func TestTracingLinksTheCallToEveryEventsTrace(t *testing.T) {
	rec := recordSpans(t)
	var buf bytes.Buffer
	log := slog.New(obs.NewECSHandler(&buf, obs.ECSOptions{Service: "persister", Level: slog.LevelDebug}))

	var events []event.Event
	var traces []trace.TraceID
	for i := range 3 {
		ctx, span := newTrace(t, "request")
		span.End()
		ev := event.Event{Seq: uint64(10 + i), Envelope: event.Envelope{Type: event.MessageCreated, ChatID: 7, ActorID: 3}, TraceParent: traceparentOf(ctx)}
		events = append(events, ev)
		traces = append(traces, span.SpanContext().TraceID())
	}
	// An event without a trace (appended before tracing existed) is applied
	// all the same, and links to nothing.
	events = append(events, event.Event{Seq: 13, Envelope: event.Envelope{Type: event.ReadMoved, ChatID: 7}})

	var inCall trace.SpanContext
	h := bus.Tracing(log, "persister")(bus.HandlerFunc(func(ctx context.Context, evs []event.Event) error {
		inCall = trace.SpanContextFromContext(ctx)
		return nil
	}))
	if err := h.Handle(context.Background(), events); err != nil {
		t.Fatal(err)
	}

	var call sdktrace.ReadOnlySpan
	perEvent := map[trace.TraceID]sdktrace.ReadOnlySpan{}
	for _, s := range rec.Ended() {
		switch s.Name() {
		case "persister apply":
			call = s
		case "persister apply event":
			perEvent[s.SpanContext().TraceID()] = s
		}
	}
	if call == nil {
		t.Fatal("no span of the call")
	}
	if inCall.SpanID() != call.SpanContext().SpanID() {
		t.Error("the handler was not called in the call's span")
	}
	if len(call.Links()) != 3 {
		t.Fatalf("call links: %d, want one per traced event (3)", len(call.Links()))
	}
	for i, l := range call.Links() {
		if l.SpanContext.TraceID() != traces[i] {
			t.Errorf("link %d to %s, want event %d's trace %s", i, l.SpanContext.TraceID(), i, traces[i])
		}
	}
	for i, tid := range traces {
		s, ok := perEvent[tid]
		if !ok {
			t.Fatalf("no span in event %d's trace", i)
		}
		if len(s.Links()) != 1 || s.Links()[0].SpanContext.SpanID() != call.SpanContext().SpanID() {
			t.Errorf("event %d's span does not link back to the call", i)
		}
	}

	// One debug line per event, each in its event's trace.
	byseq := map[float64]map[string]any{}
	for _, l := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		if err := obs.CheckECSLine(l); err != nil {
			t.Errorf("%v: %s", err, l)
		}
		var m map[string]any
		_ = json.Unmarshal(l, &m)
		if m["message"] == "event applied" {
			byseq[m["event.sequence"].(float64)] = m
		}
	}
	for i, tid := range traces {
		m := byseq[float64(10+i)]
		if m == nil || m["trace.id"] != tid.String() || m["labels.chat_id"] != "7" || m["labels.message_id"] != fmt.Sprint(10+i) ||
			m["event.action"] != "message.created" || m["event.outcome"] != "success" {
			t.Errorf("line of event %d: %v", 10+i, m)
		}
	}
	if len(byseq) != 4 {
		t.Errorf("%d event lines, want 4", len(byseq))
	}

	// A call of one event is a span of that event's trace.
	rec.Reset()
	if err := h.Handle(context.Background(), events[:1]); err != nil {
		t.Fatal(err)
	}
	if inCall.TraceID() != traces[0] {
		t.Errorf("a lone event's call in trace %s, want the event's %s", inCall.TraceID(), traces[0])
	}
}

// The trace of an append travels in the event's headers through the log, and
// the worker gets it back with the event: the atomic batch of group commit
// and the one-by-one path alike.
func TestTraceTravelsWithTheEvent(t *testing.T) {
	recordSpans(t)
	for _, small := range []int{0, 1000} {
		t.Run(fmt.Sprintf("small batch %d", small), func(t *testing.T) {
			js, topo := setup(t)
			cfg := bus.DefaultPublisherConfig()
			cfg.SmallBatch = small
			cfg.Window = 20 * time.Millisecond // concurrent appends share a batch
			pub := startPublisher(t, js, cfg)

			const n = 20
			want := map[uint64]trace.TraceID{}
			var mu sync.Mutex
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ctx, span := newTrace(t, "request")
					defer span.End()
					ack, err := pub.Publish(ctx, msgEnvelope(t, int64(1+i%4), fmt.Sprint(i)), fmt.Sprintf("t-%d", i))
					if err != nil {
						t.Errorf("publish: %v", err)
						return
					}
					mu.Lock()
					want[ack.Seq] = span.SpanContext().TraceID()
					mu.Unlock()
				}()
			}
			wg.Wait()

			got := map[uint64]string{}
			done := make(chan struct{})
			r := runner(js, topo, bus.HandlerFunc(func(ctx context.Context, evs []event.Event) error {
				mu.Lock()
				defer mu.Unlock()
				for _, ev := range evs {
					got[ev.Seq] = ev.TraceParent
				}
				if len(got) == n {
					select {
					case <-done:
					default:
						close(done)
					}
				}
				return nil
			}))
			ctx, cancel := context.WithCancel(context.Background())
			stopped := make(chan struct{})
			go func() { defer close(stopped); _ = r.Run(ctx) }()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Fatalf("the worker got %d of %d events", len(got), n)
			}
			cancel()
			<-stopped
			for seq, tid := range want {
				sc := bus.EventSpanContext(event.Event{TraceParent: got[seq]})
				if sc.TraceID() != tid {
					t.Errorf("event %d came with %q, want trace %s", seq, got[seq], tid)
				}
			}
			// The append is a span of the request's trace, whose id the header carries.
			s, _ := js.Stream(context.Background(), topo.Stream)
			for seq := range want {
				raw, err := s.GetMsg(context.Background(), seq)
				if err != nil {
					t.Fatal(err)
				}
				if raw.Header.Get(bus.HeaderTraceParent) != got[seq] || raw.Header.Get(jetstream.MsgIDHeader) == "" {
					t.Errorf("stored headers of %d: %v", seq, raw.Header)
				}
			}
		})
	}
}
