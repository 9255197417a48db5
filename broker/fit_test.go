package broker

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/internal/natsembed"
	"github.com/boomerang-dev/boomerang/internal/testenv"
)

// TestOutcomesFitASmallMaxPayload runs the stream on a server that takes
// messages of 64 KiB at most, as an external NATS may be configured, and
// records attempts, results and due webhooks whose responses would not
// fit: each is stored cut down, with its markers and a note, never refused.
func TestOutcomesFitASmallMaxPayload(t *testing.T) {
	t.Parallel()
	const maxPayload = 64 << 10
	js, _ := testenv.StartJetStream(t, func(c *natsembed.Config) { c.MaxPayload = maxPayload })
	ctx := context.Background()
	if err := EnsureStreams(ctx, js, StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	pub := NewPublisher(js)
	// Every byte a control character: JSON writes each as \u00XX.
	hugeBody, _ := json.Marshal(strings.Repeat("\x01", 20<<10))
	bigHeaders := map[string]string{}
	for _, name := range []string{"A", "B", "C", "D", "E"} {
		// Six bytes each in JSON, one in the binary events: 80 KiB at the least.
		bigHeaders["X-"+name] = strings.Repeat("\x01", 4<<10)
	}
	tests := []struct {
		name        string
		resp        Response
		wantBody    bool
		wantHeaders bool
		wantNote    string
	}{
		{"small", Response{StatusCode: 200, Headers: map[string]string{"A": "b"}, Body: json.RawMessage(`{"ok":1}`)}, true, true, ""},
		{"body too large", Response{StatusCode: 200, Headers: map[string]string{"A": "b"}, Body: hugeBody}, false, true, "body dropped"},
		{"headers too large", Response{StatusCode: 503, Headers: repeatHeaders(bigHeaders, 4), Body: json.RawMessage(`"x"`)}, true, false, "headers dropped"},
		{"both too large", Response{StatusCode: 200, Headers: repeatHeaders(bigHeaders, 4), Body: hugeBody}, false, false, "body and headers dropped"},
	}
	for i, tt := range tests {
		taskID := "tsk_" + string(rune('a'+i))
		a := Attempt{Number: 1, Outcome: OutcomeRetry, Error: "target answered 503", Response: tt.resp}
		ev := &attemptEvent{Attempt: a}
		if _, err := pub.PublishEvent(ctx, "ten_a", taskID, KindAttempt, ev); err != nil {
			t.Fatalf("%s: attempt: %v", tt.name, err)
		}
		fin := &finishedEvent{Attempt: &Attempt{Number: 2, Outcome: OutcomeSucceeded, Response: tt.resp}, Attempts: 2, WebhookURL: "https://hook.example"}
		if _, err := pub.PublishEvent(ctx, "ten_a", taskID, KindSucceeded, fin); err != nil {
			t.Fatalf("%s: succeeded: %v", tt.name, err)
		}
		due := &hookDue{Notification: Notification{TenantID: "ten_a", TaskID: taskID, URL: "https://hook.example", Result: Result{Response: tt.resp}}}
		if err := pub.schedule(ctx, dueHook, "ten_a", taskID, time.Now().Add(time.Hour), due); err != nil {
			t.Fatalf("%s: due webhook: %v", tt.name, err)
		}
		var stored attemptEvent
		readLast(t, pub, "ten_a", taskID, KindAttempt, &stored)
		var storedFin finishedEvent
		readLast(t, pub, "ten_a", taskID, KindSucceeded, &storedFin)
		for who, got := range map[string]Attempt{"attempt": stored.Attempt, "result": *storedFin.Attempt} {
			if (got.Body != nil) != tt.wantBody || got.BodyTruncated == tt.wantBody || (got.Headers != nil) != tt.wantHeaders || got.HeadersTruncated == tt.wantHeaders {
				t.Errorf("%s: %s stored with body %v (truncated %v), headers %v (truncated %v); want body %v, headers %v",
					tt.name, who, got.Body != nil, got.BodyTruncated, got.Headers != nil, got.HeadersTruncated, tt.wantBody, tt.wantHeaders)
			}
			if got.StatusCode != tt.resp.StatusCode {
				t.Errorf("%s: %s status %d, want %d", tt.name, who, got.StatusCode, tt.resp.StatusCode)
			}
			if tt.wantNote != "" && !strings.HasSuffix(got.Error, "response too large to record: "+tt.wantNote) {
				t.Errorf("%s: %s error %q, want the note %q", tt.name, who, got.Error, tt.wantNote)
			}
		}
		if !strings.HasPrefix(stored.Attempt.Error, "target answered 503") {
			t.Errorf("%s: the attempt's own error is gone: %q", tt.name, stored.Attempt.Error)
		}
	}

	// An event that records no response and does not fit is refused before
	// it is sent, with an error that says so.
	huge := &createdEvent{Spec: Spec{TargetURL: "https://x", Payload: hugeBody}}
	if _, err := pub.PublishEvent(ctx, "ten_a", "tsk_z", KindCreated, huge); !errors.Is(err, ErrEventTooLarge) {
		t.Fatalf("a created event over the limit: got %v, want ErrEventTooLarge", err)
	}
	// The largest task the stream accepts can still be scheduled: its due
	// message carries the same spec.
	lo, hi := 0, maxPayload // accepted, refused
	var spec Spec
	tenantID, taskID := "ten_0123456789abcdef", NewTaskID()
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		s := Spec{TargetURL: "https://x", Method: "POST", Payload: json.RawMessage(`"` + strings.Repeat("p", mid) + `"`),
			Headers: map[string]string{"X": "y"}, WebhookURL: "https://hook.example", IdempotencyKey: strings.Repeat("k", 255)}
		_, err := pub.PublishEvent(ctx, tenantID, taskID, KindCreated, &createdEvent{Spec: s, CreatedAt: time.Now()})
		switch {
		case err == nil:
			lo, spec = mid, s
		case errors.Is(err, ErrEventTooLarge):
			hi = mid
		default:
			t.Fatal(err)
		}
	}
	due := taskDue{TenantID: tenantID, TaskID: taskID, Attempt: 25, CreatedAt: time.Now(), Spec: spec}
	if err := pub.schedule(ctx, dueTask, tenantID, taskID, time.Now().Add(time.Hour), due); err != nil {
		t.Fatalf("the largest task accepted (payload of %d bytes) cannot be scheduled: %v", lo, err)
	}
}

