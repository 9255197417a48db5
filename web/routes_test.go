package web_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/internal/testenv"
	"github.com/boomerang-dev/boomerang/web/webtest"
)

func TestUnknownRoutesAndMethodsAreProblems(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{})
	client, _ := env.Tenant(t, "acme")
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

// TestEveryTaskRouteRefusesAnotherTenant walks every route of the router
// that names a task, API and dashboard alike, with another tenant's
// credentials: each must answer 404, never data and never a 500.
func TestEveryTaskRouteRefusesAnotherTenant(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{})
	alice, _ := env.Tenant(t, "alice")
	bob, bobCreds := env.Tenant(t, "bob")
	target := testenv.NewTarget(t, webtest.Answer(200))
	task := webtest.CreateTask(t, alice, map[string]any{"targetUrl": target.URL + "/secret-path", "delay": 60})
	session, csrf := env.SignIn(t, bobCreds.APIKey)
	token := csrf("/tasks")
	walked := 0
	for _, r := range env.Server.Routes() {
		method, path := r[0], r[1]
		if !strings.Contains(path, ":id") || method == "echo_route_any" {
			continue
		}
		url := env.URL + strings.ReplaceAll(path, ":id", task.ID)
		var status int
		var body string
		if isAPIPath(path) {
			resp := bob.Do(t, method, strings.TrimPrefix(url, env.URL), nil)
			status, body = resp.Status, string(resp.Body)
		} else {
			req, _ := http.NewRequest(method, url, strings.NewReader("csrf="+token))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Accept", "text/html")
			resp, err := session.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			status, body = resp.StatusCode, string(b)
		}
		walked++
		if status != http.StatusNotFound {
			t.Errorf("%s %s with another tenant's credentials: got %d, want 404", method, path, status)
		}
		if strings.Contains(body, "secret-path") {
			t.Errorf("%s %s leaks the other tenant's task", method, path)
		}
	}
	if walked < 10 {
		t.Fatalf("walked only %d routes", walked)
	}
	var got broker.Task
	alice.Do(t, http.MethodGet, "/v1/tasks/"+task.ID, nil).JSON(t, &got)
	if got.Status != broker.StatusPending {
		t.Fatalf("alice's task after bob's walk: %s, want pending", got.Status)
	}
}

// isAPIPath tells the HTTP API's routes from the dashboard's pages.
func isAPIPath(path string) bool {
	for _, prefix := range []string{"/v1/", "/admin/", "/healthz", "/readyz", "/metrics", "/openapi.yaml"} {
		if strings.HasPrefix(path, prefix) {
			return true
		}
	}
	return false
}

// TestEachPartRendersItsOwnErrors: the API and the core answer problems
// even to browsers; the dashboard answers browsers with pages. A wrong
// method is a 405 with Allow, rendered by the part whose route it is, and
// is counted under that route.
func TestEachPartRendersItsOwnErrors(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{CORSOrigins: []string{"https://app.example"}})
	const page, problem = "text/html; charset=UTF-8", "application/problem+json"
	for _, tt := range []struct {
		method, path, accept string
		status               int
		contentType, allow   string
	}{
		{"GET", "/nope", "text/html", 404, page, ""},
		{"GET", "/nope", "", 404, problem, ""},
		{"GET", "/tasks/x/y/z", "text/html", 404, page, ""},
		{"GET", "/v1/nope", "text/html", 404, problem, ""},
		{"GET", "/admin/nope", "text/html", 404, problem, ""},
		{"GET", "/static/nope.css", "text/html", 404, problem, ""},
		{"PATCH", "/v1/tasks", "text/html", 405, problem, "OPTIONS, GET, POST"},
		{"PUT", "/admin/v1/tenants", "", 405, problem, "OPTIONS, GET, POST"},
		{"POST", "/healthz", "text/html", 405, problem, "OPTIONS, GET"},
		{"POST", "/live", "text/html", 405, problem, "OPTIONS, GET"},
		{"PUT", "/tasks/x", "text/html", 405, page, "OPTIONS, GET"},
		{"DELETE", "/", "", 405, problem, "OPTIONS, GET"},
		{"OPTIONS", "/v1/tasks", "", 204, "", "OPTIONS, GET, POST"},
		{"OPTIONS", "/settings", "", 204, "", "OPTIONS, GET"},
	} {
		req, _ := http.NewRequest(tt.method, env.URL+tt.path, nil)
		if tt.accept != "" {
			req.Header.Set("Accept", tt.accept)
		}
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status || resp.Header.Get("Content-Type") != tt.contentType || resp.Header.Get("Allow") != tt.allow {
			t.Errorf("%s %s (Accept %q): got %d %q Allow %q, want %d %q Allow %q", tt.method, tt.path, tt.accept,
				resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Allow"), tt.status, tt.contentType, tt.allow)
		}
		if tt.contentType == page && !strings.Contains(string(body), "<title>Not found") && !strings.Contains(string(body), "<title>Method not allowed") {
			t.Errorf("%s %s: the page is not the error page: %.200s", tt.method, tt.path, body)
		}
	}
	// A CORS preflight, answered before any route, is counted under the
	// route it asks about, as the unmatched requests are under "unmatched".
	preflight := env.Client(t, "")
	preflight.Contract = nil // a preflight is not in the API description
	r := preflight.Do(t, http.MethodOptions, "/v1/tasks/tsk_x/status", nil, "Origin", "https://app.example", "Access-Control-Request-Method", "GET")
	if r.Status != http.StatusNoContent || r.Header.Get("Access-Control-Allow-Origin") != "https://app.example" {
		t.Fatalf("preflight: got %d %v", r.Status, r.Header)
	}
	metrics := string(env.Client(t, "").Do(t, http.MethodGet, "/metrics", nil).Body)
	for _, want := range []string{
		`method="PATCH",route="/v1/tasks",status="405"`,
		`method="PUT",route="/tasks/:id",status="405"`,
		`method="GET",route="unmatched",status="404"`,
		`method="OPTIONS",route="/v1/tasks/:id/status",status="204"`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks a count of %s", want)
		}
	}
}
