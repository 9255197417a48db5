package dashboard_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/internal/testenv"
	"github.com/boomerang-dev/boomerang/web/webtest"
)

// TestDashboardHTTP checks what needs no browser: the session cookie's
// attributes, CSRF, the one-time link, the security headers, and that pages
// render without JavaScript.
func TestDashboardHTTP(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{})
	apiClient, creds := env.Tenant(t, "acme")
	task := webtest.CreateTask(t, apiClient, map[string]any{"targetUrl": "http://127.0.0.1:1/", "delay": 60})
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	// Unsigned: pages send to sign-in.
	resp, err := noRedirect.Get(env.URL + "/tasks")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/signin?next=") {
		t.Fatalf("signed out /tasks: got %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}

	// Sign in with the form.
	form := url.Values{"apiKey": {creds.APIKey}, "next": {"/tasks"}}
	resp, err = noRedirect.PostForm(env.URL+"/signin", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cookie := resp.Header.Get("Set-Cookie")
	for _, want := range []string{"boomerang_session=", "HttpOnly", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(cookie, want) {
			t.Errorf("session cookie %q lacks %s", cookie, want)
		}
	}
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/tasks" {
		t.Fatalf("sign-in: got %d to %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	session := resp.Cookies()[0]
	get := func(path string) (*http.Response, string) {
		req, _ := http.NewRequest(http.MethodGet, env.URL+path, nil)
		req.AddCookie(session)
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var sb strings.Builder
		_, _ = io.Copy(&sb, resp.Body)
		return resp, sb.String()
	}

	// Without JavaScript the list is all there, with the security headers.
	resp, body := get("/tasks")
	if resp.StatusCode != 200 || !strings.Contains(body, task.ID) {
		t.Fatalf("/tasks without JS: %d, task listed: %v", resp.StatusCode, strings.Contains(body, task.ID))
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || strings.Contains(body, "<script>") {
		t.Fatalf("CSP %q, or an inline script in the page", csp)
	}
	if strings.Contains(body, creds.APIKey) {
		t.Fatal("the page shows the API key")
	}

	// A state change without the CSRF token is refused and changes nothing.
	req, _ := http.NewRequest(http.MethodPost, env.URL+"/tasks/"+task.ID+"/cancel", strings.NewReader(""))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(session)
	resp, err = noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cancel without CSRF: got %d, want 403", resp.StatusCode)
	}
	var got broker.Task
	apiClient.Do(t, http.MethodGet, "/v1/tasks/"+task.ID, nil).JSON(t, &got)
	if got.Status != broker.StatusPending {
		t.Fatalf("after the refused cancel: %s, want pending", got.Status)
	}

	// A sign-in from another site is refused.
	req, _ = http.NewRequest(http.MethodPost, env.URL+"/signin", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	resp, err = noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Set-Cookie") != "" {
		t.Fatalf("cross-site sign-in: got %d, cookie %q", resp.StatusCode, resp.Header.Get("Set-Cookie"))
	}
}

func TestDevSignInLinkWorksOnce(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{})
	_, creds := env.Tenant(t, "dev")
	link, _, err := env.Tokens.IssueSignInLink(creds.TenantID)
	if err != nil {
		t.Fatal(err)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for i, want := range []int{http.StatusSeeOther, http.StatusUnauthorized} {
		resp, err := noRedirect.Get(env.URL + "/signin?token=" + link)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("use %d of the link: got %d, want %d", i+1, resp.StatusCode, want)
		}
	}
}

// The new-task form is checked by the API's own validation: its messages
// appear next to the fields, and nothing is published until it passes.
func TestNewTaskFormUsesTheAPIsValidation(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{})
	apiClient, noRedirect, csrf := formBrowser(t, env)
	before := env.TaskLastSeq(t)
	form := url.Values{"csrf": {csrf("/tasks/new")}, "targetUrl": {"ftp://example.com/x"}, "method": {"POST"},
		"retries": {"26"}, "headers": {"Host: evil.example"}, "payload": {`{"a": 1}`}}
	resp, err := noRedirect.PostForm(env.URL+"/tasks/new", form)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad form: got %d, want 400", resp.StatusCode)
	}
	for _, want := range []string{"must be an http or https URL", "must be between 0 and 25", "is set by Boomerang and may not be overridden"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("the form's page lacks %q", want)
		}
	}
	if env.TaskLastSeq(t) != before {
		t.Fatal("a refused form was published")
	}
	form.Set("targetUrl", "https://example.com/x")
	form.Set("retries", "2")
	form.Set("headers", "X-From: dashboard")
	resp, err = noRedirect.PostForm(env.URL+"/tasks/new", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	id, ok := strings.CutPrefix(resp.Header.Get("Location"), "/tasks/")
	if resp.StatusCode != http.StatusSeeOther || !ok {
		t.Fatalf("good form: got %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	id, _, _ = strings.Cut(id, "?")
	var task broker.Task
	apiClient.Do(t, http.MethodGet, "/v1/tasks/"+id, nil).JSON(t, &task)
	if task.TargetURL != "https://example.com/x" || task.Retries != 2 || task.Headers["X-From"] != "dashboard" || string(task.Payload) != `{"a":1}` {
		t.Fatalf("the form's task: %+v", task)
	}
}

// /live is the API's tenant event stream, for the signed-in tenant.
func TestLiveStreamsTheTenantsEvents(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{})
	apiClient, creds := env.Tenant(t, "acme")
	other, _ := env.Tenant(t, "other")
	browser, _ := env.SignIn(t, creds.APIKey)
	ctx, cancel := context.WithTimeout(context.Background(), testenv.GiveUpAfter)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, env.URL+"/live", nil)
	resp, err := browser.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("/live: got %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	// The stream starts from now: events from here on are sent. The
	// other tenant's task comes first, so that a leak would show.
	webtest.CreateTask(t, other, map[string]any{"targetUrl": "https://example.com/other", "delay": 60})
	task := webtest.CreateTask(t, apiClient, map[string]any{"targetUrl": "https://example.com/mine", "delay": 60})
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "data: ") && !strings.Contains(line, task.ID) {
			t.Fatalf("/live sent an event of another task: %s", line)
		}
		if strings.HasPrefix(line, "data: ") {
			return
		}
	}
	t.Fatalf("the stream ended before the task's event: %v", sc.Err())
}

