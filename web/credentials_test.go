package web_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/tenant"
	"github.com/boomerang-dev/boomerang/web/problem"
	"github.com/boomerang-dev/boomerang/web/webtest"
)

// publicRoutes need no credential.
var publicRoutes = map[string]bool{
	"/healthz": true, "/readyz": true, "/metrics": true, "/openapi.yaml": true, "/static/:name": true, "/signin": true,
	"/docs": true, "/operator/signin": true, "/docs/:asset": true,
}

// credentials are what the walk sends: the invalid ones, and the valid
// ones that belong to another API.
type credentials struct {
	tenantAPI, adminAPI, dashboard, operator map[string]string
}

// badCredentials makes every kind of credential that must not pass: none,
// garbage, forged JWTs (bad signature, another key, alg none), expired
// ones, tokens of another audience, a revoked key, and each API's valid
// credential on the other API.
func badCredentials(t *testing.T, env *webtest.Env, clock *webtest.Clock, tenantID, taskID, apiKey string) credentials {
	t.Helper()
	issue := func(token string, _ any, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return token
	}
	// Issued two days ago: expired now.
	expiredToken := issue(env.Tokens.IssueTaskToken(tenantID, taskID))
	expiredSession := issue(env.Tokens.IssueSession(tenant.Principal{TenantID: tenantID}))
	clock.Advance(48 * time.Hour)
	token := issue(env.Tokens.IssueTaskToken(tenantID, taskID))
	session := issue(env.Tokens.IssueSession(tenant.Principal{TenantID: tenantID}))
	operator := issue(env.Tokens.IssueOperatorSession(tenant.NewAdminToken(webtest.AdminToken).Fingerprint()))
	otherOperator := issue(env.Tokens.IssueOperatorSession(tenant.NewAdminToken("another admin token").Fingerprint()))
	signIn := issue(env.Tokens.IssueSignInLink(tenantID))
	otherKey := tenant.NewTokens([]byte("another key, not this service's!"), 0, clock.Now)
	key, rec, err := env.TenantAdmin.CreateKey(context.Background(), tenantID, "revoked")
	if err != nil {
		t.Fatal(err)
	}
	revokedSession := issue(env.Tokens.IssueSession(tenant.Principal{TenantID: tenantID, KeyID: rec.ID}))
	if err := env.TenantAdmin.RevokeKey(context.Background(), tenantID, rec.ID); err != nil {
		t.Fatal(err)
	}
	claims, _ := json.Marshal(map[string]any{"iss": "boomerang", "aud": []string{tenant.AudienceTaskStatus}, "sub": taskID, "tid": tenantID,
		"iat": clock.Now().Unix(), "exp": clock.Now().Add(time.Hour).Unix()})
	b64 := base64.RawURLEncoding.EncodeToString
	invalid := map[string]string{ // on every API and as a cookie
		"garbage":                 "garbage",
		"JWT-shaped garbage":      "a.b.c",
		"bad signature":           token[:len(token)-4] + "AAAA",
		"signed with another key": issue(otherKey.IssueTaskToken(tenantID, taskID)),
		"alg none":                b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + b64(claims) + ".",
		"expired status token":    expiredToken,
		"sign-in link":            signIn,
		"revoked key":             key,
		"malformed key":           apiKey[:len(apiKey)-1],
	}
	c := credentials{
		tenantAPI: map[string]string{"none": "", "admin token": webtest.AdminToken, "session": session, "API key (in the URL)": apiKey},
		adminAPI:  map[string]string{"none": "", "API key": apiKey, "status token": token, "session": session},
		dashboard: map[string]string{"none": "", "expired session": expiredSession, "status token": token,
			"session of a revoked key": revokedSession, "admin token": webtest.AdminToken, "operator session": operator},
		operator: map[string]string{"none": "", "tenant session": session, "expired tenant session": expiredSession, "status token": token,
			"admin token": webtest.AdminToken, "session of another admin token": otherOperator},
	}
	for name, v := range invalid {
		c.tenantAPI[name], c.adminAPI[name], c.dashboard[name], c.operator[name] = v, v, v, v
	}
	return c
}

