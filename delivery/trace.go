package delivery

import (
	"context"
	"net/http"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// setTraceHeaders writes the W3C trace context of ctx (the span of the
// attempt or delivery, which the broker starts when tracing is on) into
// the outbound request's headers, so that the target's or receiver's own
// spans are its children. It replaces a traceparent and tracestate the
// task's headers may hold; without a span in ctx it changes nothing.
func setTraceHeaders(ctx context.Context, h http.Header) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return
	}
	h.Del("Tracestate")
	propagation.TraceContext{}.Inject(ctx, propagation.HeaderCarrier(h))
}
