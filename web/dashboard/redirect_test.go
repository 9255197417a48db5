package dashboard_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/boomerang-dev/boomerang/web/dashboard"
	"github.com/boomerang-dev/boomerang/web/webtest"
)

// TestSignInRedirectsOnlyWithinTheSite sends the usual open-redirect
// bypasses as the post-sign-in target of every way in: the sign-in form
// (its page and its POST), a sign-in link, and the redirect to sign in.
func TestSignInRedirectsOnlyWithinTheSite(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{})
	_, creds := env.Tenant(t, "acme")
	v := &visitor{t: t, base: env.URL}
	nextField := regexp.MustCompile(`name="next" value="([^"]*)"`)
	for _, next := range dashboard.NextBypasses {
		if p := v.do(http.MethodPost, "/signin", url.Values{"apiKey": {creds.APIKey}, "next": {next}}); p.StatusCode != http.StatusSeeOther || p.location() != "/" {
			t.Errorf("POST /signin next=%q: got %d to %q, want 303 to /", next, p.StatusCode, p.location())
		}
		p := v.do(http.MethodGet, "/signin?next="+url.QueryEscape(next), nil)
		if m := nextField.FindStringSubmatch(p.body); m == nil || m[1] != "/" {
			t.Errorf("GET /signin?next=%q: the form goes on to %v, want /", next, m)
		}
		link, _, err := env.Tokens.IssueSignInLink(creds.TenantID)
		if err != nil {
			t.Fatal(err)
		}
		if p := v.do(http.MethodGet, "/signin?token="+link+"&next="+url.QueryEscape(next), nil); p.StatusCode != http.StatusSeeOther || p.location() != "/" {
			t.Errorf("sign-in link with next=%q: got %d to %q, want 303 to /", next, p.StatusCode, p.location())
		}
	}

	// Signed out, a page sends to sign in, and back to it only if it is a
	// plain path of this site.
	out := &visitor{t: t, base: env.URL}
	for path, want := range map[string]string{
		"/tasks?status=failed":           "/signin?next=" + url.QueryEscape("/tasks?status=failed"),
		"/tasks/%2F%2Fevil.example":      "/signin",
		"/tasks/%5Cevil.example":         "/signin",
		"/tasks/%252F%252Fevil.example":  "/signin",
		"/tasks/%09%2F%2Fevil.example":   "/signin",
		"/tasks/%E2%80%A8/row":           "/signin",
		"/tasks/%2e%2e/row":              "/signin",
		"/tasks/x/row?q=%0d%0aLocation:": "/signin?next=" + url.QueryEscape("/tasks/x/row?q=%0d%0aLocation:"),
	} {
		if p := out.do(http.MethodGet, path, nil); p.StatusCode != http.StatusSeeOther || p.location() != want {
			t.Errorf("signed-out GET %s: got %d to %q, want 303 to %q", path, p.StatusCode, p.location(), want)
		}
	}
	// A request-target in absolute form names another host.
	if loc := rawGet(t, env.URL, "http://evil.example/tasks"); loc != "/signin" {
		t.Errorf("signed-out GET http://evil.example/tasks: sent to %q, want /signin", loc)
	}
	// The way back works for a path of this site.
	p := out.do(http.MethodPost, "/signin", url.Values{"apiKey": {creds.APIKey}, "next": {"/tasks?status=failed"}})
	if p.StatusCode != http.StatusSeeOther || p.location() != "/tasks?status=failed" {
		t.Fatalf("sign-in back to /tasks?status=failed: got %d to %q", p.StatusCode, p.location())
	}
}

// rawGet sends a GET with target as its request-target, as it stands, and
// returns the answer's Location.
func rawGet(t *testing.T, base, target string) string {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET "+target+" HTTP/1.1\r\nHost: "+strings.TrimPrefix(base, "http://")+"\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.Header.Get("Location")
}
