package dashboard_test

import (
	"bufio"
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/internal/testenv"
	"github.com/boomerang-dev/boomerang/tenant"
	"github.com/boomerang-dev/boomerang/web/webtest"
)

// TestSignOutEndsTheSessionOnEveryServer signs out on one server: the
// session's cookies, the renewed one and the one before it, and its CSRF
// token are refused there and on a second server on the same stream, and
// nothing is created with them; other sessions and the API key go on.
func TestSignOutEndsTheSessionOnEveryServer(t *testing.T) {
	t.Parallel()
	clock := webtest.NewClock(time.Now())
	a := webtest.Start(t, webtest.Options{Now: clock.Now})
	b := a.Peer(t, webtest.Options{Now: clock.Now})
	apiClient, creds := a.Tenant(t, "acme")
	user := &visitor{t: t, base: a.URL}
	user.signIn(creds.APIKey)
	before := *user
	clock.Advance(40 * time.Minute) // the token is renewed on the next page
	csrf := user.csrf()
	if user.cookie.Value == before.cookie.Value {
		t.Fatal("the session was not renewed")
	}
	other := &visitor{t: t, base: b.URL}
	other.signIn(creds.APIKey)
	b.TenantsCaughtUp(t)
	onB := visitor{t: t, base: b.URL, cookie: user.cookie}
	if p := onB.do(http.MethodGet, "/settings", nil); p.StatusCode != http.StatusOK {
		t.Fatalf("the session on the second server: got %d", p.StatusCode)
	}

	if p := user.do(http.MethodPost, "/signout", url.Values{"csrf": {csrf}}); p.StatusCode != http.StatusSeeOther || p.location() != "/signin" || user.cookie != nil {
		t.Fatalf("sign-out: got %d to %q, cookie %v", p.StatusCode, p.location(), user.cookie)
	}
	stolen := visitor{t: t, base: a.URL, cookie: onB.cookie}
	stolen.wantSignedOut(a, creds.TenantID, csrf, "the signed-out cookie")
	before.wantSignedOut(a, creds.TenantID, csrf, "the cookie before its renewal")
	b.TenantsCaughtUp(t)
	onB.wantSignedOut(b, creds.TenantID, csrf, "the signed-out cookie on the second server")
	// Nothing else ended.
	if p := other.do(http.MethodGet, "/settings", nil); p.StatusCode != http.StatusOK {
		t.Errorf("another session of the tenant: got %d, want 200", p.StatusCode)
	}
	if r := apiClient.Do(t, http.MethodGet, "/v1/tasks", nil); r.Status != http.StatusOK {
		t.Errorf("the API key: got %d, want 200", r.Status)
	}
}

// TestSessionEndsAtItsMaximumAge uses the dashboard all day: the session is
// renewed while in use, but not past its maximum age.
func TestSessionEndsAtItsMaximumAge(t *testing.T) {
	t.Parallel()
	clock := webtest.NewClock(time.Now())
	env := webtest.Start(t, webtest.Options{Now: clock.Now})
	_, creds := env.Tenant(t, "acme")
	user := &visitor{t: t, base: env.URL}
	signedIn := clock.Now()
	user.signIn(creds.APIKey)
	end := signedIn.Add(tenant.DefaultSessionMaxAge)
	renewals := 0
	for clock.Now().Add(20 * time.Minute).Before(end) {
		clock.Advance(20 * time.Minute)
		cookie := user.cookie.Value
		if p := user.do(http.MethodGet, "/tasks", nil); p.StatusCode != http.StatusOK {
			t.Fatalf("%s after sign-in: got %d, want 200", clock.Now().Sub(signedIn), p.StatusCode)
		}
		if user.cookie.Value != cookie {
			renewals++
		}
		if user.cookie.Expires.After(end) {
			t.Fatalf("a renewal expires at %s, after the session's end %s", user.cookie.Expires, end)
		}
	}
	if renewals < 10 {
		t.Fatalf("%d renewals in a day of use", renewals)
	}
	clock.Advance(end.Sub(clock.Now()))
	if p := user.do(http.MethodGet, "/tasks", nil); p.StatusCode != http.StatusSeeOther || !strings.HasPrefix(p.location(), "/signin") {
		t.Fatalf("at the session's maximum age: got %d to %q, want a redirect to sign in", p.StatusCode, p.location())
	}
}

