package api_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/internal/testenv"
	"github.com/boomerang-dev/boomerang/web/webtest"
)

// Input that would be read one way and meant another, or fail only when
// the call is made, is a 400 naming it; nothing is published, and the good
// forms of the same input still work.
func TestAmbiguousTaskInputIsRefused(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{})
	client, _ := env.Tenant(t, "acme")
	refuseEach(t, env, client, []refusal{
		{"headers differing in case", `"headers": {"X-Token": "a", "x-token": "b"}`, "headers.X-Token", `"X-Token" and "x-token"`},
		{"three spellings", `"headers": {"x-a": "1", "X-A": "2", "X-a": "3"}`, "headers.X-A", `"X-A", "X-a" and "x-a"`},
		{"a header twice", `"headers": {"X-A": "1", "X-A": "2"}`, "headers.X-A", "more than once"},
		{"a name with a space", `"headers": {"X A": "1"}`, "headers.X A", "not a valid header name"},
		{"a name with a colon", `"headers": {"X:A": "1"}`, "headers.X:A", "not a valid header name"},
		{"an empty name", `"headers": {"": "1"}`, "headers.", "not a valid header name"},
		{"a name outside ASCII", `"headers": {"X-É": "1"}`, "headers.X-É", "not a valid header name"},
		{"a value with a space around it", `"headers": {"X-A": "token "}`, "headers.X-A", "spaces or tabs around"},
		{"a value with a tab before it", `"headers": {"X-A": "\ttoken"}`, "headers.X-A", "spaces or tabs around"},
		{"a member twice", `"retries": 1, "retries": 5`, "retries", "more than once"},
		{"port 0", `"webhookUrl": "https://example.com:0/"`, "webhookUrl", "port"},
		{"a failure webhook's port 0", `"failureWebhookUrl": "https://example.com:0/"`, "failureWebhookUrl", "port"},
		{"a failure webhook with a fragment", `"failureWebhookUrl": "https://example.com/x#y"`, "failureWebhookUrl", "fragment"},
		{"port 65536", `"targetUrl": "https://example.com:65536/"`, "targetUrl", "port"},
		{"a 254-character host", `"targetUrl": "https://` + strings.Repeat("a.", 126) + `aa/"`, "targetUrl", "253"},
		{"a 64-character label", `"targetUrl": "https://` + strings.Repeat("a", 64) + `.com/"`, "targetUrl", "63"},
		{"an empty label", `"targetUrl": "https://a..example.com/"`, "targetUrl", "empty label"},
		{"a fragment", `"targetUrl": "https://example.com/x#y"`, "targetUrl", "fragment"},
		{"a space", `"targetUrl": "https://example.com/a b"`, "targetUrl", "spaces"},
		{"non-ASCII in the query", `"targetUrl": "https://example.com/?q=é"`, "targetUrl", "percent-encode"},
	})
	for _, fields := range []map[string]any{
		{"headers": map[string]string{"X-Token": "a", "X-Other": "b"}},
		{"targetUrl": "https://bücher.example:65535/a%20b?q=%C3%A9"},
		{"targetUrl": "https://example.com./", "webhookUrl": "https://example.com:1/"},
	} {
		if _, set := fields["targetUrl"]; !set {
			fields["targetUrl"] = "https://example.com/x"
		}
		webtest.CreateTask(t, client, fields)
	}
}

// refusal is a create that must be a 400 naming field, with message in
// its explanation; fields replace targetUrl when they name it.
type refusal struct{ name, fields, field, message string }

// refuseEach posts each refusal and checks its 400; none may publish.
func refuseEach(t *testing.T, env *webtest.Env, client *testenv.Client, cases []refusal) {
	t.Helper()
	before := env.TaskLastSeq(t)
	for _, tt := range cases {
		body := `{"targetUrl": "https://example.com/x", ` + tt.fields + `}`
		if strings.HasPrefix(tt.fields, `"targetUrl"`) {
			body = `{` + tt.fields + `}`
		}
		r := client.Do(t, http.MethodPost, "/v1/tasks", body)
		var p problemBody
		if r.Status == http.StatusBadRequest {
			r.JSON(t, &p)
		}
		if r.Status != http.StatusBadRequest || len(p.Errors) == 0 || p.Errors[0].Field != tt.field || !strings.Contains(p.Errors[0].Message, tt.message) {
			t.Errorf("%s: got %d %s, want 400 naming %q with %q", tt.name, r.Status, r.Body, tt.field, tt.message)
		}
	}
	if after := env.TaskLastSeq(t); after != before {
		t.Fatalf("the task stream moved from %d to %d", before, after)
	}
}

