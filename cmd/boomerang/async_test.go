package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/internal/testenv"
)

// sseEvent is one Server-Sent Event as read off the wire.
type sseEvent struct {
	ID   uint64
	Type string
	Data broker.Event
}

// sseStream reads an event stream until it ends or stop says so.
type sseStream struct {
	events     []sseEvent
	heartbeats int
	ended      bool // the server closed the stream
}

// readSSE opens path with the given headers and reads events until stop
// returns true for what was read so far, or the server ends the stream. It
// fails the test if neither happens within a generous deadline.
func readSSE(t *testing.T, base, path string, headers map[string]string, stop func(s *sseStream) bool) *sseStream {
	t.Helper()
	return readSSEOpened(t, base, path, headers, nil, stop)
}

// readSSEOpened is readSSE that calls opened, when not nil, once the
// response headers have arrived: the server has fixed where the stream
// starts and sends every later event.
func readSSEOpened(t *testing.T, base, path string, headers map[string]string, opened func(), stop func(s *sseStream) bool) *sseStream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testenv.GiveUpAfter)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET %s: got %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if opened != nil {
		opened()
	}
	s := &sseStream{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var cur sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, ":"):
			s.heartbeats++
		case strings.HasPrefix(line, "id: "):
			cur.ID, _ = strconv.ParseUint(strings.TrimPrefix(line, "id: "), 10, 64)
		case strings.HasPrefix(line, "event: "):
			cur.Type = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &cur.Data); err != nil {
				t.Fatalf("event data: %v", err)
			}
		case line == "":
			if cur.Type != "" {
				s.events = append(s.events, cur)
				cur = sseEvent{}
			}
		}
		if line == "" && stop != nil && stop(s) {
			return s
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("GET %s: the stream broke off (%v) after events %s and %d heartbeats", path, err, kinds(s.events), s.heartbeats)
	}
	s.ended = true
	return s
}

func kinds(events []sseEvent) string {
	var out []string
	for _, e := range events {
		out = append(out, e.Type)
	}
	return strings.Join(out, ",")
}

// roundTripFunc is an http.RoundTripper made of a function.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestTaskEventsStreamEveryChangeAndEnd(t *testing.T) {
	t.Parallel()
	// Attempts shorter than --running-after are not announced as running:
	// a minute, so that no attempt, however slow the machine, is.
	node := MustRunMain(t, "--running-after", "1m")
	client, creds := node.tenantClient(t, "acme")
	target := testenv.NewTarget(t, answer(503, 200))
	receiver := testenv.NewReceiver(t, creds.SigningSecret)
	task := createTask(t, client, map[string]any{"targetUrl": target.URL, "webhookUrl": receiver.URL})

	s := readSSE(t, node.URL(), "/v1/tasks/"+task.ID+"/events", map[string]string{"Authorization": "Bearer " + client.Key}, nil)
	if !s.ended {
		t.Fatal("the stream did not end after the task settled")
	}
	if got, want := kinds(s.events), "created,attempt,succeeded,delivered"; got != want {
		t.Fatalf("events: got %s, want %s", got, want)
	}
	for i, e := range s.events {
		if e.ID != e.Data.Seq || e.Data.TaskID != task.ID || (i > 0 && e.ID <= s.events[i-1].ID) {
			t.Fatalf("event %d: id %d, data %+v", i, e.ID, e.Data)
		}
	}
	if a := s.events[1].Data; a.Status != broker.StatusRetrying || a.Attempt == nil || a.Attempt.StatusCode != 503 || a.NextAttemptAt == nil {
		t.Fatalf("attempt event: got %+v", a)
	}
	if d := s.events[3].Data; d.Webhook == nil || d.Webhook.Status != broker.WebhookDelivered || d.Webhook.Delivery.StatusCode != 204 {
		t.Fatalf("delivered event: got %+v", d)
	}

	// A client that dropped after the second event resumes with exactly the
	// rest.
	resumed := readSSE(t, node.URL(), "/v1/tasks/"+task.ID+"/events", map[string]string{
		"Authorization": "Bearer " + client.Key, "Last-Event-ID": strconv.FormatUint(s.events[1].ID, 10),
	}, nil)
	if got, want := kinds(resumed.events), "succeeded,delivered"; got != want {
		t.Fatalf("resumed events: got %s, want %s", got, want)
	}
	if resumed.events[0].ID != s.events[2].ID {
		t.Fatalf("resume started at %d, want %d", resumed.events[0].ID, s.events[2].ID)
	}
}