func repeatHeaders(h map[string]string, n int) map[string]string {
	out := map[string]string{}
	for k, v := range h {
		for i := range n {
			out[k+string(rune('a'+i))] = v
		}
	}
	return out
}

// readLast reads the tenant's last event of a kind, which must be the task's.
func readLast(t *testing.T, pub *Publisher, tenantID, taskID, kind string, v binDecoder) {
	t.Helper()
	s, err := pub.stream(context.Background(), StreamTasks)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := s.GetLastMsgForSubject(context.Background(), kindSubject(tenantID, kind))
	if err != nil {
		t.Fatal(err)
	}
	if got := msg.Header.Get(headerTask); got != taskID {
		t.Fatalf("last %s event: got task %q, want %q", kind, got, taskID)
	}
	if err := decodeEvent(msg.Data, v); err != nil {
		t.Fatal(err)
	}
}

func TestBoundText(t *testing.T) {
	t.Parallel()
	if got := boundText("ok"); got != "ok" {
		t.Errorf("short: got %q", got)
	}
	got := boundText(strings.Repeat("é", MaxErrorLen))
	if len(got) > MaxErrorLen || !strings.HasSuffix(got, "é…") {
		t.Errorf("long: got %d bytes ending %q", len(got), got[len(got)-6:])
	}
	if got := boundText("a\xffb"); got != "a\uFFFDb" {
		t.Errorf("invalid UTF-8: got %q", got)
	}
}
