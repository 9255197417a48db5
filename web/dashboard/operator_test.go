package dashboard_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/web/webtest"
)

// operator is a browser of the operator's pages: it keeps cookies and
// does not follow redirects, so that a test sees where each answer goes.
type operator struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newOperator(t *testing.T, base string) *operator {
	jar, _ := cookiejar.New(nil)
	return &operator{t: t, base: base, c: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// answer is a response, read.
type answer struct {
	status   int
	location string
	cookie   string
	body     string
}

func (o *operator) do(method, path string, form url.Values, cookies ...*http.Cookie) answer {
	o.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, o.base+path, body)
	if err != nil {
		o.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Accept", "text/html")
	for _, c := range cookies {
		req.AddCookie(c)
	}
	resp, err := o.c.Do(req)
	if err != nil {
		o.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, location: resp.Header.Get("Location"), cookie: resp.Header.Get("Set-Cookie"), body: string(b)}
}

func (o *operator) get(path string) answer { o.t.Helper(); return o.do(http.MethodGet, path, nil) }

// post posts form to path with the CSRF token of the page it is on.
func (o *operator) post(page, path string, form url.Values) answer {
	o.t.Helper()
	m := csrfValue.FindStringSubmatch(o.get(page).body)
	if m == nil {
		o.t.Fatalf("no CSRF token on %s", page)
	}
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf", m[1])
	return o.do(http.MethodPost, path, form)
}

func (o *operator) signIn() {
	o.t.Helper()
	a := o.do(http.MethodPost, "/operator/signin", url.Values{"adminToken": {webtest.AdminToken}})
	if a.status != http.StatusSeeOther || a.location != "/operator/tenants" {
		o.t.Fatalf("operator sign-in: got %d to %q, want 303 to /operator/tenants", a.status, a.location)
	}
}

// sessionCookie returns the cookie named name that the jar holds for path.
func (o *operator) sessionCookie(name, path string) *http.Cookie {
	o.t.Helper()
	u, _ := url.Parse(o.base + path)
	for _, c := range o.c.Jar.Cookies(u) {
		if c.Name == name {
			return c
		}
	}
	o.t.Fatalf("no cookie %s for %s", name, path)
	return nil
}

func expect(t *testing.T, what string, a answer, status int, location string) {
	t.Helper()
	if a.status != status || (location != "" && a.location != location) {
		t.Fatalf("%s: got %d to %q, want %d to %q\n%s", what, a.status, a.location, status, location, a.body)
	}
}

func expectBody(t *testing.T, what string, a answer, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(a.body, w) {
			t.Fatalf("%s: the page lacks %q:\n%s", what, w, a.body)
		}
	}
}

// Without an admin token there are no operator pages.
func TestOperatorPagesNeedAnAdminToken(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{NoAdminToken: true})
	o := newOperator(t, env.URL)
	for _, r := range []struct{ method, path string }{
		{http.MethodGet, "/operator/signin"}, {http.MethodPost, "/operator/signin"},
		{http.MethodGet, "/operator/tenants"}, {http.MethodGet, "/operator"},
	} {
		a := o.do(r.method, r.path, url.Values{"adminToken": {""}})
		if a.status != http.StatusNotFound || a.cookie != "" {
			t.Errorf("%s %s without an admin token: got %d (cookie %q), want 404", r.method, r.path, a.status, a.cookie)
		}
	}
}

