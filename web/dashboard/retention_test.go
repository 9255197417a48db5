package dashboard_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/web/webtest"
)

// TestSettingsSetRetention: the tenant chooses how long its finished tasks
// stay, within the server's bounds; anything else is a 400 page that says
// the bounds and changes nothing; without the CSRF token it is refused.
func TestSettingsSetRetention(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{})
	_, creds := env.Tenant(t, "acme")
	user := &visitor{t: t, base: env.URL}
	user.signIn(creds.APIKey)
	if p := user.do(http.MethodGet, "/settings", nil); p.StatusCode != http.StatusOK || !strings.Contains(p.body, `id="keep-days">30 days`) {
		t.Fatalf("settings: got %d, want the default of 30 days shown", p.StatusCode)
	}
	csrf := user.csrf()
	p := user.do(http.MethodPost, "/settings/retention", url.Values{"days": {"9"}, "csrf": {csrf}})
	if p.StatusCode != http.StatusOK || !strings.Contains(p.body, `id="keep-days">9 days`) {
		t.Fatalf("set 9 days: got %d, want the page showing 9 days", p.StatusCode)
	}
	for _, bad := range []string{"", "0", "1", "31", "9.5", "nine", "-4", "99999999999999999999"} {
		p := user.do(http.MethodPost, "/settings/retention", url.Values{"days": {bad}, "csrf": {csrf}})
		if p.StatusCode != http.StatusBadRequest || !strings.Contains(p.body, "between 2 and 30") {
			t.Errorf("days %q: got %d, want 400 saying the bounds", bad, p.StatusCode)
		}
	}
	if p := user.do(http.MethodPost, "/settings/retention", url.Values{"days": {"20"}}); p.StatusCode != http.StatusForbidden {
		t.Errorf("without the CSRF token: got %d, want 403", p.StatusCode)
	}
	if got := env.Tenants.Retention(creds.TenantID); got != 9*24*time.Hour {
		t.Errorf("retention after the refused posts: got %s, want 9 days", got)
	}
}