// TestSignOutEverywhere ends every session of the tenant, opened with a key
// or with a sign-in link, and the links not yet used; other tenants'
// sessions and the API keys go on, and signing in again works.
func TestSignOutEverywhere(t *testing.T) {
	t.Parallel()
	clock := webtest.NewClock(time.Now())
	env := webtest.Start(t, webtest.Options{Now: clock.Now})
	apiClient, creds := env.Tenant(t, "acme")
	_, otherCreds := env.Tenant(t, "other")
	byKey := &visitor{t: t, base: env.URL}
	byKey.signIn(creds.APIKey)
	byLink := &visitor{t: t, base: env.URL}
	link, _, _ := env.Tokens.IssueSignInLink(creds.TenantID)
	if p := byLink.do(http.MethodGet, "/signin?token="+link, nil); p.StatusCode != http.StatusSeeOther || byLink.cookie == nil {
		t.Fatalf("sign-in link: got %d", p.StatusCode)
	}
	unused, _, _ := env.Tokens.IssueSignInLink(creds.TenantID)
	otherTenant := &visitor{t: t, base: env.URL}
	otherTenant.signIn(otherCreds.APIKey)
	linkCSRF := byLink.csrf()
	clock.Advance(time.Second)

	p := byKey.do(http.MethodPost, "/settings/sessions/end", url.Values{"csrf": {byKey.csrf()}})
	if p.StatusCode != http.StatusSeeOther || p.location() != "/signin" || byKey.cookie != nil {
		t.Fatalf("sign out everywhere: got %d to %q, cookie %v", p.StatusCode, p.location(), byKey.cookie)
	}
	byLink.wantSignedOut(env, creds.TenantID, linkCSRF, "the session opened by a link")
	if p := (&visitor{t: t, base: env.URL}).do(http.MethodGet, "/signin?token="+unused, nil); p.StatusCode != http.StatusUnauthorized {
		t.Errorf("a link issued before: got %d, want 401", p.StatusCode)
	}
	if p := otherTenant.do(http.MethodGet, "/settings", nil); p.StatusCode != http.StatusOK {
		t.Errorf("another tenant's session: got %d, want 200", p.StatusCode)
	}
	if r := apiClient.Do(t, http.MethodGet, "/v1/tasks", nil); r.Status != http.StatusOK {
		t.Errorf("the API key: got %d, want 200", r.Status)
	}
	clock.Advance(time.Second)
	again := &visitor{t: t, base: env.URL}
	again.signIn(creds.APIKey)
	if p := again.do(http.MethodGet, "/settings", nil); p.StatusCode != http.StatusOK {
		t.Errorf("signing in again: got %d, want 200", p.StatusCode)
	}
}

// TestSignInLinkWorksOnceAcrossServersAndRestarts uses one link on two
// servers at once, then on a third one started later on the same stream
// (a restart: a new process with a new view).
func TestSignInLinkWorksOnceAcrossServersAndRestarts(t *testing.T) {
	t.Parallel()
	a := webtest.Start(t, webtest.Options{})
	b := a.Peer(t, webtest.Options{})
	_, creds := a.Tenant(t, "dev")
	link, _, err := a.Tokens.IssueSignInLink(creds.TenantID)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	statuses := map[int]int{}
	sessions := 0
	for i := range 10 {
		base := a.URL
		if i%2 == 1 {
			base = b.URL
		}
		wg.Go(func() {
			v := &visitor{t: t, base: base}
			p := v.do(http.MethodGet, "/signin?token="+link, nil)
			mu.Lock()
			defer mu.Unlock()
			statuses[p.StatusCode]++
			if v.cookie != nil {
				sessions++
			}
		})
	}
	wg.Wait()
	if statuses[http.StatusSeeOther] != 1 || statuses[http.StatusUnauthorized] != 9 || sessions != 1 {
		t.Fatalf("10 uses of one link on two servers: statuses %v, %d sessions; want one 303, nine 401, one session", statuses, sessions)
	}
	restarted := a.Peer(t, webtest.Options{})
	if p := (&visitor{t: t, base: restarted.URL}).do(http.MethodGet, "/signin?token="+link, nil); p.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the used link after a restart: got %d, want 401", p.StatusCode)
	}
	fresh, _, _ := restarted.Tokens.IssueSignInLink(creds.TenantID)
	if p := (&visitor{t: t, base: restarted.URL}).do(http.MethodGet, "/signin?token="+fresh, nil); p.StatusCode != http.StatusSeeOther {
		t.Fatalf("a fresh link after a restart: got %d, want 303", p.StatusCode)
	}
}

