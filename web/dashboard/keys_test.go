package dashboard_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/internal/testenv"
	"github.com/boomerang-dev/boomerang/web/webtest"
)

// TestKeyPages: a task's page links to its ordering key's page, which
// lists the task holding the key and the queue in order; its pause button
// is a POST with the CSRF token (without it nothing changes), and the
// page then shows the key paused, with a resume button.
func TestKeyPages(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{Workers: true})
	apiClient, creds := env.Tenant(t, "acme")
	release := make(chan struct{})
	defer close(release)
	target := testenv.NewTarget(t, func(w http.ResponseWriter, r *http.Request, n int) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	var ids []string
	for range 3 {
		ids = append(ids, webtest.CreateTask(t, apiClient, map[string]any{"targetUrl": target.URL, "orderingKey": "acct 1"}).ID)
	}
	user := &visitor{t: t, base: env.URL}
	user.signIn(creds.APIKey)
	const page = "/ordering-keys/acct%201"
	if p := user.do(http.MethodGet, "/tasks/"+ids[2], nil); !strings.Contains(p.body, `href="`+page+`" data-ordering-key`) {
		t.Fatalf("the task page does not link to its key:\n%s", p.body)
	}
	testenv.WaitUntil(t, "the key's page to list the queue", func() (bool, string) {
		p := user.do(http.MethodGet, page, nil)
		return strings.Contains(p.body, `data-in-flight>1<`) && strings.Contains(p.body, `data-waiting>2<`), p.body
	})
	p := user.do(http.MethodGet, page, nil)
	holding, queue, _ := strings.Cut(p.body, "data-queue")
	if !strings.Contains(holding, ids[0]) || strings.Index(queue, ids[1]) > strings.Index(queue, ids[2]) || !strings.Contains(queue, ids[2]) {
		t.Fatalf("the key's page: want %s holding, then %s and %s in order:\n%s", ids[0], ids[1], ids[2], p.body)
	}
	if p := user.do(http.MethodPost, page+"/pause", url.Values{}); p.StatusCode != http.StatusForbidden {
		t.Fatalf("pause without the CSRF token: got %d, want 403", p.StatusCode)
	}
	var info broker.KeyInfo
	apiClient.Do(t, http.MethodGet, "/v1/ordering-keys/acct%201", nil).JSON(t, &info)
	if info.Paused {
		t.Fatal("a pause without the CSRF token paused the key")
	}
	p = user.do(http.MethodPost, page+"/pause", url.Values{"csrf": {user.csrf()}})
	if p.StatusCode != http.StatusSeeOther || p.location() != page+"?done=paused" {
		t.Fatalf("pause: got %d to %q", p.StatusCode, p.location())
	}
	if p := user.do(http.MethodGet, p.location(), nil); !strings.Contains(p.body, "data-paused") || !strings.Contains(p.body, `action="`+page+`/resume"`) {
		t.Fatalf("the paused key's page:\n%s", p.body)
	}
	// A key without state (never used, or forgotten once idle: an old
	// task still links to it) is shown idle, not as an error.
	if p := user.do(http.MethodGet, "/flow-control/nobody", nil); p.StatusCode != http.StatusOK ||
		!strings.Contains(p.body, "data-idle") || strings.Contains(p.body, "unbounded") {
		t.Fatalf("an unknown key's page: got %d, want 200 saying it is idle (and no settings):\n%s", p.StatusCode, p.body)
	}
}