func TestEventStreamResumesAfterDroppedConnection(t *testing.T) {
	t.Parallel()
	node := MustRunMain(t, "--sse-heartbeat", "100ms")
	client, _ := node.tenantClient(t, "acme")
	release := make(chan struct{})
	target := testenv.NewTarget(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		<-release
		w.WriteHeader(http.StatusOK)
	})
	task := createTask(t, client, map[string]any{"targetUrl": target.URL})
	auth := map[string]string{"Authorization": "Bearer " + client.Key}
	// Read until the second (held) attempt shows as running, then drop the
	// connection.
	first := readSSE(t, node.URL(), "/v1/tasks/"+task.ID+"/events", auth, func(s *sseStream) bool {
		return strings.Count(kinds(s.events), "started") == 1
	})
	// While the client is away, the task finishes.
	close(release)
	waitTask(t, client, task.ID, 10*time.Second, finished)
	auth["Last-Event-ID"] = strconv.FormatUint(first.events[len(first.events)-1].ID, 10)
	rest := readSSE(t, node.URL(), "/v1/tasks/"+task.ID+"/events", auth, nil)
	all := append(first.events, rest.events...)
	if got, want := kinds(all), "created,attempt,started,succeeded"; got != want {
		t.Fatalf("events across the reconnect: got %s, want %s", got, want)
	}

	// An idle stream sends heartbeats.
	idle := createTask(t, client, map[string]any{"targetUrl": target.URL, "delay": 60})
	hb := readSSE(t, node.URL(), "/v1/tasks/"+idle.ID+"/events", map[string]string{"Authorization": "Bearer " + client.Key}, func(s *sseStream) bool {
		return s.heartbeats >= 2
	})
	if hb.heartbeats < 2 || kinds(hb.events) != "created" {
		t.Fatalf("idle stream: %d heartbeats, events %s", hb.heartbeats, kinds(hb.events))
	}
}

// TestTenantEventStream opens the tenant's event stream and then creates
// three tasks: the stream carries each one's events from created to
// succeeded, and nothing of older tasks or of another tenant.
func TestTenantEventStream(t *testing.T) {
	t.Parallel()
	node := MustRunMain(t)
	client, _ := node.tenantClient(t, "acme")
	other, _ := node.tenantClient(t, "other")
	target := testenv.NewTarget(t, answer(200))
	before := createTask(t, client, map[string]any{"targetUrl": target.URL})
	waitTask(t, client, before.ID, 10*time.Second, finished)

	var ids sync.Map
	opened, quit := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	defer wg.Wait()
	defer close(quit)
	go func() {
		defer wg.Done()
		select {
		case <-opened: // the stream starts after every event so far
		case <-quit:
			return
		}
		gt := testenv.InGoroutine(t)
		createTask(gt, other, map[string]any{"targetUrl": target.URL})
		for range 3 {
			task := createTask(gt, client, map[string]any{"targetUrl": target.URL})
			ids.Store(task.ID, true)
		}
		createTask(gt, other, map[string]any{"targetUrl": target.URL})
	}()
	s := readSSEOpened(t, node.URL(), "/v1/events", map[string]string{"Authorization": "Bearer " + client.Key},
		func() { close(opened) },
		func(s *sseStream) bool { return strings.Count(kinds(s.events), "succeeded") == 3 })
	wg.Wait() // every id stored

	perTask := map[string][]string{}
	for i, e := range s.events {
		if _, ok := ids.Load(e.Data.TaskID); !ok {
			t.Fatalf("tenant stream carried an event of task %s (older, or another tenant's)", e.Data.TaskID)
		}
		if e.ID != e.Data.Seq || (i > 0 && e.ID <= s.events[i-1].ID) {
			t.Fatalf("event %d: id %d after %d, data seq %d; want increasing ids equal to the sequence", i, e.ID, s.events[max(i-1, 0)].ID, e.Data.Seq)
		}
		perTask[e.Data.TaskID] = append(perTask[e.Data.TaskID], e.Type)
	}
	n := 0
	ids.Range(func(id, _ any) bool {
		n++
		// A slow attempt shows as started in between (--running-after).
		got := strings.Join(perTask[id.(string)], ",")
		if got != "created,succeeded" && got != "created,started,succeeded" {
			t.Errorf("task %s: events %q, want created, then succeeded", id, got)
		}
		return true
	})
	if n != 3 {
		t.Fatalf("created %d tasks, want 3", n)
	}
}

