package dashboard_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/internal/devtools"
	"github.com/boomerang-dev/boomerang/internal/testenv"
	"github.com/boomerang-dev/boomerang/signing"
	"github.com/boomerang-dev/boomerang/web/webtest"
)

// devEnv starts a server with the --dev tools whose inbox verifies with
// the signing secrets of a tenant it creates, and returns the server, that
// tenant's API client and a signed-in dashboard client.
func devEnv(t *testing.T) (*webtest.Env, *testenv.Client, *http.Client) {
	t.Helper()
	var env *webtest.Env
	tenantID := ""
	tools := devtools.New(func() ([]signing.Secret, error) { return env.Tenants.SigningSecrets(tenantID) }, time.Now)
	env = webtest.Start(t, webtest.Options{Workers: true, DevTools: tools})
	client, creds := env.Tenant(t, "dev")
	tenantID = creds.TenantID
	session, _ := env.SignIn(t, creds.APIKey)
	return env, client, session
}

// liveEvents reads an event stream's "received" events' ids into a
// channel until the stream ends.
func liveEvents(t *testing.T, client *http.Client, url string, headers ...string) <-chan string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		cancel()
		resp.Body.Close()
		t.Fatalf("GET %s: got %d %s, want an event stream", url, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	ids := make(chan string, 100)
	go func() {
		defer close(ids)
		lines := bufio.NewScanner(resp.Body)
		for lines.Scan() {
			if id, ok := strings.CutPrefix(lines.Text(), "id: "); ok {
				ids <- id
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		resp.Body.Close()
		for range ids {
		}
	})
	return ids
}

func nextID(t *testing.T, ids <-chan string) string {
	t.Helper()
	select {
	case id, ok := <-ids:
		if !ok {
			t.Fatal("the inbox stream ended")
		}
		return id
	case <-time.After(testenv.GiveUpAfter):
		t.Fatal("no inbox event in time")
	}
	return ""
}

func getPage(t *testing.T, client *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestInboxPage: under --dev the dashboard shows every webhook /dev/inbox
// received with its signature's verdict, headers and body; its stream
// announces each as it arrives and resumes after Last-Event-ID.
func TestInboxPage(t *testing.T) {
	t.Parallel()
	env, client, session := devEnv(t)
	status, page := getPage(t, session, env.URL+"/inbox")
	if status != http.StatusOK || !strings.Contains(page, "No webhook yet") || !strings.Contains(page, `href="/inbox" aria-current="page"`) {
		t.Fatalf("the empty inbox: got %d\n%s", status, page)
	}
	ids := liveEvents(t, session, env.URL+"/inbox/live")

	// A task's webhook arrives signed: valid.
	target := testenv.NewTarget(t, webtest.Answer(200))
	task := webtest.CreateTask(t, client, map[string]any{"targetUrl": target.URL, "webhookUrl": env.URL + "/dev/inbox"})
	first := nextID(t, ids)
	status, item := getPage(t, session, env.URL+"/inbox/"+first)
	for _, want := range []string{"signature valid", "task.succeeded", `href="/tasks/` + task.ID + `"`, "webhook-signature", "v1,", `&#34;taskId&#34;: &#34;` + task.ID} {
		if status != http.StatusOK || !strings.Contains(item, want) {
			t.Errorf("webhook %s: got %d, lacking %q:\n%s", first, status, want, item)
		}
	}

	// The same webhook with its body changed: invalid, and refused.
	var got struct {
		Items []devtools.Webhook `json:"items"`
	}
	r := env.Client(t, "").Do(t, http.MethodGet, "/dev/inbox", nil)
	r.JSON(t, &got)
	if len(got.Items) != 1 || !got.Items[0].Verified {
		t.Fatalf("GET /dev/inbox: got %s, want the one verified webhook", r.Body)
	}
	tampered := strings.Replace(string(got.Items[0].Body), "succeeded", "failed", 1)
	req, _ := http.NewRequest(http.MethodPost, env.URL+"/dev/inbox", strings.NewReader(tampered))
	for name, values := range got.Items[0].Headers {
		req.Header[name] = values
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a tampered webhook: got %d, want 401", resp.StatusCode)
	}
	second := nextID(t, ids)
	_, item = getPage(t, session, env.URL+"/inbox/"+second)
	if !strings.Contains(item, "signature invalid") || !strings.Contains(item, "task.failed") || !strings.Contains(item, `class="err"`) {
		t.Errorf("the tampered webhook %s:\n%s", second, item)
	}

	// The page lists both, newest first; a stream resumes after an id,
	// and one from before a restart (beyond the last) gets them all.
	_, page = getPage(t, session, env.URL+"/inbox")
	if a, b := strings.Index(page, `id="hook-`+second+`"`), strings.Index(page, `id="hook-`+first+`"`); a < 0 || b < a {
		t.Errorf("the inbox page does not list %s then %s:\n%s", second, first, page)
	}
	for _, from := range []string{"0", "999"} {
		resumed := liveEvents(t, session, env.URL+"/inbox/live", "Last-Event-ID", from)
		if a, b := nextID(t, resumed), nextID(t, resumed); a != first || b != second {
			t.Errorf("resumed after %s: got %s, %s, want %s, %s", from, a, b, first, second)
		}
	}
	if status, _ := getPage(t, session, env.URL+"/inbox/live?lastEventId=soon"); status != http.StatusBadRequest {
		t.Errorf("a bad lastEventId: got %d, want 400", status)
	}
	if status, _ := getPage(t, session, env.URL+"/inbox/12345"); status != http.StatusNotFound {
		t.Errorf("a webhook not kept: got %d, want 404", status)
	}
}

// TestInboxNeedsSessionAndDev: the inbox's page and stream are for
// signed-in users, and exist only with the dev tools.
func TestInboxNeedsSessionAndDev(t *testing.T) {
	t.Parallel()
	env, _, _ := devEnv(t)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, path := range []string{"/inbox", "/inbox/1", "/inbox/live"} {
		if status, _ := getPage(t, noRedirect, env.URL+path); status != http.StatusSeeOther && status != http.StatusUnauthorized {
			t.Errorf("signed out %s: got %d, want sign-in", path, status)
		}
	}
	plain := webtest.Start(t, webtest.Options{})
	_, creds := plain.Tenant(t, "acme")
	session, _ := plain.SignIn(t, creds.APIKey)
	for _, path := range []string{"/inbox", "/inbox/live", "/dev/inbox"} {
		if status, _ := getPage(t, session, plain.URL+path); status != http.StatusNotFound {
			t.Errorf("without --dev, %s: got %d, want 404", path, status)
		}
	}
	if _, page := getPage(t, session, plain.URL+"/"); strings.Contains(page, `href="/inbox"`) {
		t.Error("without --dev the menu links to the inbox")
	}
}