// liveStream is an open /live event stream.
type liveStream struct {
	resp  *http.Response
	lines *bufio.Scanner
}

// openLive opens /live with the visitor's session; the stream is closed
// at cleanup, and by the deadline at the latest.
func (v *visitor) openLive() *liveStream {
	v.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testenv.GiveUpAfter)
	v.t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, v.base+"/live", nil)
	req.AddCookie(&http.Cookie{Name: v.cookie.Name, Value: v.cookie.Value})
	resp, err := noRedirects.Do(req)
	if err != nil {
		v.t.Fatal(err)
	}
	v.t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		v.t.Fatalf("/live: got %d", resp.StatusCode)
	}
	return &liveStream{resp: resp, lines: bufio.NewScanner(resp.Body)}
}

// await reads the stream until the server ends it ("ended"), an event of
// task comes ("event"), or the deadline passes (the error).
func (s *liveStream) await(task string) string {
	for s.lines.Scan() {
		if task != "" && strings.HasPrefix(s.lines.Text(), "data: ") && strings.Contains(s.lines.Text(), task) {
			return "event"
		}
	}
	if err := s.lines.Err(); err != nil {
		return err.Error()
	}
	return "ended"
}

// TestLiveStreamEndsWithItsSession opens the live event stream of several
// sessions: each ends when its session is signed out or ended everywhere,
// and the others go on.
func TestLiveStreamEndsWithItsSession(t *testing.T) {
	t.Parallel()
	clock := webtest.NewClock(time.Now())
	env := webtest.Start(t, webtest.Options{Now: clock.Now})
	acme, creds := env.Tenant(t, "acme")
	other, otherCreds := env.Tenant(t, "other")
	first, second, outsider := &visitor{t: t, base: env.URL}, &visitor{t: t, base: env.URL}, &visitor{t: t, base: env.URL}
	first.signIn(creds.APIKey)
	second.signIn(creds.APIKey)
	outsider.signIn(otherCreds.APIKey)
	firstLive, secondLive, outsiderLive := first.openLive(), second.openLive(), outsider.openLive()
	clock.Advance(time.Second)

	first.do(http.MethodPost, "/signout", url.Values{"csrf": {first.csrf()}})
	if got := firstLive.await(""); got != "ended" {
		t.Fatalf("the signed-out session's stream: %s, want it ended", got)
	}
	task := webtest.CreateTask(t, acme, map[string]any{"targetUrl": "https://example.com/", "delay": 60})
	if got := secondLive.await(task.ID); got != "event" {
		t.Fatalf("another session's stream after the sign-out: %s, want the new task's event", got)
	}

	second.do(http.MethodPost, "/settings/sessions/end", url.Values{"csrf": {second.csrf()}})
	if got := secondLive.await(""); got != "ended" {
		t.Fatalf("the stream after ending all the tenant's sessions: %s, want it ended", got)
	}
	task = webtest.CreateTask(t, other, map[string]any{"targetUrl": "https://example.com/", "delay": 60})
	if got := outsiderLive.await(task.ID); got != "event" {
		t.Fatalf("another tenant's stream: %s, want the new task's event", got)
	}
}
