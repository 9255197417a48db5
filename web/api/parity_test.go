package api_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/internal/testenv"
	"github.com/boomerang-dev/boomerang/web/webtest"
)

// filterFixture is a tenant's tasks in the states the dashboard's filters
// tell apart: a webhook dead-lettered on each of two hosts, one delivered,
// and one pending with an idempotency key. Tasks are newest first in ids.
type filterFixture struct {
	env    *webtest.Env
	client *testenv.Client
	hook   *testenv.Receiver
	// deadIP, deadLocal: dead webhooks on 127.0.0.1 and localhost;
	// delivered on 127.0.0.1; pending (delayed, key "order-7").
	deadIP, deadLocal, delivered, pending broker.Task
}

func newFilterFixture(t *testing.T) *filterFixture {
	t.Helper()
	env := webtest.Start(t, webtest.Options{Workers: true})
	client, creds := env.Tenant(t, "acme")
	target := testenv.NewTarget(t, webtest.Answer(200))
	dead := testenv.NewReceiver(t, creds.SigningSecret)
	dead.Answer(http.StatusInternalServerError)
	ok := testenv.NewReceiver(t, creds.SigningSecret)
	local := strings.Replace(target.URL, "127.0.0.1", "localhost", 1)
	f := &filterFixture{env: env, client: client, hook: dead}
	create := func(targetURL, hook string) broker.Task {
		return webtest.CreateTask(t, client, map[string]any{"targetUrl": targetURL, "webhookUrl": hook})
	}
	f.deadIP = create(target.URL+"/a", dead.URL)
	f.delivered = create(target.URL+"/b", ok.URL)
	f.deadLocal = create(local+"/c", dead.URL)
	r := client.Do(t, http.MethodPost, "/v1/tasks", map[string]any{"targetUrl": target.URL + "/d", "delay": 600}, "Idempotency-Key", "order-7")
	r.JSON(t, &f.pending)
	settled := func(task broker.Task) bool {
		return task.Webhook != nil && (task.Webhook.Status == broker.WebhookDead || task.Webhook.Status == broker.WebhookDelivered)
	}
	for _, task := range []broker.Task{f.deadIP, f.delivered, f.deadLocal} {
		webtest.WaitTask(t, client, task.ID, 30*time.Second, settled)
	}
	return f
}

// ids lists a page's task ids.
func listIDs(t *testing.T, c *testenv.Client, query string) ([]string, string) {
	t.Helper()
	r := c.Do(t, http.MethodGet, "/v1/tasks?"+query, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("GET /v1/tasks?%s: got %d %s", query, r.Status, r.Body)
	}
	var page struct {
		Items      []broker.Task
		NextCursor string
	}
	r.JSON(t, &page)
	ids := []string{}
	for _, task := range page.Items {
		ids = append(ids, task.ID)
	}
	return ids, page.NextCursor
}