func TestLongPollAnswersAtChangeOrDeadline(t *testing.T) {
	t.Parallel()
	node := MustRunMain(t)
	client, _ := node.tenantClient(t, "acme")
	release := make(chan struct{})
	target := testenv.NewTarget(t, func(w http.ResponseWriter, r *http.Request, n int) { <-release; w.WriteHeader(200) })
	waiting := createTask(t, client, map[string]any{"targetUrl": target.URL, "delay": 60})
	r := client.Do(t, http.MethodGet, "/v1/tasks/"+waiting.ID+"?wait=1s", nil)
	var got broker.Task
	r.JSON(t, &got)
	if r.Status != http.StatusOK || got.Status != broker.StatusPending || r.Header.Get("ETag") == "" {
		t.Fatalf("deadline answer: got %d %s ETag %q, want 200 with the unchanged pending task", r.Status, got.Status, r.Header.Get("ETag"))
	}

	running := createTask(t, client, map[string]any{"targetUrl": target.URL})
	waitTask(t, client, running.ID, 10*time.Second, func(t broker.Task) bool { return t.Status == broker.StatusRunning })
	r = client.Do(t, http.MethodGet, "/v1/tasks/"+running.ID, nil) // its version cannot change until release
	etag := r.Header.Get("ETag")
	// The attempt answers once the long-poll has been sent. Whether the
	// server has begun to wait by then or reads the task after the change,
	// the answer must be the changed task, long before the deadline.
	sent := *client
	sent.HTTP = &http.Client{Transport: roundTripFunc(func(req *http.Request) (*http.Response, error) {
		trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { close(release) }}
		return http.DefaultTransport.RoundTrip(req.WithContext(httptrace.WithClientTrace(req.Context(), trace)))
	})}
	r = sent.Do(t, http.MethodGet, "/v1/tasks/"+running.ID+"?wait=60s", nil, "If-None-Match", etag) // the longest wait the API takes
	r.JSON(t, &got)
	if got.Status != broker.StatusSucceeded || r.Header.Get("ETag") == etag {
		t.Fatalf("change answer: got %s with ETag %s, want succeeded with a new ETag", got.Status, r.Header.Get("ETag"))
	}
	// A stale If-None-Match answers at once with the current task.
	r = client.Do(t, http.MethodGet, "/v1/tasks/"+running.ID+"?wait=60s", nil, "If-None-Match", etag)
	if r.Status != http.StatusOK || r.Header.Get("ETag") == etag {
		t.Fatalf("stale If-None-Match: got %d ETag %s", r.Status, r.Header.Get("ETag"))
	}
}

// TestIdempotencyKey checks the Idempotency-Key header end to end, within
// the default (24 h) window; the window's expiry is tested on an injected
// clock in broker (TestIdempotencyKeyWindow).
func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	node := MustRunMain(t)
	client, _ := node.tenantClient(t, "acme")
	other, _ := node.tenantClient(t, "other")
	target := testenv.NewTarget(t, answer(200))
	body := fmt.Sprintf(`{"targetUrl": %q, "payload": {"n": 1}}`, target.URL)

	// Thirty concurrent creates with one key make exactly one task.
	var wg sync.WaitGroup
	ids := make([]string, 30)
	statuses := make([]int, 30)
	for i := range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := client.Do(testenv.InGoroutine(t), http.MethodPost, "/v1/tasks", body, "Idempotency-Key", "order-42")
			var task struct{ ID string }
			_ = json.Unmarshal(r.Body, &task)
			ids[i], statuses[i] = task.ID, r.Status
		}()
	}
	wg.Wait()
	accepted := 0
	for i := range ids {
		if ids[i] != ids[0] {
			t.Fatalf("create %d got task %s, create 0 got %s", i, ids[i], ids[0])
		}
		switch statuses[i] {
		case http.StatusAccepted:
			accepted++
		case http.StatusOK:
		default:
			t.Fatalf("create %d: status %d", i, statuses[i])
		}
	}
	if accepted != 1 {
		t.Fatalf("%d creates answered 202, want exactly 1 (the rest 200)", accepted)
	}
	var list struct{ Items []struct{ ID string } }
	client.Do(t, http.MethodGet, "/v1/tasks", nil).JSON(t, &list)
	if len(list.Items) != 1 {
		t.Fatalf("tasks: got %d, want 1", len(list.Items))
	}
	waitTask(t, client, ids[0], 10*time.Second, finished)
	if n := len(target.Calls()); n != 1 {
		t.Fatalf("target calls: got %d, want 1", n)
	}

	// White space does not make a request different; a different body does.
	r := client.Do(t, http.MethodPost, "/v1/tasks", strings.ReplaceAll(body, " ", ""), "Idempotency-Key", "order-42")
	if r.Status != http.StatusOK || r.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("same body, other spacing: got %d, want 200 replayed", r.Status)
	}
	r = client.Do(t, http.MethodPost, "/v1/tasks", fmt.Sprintf(`{"targetUrl": %q, "payload": {"n": 2}}`, target.URL), "Idempotency-Key", "order-42")
	if r.Status != http.StatusUnprocessableEntity || r.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("different body: got %d %s, want a 422 problem", r.Status, r.Body)
	}
	// Keys are per tenant.
	r = other.Do(t, http.MethodPost, "/v1/tasks", body, "Idempotency-Key", "order-42")
	if r.Status != http.StatusAccepted {
		t.Fatalf("the same key for another tenant: got %d, want 202", r.Status)
	}
}