// The operator signs in with the admin token only, from this site only,
// into a cookie of its own; signing out ends the session on every node.
func TestOperatorSignInAndOut(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{})
	o := newOperator(t, env.URL)
	expect(t, "signed out", o.get("/operator/tenants/ten_x?a=1"), http.StatusSeeOther, "/operator/signin?next=%2Foperator%2Ftenants%2Ften_x%3Fa%3D1")
	expect(t, "the sign-in page", o.get("/operator/signin"), http.StatusOK, "")

	wrong := o.do(http.MethodPost, "/operator/signin", url.Values{"adminToken": {webtest.AdminToken + "x"}})
	expect(t, "a wrong admin token", wrong, http.StatusUnauthorized, "")
	if wrong.cookie != "" {
		t.Fatalf("a wrong admin token set a cookie: %q", wrong.cookie)
	}
	req, _ := http.NewRequest(http.MethodPost, env.URL+"/operator/signin",
		strings.NewReader(url.Values{"adminToken": {webtest.AdminToken}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Set-Cookie") != "" {
		t.Fatalf("cross-site operator sign-in: got %d, cookie %q", resp.StatusCode, resp.Header.Get("Set-Cookie"))
	}

	a := o.do(http.MethodPost, "/operator/signin", url.Values{"adminToken": {webtest.AdminToken}, "next": {"/operator/tenants?q=a"}})
	expect(t, "sign-in", a, http.StatusSeeOther, "/operator/tenants?q=a")
	for _, want := range []string{"boomerang_operator=", "HttpOnly", "SameSite=Strict", "Path=/operator"} {
		if !strings.Contains(a.cookie, want) {
			t.Errorf("operator cookie %q lacks %s", a.cookie, want)
		}
	}
	expect(t, "after an off-site next", o.do(http.MethodPost, "/operator/signin",
		url.Values{"adminToken": {webtest.AdminToken}, "next": {"//evil.example/"}}), http.StatusSeeOther, "/operator/tenants")
	expectBody(t, "tenants", o.get("/operator/tenants"), "Tenants", `action="/operator/signout"`)
	cookie := o.sessionCookie("boomerang_operator", "/operator/tenants")

	// Signing out needs the CSRF token, then ends the session here and on
	// a peer, whichever token is presented.
	peer := env.Peer(t, webtest.Options{})
	expect(t, "sign-out without CSRF", o.do(http.MethodPost, "/operator/signout", url.Values{}), http.StatusForbidden, "")
	expect(t, "sign-out", o.post("/operator/tenants", "/operator/signout", nil), http.StatusSeeOther, "/operator/signin")
	stale := newOperator(t, env.URL)
	expect(t, "the signed-out token", stale.do(http.MethodGet, "/operator/tenants", nil, cookie), http.StatusSeeOther, "")
	peer.TenantsCaughtUp(t)
	onPeer := newOperator(t, peer.URL)
	expect(t, "the signed-out token on a peer", onPeer.do(http.MethodGet, "/operator/tenants", nil, cookie), http.StatusSeeOther, "")
}

// An operator's session never opens a tenant's page, nor a tenant's an
// operator's, whichever cookie carries it.
func TestOperatorAndTenantSessionsDoNotMix(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{})
	_, creds := env.Tenant(t, "acme")
	tenantClient, _ := env.SignIn(t, creds.APIKey)
	u, _ := url.Parse(env.URL + "/")
	var tenantSession *http.Cookie
	for _, c := range tenantClient.Jar.Cookies(u) {
		if c.Name == "boomerang_session" {
			tenantSession = c
		}
	}
	if tenantSession == nil {
		t.Fatal("no tenant session cookie")
	}
	o := newOperator(t, env.URL)
	o.signIn()
	opSession := o.sessionCookie("boomerang_operator", "/operator/tenants")

	anon := newOperator(t, env.URL)
	for _, c := range []struct {
		what, path string
		cookie     *http.Cookie
		to         string
	}{
		{"a tenant's session on an operator page", "/operator/tenants", tenantSession, "/operator/signin"},
		{"a tenant's token in the operator cookie", "/operator/tenants", &http.Cookie{Name: "boomerang_operator", Value: tenantSession.Value}, "/operator/signin"},
		{"an operator's session on a tenant page", "/settings", opSession, "/signin"},
		{"an operator's token in the session cookie", "/settings", &http.Cookie{Name: "boomerang_session", Value: opSession.Value}, "/signin"},
		{"an operator's token in the session cookie, overview", "/", &http.Cookie{Name: "boomerang_session", Value: opSession.Value}, "/signin"},
	} {
		a := anon.do(http.MethodGet, c.path, nil, c.cookie)
		if a.status != http.StatusSeeOther || !strings.HasPrefix(a.location, c.to) {
			t.Errorf("%s: got %d to %q, want a redirect to %s", c.what, a.status, a.location, c.to)
		}
	}
	// An operator's form post with a tenant's session is refused.
	a := anon.do(http.MethodPost, "/operator/tenants/"+creds.TenantID+"/suspend", url.Values{}, tenantSession)
	if a.status != http.StatusSeeOther || env.Tenants.Suspended(creds.TenantID) {
		t.Fatalf("suspend with a tenant's session: got %d, suspended %v", a.status, env.Tenants.Suspended(creds.TenantID))
	}
}