// Every API route refuses a query string that does not parse, and query
// parameters it does not take or that come twice, naming them; the
// parameters it takes still work.
func TestQueryParametersAreChecked(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{})
	client, _ := env.Tenant(t, "acme")
	// An event stream that is not refused would run until the task ends:
	// the timeout turns that into a failure, never a pass.
	client.HTTP = &http.Client{Timeout: testenv.GiveUpAfter,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	task := webtest.CreateTask(t, client, map[string]any{"targetUrl": "https://example.com/x", "delay": 600})
	id := task.ID
	tests := []struct {
		method, path string
		field        string // "" for a query string that does not parse
	}{
		{"GET", "/v1/tasks?cursor=%%%", ""},
		{"GET", "/v1/tasks?status=failed;limit=5", ""},
		{"GET", "/v1/tasks?stauts=failed", "stauts"},
		{"GET", "/v1/tasks?Status=failed", "Status"},
		{"GET", "/v1/tasks?status=failed&status=pending", "status"},
		{"GET", "/v1/tasks?limit=5&limit=5", "limit"},
		{"GET", "/v1/tasks/" + id + "?wiat=5s", "wiat"},
		{"GET", "/v1/tasks/" + id + "?wait=1s&wait=2s", "wait"},
		{"GET", "/v1/tasks/" + id + "?wait=%zz", ""},
		{"GET", "/v1/tasks/" + id + "/status?x=1", "x"},
		{"GET", "/v1/tasks/" + id + "/result?x=1", "x"},
		{"GET", "/v1/tasks/" + id + "/events?lastEventID=1", "lastEventID"},
		{"GET", "/v1/events?lastEventId=1&lastEventId=2", "lastEventId"},
		{"GET", "/v1/events?from=1", "from"},
		{"DELETE", "/v1/tasks/" + id + "?force=true", "force"},
		{"POST", "/v1/tasks/" + id + "/redeliver?x=1", "x"},
		{"POST", "/v1/tasks?dryRun=true", "dryRun"},
	}
	before := env.TaskLastSeq(t)
	for _, tt := range tests {
		var body any
		if tt.method == "POST" && strings.HasPrefix(tt.path, "/v1/tasks?") {
			body = map[string]any{"targetUrl": "https://example.com/x"}
		}
		r := client.Do(t, tt.method, tt.path, body)
		var p problemBody
		if r.Status == http.StatusBadRequest {
			r.JSON(t, &p)
		}
		switch {
		case r.Status != http.StatusBadRequest || r.Header.Get("Content-Type") != "application/problem+json":
			t.Errorf("%s %s: got %d %s, want a 400 problem", tt.method, tt.path, r.Status, r.Body)
		case tt.field == "" && !strings.Contains(p.Type, "malformed"):
			t.Errorf("%s %s: got %+v, want a malformed-request problem", tt.method, tt.path, p)
		case tt.field != "" && (len(p.Errors) != 1 || p.Errors[0].Field != tt.field):
			t.Errorf("%s %s: got %+v, want one error naming %q", tt.method, tt.path, p.Errors, tt.field)
		}
	}
	if after := env.TaskLastSeq(t); after != before {
		t.Fatalf("the task stream moved from %d to %d: a refused request changed something", before, after)
	}
	for _, req := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/admin/v1/tenants?x=1", map[string]string{"name": "x"}},
		{"GET", "/admin/v1/tenants/ten_x/limits?x=1", nil},
		{"PUT", "/admin/v1/tenants/ten_x/limits?x=1", map[string]int{"createBurst": 1}},
	} {
		if r := env.Admin.Do(t, req.method, req.path, req.body); r.Status != http.StatusBadRequest {
			t.Errorf("%s %s: got %d, want 400", req.method, req.path, r.Status)
		}
	}
	// What the routes take still works.
	for _, path := range []string{
		"/v1/tasks?status=pending&limit=5&createdAfter=2000-01-01T00:00:00Z&createdBefore=2100-01-01T00:00:00Z",
		"/v1/tasks/" + id + "?wait=0s", "/v1/tasks/" + id + "/status",
	} {
		if r := client.Do(t, http.MethodGet, path, nil); r.Status != http.StatusOK {
			t.Errorf("GET %s: got %d %s, want 200", path, r.Status, r.Body)
		}
	}
}

