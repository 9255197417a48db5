// Package tracing sets up a node's OpenTelemetry tracing from the standard
// OTEL_* environment variables, and is off unless they ask for it.
//
// Tracing is on when OTEL_TRACES_EXPORTER names an exporter other than
// "none" (otlp or console), or when an OTLP endpoint is set
// (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT), and
// OTEL_SDK_DISABLED is not "true". The exporter and its transport, the
// endpoint, headers, timeouts, batching (OTEL_BSP_*), sampling
// (OTEL_TRACES_SAMPLER, default parentbased_always_on) and the resource
// (OTEL_SERVICE_NAME, default "boomerang"; OTEL_RESOURCE_ATTRIBUTES) are
// the SDK's to read, as its documentation says. Trace context travels as
// W3C Trace Context (traceparent, tracestate); baggage is not propagated,
// since it could carry a client's data into the event log.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// ServiceName is the service.name of a node's spans unless
// OTEL_SERVICE_NAME says otherwise.
const ServiceName = "boomerang"

// instrumentation names the tracer of Boomerang's spans.
const instrumentation = "github.com/boomerang-dev/boomerang"

// Enabled reports whether the environment read by getenv asks for traces
// (see the package documentation).
func Enabled(getenv func(string) string) bool {
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return false
	}
	switch exporter := strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")); exporter {
	case "":
		return getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
	default:
		return exporter != "none"
	}
}

// Tracing is a node's tracer provider, exporting its spans in batches.
// A nil *Tracing is tracing off: its Tracer and Propagator are nil and
// Shutdown does nothing.
type Tracing struct {
	provider *sdktrace.TracerProvider
}

// New returns the tracing the environment asks for: nil when it asks for
// none. The exporter is the one OTEL_TRACES_EXPORTER names (autoexport:
// otlp by default, over http/protobuf unless OTEL_EXPORTER_OTLP_PROTOCOL
// says grpc; console writes to stdout); other OTEL_* variables are read by
// the SDK from the process's environment. It returns an error for a
// setting the SDK refuses. Nothing is dialed here: exports begin with the
// first batch of spans.
func New(ctx context.Context, getenv func(string) string) (*Tracing, error) {
	if !Enabled(getenv) {
		return nil, nil
	}
	exporter, err := autoexport.NewSpanExporter(ctx)
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	return WithExporter(ctx, exporter)
}

// WithExporter returns tracing that exports its spans in batches to
// exporter, with the resource and sampler the environment asks for.
func WithExporter(ctx context.Context, exporter sdktrace.SpanExporter) (*Tracing, error) {
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", ServiceName)),
		resource.WithFromEnv(), resource.WithTelemetrySDK(), resource.WithHost())
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	provider := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res))
	return &Tracing{provider: provider}, nil
}

// Tracer returns the tracer of Boomerang's spans; nil when tracing is off.
func (t *Tracing) Tracer() trace.Tracer {
	if t == nil {
		return nil
	}
	return t.provider.Tracer(instrumentation)
}

// Propagator returns how trace context is read from requests: W3C Trace
// Context; nil when tracing is off, so that nothing is read.
func (t *Tracing) Propagator() propagation.TextMapPropagator {
	if t == nil {
		return nil
	}
	return propagation.TraceContext{}
}

// Shutdown exports the spans still waiting in the batch and stops the
// exporter, within ctx.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	if err := t.provider.Shutdown(ctx); err != nil {
		return fmt.Errorf("tracing: %w", err)
	}
	return nil
}