// The list finds tenants by id, by name prefix (any case), by id prefix,
// and pages.
func TestOperatorTenantList(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{})
	ctx := context.Background()
	_, acme := env.Tenant(t, "Acme")
	_, acorn := env.Tenant(t, "acorn")
	_, bolt := env.Tenant(t, "bolt")
	for i := range 50 {
		if _, err := env.TenantAdmin.Create(ctx, fmt.Sprintf("zz-%02d", i)); err != nil {
			t.Fatal(err)
		}
	}
	o := newOperator(t, env.URL)
	o.signIn()

	expect(t, "find by id", o.get("/operator/tenants?q="+bolt.TenantID), http.StatusSeeOther, "/operator/tenants/"+bolt.TenantID)
	byName := o.get("/operator/tenants?q=AC")
	expectBody(t, "by name", byName, acme.TenantID, acorn.TenantID, "whose name begins")
	if strings.Contains(byName.body, bolt.TenantID) {
		t.Fatal("a name search lists a tenant whose name does not match")
	}
	byID := o.get("/operator/tenants?q=" + bolt.TenantID[:len(bolt.TenantID)-2])
	expectBody(t, "by id prefix", byID, bolt.TenantID, "whose id begins")
	expectBody(t, "nothing found", o.get("/operator/tenants?q=nosuch"), "No tenants match")

	seen := map[string]bool{}
	page := "/operator/tenants"
	for n := 0; page != ""; n++ {
		if n > 3 {
			t.Fatal("too many pages")
		}
		a := o.get(page)
		expect(t, page, a, http.StatusOK, "")
		for _, m := range tenantLink.FindAllStringSubmatch(a.body, -1) {
			if seen[m[1]] {
				t.Fatalf("tenant %s on two pages", m[1])
			}
			seen[m[1]] = true
		}
		page = ""
		if m := nextLink.FindStringSubmatch(a.body); m != nil {
			page = strings.ReplaceAll(m[1], "&amp;", "&")
		}
	}
	if len(seen) != 53 {
		t.Fatalf("the pages list %d tenants, want 53", len(seen))
	}
}

var (
	tenantLink = regexp.MustCompile(`<a href="/operator/tenants/(ten_[A-Za-z0-9_-]+)">`)
	nextLink   = regexp.MustCompile(`<a href="([^"]+)" rel="next">`)
)

