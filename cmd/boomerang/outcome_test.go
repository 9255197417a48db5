package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/internal/testenv"
)

// headerBlock is n header lines named X-H-<i>, each value size bytes.
func headerBlock(n, size int) []byte {
	var b bytes.Buffer
	value := strings.Repeat("a", size)
	for i := range n {
		b.WriteString("X-H-" + strconv.Itoa(i) + ": " + value + "\r\n")
	}
	return b.Bytes()
}

// answerWithHeaders writes a whole answer with block among its headers,
// straight on the connection: quick to send, however large, even on a busy
// machine.
func answerWithHeaders(t *testing.T, w http.ResponseWriter, status int, block []byte) {
	conn, buf, err := w.(http.Hijacker).Hijack()
	if err != nil {
		t.Error(err)
		return
	}
	defer conn.Close()
	_, _ = buf.WriteString("HTTP/1.1 " + strconv.Itoa(status) + " " + http.StatusText(status) + "\r\n")
	_, _ = buf.Write(block)
	_, _ = buf.WriteString("Content-Length: 0\r\nConnection: close\r\n\r\n")
	_ = buf.Flush()
}

// waitIdle waits until no work is pending or in flight on any consumer of
// the node's streams: nothing is left that could call a target or a
// receiver again.
func (n *testNode) waitIdle(tb testing.TB) {
	tb.Helper()
	ctx := context.Background()
	testenv.WaitUntil(tb, "no work pending or in flight", func() (bool, string) {
		busy := 0
		for _, name := range []string{broker.StreamTasks, broker.StreamSchedules} {
			stream, err := n.js.Stream(ctx, name)
			if err != nil {
				tb.Fatal(err)
			}
			list := stream.ListConsumers(ctx)
			for info := range list.Info() {
				busy += info.NumAckPending + int(info.NumPending)
			}
			if err := list.Err(); err != nil {
				tb.Fatal(err)
			}
		}
		return busy == 0, fmt.Sprintf("the consumers have %d messages pending or in flight", busy)
	})
}

// TestHugeResponseHeadersCannotDefeatRetries: a target that answers with
// 9 MB of headers (9 of 1 MiB, or 200,000 small ones) once made its task
// call it again and again, whatever its retries: the outcome did not fit
// the stream. Now each answer is one failed attempt, the task fails after
// retries + 1 calls with an error that says why, and what is recorded of
// it stays small.
func TestHugeResponseHeadersCannotDefeatRetries(t *testing.T) {
	t.Parallel()
	node := MustRunMain(t)
	client, _ := node.tenantClient(t, "acme")
	tests := []struct {
		name    string
		retries int
		block   []byte
	}{
		{"9 MB of headers", 2, headerBlock(9, 1<<20)},
		{"200,000 headers", 1, headerBlock(200_000, 8)},
	}
	for _, tt := range tests {
		target := testenv.NewTarget(t, func(w http.ResponseWriter, r *http.Request, n int) {
			answerWithHeaders(t, w, http.StatusOK, tt.block)
		})
		task := createTask(t, client, map[string]any{"targetUrl": target.URL, "retries": tt.retries, "timeout": 600})
		got := waitTask(t, client, task.ID, 120*time.Second, finished)
		node.waitIdle(t)
		if calls := len(target.CallsFor(task.ID)); calls != tt.retries+1 {
			t.Errorf("%s: the target got %d calls, want retries + 1 = %d", tt.name, calls, tt.retries+1)
		}
		if got.Status != broker.StatusFailed || got.Result == nil || got.Result.Error != "response headers too large: over 256 KiB" {
			t.Errorf("%s: got %s (result error %q), want failed, naming the headers", tt.name, got.Status, resultError(got))
		}
		if len(got.Attempts) != tt.retries+1 {
			t.Errorf("%s: %d attempts recorded, want %d", tt.name, len(got.Attempts), tt.retries+1)
		}
		r := client.Do(t, http.MethodGet, "/v1/tasks/"+task.ID, nil)
		t.Logf("%s: GET /v1/tasks/{id} is %d bytes", tt.name, len(r.Body))
		if len(r.Body) > 16<<10 {
			t.Errorf("%s: GET /v1/tasks/{id} is %d bytes, want a small task", tt.name, len(r.Body))
		}
	}
	if strings.Contains(node.Log.String(), "maximum payload exceeded") {
		t.Error("an outcome did not fit the stream")
	}
}

func resultError(t broker.Task) string {
	if t.Result == nil {
		return ""
	}
	return t.Result.Error
}

