package api_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/web/webtest"
)

// TestAdminSetsTenantRetention sets a tenant's retention through the admin
// API within the server's bounds (2 to 30 days by default); everything
// outside them, or not a whole number of days, is a 400 naming days and
// changes nothing; another tenant keeps the default.
func TestAdminSetsTenantRetention(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{})
	_, acme := env.Tenant(t, "acme")
	_, other := env.Tenant(t, "other")
	path := "/admin/v1/tenants/" + acme.TenantID + "/retention"
	type body struct {
		Days             int
		Default          bool
		MinDays, MaxDays int
	}
	var got body
	env.Admin.Do(t, http.MethodGet, path, nil).JSON(t, &got)
	if got != (body{Days: 30, Default: true, MinDays: 2, MaxDays: 30}) {
		t.Fatalf("before: got %+v, want the default 30 days within 2..30", got)
	}
	r := env.Admin.Do(t, http.MethodPut, path, map[string]any{"days": 7})
	if r.Status != http.StatusOK {
		t.Fatalf("PUT 7 days: got %d %s", r.Status, r.Body)
	}
	for _, bad := range []any{0, 1, -3, 31, 100000000, 2.5, "7", nil} {
		r := env.Admin.Do(t, http.MethodPut, path, map[string]any{"days": bad})
		var p problemBody
		r.JSON(t, &p)
		if r.Status != http.StatusBadRequest || len(p.Errors) != 1 || p.Errors[0].Field != "days" {
			t.Errorf("days %v: got %d %s, want 400 naming days", bad, r.Status, r.Body)
		}
	}
	if r := env.Admin.Do(t, http.MethodPut, path, map[string]any{"days": 7, "hours": 1}); r.Status != http.StatusBadRequest {
		t.Errorf("an unknown field: got %d, want 400", r.Status)
	}
	env.Admin.Do(t, http.MethodGet, path, nil).JSON(t, &got)
	if got.Days != 7 || got.Default {
		t.Errorf("after the refused PUTs: got %+v, want 7 days, set", got)
	}
	if r := env.Tenants.Retention(acme.TenantID); r != 7*24*time.Hour {
		t.Errorf("the tenant view: got %s, want 7 days", r)
	}
	env.Admin.Do(t, http.MethodGet, "/admin/v1/tenants/"+other.TenantID+"/retention", nil).JSON(t, &got)
	if got.Days != 30 || !got.Default {
		t.Errorf("the other tenant: got %+v, want the default", got)
	}
	for _, m := range []string{http.MethodGet, http.MethodPut} {
		if r := env.Admin.Do(t, m, "/admin/v1/tenants/ten_nosuchtenant/retention", map[string]any{"days": 7}); r.Status != http.StatusNotFound {
			t.Errorf("%s of an unknown tenant: got %d, want 404", m, r.Status)
		}
	}
	alice, _ := env.Tenant(t, "alice")
	alice.Contract = nil // an API key on an admin route: refused, whatever the document says
	if r := alice.Do(t, http.MethodPut, path, map[string]any{"days": 3}); r.Status != http.StatusUnauthorized && r.Status != http.StatusForbidden {
		t.Errorf("a tenant's key on the admin route: got %d, want 401 or 403", r.Status)
	}
}
