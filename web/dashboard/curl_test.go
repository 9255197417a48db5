package dashboard_test

import (
	"encoding/json"
	"html"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/web/webtest"
)

var curlBlock = regexp.MustCompile(`(?s)<pre class="code" id="curl-[^"]+">(.*?)</pre>`)

// TestCurlCreatesTheSameTask: the task page's curl command, run as the
// shell runs it, creates a task with the same spec as the page's task,
// whatever fields it has: the keys, the failure webhook, a start time.
func TestCurlCreatesTheSameTask(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{})
	apiClient, creds := env.Tenant(t, "acme")
	user := &visitor{t: t, base: env.URL}
	user.signIn(creds.APIKey)
	later := time.Now().Add(time.Hour).UTC().Format(time.RFC3339Nano)
	for name, body := range map[string]map[string]any{
		"orderingKey": {"targetUrl": "https://example.com/a", "orderingKey": "acct 'o' 1", "delay": 600},
		"flowControl": {"targetUrl": "https://example.com/b", "method": "PUT", "delay": 600,
			"flowControl": map[string]any{"key": "payments", "rate": 100, "period": "1m", "parallelism": 5}},
		"flowControl rate":        {"targetUrl": "https://example.com/c", "flowControl": map[string]any{"key": "p", "rate": 7}, "delay": 600},
		"flowControl parallelism": {"targetUrl": "https://example.com/d", "flowControl": map[string]any{"key": "q", "parallelism": 2}, "delay": 600},
		"failureWebhookUrl": {"targetUrl": "https://example.com/e", "failureWebhookUrl": "https://hooks.example.com/failed",
			"webhookUrl": "https://hooks.example.com/all", "retries": 7, "timeout": 12.5, "notBefore": later,
			"headers": map[string]string{"X-A": "it's"}, "payload": "it's text", "contentType": "text/plain"},
	} {
		orig := webtest.CreateTask(t, apiClient, body)
		page := user.do(http.MethodGet, "/tasks/"+orig.ID, nil)
		m := curlBlock.FindStringSubmatch(page.body)
		if m == nil {
			t.Fatalf("%s: no curl command on the task page:\n%s", name, page.body)
		}
		cmd := html.UnescapeString(m[1])
		_, quoted, ok := strings.Cut(cmd, "--data-binary '")
		if !ok || !strings.HasSuffix(quoted, "'") || !strings.Contains(cmd, "'"+env.URL+"/v1/tasks'") {
			t.Fatalf("%s: not a curl POST to %s/v1/tasks with --data-binary '…': %s", name, env.URL, cmd)
		}
		sent := strings.ReplaceAll(strings.TrimSuffix(quoted, "'"), `'\''`, "'") // as the shell reads it
		r := apiClient.Do(t, http.MethodPost, "/v1/tasks", sent)
		if r.Status != http.StatusAccepted {
			t.Fatalf("%s: the curl body %s: got %d %s", name, sent, r.Status, r.Body)
		}
		var again broker.Task
		r.JSON(t, &again)
		if !reflect.DeepEqual(specJSON(t, again.Spec), specJSON(t, orig.Spec)) {
			t.Errorf("%s: the curl command made\n%v\nwant the task's\n%v\n(curl body %s)", name, specJSON(t, again.Spec), specJSON(t, orig.Spec), sent)
		}
	}
}

// specJSON is a spec as the API shows it, for comparison.
func specJSON(t *testing.T, s broker.Spec) map[string]any {
	t.Helper()
	raw, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}
