package main

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/boomerang-dev/boomerang/internal/testenv"
)

// startExternalNATS starts a nats-server with JetStream that nodes reach
// with --nats-url, as a cluster's nodes do, and stops it at cleanup.
func startExternalNATS(t *testing.T) string {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true,
		StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(testenv.GiveUpAfter) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns.ClientURL()
}

// dashboardRequest sends a request to a node's dashboard with a session
// cookie (none when empty) and a form (a POST form when not nil). It
// returns the status, the Location, the new session cookie (if one was
// set) and the body.
func dashboardRequest(t *testing.T, c *http.Client, base, method, path, cookie string, form url.Values) (int, string, string, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: "boomerang_session", Value: cookie})
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	set := ""
	for _, ck := range resp.Cookies() {
		if ck.Name == "boomerang_session" && ck.MaxAge >= 0 {
			set = ck.Value
		}
	}
	return resp.StatusCode, resp.Header.Get("Location"), set, string(b)
}

var csrfInPage = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// TestSessionsEndOnEveryNode runs two nodes on one NATS server: a sign-out
// on one ends the session on the other, whose CSRF token then creates
// nothing, and a sign-in link used on both at once signs in once; after a
// node restarts, the used link and the ended session stay refused.
func TestSessionsEndOnEveryNode(t *testing.T) {
	t.Parallel()
	natsURL := startExternalNATS(t)
	dirA := t.TempDir()
	secretKey := newSecretKey(t) // the nodes of a cluster share the operator's key
	a := mustRunMainIn(t, dirA, "--nats-url", natsURL, "--secret-key", secretKey)
	b := MustRunMain(t, "--nats-url", natsURL, "--secret-key", secretKey)
	_, creds := a.tenantClient(t, "acme")
	c := a.httpClient(t)

	st, _, cookie, _ := dashboardRequest(t, c, a.URL(), http.MethodPost, "/signin", "", url.Values{"apiKey": {creds.APIKey}})
	if st != http.StatusSeeOther || cookie == "" {
		t.Fatalf("sign-in on node A: got %d, cookie %q", st, cookie)
	}
	_, _, _, settings := dashboardRequest(t, c, b.URL(), http.MethodGet, "/settings", cookie, nil)
	m := csrfInPage.FindStringSubmatch(settings)
	if m == nil {
		t.Fatal("node B does not open node A's session")
	}
	csrf := m[1]

	link, _, err := a.tokens.IssueSignInLink(creds.TenantID)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	signedIn := 0
	for i := range 6 {
		node := a
		if i%2 == 1 {
			node = b
		}
		wg.Go(func() {
			st, _, set, _ := dashboardRequest(t, c, node.URL(), http.MethodGet, "/signin?token="+link, "", nil)
			if st == http.StatusSeeOther && set != "" {
				mu.Lock()
				signedIn++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if signedIn != 1 {
		t.Fatalf("one link used 6 times on two nodes signed in %d times, want once", signedIn)
	}

	if st, loc, _, _ := dashboardRequest(t, c, a.URL(), http.MethodPost, "/signout", cookie, url.Values{"csrf": {csrf}}); st != http.StatusSeeOther || loc != "/signin" {
		t.Fatalf("sign-out on node A: got %d to %q", st, loc)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testenv.GiveUpAfter)
	defer cancel()
	if err := b.proj.tenantProjector.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	keys := func() int {
		ten, err := b.tenants.Get(creds.TenantID)
		if err != nil {
			t.Fatal(err)
		}
		return len(ten.Keys)
	}
	before := keys()
	if st, loc, _, _ := dashboardRequest(t, c, b.URL(), http.MethodGet, "/settings", cookie, nil); st != http.StatusSeeOther || !strings.HasPrefix(loc, "/signin") {
		t.Errorf("the signed-out session on node B: got %d to %q, want a redirect to sign in", st, loc)
	}
	if st, _, _, _ := dashboardRequest(t, c, b.URL(), http.MethodPost, "/settings/keys", cookie, url.Values{"csrf": {csrf}, "name": {"stolen"}}); st != http.StatusSeeOther || keys() != before {
		t.Errorf("a key created on node B with the signed-out session: got %d, keys %d, want 303 and %d", st, keys(), before)
	}

	a.Stop()
	restarted := mustRunMainIn(t, dirA, "--nats-url", natsURL, "--secret-key", secretKey)
	if st, _, _, _ := dashboardRequest(t, c, restarted.URL(), http.MethodGet, "/signin?token="+link, "", nil); st != http.StatusUnauthorized {
		t.Errorf("the used link after node A restarted: got %d, want 401", st)
	}
	if st, _, _, _ := dashboardRequest(t, c, restarted.URL(), http.MethodGet, "/settings", cookie, nil); st != http.StatusSeeOther {
		t.Errorf("the signed-out session after node A restarted: got %d, want 303", st)
	}
}

// TestSignInLinkIsOneTimeAcrossRestarts restarts a node with its embedded
// NATS server: a link used before the restart stays used.
func TestSignInLinkIsOneTimeAcrossRestarts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	node := mustRunMainIn(t, dir)
	_, creds := node.tenantClient(t, "acme")
	link, _, err := node.tokens.IssueSignInLink(creds.TenantID)
	if err != nil {
		t.Fatal(err)
	}
	c := node.httpClient(t)
	if st, _, set, _ := dashboardRequest(t, c, node.URL(), http.MethodGet, "/signin?token="+link, "", nil); st != http.StatusSeeOther || set == "" {
		t.Fatalf("first use: got %d", st)
	}
	node.Stop()
	node = mustRunMainIn(t, dir)
	if st, _, _, _ := dashboardRequest(t, c, node.URL(), http.MethodGet, "/signin?token="+link, "", nil); st != http.StatusUnauthorized {
		t.Fatalf("the link after a restart: got %d, want 401", st)
	}
}
