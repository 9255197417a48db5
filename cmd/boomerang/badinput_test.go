package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/boomerang-dev/boomerang/internal/testenv"
)

type problemBody struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Errors []struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"errors"`
}

func TestBadTaskInputIsRefusedAndChangesNothing(t *testing.T) {
	t.Parallel()
	node := MustRunMain(t)
	client, _ := node.tenantClient(t, "acme")
	target := testenv.NewTarget(t, answer(200))
	ok := `"targetUrl": "` + target.URL + `"`

	// One good task first: nothing below may change it.
	good := createTask(t, client, map[string]any{"targetUrl": target.URL, "delay": 60})
	seqBefore := node.taskLastSeq(t)

	tests := []struct {
		name   string
		body   string
		header []string
		status int
		field  string // the field named in errors, if any
	}{
		{"malformed JSON", `{"targetUrl": `, nil, 400, ""},
		{"not an object", `[1,2]`, nil, 400, ""},
		{"empty body", ``, nil, 400, ""},
		{"trailing data", `{` + ok + `} {}`, nil, 400, ""},
		{"unknown field", `{` + ok + `, "webhookURL": "https://example.com"}`, nil, 400, "webhookURL"},
		{"missing targetUrl", `{"payload": 1}`, nil, 400, "targetUrl"},
		{"targetUrl not http", `{"targetUrl": "ftp://example.com/x"}`, nil, 400, "targetUrl"},
		{"targetUrl relative", `{"targetUrl": "/just/a/path"}`, nil, 400, "targetUrl"},
		{"targetUrl wrong type", `{"targetUrl": 12}`, nil, 400, "targetUrl"},
		{"webhookUrl not http", `{` + ok + `, "webhookUrl": "javascript:alert(1)"}`, nil, 400, "webhookUrl"},
		{"retries negative", `{` + ok + `, "retries": -1}`, nil, 400, "retries"},
		{"retries too many", `{` + ok + `, "retries": 26}`, nil, 400, "retries"},
		{"retries not integer", `{` + ok + `, "retries": 2.5}`, nil, 400, "retries"},
		{"timeout zero", `{` + ok + `, "timeout": 0}`, nil, 400, "timeout"},
		{"timeout too long", `{` + ok + `, "timeout": 901}`, nil, 400, "timeout"},
		{"delay and notBefore", `{` + ok + `, "delay": 5, "notBefore": "2030-01-01T00:00:00Z"}`, nil, 400, "delay"},
		{"notBefore not a time", `{` + ok + `, "notBefore": "tomorrow"}`, nil, 400, "notBefore"},
		{"delay beyond 30 days", `{` + ok + `, "delay": 2592001}`, nil, 400, "delay"},
		{"bad method", `{` + ok + `, "method": "BREW"}`, nil, 400, "method"},
		{"header with newline", `{` + ok + `, "headers": {"X-A": "a\r\nX-Injected: 1"}}`, nil, 400, "headers.X-A"},
		{"reserved header", `{` + ok + `, "headers": {"webhook-signature": "v1,forged"}}`, nil, 400, "headers.webhook-signature"},
		{"body over 1 MiB", `{` + ok + `, "payload": "` + strings.Repeat("x", 1<<20) + `"}`, nil, 413, ""},
		{"wrong content type", `{` + ok + `}`, []string{"Content-Type", "text/plain"}, 415, ""},
	}
	for _, tt := range tests {
		r := client.Do(t, http.MethodPost, "/v1/tasks", tt.body, tt.header...)
		if r.Status != tt.status {
			t.Errorf("%s: got %d %s, want %d", tt.name, r.Status, r.Body, tt.status)
			continue
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
			t.Errorf("%s: Content-Type %q, want application/problem+json", tt.name, ct)
		}
		var p problemBody
		r.JSON(t, &p)
		if p.Status != tt.status || p.Title == "" || !strings.HasPrefix(p.Type, "https://") || p.Detail == "" {
			t.Errorf("%s: problem %+v lacks type, title, status or detail", tt.name, p)
		}
		if tt.field != "" && (len(p.Errors) == 0 || p.Errors[0].Field != tt.field || p.Errors[0].Message == "") {
			t.Errorf("%s: errors %+v, want one naming %q", tt.name, p.Errors, tt.field)
		}
	}

	if got := node.taskLastSeq(t); got != seqBefore {
		t.Fatalf("the task stream moved from %d to %d: bad input was published", seqBefore, got)
	}
	if n := len(target.Calls()); n != 0 {
		t.Fatalf("target called %d times", n)
	}
	r := client.Do(t, http.MethodGet, "/v1/tasks", nil)
	var list struct {
		Items []struct{ ID, Status string } `json:"items"`
	}
	r.JSON(t, &list)
	if len(list.Items) != 1 || list.Items[0].ID != good.ID || list.Items[0].Status != "pending" {
		t.Fatalf("tasks after bad input: got %+v, want only the good task, still pending", list.Items)
	}
}

func TestBadQueryParameters(t *testing.T) {
	t.Parallel()
	node := MustRunMain(t)
	client, _ := node.tenantClient(t, "acme")
	for _, path := range []string{
		"/v1/tasks?limit=0", "/v1/tasks?limit=201", "/v1/tasks?limit=x", "/v1/tasks?status=done",
		"/v1/tasks?cursor=bm90LWEtY3Vyc29y", "/v1/tasks/tsk_x?wait=forever", "/v1/tasks/tsk_x?wait=61s",
	} {
		r := client.Do(t, http.MethodGet, path, nil)
		if r.Status != http.StatusBadRequest || r.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("GET %s: got %d %s, want a 400 problem", path, r.Status, r.Body)
		}
	}
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	node := MustRunMain(t)
	client, _ := node.tenantClient(t, "acme")
	anon := &testenv.Client{Base: node.URL()}
	tests := []struct {
		name    string
		client  *testenv.Client
		method  string
		path    string
		status  int
		problem bool
	}{
		{"no key", anon, "GET", "/v1/tasks", 401, true},
		{"unknown key", &testenv.Client{Base: node.URL(), Key: "bk_aaaaaaaaaaaaaaaa_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}, "GET", "/v1/tasks", 401, true},
		{"malformed key", &testenv.Client{Base: node.URL(), Key: "hello"}, "GET", "/v1/tasks", 401, true},
		{"admin token on the tenant API", &testenv.Client{Base: node.URL(), Key: testAdminToken}, "GET", "/v1/tasks", 401, true},
		{"API key on the admin API", client, "POST", "/admin/v1/tenants", 401, true},
		{"no token on the admin API", anon, "POST", "/admin/v1/tenants", 401, true},
		{"valid key", client, "GET", "/v1/tasks", 200, false},
	}
	for _, tt := range tests {
		r := tt.client.Do(t, tt.method, tt.path, map[string]string{"name": "x"})
		if r.Status != tt.status {
			t.Errorf("%s: got %d, want %d", tt.name, r.Status, tt.status)
		}
		if tt.problem && r.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: Content-Type %q, want a problem", tt.name, r.Header.Get("Content-Type"))
		}
		if tt.status == 401 && r.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: 401 without WWW-Authenticate", tt.name)
		}
	}
}

func TestTenantsAreIsolated(t *testing.T) {
	t.Parallel()
	node := MustRunMain(t)
	alice, _ := node.tenantClient(t, "alice")
	bob, _ := node.tenantClient(t, "bob")
	target := testenv.NewTarget(t, answer(200))
	task := createTask(t, alice, map[string]any{"targetUrl": target.URL, "delay": 60})

	for _, req := range []struct{ method, path string }{
		{"GET", "/v1/tasks/" + task.ID},
		{"GET", "/v1/tasks/" + task.ID + "/status"},
		{"GET", "/v1/tasks/" + task.ID + "/result"},
		{"DELETE", "/v1/tasks/" + task.ID},
		{"POST", "/v1/tasks/" + task.ID + "/redeliver"},
	} {
		r := bob.Do(t, req.method, req.path, nil)
		if r.Status != http.StatusNotFound || r.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("bob %s %s: got %d %s, want a 404 problem", req.method, req.path, r.Status, r.Body)
		}
		if strings.Contains(string(r.Body), target.URL) {
			t.Errorf("bob %s %s: the answer leaks alice's task", req.method, req.path)
		}
	}
	r := bob.Do(t, "GET", "/v1/tasks", nil)
	if strings.Contains(string(r.Body), task.ID) {
		t.Fatalf("bob's listing shows alice's task: %s", r.Body)
	}
	// Alice's task is untouched by bob's cancel attempt.
	var got struct{ Status string }
	alice.Do(t, "GET", "/v1/tasks/"+task.ID, nil).JSON(t, &got)
	if got.Status != "pending" {
		t.Fatalf("alice's task: got %s, want pending", got.Status)
	}
}

func TestUnknownRoutesAndMethodsAreProblems(t *testing.T) {
	t.Parallel()
	node := MustRunMain(t)
	client, _ := node.tenantClient(t, "acme")
	for _, req := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/nope", 404},
		{"PATCH", "/v1/tasks", 405},
		{"GET", "/v1/tasks/tsk_doesnotexist", 404},
		{"GET", "/v1/tasks/..%2f..%2fadmin", 404},
	} {
		r := client.Do(t, req.method, req.path, nil)
		if r.Status != req.status || r.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s %s: got %d %q, want a %d problem", req.method, req.path, r.Status, r.Header.Get("Content-Type"), req.status)
		}
	}
}