// A tenant's page shows its status, usage and quota; its forms set the
// quota, suspend and resume it, and delete it after the confirmation.
func TestOperatorTenantPage(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{})
	ctx := context.Background()
	api, creds := env.Tenant(t, "acme")
	webtest.CreateTask(t, api, map[string]any{"targetUrl": "http://127.0.0.1:1/", "delay": 3600})
	if err := env.Tasks.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	id := creds.TenantID
	page := "/operator/tenants/" + id
	o := newOperator(t, env.URL)
	o.signIn()

	a := o.get(page)
	expect(t, "tenant page", a, http.StatusOK, "")
	expectBody(t, "tenant page", a, "acme", id, `<span class="badge s-succeeded">active</span>`,
		`<dd id="usage-tasks">1</dd>`, "Unlimited: 1 tasks this month", `id="usage-days"`)
	if strings.Contains(a.body, "No use in the last") {
		t.Fatal("today's use is not in the recent days")
	}
	expect(t, "an unknown tenant", o.get("/operator/tenants/ten_nosuchtenant0"), http.StatusNotFound, "")

	// The quota: CSRF first, then a valid number, then back to the default.
	expect(t, "quota without CSRF", o.do(http.MethodPost, page+"/quota", url.Values{"monthlyTasks": {"5"}}), http.StatusForbidden, "")
	if env.Tenants.Status(id).MonthlyQuota != nil {
		t.Fatal("a refused form set the quota")
	}
	expect(t, "a negative quota", o.post(page, page+"/quota", url.Values{"monthlyTasks": {"-1"}}), http.StatusBadRequest, "")
	expect(t, "quota", o.post(page, page+"/quota", url.Values{"monthlyTasks": {"1"}}), http.StatusSeeOther, page+"?done=quota")
	expectBody(t, "after the quota", o.get(page+"?done=quota"), "Quota saved.", "1 of 1 tasks used", `value="1"`)
	if r := api.Do(t, http.MethodPost, "/v1/tasks", map[string]any{"targetUrl": "http://127.0.0.1:1/"}); r.Status != http.StatusTooManyRequests {
		t.Fatalf("a create past the quota set on the page: got %d, want 429", r.Status)
	}
	expect(t, "default quota", o.post(page, page+"/quota", url.Values{"monthlyTasks": {""}}), http.StatusSeeOther, "")
	if q := env.Tenants.Status(id).MonthlyQuota; q != nil {
		t.Fatalf("an empty quota left %d, want the server's default", *q)
	}

	// Suspend, then resume.
	expect(t, "suspend without CSRF", o.do(http.MethodPost, page+"/suspend", url.Values{}), http.StatusForbidden, "")
	expect(t, "suspend", o.post(page, page+"/suspend", nil), http.StatusSeeOther, page+"?done=suspended")
	expectBody(t, "suspended", o.get(page+"?done=suspended"), `<span class="badge s-failed">suspended</span>`, "Tenant suspended", `action="`+page+`/resume"`)
	if r := api.Do(t, http.MethodPost, "/v1/tasks", map[string]any{"targetUrl": "http://127.0.0.1:1/"}); r.Status != http.StatusForbidden {
		t.Fatalf("a suspended tenant's create: got %d, want 403", r.Status)
	}
	expectBody(t, "the list", o.get("/operator/tenants"), "suspended")
	expect(t, "resume", o.post(page, page+"/resume", nil), http.StatusSeeOther, page+"?done=resumed")
	if env.Tenants.Suspended(id) {
		t.Fatal("still suspended after resume")
	}
	webtest.CreateTask(t, api, map[string]any{"targetUrl": "http://127.0.0.1:1/", "delay": 3600})

	// Delete: a wrong confirmation deletes nothing; the name does.
	for _, wrong := range []string{"", "acm", id + "x"} {
		expect(t, "delete confirmed with "+wrong, o.post(page, page+"/delete", url.Values{"confirm": {wrong}}), http.StatusUnprocessableEntity, "")
	}
	if _, err := env.Tenants.Get(id); err != nil {
		t.Fatalf("a refused delete deleted: %v", err)
	}
	expect(t, "delete", o.post(page, page+"/delete", url.Values{"confirm": {"acme"}}), http.StatusSeeOther, "/operator/tenants?deleted="+id)
	expectBody(t, "after delete", o.get("/operator/tenants?deleted="+id), "Tenant "+id+" and all its data were deleted.")
	if !env.Tenants.Deleted(id) {
		t.Fatal("the tenant is not deleted")
	}
	if r := api.Do(t, http.MethodGet, "/v1/tasks", nil); r.Status != http.StatusUnauthorized {
		t.Fatalf("the deleted tenant's key: got %d, want 401", r.Status)
	}
	if u, err := env.Tasks.MonthUsage(id, time.Now()); err != nil || u.TasksCreated != 0 {
		t.Fatalf("the deleted tenant's usage: %+v, %v; want none", u, err)
	}
	expect(t, "the deleted tenant's page", o.get(page), http.StatusNotFound, "")
	// A made-up deleted id is not announced.
	if a := o.get("/operator/tenants?deleted=ten_nosuchtenant0"); strings.Contains(a.body, "were deleted") {
		t.Fatal("the list announces the deletion of a tenant that never was")
	}
}

// An operator's session is renewed while in use, and ends at the session
// maximum age however active.
func TestOperatorSessionRenewsUpToItsMaximumAge(t *testing.T) {
	t.Parallel()
	clock := webtest.NewClock(time.Now())
	env := webtest.Start(t, webtest.Options{TokensNow: clock.Now})
	o := newOperator(t, env.URL)
	signedIn := clock.Now()
	o.signIn()
	first := o.sessionCookie("boomerang_operator", "/operator/tenants").Value
	clock.Advance(40 * time.Minute)
	a := o.get("/operator/tenants")
	expect(t, "40 minutes on", a, http.StatusOK, "")
	if !strings.Contains(a.cookie, "boomerang_operator=") || o.sessionCookie("boomerang_operator", "/operator/tenants").Value == first {
		t.Fatalf("40 minutes on: no renewed token (Set-Cookie %q)", a.cookie)
	}
	maxAge := env.Tokens.SessionMaxAge()
	for clock.Advance(40 * time.Minute); clock.Now().Before(signedIn.Add(maxAge - time.Minute)); clock.Advance(40 * time.Minute) {
		expect(t, "while in use", o.get("/operator/tenants"), http.StatusOK, "")
	}
	clock.Advance(2 * time.Minute)
	expect(t, "past the maximum age", o.get("/operator/tenants"), http.StatusSeeOther, "/operator/signin?next=%2Foperator%2Ftenants")
}
