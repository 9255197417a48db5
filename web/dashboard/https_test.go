package dashboard_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/boomerang-dev/boomerang/web/webtest"
)

// TestPublicHTTPSURL: a node behind a TLS proxy (public URL https, plain
// HTTP to the node) sets Secure cookies and HSTS, takes sign-ins from its
// public origin, and names it in its pages; without it, neither.
func TestPublicHTTPSURL(t *testing.T) {
	t.Parallel()
	public, _ := url.Parse("https://boomerang.example")
	env := webtest.Start(t, webtest.Options{PublicURL: public})
	plain := webtest.Start(t, webtest.Options{})
	for _, tc := range []struct {
		env    *webtest.Env
		origin string
		https  bool
	}{{env, "https://boomerang.example", true}, {plain, plain.URL, false}} {
		apiClient, creds := tc.env.Tenant(t, "acme")
		task := webtest.CreateTask(t, apiClient, map[string]any{"targetUrl": "https://example.com/x", "delay": 60})
		v := &visitor{t: t, base: tc.env.URL}
		p := v.do(http.MethodPost, "/signin", url.Values{"apiKey": {creds.APIKey}}, "Origin", tc.origin)
		if p.StatusCode != http.StatusSeeOther || v.cookie == nil {
			t.Fatalf("sign-in from %s: got %d", tc.origin, p.StatusCode)
		}
		if v.cookie.Secure != tc.https || (p.Header.Get("Strict-Transport-Security") != "") != tc.https {
			t.Errorf("public https %v: cookie Secure %v, HSTS %q", tc.https, v.cookie.Secure, p.Header.Get("Strict-Transport-Security"))
		}
		if r := apiClient.Do(t, http.MethodGet, "/healthz", nil); (r.Header.Get("Strict-Transport-Security") != "") != tc.https {
			t.Errorf("public https %v: /healthz HSTS %q", tc.https, r.Header.Get("Strict-Transport-Security"))
		}
		if tc.https && !strings.Contains(v.do(http.MethodGet, "/tasks/"+task.ID, nil).body, "curl -X POST &#39;https://boomerang.example/v1/tasks&#39;") {
			t.Error("the task page's curl command does not name the public URL")
		}
	}
	v := &visitor{t: t, base: env.URL}
	if p := v.do(http.MethodPost, "/signin", url.Values{"apiKey": {"bk_x"}}, "Origin", "http://boomerang.example"); p.StatusCode != http.StatusForbidden {
		t.Errorf("sign-in from the public host over http: got %d, want 403", p.StatusCode)
	}
}