// TestLivePagesResumeAfterWhatTheyShow checks that a live page names the
// tenant's last event it was rendered with, and that /live from there
// delivers a change made between rendering and subscribing — the window in
// which a page used to miss its task finishing.
func TestLivePagesResumeAfterWhatTheyShow(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{})
	apiClient, creds := env.Tenant(t, "acme")
	browser, _ := env.SignIn(t, creds.APIKey)
	liveFrom := regexp.MustCompile(`<body data-live-from="(\d+)">`)
	for _, page := range []string{"/tasks", "/tasks/{id}"} {
		task := webtest.CreateTask(t, apiClient, map[string]any{"targetUrl": "http://127.0.0.1:1/", "delay": 60})
		page = strings.Replace(page, "{id}", task.ID, 1)
		resp, err := browser.Get(env.URL + page)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		m := liveFrom.FindSubmatch(body)
		if m == nil {
			t.Fatalf("%s: no data-live-from on <body>", page)
		}
		// The change comes after the page was rendered, before /live opens.
		if r := apiClient.Do(t, http.MethodDelete, "/v1/tasks/"+task.ID, nil); r.Status != http.StatusOK {
			t.Fatalf("cancel: got %d %s", r.Status, r.Body)
		}
		ctx, cancel := context.WithTimeout(context.Background(), testenv.GiveUpAfter)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, env.URL+"/live?lastEventId="+string(m[1]), nil)
		resp, err = browser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		sawCancel := false
		for s := bufio.NewScanner(resp.Body); !sawCancel && s.Scan(); {
			sawCancel = s.Text() == "event: canceled"
		}
		resp.Body.Close()
		cancel()
		if !sawCancel {
			t.Fatalf("%s: /live from data-live-from=%s did not deliver the cancel made after rendering", page, m[1])
		}
	}
}

// The new-task form sends text with a content type, and refuses what the
// API would: JSON that is not JSON, and a header given twice.
func TestNewTaskFormPayloadsAndHeaders(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{})
	apiClient, noRedirect, csrf := formBrowser(t, env)
	post := func(fields url.Values) (int, string, string) {
		t.Helper()
		fields.Set("csrf", csrf("/tasks/new"))
		fields.Set("targetUrl", "https://example.com/x")
		fields.Set("method", "POST")
		resp, err := noRedirect.PostForm(env.URL+"/tasks/new", fields)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body), resp.Header.Get("Location")
	}
	before := env.TaskLastSeq(t)
	for _, tt := range []struct {
		fields url.Values
		want   string
	}{
		{url.Values{"payload": {"not JSON"}}, "is not valid JSON"},
		{url.Values{"headers": {"X-A: 1\r\nX-A: 2"}}, "repeats X-A"},
		{url.Values{"headers": {"X-A: 1\r\nx-a: 2"}}, "name the same header"},
		{url.Values{"payload": {`{"a": 1}`}, "contentType": {"text/plain"}, "headers": {"Content-Type: text/html"}}, "set it in one place"},
		{url.Values{"contentType": {"text/plain"}}, "send it with payload"},
	} {
		if status, body, _ := post(tt.fields); status != http.StatusBadRequest || !strings.Contains(body, tt.want) {
			t.Errorf("%v: got %d, want 400 with %q", tt.fields, status, tt.want)
		}
	}
	if env.TaskLastSeq(t) != before {
		t.Fatal("a refused form was published")
	}
	text := "hello <b> & \"q\"\r\nline 2"
	status, _, location := post(url.Values{"payload": {text}, "contentType": {"text/plain; charset=utf-8"}})
	id, ok := strings.CutPrefix(location, "/tasks/")
	if status != http.StatusSeeOther || !ok {
		t.Fatalf("text payload: got %d to %q", status, location)
	}
	id, _, _ = strings.Cut(id, "?")
	var task broker.Task
	apiClient.Do(t, http.MethodGet, "/v1/tasks/"+id, nil).JSON(t, &task)
	if body, ct := task.Body(); string(body) != text || ct != "text/plain; charset=utf-8" {
		t.Fatalf("the form's text task sends %q as %q, want %q as text/plain", body, ct, text)
	}
}

// formBrowser creates a tenant and signs in to it; it returns the tenant's
// API client and a browser that does not follow redirects, with a way to
// read a page's CSRF token.
func formBrowser(t *testing.T, env *webtest.Env) (*testenv.Client, *http.Client, func(string) string) {
	t.Helper()
	apiClient, creds := env.Tenant(t, "acme")
	browser, csrf := env.SignIn(t, creds.APIKey)
	noRedirect := *browser
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return apiClient, &noRedirect, csrf
}