// TestManyHeadersAreKeptBounded: headers that the client reads are kept
// within the bounds, marked, and the answer still counts.
func TestManyHeadersAreKeptBounded(t *testing.T) {
	t.Parallel()
	node := MustRunMain(t)
	client, _ := node.tenantClient(t, "acme")
	target := testenv.NewTarget(t, func(w http.ResponseWriter, r *http.Request, n int) {
		for i := range 2000 { // 150 KiB in all: read, not kept whole
			w.Header()["X-H-"+strconv.Itoa(i)] = []string{strings.Repeat("a", 60)}
		}
		for i := range 1000 {
			w.Header().Add("Set-Cookie", "c"+strconv.Itoa(i)+"=x")
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	})
	task := createTask(t, client, map[string]any{"targetUrl": target.URL, "retries": 2})
	got := waitTask(t, client, task.ID, 30*time.Second, finished)
	if got.Status != broker.StatusSucceeded || len(target.CallsFor(task.ID)) != 1 {
		t.Fatalf("got %s after %d calls, want succeeded after 1", got.Status, len(target.CallsFor(task.ID)))
	}
	res := got.Result
	if !res.HeadersTruncated || len(res.Headers) != 64 || res.Headers["Content-Type"] != "application/json" || string(res.Body) != `{"ok":true}` {
		t.Fatalf("result: %d headers, truncated %v, Content-Type %q, body %s; want 64, marked, the answer whole",
			len(res.Headers), res.HeadersTruncated, res.Headers["Content-Type"], res.Body)
	}
	if a := got.Attempts[0]; !a.HeadersTruncated || len(a.Headers) != 64 {
		t.Fatalf("attempt: %d headers, truncated %v; want the result's", len(a.Headers), a.HeadersTruncated)
	}
}

// TestReceiverWithHugeHeadersGetsItsScheduleOnly: a webhook receiver that
// answers with 9 MB of headers gets the schedule's deliveries (four in the
// tests), each a failed one, then the notification is dead-lettered.
func TestReceiverWithHugeHeadersGetsItsScheduleOnly(t *testing.T) {
	t.Parallel()
	node := MustRunMain(t)
	client, _ := node.tenantClient(t, "acme")
	var deliveries atomic.Int64
	block := headerBlock(9, 1<<20)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		deliveries.Add(1)
		answerWithHeaders(t, w, http.StatusNoContent, block)
	}))
	t.Cleanup(receiver.Close)
	target := testenv.NewTarget(t, answer(200))
	task := createTask(t, client, map[string]any{"targetUrl": target.URL, "webhookUrl": receiver.URL})
	got := waitTask(t, client, task.ID, 60*time.Second, webhookSettled)
	node.waitIdle(t)
	if got.Webhook.Status != broker.WebhookDead || len(got.Webhook.Deliveries) != 4 || deliveries.Load() != 4 {
		t.Fatalf("webhook %s after %d recorded deliveries, %d received; want dead after the schedule's 4",
			got.Webhook.Status, len(got.Webhook.Deliveries), deliveries.Load())
	}
	if e := got.Webhook.Deliveries[0].Error; e != "response headers too large: over 256 KiB" {
		t.Errorf("delivery error: got %q, want the headers named", e)
	}
}

// TestOutcomeOverTheMaxPayloadIsRecordedCutDown: with a response body cap
// the stream cannot hold (7 MiB of control characters is 9.3 MiB in
// base64; the embedded server takes 8 MiB), the answer is recorded without
// its body, marked and noted, once: the target is called once and the
// webhook carries the same result.
func TestOutcomeOverTheMaxPayloadIsRecordedCutDown(t *testing.T) {
	t.Parallel()
	node := MustRunMain(t, "--max-response-body", strconv.Itoa(7<<20))
	client, creds := node.tenantClient(t, "acme")
	target := testenv.NewTarget(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("X-Kept", "yes")
		_, _ = w.Write([]byte(strings.Repeat("\x01", 7<<20)))
	})
	receiver := testenv.NewReceiver(t, creds.SigningSecret)
	task := createTask(t, client, map[string]any{"targetUrl": target.URL, "webhookUrl": receiver.URL, "retries": 3})
	got := waitTask(t, client, task.ID, 60*time.Second, webhookSettled)
	node.waitIdle(t)
	if got.Status != broker.StatusSucceeded || len(target.CallsFor(task.ID)) != 1 {
		t.Fatalf("got %s after %d calls, want succeeded after 1", got.Status, len(target.CallsFor(task.ID)))
	}
	a := got.Attempts[0]
	if a.Body != nil || !a.BodyTruncated || a.Headers["X-Kept"] != "yes" || a.Error != "response too large to record: body dropped" {
		t.Fatalf("attempt: body %d bytes, truncated %v, X-Kept %q, error %q; want the body dropped, noted, the headers kept",
			len(a.Body), a.BodyTruncated, a.Headers["X-Kept"], a.Error)
	}
	if res := got.Result; res.StatusCode != 200 || res.Body != nil || !res.BodyTruncated || res.Error != "" {
		t.Fatalf("result: %+v, want 200, its body dropped and marked, no error", res)
	}
	hooks := receiver.For(task.ID)
	if len(hooks) != 1 || hooks[0].VerifyErr != nil || hooks[0].Event.Data.Result.StatusCode != 200 {
		t.Fatalf("webhooks: got %d, want one verified with the result", len(hooks))
	}
	var body struct {
		Data struct {
			Result broker.Result `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(hooks[0].Body, &body); err != nil || !body.Data.Result.BodyTruncated {
		t.Fatalf("the webhook's result does not say the body was dropped: %s", hooks[0].Body)
	}
	if strings.Contains(node.Log.String(), "maximum payload exceeded") {
		t.Error("an outcome did not fit the stream")
	}
}
