package dashboard_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/internal/testenv"
	"github.com/boomerang-dev/boomerang/web/webtest"
)

// TestFailureWebhookOnTheTaskPage: the new-task form takes a failure
// webhook URL, and the page of a failed task with both receivers shows
// the URL, each receiver's state and which receiver each delivery went
// to; the dead-letter filter finds it when the failure receiver is dead.
func TestFailureWebhookOnTheTaskPage(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{Workers: true})
	apiClient, creds := env.Tenant(t, "acme")
	target := testenv.NewTarget(t, webtest.Answer(400))
	always := testenv.NewReceiver(t, creds.SigningSecret)
	onFailure := testenv.NewReceiver(t, creds.SigningSecret)
	onFailure.Answer(http.StatusGone)
	user := &visitor{t: t, base: env.URL}
	user.signIn(creds.APIKey)

	p := user.do(http.MethodPost, "/tasks/new", url.Values{"csrf": {user.csrf()}, "targetUrl": {target.URL}, "method": {"POST"},
		"webhookUrl": {always.URL}, "failureWebhookUrl": {onFailure.URL}, "retries": {"0"}, "timeout": {"30"}})
	id, ok := strings.CutPrefix(p.location(), "/tasks/")
	id, _, _ = strings.Cut(id, "?")
	if p.StatusCode != http.StatusSeeOther || !ok || !broker.ValidToken(id) {
		t.Fatalf("new task: got %d to %q, want a redirect to the task", p.StatusCode, p.location())
	}
	task := webtest.WaitTask(t, apiClient, id, 20*time.Second, func(t broker.Task) bool {
		return t.Webhook != nil && t.Webhook.Status == broker.WebhookDead
	})
	if task.FailureWebhookURL != onFailure.URL {
		t.Errorf("failureWebhookUrl: got %q, want %q", task.FailureWebhookURL, onFailure.URL)
	}
	page := user.do(http.MethodGet, "/tasks/"+id, nil).body
	for _, want := range []string{
		"Failure webhook", onFailure.URL,
		`webhook <span class="badge w-delivered">delivered</span>`, `failure <span class="badge w-dead">dead</span>`,
		`<span class="n">#1</span>`, `<span class="n">failure #1</span>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the task page lacks %q", want)
		}
	}
	if list := user.do(http.MethodGet, "/tasks?webhook=dead", nil).body; !strings.Contains(list, id) {
		t.Error("the dead-letter filter does not list a task whose failure receiver is dead")
	}
}