// TestEveryRouteRefusesInvalidCredentials walks every route that needs a
// credential with every credential that must not pass: the API and the
// live stream answer a 401 problem (as a Bearer token and as ?token=), the
// pages send the browser to sign in. A valid status token where it may not
// go stays a 403.
func TestEveryRouteRefusesInvalidCredentials(t *testing.T) {
	t.Parallel()
	clock := webtest.NewClock(time.Now().Add(-48 * time.Hour))
	env := webtest.Start(t, webtest.Options{TokensNow: clock.Now})
	alice, creds := env.Tenant(t, "alice")
	task := webtest.CreateTask(t, alice, map[string]any{"targetUrl": "http://127.0.0.1:1/", "delay": 3600})
	other := webtest.CreateTask(t, alice, map[string]any{"targetUrl": "http://127.0.0.1:1/", "delay": 3600})
	bad := badCredentials(t, env, clock, creds.TenantID, task.ID, creds.APIKey)
	seq := env.TaskLastSeq(t)
	walked := 0
	for _, r := range env.Server.Routes() {
		method, path := r[0], r[1]
		if publicRoutes[path] || method == "echo_route_any" {
			continue
		}
		target := strings.NewReplacer(":id", task.ID, ":tenant", creds.TenantID, ":key", "kid").Replace(path)
		walked++
		switch {
		case strings.HasPrefix(path, "/v1/"), strings.HasPrefix(path, "/admin/"):
			set := bad.tenantAPI
			if strings.HasPrefix(path, "/admin/") {
				set = bad.adminAPI
			}
			for name, cred := range set {
				if strings.HasSuffix(name, "(in the URL)") {
					wantAPI401(t, env, method, target, name, cred, true) // a valid key, but never in the URL
					continue
				}
				wantAPI401(t, env, method, target, name, cred, false)
				if cred != "" && !strings.HasPrefix(path, "/admin/") {
					wantAPI401(t, env, method, target, name, cred, true)
				}
			}
		case strings.HasPrefix(path, "/operator"):
			for name, cookie := range bad.operator {
				wantNoOperator(t, env, method, target, name, cookie)
			}
		default:
			for name, cookie := range bad.dashboard {
				wantNoSession(t, env, method, path, target, name, cookie)
			}
		}
	}
	if walked < 20 {
		t.Fatalf("walked only %d routes", walked)
	}
	if got := env.TaskLastSeq(t); got != seq {
		t.Errorf("refused requests published: the stream moved from %d to %d", seq, got)
	}

	// A valid status token where it may not go is a 403, as Bearer and as
	// ?token=: another task, or anything but reading.
	token, _, _ := env.Tokens.IssueTaskToken(creds.TenantID, task.ID)
	for _, req := range [][2]string{
		{"GET", "/v1/tasks/" + other.ID}, {"GET", "/v1/tasks/" + other.ID + "/events"}, {"GET", "/v1/tasks"},
		{"DELETE", "/v1/tasks/" + task.ID}, {"POST", "/v1/tasks/" + task.ID + "/redeliver"}, {"GET", "/v1/events"},
	} {
		for _, c := range []struct{ key, query string }{{token, ""}, {"", "?token=" + token}} {
			r := env.Client(t, c.key).Do(t, req[0], req[1]+c.query, nil)
			if r.Status != http.StatusForbidden || !strings.Contains(string(r.Body), "insufficient-scope") {
				t.Errorf("%s %s%s with a valid status token: got %d %s, want 403 insufficient-scope", req[0], req[1], c.query, r.Status, r.Body)
			}
		}
	}
}

// wantAPI401 sends cred as a Bearer token (or as ?token=) and fails unless
// the answer is the 401 problem.
func wantAPI401(t *testing.T, env *webtest.Env, method, target, name, cred string, inQuery bool) {
	t.Helper()
	c := env.Client(t, cred)
	if inQuery {
		c = env.Client(t, "")
		target += "?token=" + url.QueryEscape(cred)
	}
	var body any
	if method == http.MethodPost || method == http.MethodPut {
		body = map[string]any{}
	}
	r := c.Do(t, method, target, body)
	var p problem.Problem
	_ = json.Unmarshal(r.Body, &p)
	if r.Status != http.StatusUnauthorized || p.Type != problem.Base+"unauthorized" || r.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("%s %s with %s (query %v): got %d %s, want the 401 problem", method, target, name, inQuery, r.Status, r.Body)
	}
}

// wantNoSession sends cookie as the session and fails unless the page sends
// the browser to sign in, or /live answers the 401 problem.
func wantNoSession(t *testing.T, env *webtest.Env, method, path, target, name, cookie string) {
	t.Helper()
	req, _ := http.NewRequest(method, env.URL+target, strings.NewReader("csrf=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/html")
	if path == "/live" {
		req.Header.Set("Accept", "text/event-stream")
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: "boomerang_session", Value: cookie})
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if path == "/live" {
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("Content-Type") != problem.ContentType {
			t.Errorf("%s %s with %s: got %d %s, want the 401 problem", method, target, name, resp.StatusCode, body)
		}
		return
	}
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/signin") {
		t.Errorf("%s %s with %s: got %d to %q, want 303 to /signin", method, target, name, resp.StatusCode, resp.Header.Get("Location"))
	}
}

// wantNoOperator checks that an operator page sends the browser to the
// operator's sign-in with cookie as the operator's session.
func wantNoOperator(t *testing.T, env *webtest.Env, method, target, name, cookie string) {
	t.Helper()
	req, _ := http.NewRequest(method, env.URL+target, strings.NewReader("csrf=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/html")
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: "boomerang_operator", Value: cookie})
		req.AddCookie(&http.Cookie{Name: "boomerang_session", Value: cookie})
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/operator/signin") {
		t.Errorf("%s %s with %s: got %d to %q, want 303 to /operator/signin", method, target, name, resp.StatusCode, resp.Header.Get("Location"))
	}
}
