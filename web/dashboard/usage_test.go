package dashboard_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/boomerang-dev/boomerang/web/webtest"
)

// TestSettingsShowUsageAndQuota: the settings page shows the tasks the
// tenant created this month against its quota; once the quota is spent
// the new-task form is refused with the quota's problem, and once
// suspended the page says so.
func TestSettingsShowUsageAndQuota(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{})
	client, creds := env.Tenant(t, "acme")
	user := &visitor{t: t, base: env.URL}
	user.signIn(creds.APIKey)
	if p := user.do(http.MethodGet, "/settings", nil); !strings.Contains(p.body, `id="usage-tasks">0 (no monthly quota)`) {
		t.Fatalf("settings before: got %d, want 0 tasks and no quota", p.StatusCode)
	}
	admin := "/admin/v1/tenants/" + creds.TenantID
	env.Admin.Do(t, http.MethodPut, admin+"/quota", map[string]any{"monthlyTasks": 1})
	webtest.CreateTask(t, client, map[string]any{"targetUrl": "https://example.com/", "delay": 3600})
	if p := user.do(http.MethodGet, "/settings", nil); !strings.Contains(p.body, `id="usage-tasks">1 of 1 (monthly quota)`) {
		t.Fatalf("settings after one task: got %d, want 1 of 1", p.StatusCode)
	}
	form := url.Values{"targetUrl": {"https://example.com/"}, "csrf": {user.csrf()}}
	if p := user.do(http.MethodPost, "/tasks/new", form); p.StatusCode != http.StatusTooManyRequests {
		t.Errorf("a new task past the quota: got %d, want 429", p.StatusCode)
	}
	env.Admin.Do(t, http.MethodPost, admin+"/suspend", nil)
	if p := user.do(http.MethodGet, "/settings", nil); !strings.Contains(p.body, "This tenant is suspended") {
		t.Errorf("settings while suspended: got %d, want the suspension said", p.StatusCode)
	}
}