// TestIdempotencyWindowFlag shows that --idempotency-window reaches the
// broker: with a window of a nanosecond, which any two requests in turn
// outlast, a repeated key makes a new task.
func TestIdempotencyWindowFlag(t *testing.T) {
	t.Parallel()
	node := MustRunMain(t, "--idempotency-window", "1ns")
	client, _ := node.tenantClient(t, "acme")
	body := map[string]any{"targetUrl": "http://127.0.0.1:1/", "delay": 60}
	var ids []string
	for range 2 {
		r := client.Do(t, http.MethodPost, "/v1/tasks", body, "Idempotency-Key", "order-42")
		var task struct{ ID string }
		r.JSON(t, &task)
		if r.Status != http.StatusAccepted {
			t.Fatalf("create: got %d %s, want 202", r.Status, r.Body)
		}
		ids = append(ids, task.ID)
	}
	if ids[0] == ids[1] {
		t.Fatalf("the key returned task %s again after its window", ids[0])
	}
}

func TestCancelAbortsAttemptInFlight(t *testing.T) {
	t.Parallel()
	node := MustRunMain(t)
	client, creds := node.tenantClient(t, "acme")
	receiver := testenv.NewReceiver(t, creds.SigningSecret)
	aborted := make(chan struct{}, 1)
	target := testenv.NewTarget(t, func(w http.ResponseWriter, r *http.Request, n int) {
		select {
		case <-r.Context().Done():
			aborted <- struct{}{}
		case <-time.After(testenv.GiveUpAfter): // held until aborted, as long as the test waits
			w.WriteHeader(http.StatusOK)
		}
	})
	task := createTask(t, client, map[string]any{"targetUrl": target.URL, "webhookUrl": receiver.URL, "retries": 5})
	target.WaitCalls(t, 1, 10*time.Second)
	r := client.Do(t, http.MethodDelete, "/v1/tasks/"+task.ID, nil)
	var got broker.Task
	r.JSON(t, &got)
	if r.Status != http.StatusOK || got.Status != broker.StatusCanceled {
		t.Fatalf("cancel: got %d %s", r.Status, r.Body)
	}
	select {
	case <-aborted:
	case <-time.After(testenv.GiveUpAfter):
		t.Fatal("the target never saw its request aborted")
	}
	got = waitTask(t, client, task.ID, 10*time.Second, func(t broker.Task) bool { return len(t.Attempts) == 1 })
	if got.Status != broker.StatusCanceled || got.Attempts[0].Outcome != broker.OutcomeCanceled {
		t.Fatalf("after the abort: status %s, attempt %+v", got.Status, got.Attempts[0])
	}
	// Nothing follows: no retry (the first backoff is 100 ms), no webhook.
	probe := createTask(t, client, map[string]any{"targetUrl": receiver.URL, "delay": 0.5})
	waitTask(t, client, probe.ID, 10*time.Second, finished)
	if n := len(target.Calls()); n != 1 {
		t.Fatalf("target calls: got %d, want 1", n)
	}
	if n := len(receiver.For(task.ID)); n != 0 {
		t.Fatalf("webhooks for the canceled task: got %d, want 0", n)
	}
	if r := client.Do(t, http.MethodPost, "/v1/tasks/"+task.ID+"/redeliver", nil); r.Status != http.StatusConflict {
		t.Fatalf("redeliver of a canceled task: got %d, want 409", r.Status)
	}
}
