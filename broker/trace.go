package broker

import (
	"context"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Traces. A task is one trace, whichever nodes work on it. Its create span
// is the parent of every attempt's span and every webhook delivery's, and
// its trace context (W3C Trace Context: the traceparent and tracestate
// headers) travels on every message of the task: the created event, the
// outcome events, and the due messages of retries (a message schedule
// copies its headers onto the message it fires; a parked wait keeps them,
// see unpark). A worker on any node reads it from the message it was
// handed and starts its span as a child of the task's create span. A task
// whose messages carry none (created before tracing was on, or on a node
// without it) takes its first attempt's span as its trace from then on.
//
// A redelivery asked for through the API is a trace of its own, whose
// deliveries are children of its span: the view does not keep the task's
// trace context.
//
// Spans carry ids, numbers, outcomes, status codes and target hosts;
// never a payload, a header's value, a URL's path or query, or a secret.

// Span names.
const (
	spanCreate    = "boomerang.task.create"
	spanRedeliver = "boomerang.task.redeliver"
	spanAttempt   = "boomerang.task.attempt"
	spanDelivery  = "boomerang.webhook.deliver"
)

// Span attribute keys.
const (
	attrTenantID   = attribute.Key("boomerang.tenant.id")
	attrTaskID     = attribute.Key("boomerang.task.id")
	attrAttempt    = attribute.Key("boomerang.attempt")
	attrDelivery   = attribute.Key("boomerang.webhook.delivery")
	attrOutcome    = attribute.Key("boomerang.outcome")
	attrReplay     = attribute.Key("boomerang.idempotent_replay")
	attrStatusCode = attribute.Key("http.response.status_code")
	attrMethod     = attribute.Key("http.request.method")
	attrHost       = attribute.Key("server.address")
)

// maxTraceState is the longest tracestate a message carries (the W3C
// recommendation for what to propagate at least): a longer one is left
// off, so that a client's header cannot crowd an event's room for data.
const maxTraceState = 512

// traceContext reads and writes the W3C headers.
var traceContext propagation.TraceContext

// natsCarrier lets the propagator read and write a message's headers, by
// their exact lower-case names.
type natsCarrier nats.Header

func (c natsCarrier) Get(key string) string { return nats.Header(c).Get(key) }

func (c natsCarrier) Set(key, value string) {
	if key == "tracestate" && len(value) > maxTraceState {
		return
	}
	nats.Header(c).Set(key, value)
}

func (c natsCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// traceHeaders are the headers that carry a trace context.
var traceHeaders = [...]string{"traceparent", "tracestate"}

// injectTrace writes the span context of ctx into msg's headers, when
// ctx has a valid one.
func injectTrace(ctx context.Context, msg *nats.Msg) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return
	}
	if msg.Header == nil {
		msg.Header = nats.Header{}
	}
	traceContext.Inject(ctx, natsCarrier(msg.Header))
}

// copyTrace copies the trace headers of from onto to.
func copyTrace(to, from nats.Header) {
	for _, k := range traceHeaders {
		if v := from.Get(k); v != "" {
			to.Set(k, v)
		}
	}
}

// withTrace returns ctx carrying sc, so that what is published with it
// carries sc; ctx itself when sc is not valid.
func withTrace(ctx context.Context, sc trace.SpanContext) context.Context {
	if !sc.IsValid() {
		return ctx
	}
	return trace.ContextWithRemoteSpanContext(ctx, sc)
}

// taskSpan is the span of one piece of a task's work, and the task's
// trace context, which the messages it publishes carry on.
type taskSpan struct {
	trace.Span
	task trace.SpanContext
}

// work describes the work a span is of: an attempt (its number and
// method) or a webhook delivery (its number).
type work struct {
	name                           string
	tenantID, taskID, host, method string
	attempt, delivery              int
}

func (w work) attributes() []attribute.KeyValue {
	attrs := []attribute.KeyValue{attrTenantID.String(w.tenantID), attrTaskID.String(w.taskID), attrHost.String(w.host)}
	if w.attempt > 0 {
		attrs = append(attrs, attrAttempt.Int(w.attempt), attrMethod.String(w.method))
	}
	if w.delivery > 0 {
		attrs = append(attrs, attrDelivery.Int(w.delivery))
	}
	return attrs
}

// startWork starts the span of work w on a task handed over in a message
// with header h, as a child of the task's trace context there, within
// ctx. Without a tracer it returns ctx and a span that records nothing,
// and costs no allocation.
func (t Telemetry) startWork(ctx context.Context, h nats.Header, w work) (context.Context, taskSpan) {
	if t.Tracer == nil {
		return ctx, taskSpan{Span: trace.SpanFromContext(context.Background())}
	}
	parent := t.messageTrace(h)
	ctx, span := t.Tracer.Start(trace.ContextWithRemoteSpanContext(ctx, parent), w.name,
		trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(w.attributes()...))
	task := parent
	if !task.IsValid() {
		task = span.SpanContext() // the task's first traced work is its trace from now on
	}
	return ctx, taskSpan{Span: span, task: task}
}

// messageTrace is the task's trace context a message with header h
// carries; none without a tracer.
func (t Telemetry) messageTrace(h nats.Header) trace.SpanContext {
	if t.Tracer == nil {
		return trace.SpanContext{}
	}
	return trace.SpanContextFromContext(traceContext.Extract(context.Background(), natsCarrier(h)))
}

// startProducer starts a span of an API write within ctx (whose span, a
// request's traceparent, is its parent). Without a tracer it returns ctx
// and a span that records nothing.
func (t Telemetry) startProducer(ctx context.Context, name, tenantID string) (context.Context, trace.Span) {
	if t.Tracer == nil {
		return ctx, trace.SpanFromContext(context.Background())
	}
	return t.Tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(attrTenantID.String(tenantID)))
}

// end records how the work came out and ends the span. A failure (an
// outcome other than succeeded, delivered or canceled) marks the span as
// an error, described by errText, which never names an address.
func (s taskSpan) end(outcome string, statusCode int, errText string) {
	if s.IsRecording() {
		s.SetAttributes(attrOutcome.String(outcome))
		if statusCode > 0 {
			s.SetAttributes(attrStatusCode.Int(statusCode))
		}
		switch outcome {
		case string(OutcomeSucceeded), string(OutcomeCanceled), "delivered":
		default:
			s.SetStatus(codes.Error, errText)
		}
	}
	s.End()
}
