package main

import (
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/internal/testenv"
	"github.com/boomerang-dev/boomerang/web/webtest"
)

// otlpReceiver is an OTLP/HTTP endpoint (protobuf) that keeps the spans
// it is sent, with their service's name.
type otlpReceiver struct {
	*httptest.Server
	mu      sync.Mutex
	spans   []*tracepb.Span
	service string
}

func newOTLPReceiver(tb testing.TB) *otlpReceiver {
	tb.Helper()
	r := &otlpReceiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(req.Body)
		var export coltracepb.ExportTraceServiceRequest
		if err != nil || req.URL.Path != "/v1/traces" || proto.Unmarshal(body, &export) != nil {
			http.Error(w, "bad export", http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		for _, rs := range export.ResourceSpans {
			for _, a := range rs.GetResource().GetAttributes() {
				if a.Key == "service.name" {
					r.service = a.Value.GetStringValue()
				}
			}
			for _, ss := range rs.ScopeSpans {
				r.spans = append(r.spans, ss.Spans...)
			}
		}
		r.mu.Unlock()
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	tb.Cleanup(r.Close)
	return r
}

// waitSpans waits until n spans of the trace have arrived and returns
// them by start time.
func (r *otlpReceiver) waitSpans(tb testing.TB, traceID []byte, n int) []*tracepb.Span {
	tb.Helper()
	var got []*tracepb.Span
	testenv.WaitUntil(tb, fmt.Sprintf("%d spans of the trace", n), func() (bool, string) {
		r.mu.Lock()
		got = nil
		for _, s := range r.spans {
			if string(s.TraceId) == string(traceID) {
				got = append(got, s)
			}
		}
		r.mu.Unlock()
		return len(got) >= n, fmt.Sprintf("%d spans:\n%s", len(got), spanTree(got, nil))
	})
	sort.Slice(got, func(i, j int) bool { return got[i].StartTimeUnixNano < got[j].StartTimeUnixNano })
	return got
}

func attrs(s *tracepb.Span) map[string]string {
	out := map[string]string{}
	for _, a := range s.Attributes {
		out[a.Key] = anyValue(a.Value)
	}
	return out
}

func anyValue(v *commonpb.AnyValue) string {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_IntValue:
		return fmt.Sprint(x.IntValue)
	case *commonpb.AnyValue_BoolValue:
		return fmt.Sprint(x.BoolValue)
	default:
		return v.String()
	}
}

// spanTree prints spans as an indented tree under parent (nil: the roots
// among them, and spans whose parent is not among them).
func spanTree(spans []*tracepb.Span, parent []byte) string {
	ids := map[string]bool{}
	var first uint64
	for _, s := range spans {
		ids[string(s.SpanId)] = true
		if first == 0 || s.StartTimeUnixNano < first {
			first = s.StartTimeUnixNano
		}
	}
	var b strings.Builder
	var walk func(parent []byte, depth int)
	walk = func(parent []byte, depth int) {
		for _, s := range spans {
			isChild := string(s.ParentSpanId) == string(parent)
			if parent == nil {
				isChild = !ids[string(s.ParentSpanId)]
			}
			if !isChild {
				continue
			}
			a := attrs(s)
			keys := make([]string, 0, len(a))
			for k := range a {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			var kv []string
			for _, k := range keys {
				kv = append(kv, k+"="+a[k])
			}
			fmt.Fprintf(&b, "%s%s [%s] span=%s parent=%s at +%.1fms for %.1fms status=%s %s\n  %s%s\n", strings.Repeat("  ", depth), s.Name,
				strings.TrimPrefix(s.Kind.String(), "SPAN_KIND_"), hex.EncodeToString(s.SpanId), hex.EncodeToString(s.ParentSpanId),
				float64(s.StartTimeUnixNano-first)/1e6, float64(s.EndTimeUnixNano-s.StartTimeUnixNano)/1e6, strings.TrimPrefix(s.GetStatus().GetCode().String(), "STATUS_CODE_"),
				s.GetStatus().GetMessage(), strings.Repeat("  ", depth), strings.Join(kv, " "))
			walk(s.SpanId, depth+1)
		}
	}
	walk(parent, 0)
	return b.String()
}

// hookRecorder is a webhook receiver that answers each delivery with the
// next of its statuses and keeps the headers it got.
type hookRecorder struct {
	*httptest.Server
	mu      sync.Mutex
	headers []http.Header
}

func newHookRecorder(tb testing.TB, statuses ...int) *hookRecorder {
	h := &hookRecorder{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		h.mu.Lock()
		h.headers = append(h.headers, r.Header.Clone())
		n := len(h.headers)
		h.mu.Unlock()
		w.WriteHeader(statuses[min(n, len(statuses))-1])
	}))
	tb.Cleanup(h.Close)
	return h
}

func (h *hookRecorder) got() []http.Header {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]http.Header(nil), h.headers...)
}

