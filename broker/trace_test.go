package broker

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/trace"
)

// testSpanContext is a sampled span context with a tracestate.
func testSpanContext(t *testing.T, state string) trace.SpanContext {
	t.Helper()
	ts, err := trace.ParseTraceState(state)
	if err != nil {
		t.Fatal(err)
	}
	return trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		SpanID:  trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8}, TraceFlags: trace.FlagsSampled, TraceState: ts, Remote: true,
	})
}

const testTraceparent = "00-0102030405060708090a0b0c0d0e0f10-0102030405060708-01"

// TestTraceContextOnMessages: a message published with a span context in
// its context carries it as W3C headers, a too long tracestate is left
// off, and one published without carries no trace header at all.
func TestTraceContextOnMessages(t *testing.T) {
	t.Parallel()
	msg := nats.NewMsg("x")
	injectTrace(context.Background(), msg)
	if len(msg.Header) != 0 {
		t.Fatalf("without a span: got headers %v, want none", msg.Header)
	}
	injectTrace(withTrace(context.Background(), testSpanContext(t, "vendor=abc")), msg)
	if got := msg.Header.Get("traceparent"); got != testTraceparent {
		t.Errorf("traceparent: got %q, want %q", got, testTraceparent)
	}
	if got := msg.Header.Get("tracestate"); got != "vendor=abc" {
		t.Errorf("tracestate: got %q, want vendor=abc", got)
	}
	long := nats.NewMsg("x")
	injectTrace(withTrace(context.Background(), testSpanContext(t, "a="+strings.Repeat("x", 250)+",b="+strings.Repeat("y", 250)+",c="+strings.Repeat("z", 250))), long)
	if long.Header.Get("tracestate") != "" || long.Header.Get("traceparent") != testTraceparent {
		t.Errorf("long tracestate: got headers %v, want the traceparent only", long.Header)
	}
	if got := (Telemetry{}).messageTrace(msg.Header); got.IsValid() {
		t.Errorf("without a tracer the trace of a message: got %v, want none", got)
	}
}

// TestParkedWaitKeepsItsTraceContext: a far retry's wait is parked, then
// promoted to a schedule that fires its due message: the due message
// still carries the task's trace context, so the retry joins the trace.
func TestParkedWaitKeepsItsTraceContext(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	b.pub.parking = shortParking()
	ctx := withTrace(context.Background(), testSpanContext(t, "vendor=abc"))
	at := time.Now().Add(3 * time.Second)
	if err := b.pub.schedule(ctx, dueTask, "ten_a", "tsk_1", at, taskDue{TenantID: "ten_a", TaskID: "tsk_1", Attempt: 2}); err != nil {
		t.Fatal(err)
	}
	bucket := b.pub.parking.bucketOf(at)
	if parked := lastOn(t, b, parkSubject(bucket)); parked == nil || parked.Header.Get("traceparent") != testTraceparent {
		t.Fatalf("parked wait: got %+v, want it with the traceparent", parked)
	}
	wake := nextMsg(t, b.js, StreamSchedules, consumerWake)
	if n, err := b.pub.promote(context.Background(), bucket, quiet); err != nil || n != 1 {
		t.Fatalf("promote: got %d, %v; want 1", n, err)
	}
	_ = wake.Ack()
	due := nextMsg(t, b.js, StreamSchedules, consumerDispatchDue)
	defer func() { _ = due.Ack() }()
	if got := due.Headers().Get("traceparent"); got != testTraceparent {
		t.Errorf("due message's traceparent: got %q, want %q", got, testTraceparent)
	}
	if got := due.Headers().Get("tracestate"); got != "vendor=abc" {
		t.Errorf("due message's tracestate: got %q, want vendor=abc", got)
	}
}
