package dashboard_test

import (
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/boomerang-dev/boomerang/internal/testenv"
	"github.com/boomerang-dev/boomerang/web/webtest"
)

var keyState = regexp.MustCompile(`(?s)<p class="key-wait[^"]*" role="status" data-key-state="([a-z]+)">(.*?)</p>`)

// TestTaskPageShowsItsKey: the page of a task waiting behind its key
// says so, with its place in the queue and what is in flight, or that
// the key is paused with a link to the key's page where it is resumed;
// the task holding the key says that; a finished task says nothing of
// its key. For both kinds of key.
func TestTaskPageShowsItsKey(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{Workers: true})
	apiClient, creds := env.Tenant(t, "acme")
	release, done := make(chan struct{}), make(chan struct{})
	target := testenv.NewTarget(t, func(w http.ResponseWriter, r *http.Request, n int) {
		select {
		case <-release:
		case <-done:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { close(done) }) // before the target closes
	user := &visitor{t: t, base: env.URL}
	user.signIn(creds.APIKey)
	state := func(id string) (kind, text string) {
		t.Helper()
		m := keyState.FindStringSubmatch(user.do(http.MethodGet, "/tasks/"+id, nil).body)
		if m == nil {
			return "", ""
		}
		return m[1], html.UnescapeString(m[2])
	}
	for _, kc := range []struct {
		field string
		value any
		page  string
	}{
		{"orderingKey", "acct 1", "/ordering-keys/acct%201"},
		{"flowControl", map[string]any{"key": "pay 1", "parallelism": 1}, "/flow-control/pay%201"},
	} {
		var ids []string
		for range 3 {
			ids = append(ids, webtest.CreateTask(t, apiClient, map[string]any{"targetUrl": target.URL, kc.field: kc.value, "retries": 0}).ID)
		}
		// One task holds the key, one is next, the last waits behind it.
		testenv.WaitUntil(t, "the last task to wait behind two", func() (bool, string) {
			kind, text := state(ids[2])
			return kind == "waiting" && strings.Contains(text, "number 2 in the queue, 1 task ahead of it; 1 in flight"), text
		})
		if kind, text := state(ids[0]); kind != "holding" || !strings.Contains(text, "1 in flight, 2 waiting") {
			t.Errorf("%s: the first task's page says %q %q, want it holding the key", kc.field, kind, text)
		}
		if kind, text := state(ids[1]); kind != "waiting" || !strings.Contains(text, "it is next; 1 in flight") {
			t.Errorf("%s: the second task's page says %q %q, want it next", kc.field, kind, text)
		}
		apiClient.Do(t, http.MethodPost, "/v1"+kc.page+"/pause", nil)
		kind, text := state(ids[2])
		if kind != "paused" || !strings.Contains(text, "is paused") || !strings.Contains(user.do(http.MethodGet, "/tasks/"+ids[2], nil).body, `href="`+kc.page+`" data-key-resume`) {
			t.Errorf("%s: the paused key's waiting task says %q %q, want it paused with a link to %s", kc.field, kind, text, kc.page)
		}
		apiClient.Do(t, http.MethodPost, "/v1"+kc.page+"/resume", nil)
		for range 3 {
			release <- struct{}{}
		}
		for _, id := range ids {
			webtest.WaitTask(t, apiClient, id, 0, webtest.Finished)
			if kind, text := state(id); kind != "" {
				t.Errorf("%s: a finished task's page shows its key: %q %q", kc.field, kind, text)
			}
		}
	}
}