// TestTraceOfATaskWithARetry exports a task's spans over real OTLP/HTTP
// (the standard OTEL_* variables, read as serve reads them) to a receiver
// in the test: the create span is the child of the client's traceparent;
// both attempts and both webhook deliveries are children of the create
// span, in the same trace, carried there by the task's messages alone;
// the target and the receiver get the traceparent of the attempt's and
// the delivery's span; the spans say what happened and carry nothing
// secret.
func TestTraceOfATaskWithARetry(t *testing.T) {
	receiver := newOTLPReceiver(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.URL)
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "20")
	t.Setenv("OTEL_SERVICE_NAME", "")
	t.Setenv("OTEL_TRACES_EXPORTER", "")
	t.Setenv("OTEL_SDK_DISABLED", "")
	n := MustRunMain(t)
	client, creds := n.tenantClient(t, "traced")

	target := testenv.NewTarget(t, webtest.Answer(http.StatusServiceUnavailable, http.StatusOK))
	hooks := newHookRecorder(t, http.StatusInternalServerError, http.StatusNoContent)
	const (
		clientTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
		clientSpan  = "00f067aa0ba902b7"
		secret      = "s3cr3t-query-value"
		payloadMark = "payload-marker-0123"
		headerMark  = "header-value-marker"
	)
	r := client.Do(t, http.MethodPost, "/v1/tasks", map[string]any{
		"targetUrl": target.URL + "/call?token=" + secret, "webhookUrl": hooks.URL + "/hook?key=" + secret,
		"payload": map[string]string{"mark": payloadMark}, "headers": map[string]string{"X-Mark": headerMark},
	}, "traceparent", "00-"+clientTrace+"-"+clientSpan+"-01")
	if r.Status != http.StatusAccepted {
		t.Fatalf("create: got %d %s", r.Status, r.Body)
	}
	var task broker.Task
	r.JSON(t, &task)
	waitTask(t, client, task.ID, 30*time.Second, webhookSettled)

	traceID, _ := hex.DecodeString(clientTrace)
	spans := receiver.waitSpans(t, traceID, 5)
	t.Logf("the trace of task %s:\n%s", task.ID, spanTree(spans, nil))
	if receiver.service != "boomerang" {
		t.Errorf("service.name = %q, want boomerang", receiver.service)
	}
	byName := map[string][]*tracepb.Span{}
	for _, s := range spans {
		byName[s.Name] = append(byName[s.Name], s)
	}
	creates, attempts, deliveries := byName["boomerang.task.create"], byName["boomerang.task.attempt"], byName["boomerang.webhook.deliver"]
	if len(creates) != 1 || len(attempts) != 2 || len(deliveries) != 2 {
		t.Fatalf("got %d creates, %d attempts, %d deliveries, want 1, 2, 2", len(creates), len(attempts), len(deliveries))
	}
	create := creates[0]
	if got := hex.EncodeToString(create.ParentSpanId); got != clientSpan {
		t.Errorf("create's parent = %s, want the client's span %s", got, clientSpan)
	}
	if create.Kind != tracepb.Span_SPAN_KIND_PRODUCER {
		t.Errorf("create's kind = %v, want producer", create.Kind)
	}
	checkAttrs(t, create, map[string]string{"boomerang.task.id": task.ID, "boomerang.tenant.id": creds.TenantID})

	if got := attempts[0].GetStatus().GetCode(); got != tracepb.Status_STATUS_CODE_ERROR {
		t.Errorf("the failed attempt's status = %v, want error", got)
	}
	var calls []http.Header
	for _, c := range target.Calls() {
		calls = append(calls, c.Header)
	}
	for _, work := range []struct {
		spans   []*tracepb.Span
		want    []map[string]string
		headers []http.Header // of the calls the spans made, in order
	}{
		{attempts, []map[string]string{
			{"boomerang.attempt": "1", "http.response.status_code": "503", "boomerang.outcome": "retry", "http.request.method": "POST"},
			{"boomerang.attempt": "2", "http.response.status_code": "200", "boomerang.outcome": "succeeded", "http.request.method": "POST"},
		}, calls},
		{deliveries, []map[string]string{
			{"boomerang.webhook.delivery": "1", "http.response.status_code": "500", "boomerang.outcome": "retry"},
			{"boomerang.webhook.delivery": "2", "http.response.status_code": "204", "boomerang.outcome": "delivered"},
		}, hooks.got()},
	} {
		for i, s := range work.spans {
			checkChild(t, s, create)
			checkAttrs(t, s, work.want[i])
			checkAttrs(t, s, map[string]string{"boomerang.task.id": task.ID, "boomerang.tenant.id": creds.TenantID})
			checkTraceparent(t, fmt.Sprintf("%s %d's call", s.Name, i+1), work.headers[i], s)
		}
	}
	// Nothing secret, no payload and no header's value in any span.
	for _, s := range spans {
		text := s.String()
		for _, leak := range []string{secret, payloadMark, headerMark, creds.APIKey, creds.SigningSecret, "/call", "/hook"} {
			if strings.Contains(text, leak) {
				t.Errorf("span %s carries %q", s.Name, leak)
			}
		}
	}
}

func checkChild(tb testing.TB, s, parent *tracepb.Span) {
	tb.Helper()
	if string(s.ParentSpanId) != string(parent.SpanId) {
		tb.Errorf("%s's parent = %x, want the %s span %x", s.Name, s.ParentSpanId, parent.Name, parent.SpanId)
	}
	if s.Kind != tracepb.Span_SPAN_KIND_CLIENT {
		tb.Errorf("%s's kind = %v, want client", s.Name, s.Kind)
	}
}

func checkAttrs(tb testing.TB, s *tracepb.Span, want map[string]string) {
	tb.Helper()
	got := attrs(s)
	for k, v := range want {
		if got[k] != v {
			tb.Errorf("%s %s = %q, want %q", s.Name, k, got[k], v)
		}
	}
}

// checkTraceparent checks that an outbound call carried the traceparent
// of span s.
func checkTraceparent(tb testing.TB, what string, h http.Header, s *tracepb.Span) {
	tb.Helper()
	want := fmt.Sprintf("00-%x-%x-01", s.TraceId, s.SpanId)
	if got := h.Get("Traceparent"); got != want {
		tb.Errorf("%s: traceparent %q, want %q (its span's)", what, got, want)
	}
}
