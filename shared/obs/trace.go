package obs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/logchat/shared/config"
)

// Tracing: one trace per message. The gateway starts a span per request
// (continuing the caller's W3C traceparent, or a new trace), the append
// carries that trace in the event's headers in the log, and every worker
// continues it for each event it applies (ingest/bus). Log lines name the
// trace of their context (ecs.go), so a message's lines in every process
// share one trace.id, whether or not spans are exported.
//
// Export is off unless asked for with the standard OpenTelemetry variables
// (TracingConfig): without it, spans are still made (their ids are what the
// logs and the log's headers carry) but never recorded, which costs an id
// and an allocation per span.

// TracingConfig is what the standard OTEL_* variables ask for.
type TracingConfig struct {
	Exporter       string // OTEL_TRACES_EXPORTER: "none" (the default here) or "otlp"
	Endpoint       string // OTEL_EXPORTER_OTLP_ENDPOINT
	TracesEndpoint string // OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
	Protocol       string // OTEL_EXPORTER_OTLP_PROTOCOL: http/protobuf only
	Sampler        string // OTEL_TRACES_SAMPLER, read by the SDK
	SamplerArg     string // OTEL_TRACES_SAMPLER_ARG, read by the SDK
}

// Exporting reports whether spans are sent anywhere: OTEL_TRACES_EXPORTER=otlp,
// or an OTLP endpoint set while OTEL_TRACES_EXPORTER is unset.
func (c TracingConfig) Exporting() bool {
	switch c.Exporter {
	case "otlp":
		return true
	case "":
		return c.Endpoint != "" || c.TracesEndpoint != ""
	}
	return false
}

// TracingFromEnv reads the OTEL_* variables this program honours and checks
// them. The exporter reads the rest of OTEL_EXPORTER_OTLP_* (timeout,
// compression, certificates) itself; the headers, which may hold a token,
// are read here only to be masked in the configuration log.
func TracingFromEnv(env *config.Env) TracingConfig {
	c := TracingConfig{
		Exporter:       strings.ToLower(strings.TrimSpace(env.String("OTEL_TRACES_EXPORTER", ""))),
		Endpoint:       env.String("OTEL_EXPORTER_OTLP_ENDPOINT", ""),
		TracesEndpoint: env.String("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", ""),
		Protocol:       env.String("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
		Sampler:        env.String("OTEL_TRACES_SAMPLER", "parentbased_always_on"),
		SamplerArg:     env.String("OTEL_TRACES_SAMPLER_ARG", ""),
	}
	_ = env.Secret("OTEL_EXPORTER_OTLP_HEADERS", "")
	env.Check(c.Exporter == "" || c.Exporter == "none" || c.Exporter == "otlp",
		"OTEL_TRACES_EXPORTER must be none or otlp (got %q)", c.Exporter)
	env.Check(c.Protocol == "http/protobuf" || c.Protocol == "",
		"OTEL_EXPORTER_OTLP_PROTOCOL must be http/protobuf (this build exports OTLP over HTTP only)")
	return c
}

// LinkLimit is the most links a span keeps. A worker's call applies up to
// 1,000 events (WORKER_BATCH) and its span links to the trace of each, so
// the SDK's default of 128 would lose most of a full batch's links.
const LinkLimit = 1000

// SetupTracing installs the process's tracer provider and the W3C trace
// context propagator. The returned function flushes and stops the exporter;
// call it at shutdown.
func SetupTracing(ctx context.Context, service string, c TracingConfig, log *slog.Logger) (func(context.Context) error, error) {
	otel.SetTextMapPropagator(propagation.TraceContext{})
	limits := sdktrace.NewSpanLimits()
	limits.LinkCountLimit = max(limits.LinkCountLimit, LinkLimit)
	opts := []sdktrace.TracerProviderOption{sdktrace.WithRawSpanLimits(limits)}
	if !c.Exporting() {
		// Ids without recording: the logs and the log's headers carry
		// them, and nothing else is paid for.
		tp := sdktrace.NewTracerProvider(append(opts, sdktrace.WithSampler(sdktrace.NeverSample()))...)
		otel.SetTracerProvider(tp)
		return tp.Shutdown, nil
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		attribute.String("service.name", service),
		attribute.String("service.version", ServiceVersion()),
	))
	if err != nil {
		return nil, fmt.Errorf("tracing resource: %w", err)
	}
	// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, when set, win.
	if env, err := resource.New(ctx, resource.WithFromEnv()); err == nil {
		if merged, err := resource.Merge(res, env); err == nil {
			res = merged
		}
	}
	// The exporter takes its endpoint, headers, timeout and TLS from the
	// OTEL_EXPORTER_OTLP_* variables itself.
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("otlp exporter: %w", err)
	}
	// The sampler comes from OTEL_TRACES_SAMPLER (default: parent-based,
	// always on), read by the SDK.
	tp := sdktrace.NewTracerProvider(append(opts, sdktrace.WithBatcher(exp), sdktrace.WithResource(res))...)
	otel.SetTracerProvider(tp)
	log.Info("exporting traces", "exporter", "otlp", "endpoint", firstNonEmpty(c.TracesEndpoint, c.Endpoint, "http://localhost:4318"))
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return errors.Join(tp.ForceFlush(ctx), tp.Shutdown(ctx))
	}, nil
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
