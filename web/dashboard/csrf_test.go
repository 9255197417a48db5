package dashboard_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/web/webtest"
)

// TestCSRFTokenIsNotReadFromTheQuery sends the right token in the query
// string only: refused, nothing changes. In the body or the X-CSRF-Token
// header it works.
func TestCSRFTokenIsNotReadFromTheQuery(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{})
	apiClient, creds := env.Tenant(t, "acme")
	task := webtest.CreateTask(t, apiClient, map[string]any{"targetUrl": "http://127.0.0.1:1/", "delay": 60})
	user := &visitor{t: t, base: env.URL}
	user.signIn(creds.APIKey)
	csrf := user.csrf()
	keys := keyCount(t, env, creds.TenantID)
	before := env.TaskLastSeq(t)
	for _, post := range []struct {
		path string
		form url.Values
	}{
		{"/settings/keys?csrf=" + url.QueryEscape(csrf), url.Values{"name": {"from the query"}}},
		{"/tasks/" + task.ID + "/cancel?csrf=" + url.QueryEscape(csrf), url.Values{}},
		{"/signout?csrf=" + url.QueryEscape(csrf), url.Values{}},
		{"/settings/sessions/end?csrf=" + url.QueryEscape(csrf), url.Values{}},
	} {
		if p := user.do(http.MethodPost, post.path, post.form); p.StatusCode != http.StatusForbidden {
			t.Errorf("POST %s with the token in the query: got %d, want 403", post.path, p.StatusCode)
		}
	}
	if got := keyCount(t, env, creds.TenantID); got != keys {
		t.Errorf("keys after the refused posts: %d, want %d", got, keys)
	}
	if env.TaskLastSeq(t) != before {
		t.Error("a refused post published a task event")
	}
	var got broker.Task
	apiClient.Do(t, http.MethodGet, "/v1/tasks/"+task.ID, nil).JSON(t, &got)
	if got.Status != broker.StatusPending {
		t.Errorf("the task after the refused cancel: %s, want pending", got.Status)
	}
	if p := user.do(http.MethodGet, "/settings", nil); p.StatusCode != http.StatusOK {
		t.Fatalf("the session after the refused sign-outs: got %d, want 200", p.StatusCode)
	}
	if p := user.do(http.MethodPost, "/settings/keys", url.Values{"name": {"by header"}}, "X-CSRF-Token", csrf); p.StatusCode != http.StatusOK {
		t.Errorf("the token in the X-CSRF-Token header: got %d, want 200", p.StatusCode)
	}
	if p := user.do(http.MethodPost, "/settings/keys", url.Values{"name": {"by form"}, "csrf": {csrf}}); p.StatusCode != http.StatusOK {
		t.Errorf("the token in the form: got %d, want 200", p.StatusCode)
	}
	if got := keyCount(t, env, creds.TenantID); got != keys+2 {
		t.Errorf("keys: %d, want %d", got, keys+2)
	}
}
