package dashboard_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/web/webtest"
)

// TestReplayButton: the task page's "Replay task" is a POST with the CSRF
// token; without it nothing is created. With it the browser lands on the
// new task's page, which names the original, and the original's page
// lists the replay.
func TestReplayButton(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{})
	apiClient, creds := env.Tenant(t, "acme")
	task := webtest.CreateTask(t, apiClient, map[string]any{"targetUrl": "http://127.0.0.1:1/", "delay": 60})
	user := &visitor{t: t, base: env.URL}
	user.signIn(creds.APIKey)
	p := user.do(http.MethodGet, "/tasks/"+task.ID, nil)
	if !strings.Contains(p.body, `action="/tasks/`+task.ID+`/replay"`) {
		t.Fatal("the task page has no replay button")
	}
	before := env.TaskLastSeq(t)
	if p := user.do(http.MethodPost, "/tasks/"+task.ID+"/replay", url.Values{}); p.StatusCode != http.StatusForbidden {
		t.Fatalf("replay without the CSRF token: got %d, want 403", p.StatusCode)
	}
	if env.TaskLastSeq(t) != before {
		t.Fatal("a replay without the CSRF token published")
	}
	p = user.do(http.MethodPost, "/tasks/"+task.ID+"/replay", url.Values{"csrf": {user.csrf()}})
	newID, ok := strings.CutPrefix(p.location(), "/tasks/")
	newID, _, _ = strings.Cut(newID, "?")
	if p.StatusCode != http.StatusSeeOther || !ok || newID == task.ID || !broker.ValidToken(newID) {
		t.Fatalf("replay: got %d to %q, want a redirect to the new task", p.StatusCode, p.location())
	}
	p = user.do(http.MethodGet, p.location(), nil)
	if !strings.Contains(p.body, "Task replayed") || !strings.Contains(p.body, `href="/tasks/`+task.ID+`" data-replay-of`) {
		t.Fatalf("the new task's page does not name the original:\n%s", p.body)
	}
	if p := user.do(http.MethodGet, "/tasks/"+task.ID, nil); !strings.Contains(p.body, `href="/tasks/`+newID+`" data-replay`) {
		t.Fatalf("the original's page does not list the replay")
	}
	var replay broker.Task
	apiClient.Do(t, http.MethodGet, "/v1/tasks/"+newID, nil).JSON(t, &replay)
	if replay.ReplayOf != task.ID || replay.TargetURL != task.TargetURL {
		t.Fatalf("the replay: got %+v", replay)
	}
}
