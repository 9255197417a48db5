package dashboard_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/boomerang-dev/boomerang/web/webtest"
)

// TestNewScheduleFormAtTheCap: a tenant that keeps as many schedules as
// it may gets the form again with a 409 and says why.
func TestNewScheduleFormAtTheCap(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{MaxSchedules: 1})
	apiClient, creds := env.Tenant(t, "acme")
	apiClient.Do(t, http.MethodPost, "/v1/schedules", map[string]any{"every": "1h", "task": map[string]any{"targetUrl": "https://example.com/x"}})
	user := &visitor{t: t, base: env.URL}
	user.signIn(creds.APIKey)
	form := url.Values{"csrf": {user.csrf()}, "kind": {"every"}, "every": {"1h"}, "targetUrl": {"https://example.com/y"}, "method": {"POST"}}
	if p := user.do(http.MethodPost, "/schedules/new", form); p.StatusCode != http.StatusConflict || !strings.Contains(p.body, "delete one first") {
		t.Fatalf("create at the cap: got %d\n%s", p.StatusCode, p.body)
	}
}