// The same JSON under one Idempotency-Key is the same request whatever the
// order of its keys, its white space or its string escapes, inside the
// payload too: the target gets the first request's bytes, once. A real
// difference, a number spelled otherwise included, stays a 422.
func TestIdempotencyKeyComparesJSON(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{Workers: true})
	client, _ := env.Tenant(t, "acme")
	target := testenv.NewTarget(t, webtest.Answer(200))
	first := `{"targetUrl": "` + target.URL + `", "retries": 1, "headers": {"X-A": "1", "X-B": "2"}, "payload": {"b": [1, {"y": 1, "x": "<"}], "a": 1.0e2}}`
	r := client.Do(t, http.MethodPost, "/v1/tasks", first, "Idempotency-Key", "k1")
	if r.Status != http.StatusAccepted {
		t.Fatalf("first: got %d %s", r.Status, r.Body)
	}
	var task broker.Task
	r.JSON(t, &task)
	for _, same := range []string{
		`{"payload":{"a":1.0e2,"b":[1,{"x":"\u003c","y":1}]},"headers":{"X-B":"2","X-A":"1"},"retries":1,"targetUrl":"` + target.URL + `"}`,
		"{\n  \"retries\" : 1 ,\n  \"targetUrl\" : \"" + target.URL + "\",\n  \"headers\": {\"X-A\": \"1\", \"X-B\": \"2\"},\n  \"payload\": {\"a\": 1.0e2, \"b\": [1, {\"y\": 1, \"x\": \"<\"}]}\n}",
	} {
		r := client.Do(t, http.MethodPost, "/v1/tasks", same, "Idempotency-Key", "k1")
		var got broker.Task
		if r.Status == http.StatusOK {
			r.JSON(t, &got)
		}
		if r.Status != http.StatusOK || got.ID != task.ID || r.Header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("the same JSON, written otherwise: got %d %s, want 200 with task %s", r.Status, r.Body, task.ID)
		}
	}
	for _, different := range []string{
		strings.Replace(first, "1.0e2", "100", 1),
		strings.Replace(first, `"retries": 1`, `"retries": 2`, 1),
		strings.Replace(first, `"X-B": "2"`, `"X-B": "3"`, 1),
		strings.Replace(first, `[1, {`, `[{`, 1),
		strings.Replace(first, `"retries": 1, `, ``, 1),
	} {
		if r := client.Do(t, http.MethodPost, "/v1/tasks", different, "Idempotency-Key", "k1"); r.Status != http.StatusUnprocessableEntity {
			t.Errorf("a different request %s: got %d %s, want 422", different, r.Status, r.Body)
		}
	}
	call := target.WaitCallsFor(t, task.ID, 1)[0]
	want := `{"b": [1, {"y": 1, "x": "<"}], "a": 1.0e2}`
	if string(call.Body) != want {
		t.Fatalf("target got %q, want the first request's payload %q", call.Body, want)
	}
	webtest.WaitTask(t, client, task.ID, 20*time.Second, webtest.Finished)
	if n := len(target.CallsFor(task.ID)); n != 1 {
		t.Fatalf("target called %d times, want once", n)
	}
}

// A repeat of a request created before this version, whose stored hash is
// the old one (the body without white space), is still the same request.
func TestIdempotencyKeyMatchesTheEarlierHash(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{})
	client, creds := env.Tenant(t, "acme")
	body := `{"targetUrl": "https://example.com/x", "payload": {"n": 1}}`
	var compact bytes.Buffer
	_ = json.Compact(&compact, []byte(body))
	sum := sha256.Sum256(compact.Bytes())
	id := broker.IdempotentTaskID(creds.TenantID, "k-old", 0)
	event := `{"targetUrl":"https://example.com/x","method":"POST","payload":{"n":1},"retries":3,"timeout":30,"idempotencyKey":"k-old","createdAt":"` +
		time.Now().UTC().Format(time.RFC3339Nano) + `","requestHash":"` + hex.EncodeToString(sum[:]) + `"}`
	env.Publish(t, "task."+creds.TenantID+"."+id+".created", []byte(event))
	r := client.Do(t, http.MethodPost, "/v1/tasks", body, "Idempotency-Key", "k-old")
	var got broker.Task
	if r.Status == http.StatusOK {
		r.JSON(t, &got)
	}
	if r.Status != http.StatusOK || got.ID != id {
		t.Fatalf("repeat of an earlier request: got %d %s, want 200 with task %s", r.Status, r.Body, id)
	}
	if r := client.Do(t, http.MethodPost, "/v1/tasks", strings.Replace(body, "1", "2", 1), "Idempotency-Key", "k-old"); r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("a different request: got %d, want 422", r.Status)
	}
}
