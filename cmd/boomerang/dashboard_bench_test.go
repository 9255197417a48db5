package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/boomerang-dev/boomerang/broker"
)

// BenchmarkDashboardPages renders /tasks and /tasks/{id} in-process (server
// time only: no network, no browser) with 100,000 tasks in the view, each
// with two attempts and a delivery. BOOMERANG_BENCH_TASKS and
// BOOMERANG_BENCH_ATTEMPTS change the counts (attempts per task: retries
// before the final one).
func BenchmarkDashboardPages(b *testing.B) {
	tasks, attempts := envInt("BOOMERANG_BENCH_TASKS", 100_000), envInt("BOOMERANG_BENCH_ATTEMPTS", 2)
	// Pages read only the view: the stream's fsync policy does not change
	// them, and interval makes seeding millions of events faster.
	m, creds := benchNode(b, "--sync", "interval")
	key, tenantID := creds.APIKey, creds.TenantID
	ids := seedTasks(b, m, tenantID, tasks, attempts)

	// A session, as the sign-in form would make.
	form := url.Values{"apiKey": {key}}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/signin", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	m.webServer.Handler().ServeHTTP(rec, req)
	cookies := rec.Result().Cookies()
	if len(cookies) == 0 {
		b.Fatalf("sign-in: %d", rec.Code)
	}
	pages := map[string]string{
		"tasks":                 "/tasks",
		"tasks-filtered-status": "/tasks?status=failed",
		"tasks-filtered-host":   "/tasks?host=host-7.example",
		"task":                  "/tasks/" + ids[tasks/2],
		"overview":              "/",
		"dead-letters":          "/dead-letters",
	}
	for _, name := range []string{"tasks", "tasks-filtered-status", "tasks-filtered-host", "task", "overview", "dead-letters"} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				rec := httptest.NewRecorder()
				req := httptest.NewRequest(http.MethodGet, pages[name], nil)
				req.AddCookie(cookies[0])
				m.webServer.Handler().ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("%s: %d", pages[name], rec.Code)
				}
			}
		})
	}
}

// envInt reads a positive integer from the environment, or returns def.
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// seedTasks publishes n finished tasks, each with the given number of
// attempts, straight to the task stream (the way the API and the dispatcher
// would) and waits until the view has them.
func seedTasks(b *testing.B, m *Main, tenantID string, n, attempts int) []string {
	b.Helper()
	ctx := context.Background()
	ids := make([]string, n)
	start := time.Now().Add(-23 * time.Hour)
	var last jetstream.PubAckFuture
	published := 0
	publish := func(id, kind string, v any) {
		data, _ := json.Marshal(v)
		f, err := m.js.PublishAsync("task."+tenantID+"."+id+"."+kind, data)
		if err != nil {
			b.Fatal(err)
		}
		last = f
		// Keep the window of unacknowledged publishes well below the
		// client's limit however many attempts a task has.
		if published++; published%2000 == 0 {
			<-m.js.PublishAsyncComplete()
		}
	}
	for i := range n {
		id := broker.NewTaskID()
		ids[i] = id
		created := start.Add(time.Duration(i) * 800 * time.Millisecond)
		status := "succeeded"
		if i%10 == 0 {
			status = "failed"
		}
		target := fmt.Sprintf("https://host-%d.example/jobs/%d", i%50, i)
		publish(id, "created", map[string]any{"targetUrl": target, "method": "POST", "retries": 3, "timeout": 30,
			"payload": map[string]any{"order": i, "items": []string{"a", "b", "c"}}, "webhookUrl": "https://hooks.example/in", "createdAt": created})
		for a := 1; a < attempts; a++ {
			publish(id, "attempt", map[string]any{"attempt": map[string]any{"number": a, "startedAt": created, "durationMs": 120.5,
				"outcome": "retry", "statusCode": 503, "error": "target answered 503 Service Unavailable",
				"headers": map[string]string{"Content-Type": "application/json"}, "body": map[string]string{"error": "busy"}}})
		}
		publish(id, status, map[string]any{"attempt": map[string]any{"number": attempts, "startedAt": created.Add(time.Second), "durationMs": 80.2,
			"outcome": status, "statusCode": map[bool]int{true: 200, false: 400}[status == "succeeded"],
			"headers": map[string]string{"Content-Type": "application/json"}, "body": map[string]any{"ok": status == "succeeded", "id": i}},
			"result": map[string]any{"statusCode": 200}, "attempts": attempts, "finishedAt": created.Add(time.Second), "webhookUrl": "https://hooks.example/in"})
		kind := "delivered"
		if i%20 == 0 {
			kind = "dead"
		}
		publish(id, kind, map[string]any{"delivery": map[string]any{"number": 1, "attemptedAt": created.Add(2 * time.Second),
			"durationMs": 12.5, "outcome": kind, "statusCode": 204}})
	}
	select {
	case <-last.Ok():
	case err := <-last.Err():
		b.Fatal(err)
	}
	s, err := m.js.Stream(ctx, broker.StreamTasks)
	if err != nil {
		b.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		b.Fatal(err)
	}
	// Generous: the projector applies tens of thousands of events a second.
	deadline := time.Now().Add(5*time.Minute + time.Duration(info.State.Msgs)*100*time.Microsecond)
	for {
		page, err := m.webServer.Tasks().List(ctx, tenantID, broker.ListQuery{Limit: 1})
		if err == nil && len(page.Items) == 1 && page.Items[0].ID == ids[n-1] && page.Items[0].Webhook != nil && page.Items[0].Webhook.Status != "" {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("the view did not catch up with %d events", info.State.Msgs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return ids
}
