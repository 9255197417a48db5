package api_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/internal/testenv"
	"github.com/boomerang-dev/boomerang/web/webtest"
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
	env := webtest.Start(t, webtest.Options{})
	client, _ := env.Tenant(t, "acme")
	target := testenv.NewTarget(t, webtest.Answer(200))
	ok := `"targetUrl": "` + target.URL + `"`

	// One good task first: nothing below may change it.
	good := webtest.CreateTask(t, client, map[string]any{"targetUrl": target.URL, "delay": 60})
	seqBefore := env.TaskLastSeq(t)

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
		{"failureWebhookUrl not http", `{` + ok + `, "failureWebhookUrl": "javascript:alert(1)"}`, nil, 400, "failureWebhookUrl"},
		{"failureWebhookUrl relative", `{` + ok + `, "failureWebhookUrl": "/hooks"}`, nil, 400, "failureWebhookUrl"},
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

	if got := env.TaskLastSeq(t); got != seqBefore {
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
	env := webtest.Start(t, webtest.Options{})
	client, _ := env.Tenant(t, "acme")
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
	env := webtest.Start(t, webtest.Options{})
	client, _ := env.Tenant(t, "acme")
	anon := env.Client(t, "")
	tests := []struct {
		name    string
		client  *testenv.Client
		method  string
		path    string
		status  int
		problem bool
	}{
		{"no key", anon, "GET", "/v1/tasks", 401, true},
		{"unknown key", env.Client(t, "bk_aaaaaaaaaaaaaaaa_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"), "GET", "/v1/tasks", 401, true},
		{"malformed key", env.Client(t, "hello"), "GET", "/v1/tasks", 401, true},
		{"admin token on the tenant API", env.Client(t, webtest.AdminToken), "GET", "/v1/tasks", 401, true},
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
	env := webtest.Start(t, webtest.Options{})
	alice, _ := env.Tenant(t, "alice")
	bob, _ := env.Tenant(t, "bob")
	target := testenv.NewTarget(t, webtest.Answer(200))
	task := webtest.CreateTask(t, alice, map[string]any{"targetUrl": target.URL, "delay": 60})

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

// TestHostileRequestsGetOnlyProblems sends malformed requests of many kinds,
// raw on the socket so that nothing cleans them up first: each must get a
// 4xx, a problem when it reached the API, and never a 500.
func TestHostileRequestsGetOnlyProblems(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{})
	_, creds := env.Tenant(t, "acme")
	host := strings.TrimPrefix(env.URL, "http://")
	auth := "Authorization: Bearer " + creds.APIKey + "\r\n"
	deep := strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000)
	post := func(body string) string {
		return fmt.Sprintf("POST /v1/tasks HTTP/1.1\r\nHost: %s\r\n%sContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", host, auth, len(body), body)
	}
	get := func(target string, headers ...string) string {
		return fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\n%s%s\r\n", target, host, auth, strings.Join(headers, ""))
	}
	requests := map[string]string{
		"invalid UTF-8":           post("{\"targetUrl\": \"https://example.com/\xff\xfe\"}"),
		"deep nesting":            post(`{"targetUrl": "https://example.com", "payload": ` + deep + `}`),
		"huge number":             post(`{"targetUrl": "https://example.com", "retries": 1e400}`),
		"huge float":              post(`{"targetUrl": "https://example.com", "delay": 1e308}`),
		"NaN":                     post(`{"targetUrl": "https://example.com", "delay": NaN}`),
		"string for number":       post(`{"targetUrl": "https://example.com", "timeout": "30"}`),
		"array for object":        post(`{"targetUrl": "https://example.com", "headers": ["a"]}`),
		"broken URL":              post(`{"targetUrl": "http://%zz/"}`),
		"unclosed IPv6":           post(`{"targetUrl": "http://[::1"}`),
		"bare number":             post(`42`),
		"bare string":             post(`"x"`),
		"duplicate keys":          post(`{"targetUrl": "https://a.example", "targetUrl": 3}`),
		"NUL in header value":     post("{\"targetUrl\": \"https://example.com\", \"headers\": {\"X\": \"a\\u0000b\"}}"),
		"NUL in path":             get("/v1/tasks/%00"),
		"long id":                 get("/v1/tasks/" + strings.Repeat("a", 10_000)),
		"encoded slash":           get("/v1/tasks/a%2Fb"),
		"dot segments":            get("/v1/tasks/../../admin/v1/tenants"),
		"double slashes":          get("//v1//tasks"),
		"huge limit":              get("/v1/tasks?limit=99999999999999999999"),
		"bad escape in query":     get("/v1/tasks?status=%ff%fe"),
		"long cursor":             get("/v1/tasks?cursor=" + strings.Repeat("A", 8_000)),
		"negative wait":           get("/v1/tasks/tsk_x?wait=-5s"),
		"huge wait":               get("/v1/tasks/tsk_x?wait=1e308"),
		"huge Last-Event-ID":      get("/v1/events", "Last-Event-ID: 999999999999999999999999\r\n"),
		"control in idem key":     strings.Replace(post(`{"targetUrl": "https://example.com"}`), "Content-Type", "Idempotency-Key: a\x01b\r\nContent-Type", 1),
		"unknown method":          fmt.Sprintf("BREW /v1/tasks HTTP/1.1\r\nHost: %s\r\n%s\r\n", host, auth),
		"chunked garbage":         fmt.Sprintf("POST /v1/tasks HTTP/1.1\r\nHost: %s\r\n%sTransfer-Encoding: chunked\r\n\r\nzz\r\n", host, auth),
		"admin with a tenant key": fmt.Sprintf("POST /admin/v1/tenants HTTP/1.1\r\nHost: %s\r\n%sContent-Length: 2\r\n\r\n{}", host, auth),
	}
	// Go's HTTP server answers these itself, in plain text, before any
	// handler runs; everything else reaches the API.
	refusedByHTTPServer := map[string]bool{"control in idem key": true}
	for name, raw := range requests {
		status, contentType := rawRequest(t, host, raw)
		if status < 400 || status >= 500 {
			t.Errorf("%s: got %d, want a 4xx", name, status)
		}
		want := "application/problem+json"
		if refusedByHTTPServer[name] {
			want = "text/plain; charset=utf-8"
		}
		if contentType != want {
			t.Errorf("%s: %d with %q, want %q", name, status, contentType, want)
		}
	}
	if r := env.Client(t, "").Do(t, http.MethodGet, "/healthz", nil); r.Status != http.StatusOK {
		t.Fatal("the server is not healthy after the hostile requests")
	}
	if strings.Contains(env.Log.String(), "panic") {
		t.Fatal("a handler panicked")
	}
}

// rawRequest writes raw bytes to the server and reads the status line and
// Content-Type of the answer.
func rawRequest(t *testing.T, host, raw string) (int, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", host, testenv.GiveUpAfter)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(testenv.GiveUpAfter))
	if _, err := conn.Write([]byte(raw)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Content-Type")
}