// TestListTakesEveryDashboardFilter: GET /v1/tasks filters by webhook
// state, host, status, creation time and idempotency key, all of them
// together as the dashboard combines them, a page at a time; a value it
// does not know is a 400 naming the parameter, never silently ignored.
func TestListTakesEveryDashboardFilter(t *testing.T) {
	t.Parallel()
	f := newFilterFixture(t)
	after := url.QueryEscape(f.deadIP.CreatedAt.Format(time.RFC3339Nano))
	tests := []struct {
		query string
		want  []broker.Task
	}{
		{"webhook=dead", []broker.Task{f.deadLocal, f.deadIP}},
		{"webhook=dead&host=localhost", []broker.Task{f.deadLocal}},
		{"webhook=delivered", []broker.Task{f.delivered}},
		{"host=127.0.0.1&status=succeeded", []broker.Task{f.delivered, f.deadIP}},
		{"status=pending", []broker.Task{f.pending}},
		{"webhook=dead&createdAfter=" + after, []broker.Task{f.deadLocal}},
		{"idempotencyKey=order-7", []broker.Task{f.pending}},
		{"idempotencyKey=order-7&status=succeeded", nil},
		{"idempotencyKey=unknown", nil},
		{"webhook=retrying", nil},
	}
	for _, tt := range tests {
		want := []string{}
		for _, task := range tt.want {
			want = append(want, task.ID)
		}
		if got, _ := listIDs(t, f.client, tt.query); !slices.Equal(got, want) {
			t.Errorf("?%s: got %v, want %v", tt.query, got, want)
		}
	}
	first, cursor := listIDs(t, f.client, "webhook=dead&limit=1")
	second, end := listIDs(t, f.client, "webhook=dead&limit=1&cursor="+cursor)
	if !slices.Equal(first, []string{f.deadLocal.ID}) || !slices.Equal(second, []string{f.deadIP.ID}) || cursor == "" || end != "" {
		t.Fatalf("paging the dead letters: got %v then %v (cursor %q, then %q)", first, second, cursor, end)
	}
	for query, field := range map[string]string{
		"webhook=gone": "webhook", "status=done": "status", "host=" + strings.Repeat("h", 254): "host",
		"createdBefore=today": "createdBefore", "hostname=localhost": "hostname",
		"idempotencyKey=" + strings.Repeat("k", 256): "idempotencyKey",
	} {
		r := f.client.Do(t, http.MethodGet, "/v1/tasks?"+query, nil)
		if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), `"field":"`+field+`"`) {
			t.Errorf("?%.40s: got %d %s, want 400 naming %s", query, r.Status, r.Body, field)
		}
	}
}

// bulkResult is the answer of POST /v1/webhooks/redeliver.
type bulkResult struct {
	Redelivered, Skipped int
	DryRun               bool
	NextCursor           string
}

func bulkRedeliver(t *testing.T, c *testenv.Client, body any, wantStatus int) bulkResult {
	t.Helper()
	r := c.Do(t, http.MethodPost, "/v1/webhooks/redeliver", body)
	if r.Status != wantStatus {
		t.Fatalf("POST /v1/webhooks/redeliver %v: got %d %s, want %d", body, r.Status, r.Body, wantStatus)
	}
	var res bulkResult
	r.JSON(t, &res)
	return res
}

// TestBulkRedeliverByFilter: POST /v1/webhooks/redeliver takes the list's
// filters; a dry run counts and sends nothing; a call stops at its limit
// and its cursor goes on from there; each dead letter's webhook goes out
// again with the webhook-id it had; tasks with nothing to send are
// skipped; bad input is a 400 that publishes nothing.
func TestBulkRedeliverByFilter(t *testing.T) {
	t.Parallel()
	f := newFilterFixture(t)
	before := f.env.TaskLastSeq(t)
	dry := bulkRedeliver(t, f.client, map[string]any{"webhook": "dead", "dryRun": true}, http.StatusOK)
	if dry != (bulkResult{Redelivered: 2, DryRun: true}) || f.env.TaskLastSeq(t) != before {
		t.Fatalf("dry run: got %+v (stream moved: %v), want 2 counted and nothing published", dry, f.env.TaskLastSeq(t) != before)
	}
	for _, bad := range []map[string]any{{"webhook": "gone"}, {"limit": 0}, {"limit": 1001}, {"dryrun": true}, {"createdAfter": "now"}} {
		if r := f.client.Do(t, http.MethodPost, "/v1/webhooks/redeliver", bad); r.Status != http.StatusBadRequest {
			t.Errorf("%v: got %d %s, want 400", bad, r.Status, r.Body)
		}
	}
	if f.env.TaskLastSeq(t) != before {
		t.Fatal("a refused bulk redelivery published")
	}
	deadBefore := map[string]int{f.deadIP.ID: len(f.hook.For(f.deadIP.ID)), f.deadLocal.ID: len(f.hook.For(f.deadLocal.ID))}
	first := bulkRedeliver(t, f.client, map[string]any{"webhook": "dead", "limit": 1}, http.StatusAccepted)
	if first.Redelivered != 1 || first.NextCursor == "" {
		t.Fatalf("first call: got %+v, want 1 and a cursor", first)
	}
	second := bulkRedeliver(t, f.client, map[string]any{"webhook": "dead", "limit": 1, "cursor": first.NextCursor}, http.StatusAccepted)
	if second.Redelivered != 1 || second.NextCursor != "" {
		t.Fatalf("second call: got %+v, want 1 and no cursor", second)
	}
	for id, n := range deadBefore {
		got := f.hook.WaitFor(t, id, n+1, 30*time.Second)
		if wid := got[len(got)-1].Header.Get("webhook-id"); wid != "msg_"+id {
			t.Errorf("%s redelivered with webhook-id %q, want msg_%s", id, wid, id)
		}
	}
	// Without a body: every task, the pending one skipped.
	all := bulkRedeliver(t, f.client, nil, http.StatusAccepted)
	if all.Skipped != 1 || all.Redelivered != 3 {
		t.Fatalf("every task: got %+v, want 3 redelivered and the pending one skipped", all)
	}
}

