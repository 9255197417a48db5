package dashboard_test

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/boomerang-dev/boomerang/web/webtest"
)

// visitor is a browser that follows no redirect: it sends the session
// cookie it holds and keeps the one each answer sets. A copy of it keeps
// the cookie of the moment: a stolen or stale cookie.
type visitor struct {
	t      *testing.T
	base   string
	cookie *http.Cookie
}

// page is an answer, its body read.
type page struct {
	*http.Response
	body string
}

func (p page) location() string { return p.Header.Get("Location") }

var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// do sends a request with form as its body (a POST form when form is not
// nil) and headers as name, value pairs.
func (v *visitor) do(method, path string, form url.Values, headers ...string) page {
	v.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, v.base+path, body)
	if err != nil {
		v.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	if v.cookie != nil {
		req.AddCookie(&http.Cookie{Name: v.cookie.Name, Value: v.cookie.Value})
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		v.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, c := range resp.Cookies() {
		if c.Name == "boomerang_session" {
			if c.MaxAge < 0 {
				v.cookie = nil
			} else {
				v.cookie = c
			}
		}
	}
	return page{Response: resp, body: string(b)}
}

// signIn signs in with the form.
func (v *visitor) signIn(apiKey string) {
	v.t.Helper()
	if p := v.do(http.MethodPost, "/signin", url.Values{"apiKey": {apiKey}}); p.StatusCode != http.StatusSeeOther || v.cookie == nil {
		v.t.Fatalf("sign-in: got %d, cookie %v", p.StatusCode, v.cookie)
	}
}

var csrfValue = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf returns the CSRF token of the settings page.
func (v *visitor) csrf() string {
	v.t.Helper()
	p := v.do(http.MethodGet, "/settings", nil)
	m := csrfValue.FindStringSubmatch(p.body)
	if p.StatusCode != http.StatusOK || m == nil {
		v.t.Fatalf("settings: got %d, no CSRF token", p.StatusCode)
	}
	return m[1]
}

// wantSignedOut checks that the visitor's cookie no longer opens a page
// and that its CSRF token no longer creates a key.
func (v visitor) wantSignedOut(env *webtest.Env, tenantID, csrf, when string) {
	v.t.Helper()
	keys := keyCount(v.t, env, tenantID)
	if p := v.do(http.MethodGet, "/settings", nil); p.StatusCode != http.StatusSeeOther || !strings.HasPrefix(p.location(), "/signin") {
		v.t.Errorf("%s: GET /settings got %d to %q, want a redirect to sign in", when, p.StatusCode, p.location())
	}
	p := v.do(http.MethodPost, "/settings/keys", url.Values{"csrf": {csrf}, "name": {"stolen"}})
	if p.StatusCode != http.StatusSeeOther || p.location() != "/signin" {
		v.t.Errorf("%s: creating a key got %d to %q, want a redirect to sign in", when, p.StatusCode, p.location())
	}
	if got := keyCount(v.t, env, tenantID); got != keys {
		v.t.Errorf("%s: the tenant has %d keys, had %d", when, got, keys)
	}
}

func keyCount(t *testing.T, env *webtest.Env, tenantID string) int {
	t.Helper()
	ten, err := env.Tenants.Get(tenantID)
	if err != nil {
		t.Fatal(err)
	}
	return len(ten.Keys)
}