// TestReplayTask: POST /v1/tasks/{id}/replay makes a new task with the
// same request, answered as a create; it runs, the target receives the
// same call, and the two name each other. Another tenant's task, an
// unknown one and a status token get nothing.
func TestReplayTask(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{Workers: true})
	client, creds := env.Tenant(t, "acme")
	other, _ := env.Tenant(t, "other")
	target := testenv.NewTarget(t, webtest.Answer(200))
	hook := testenv.NewReceiver(t, creds.SigningSecret)
	r := client.Do(t, http.MethodPost, "/v1/tasks", map[string]any{"targetUrl": target.URL + "/x?q=1", "method": "PUT",
		"headers": map[string]string{"X-Order": "7"}, "payload": map[string]any{"b": 2, "a": 1}, "webhookUrl": hook.URL, "retries": 1},
		"Idempotency-Key", "order-7")
	var orig struct {
		broker.Task
		StatusToken string
	}
	r.JSON(t, &orig)
	webtest.WaitTask(t, client, orig.ID, 30*time.Second, webtest.Finished)

	r = client.Do(t, http.MethodPost, "/v1/tasks/"+orig.ID+"/replay", nil)
	if r.Status != http.StatusAccepted {
		t.Fatalf("replay: got %d %s, want 202", r.Status, r.Body)
	}
	var replay struct {
		broker.Task
		StatusToken string
	}
	r.JSON(t, &replay)
	if replay.ID == orig.ID || replay.ReplayOf != orig.ID || replay.StatusToken == "" || replay.IdempotencyKey != "" ||
		r.Header.Get("Location") != "/v1/tasks/"+replay.ID+"/status" {
		t.Fatalf("replay: got %s (Location %q), want a new task naming %s", r.Body, r.Header.Get("Location"), orig.ID)
	}
	done := webtest.WaitTask(t, client, replay.ID, 30*time.Second, webtest.Finished)
	calls := target.Calls()
	if done.Status != broker.StatusSucceeded || len(calls) != 2 || calls[1].Method != "PUT" || string(calls[1].Body) != string(calls[0].Body) ||
		calls[1].Path != "/x?q=1" || calls[1].Header.Get("X-Order") != "7" {
		t.Fatalf("the replay's call: %s, %d calls, want a second identical PUT", done.Status, len(calls))
	}
	hook.WaitFor(t, replay.ID, 1, 30*time.Second)
	var got broker.Task
	client.Do(t, http.MethodGet, "/v1/tasks/"+orig.ID, nil).JSON(t, &got)
	if !slices.Equal(got.Replays, []string{replay.ID}) {
		t.Fatalf("the original's replays: got %v, want [%s]", got.Replays, replay.ID)
	}
	for _, c := range []struct {
		name   string
		client *testenv.Client
		path   string
		status int
	}{
		{"another tenant's", other, "/v1/tasks/" + orig.ID + "/replay", http.StatusNotFound},
		{"unknown", client, "/v1/tasks/tsk_nope/replay", http.StatusNotFound},
		{"with a status token", env.Client(t, orig.StatusToken), "/v1/tasks/" + orig.ID + "/replay", http.StatusForbidden},
	} {
		if r := c.client.Do(t, http.MethodPost, c.path, nil); r.Status != c.status {
			t.Errorf("%s: got %d %s, want %d", c.name, r.Status, r.Body, c.status)
		}
	}
}
