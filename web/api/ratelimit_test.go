package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/web"
	"github.com/boomerang-dev/boomerang/web/webtest"
)

// TestCreateRateLimitPerTenant runs on a clock that moves only when the
// test moves it, so that no time passing between two creates decides the
// outcome.
func TestCreateRateLimitPerTenant(t *testing.T) {
	t.Parallel()
	clock := webtest.NewClock(time.Now())
	env := webtest.Start(t, webtest.Options{Now: clock.Now, Limits: web.Limits{CreateRate: 0.5, CreateBurst: 2}})
	alice, aliceCreds := env.Tenant(t, "alice")
	bob, _ := env.Tenant(t, "bob")
	body := map[string]any{"targetUrl": "http://127.0.0.1:1/", "delay": 60}
	for i := range 2 {
		r := alice.Do(t, http.MethodPost, "/v1/tasks", body)
		if r.Status != http.StatusAccepted || r.Header.Get("RateLimit-Policy") != `"create";q=2;w=4` || !strings.HasPrefix(r.Header.Get("RateLimit"), `"create";r=`) {
			t.Fatalf("create %d: %d, RateLimit-Policy %q, RateLimit %q", i, r.Status, r.Header.Get("RateLimit-Policy"), r.Header.Get("RateLimit"))
		}
	}
	before := env.TaskLastSeq(t)
	r := alice.Do(t, http.MethodPost, "/v1/tasks", body)
	var p problemBody
	r.JSON(t, &p)
	if r.Status != http.StatusTooManyRequests || p.Type != "https://boomerang.dev/problems/rate-limited" || r.Header.Get("Retry-After") != "2" {
		t.Fatalf("third create: %d %s Retry-After %q, want 429 and 2 s", r.Status, r.Body, r.Header.Get("Retry-After"))
	}
	if env.TaskLastSeq(t) != before {
		t.Fatal("a refused create was published")
	}
	// Another tenant has its own budget.
	if r := bob.Do(t, http.MethodPost, "/v1/tasks", body); r.Status != http.StatusAccepted {
		t.Fatalf("bob: got %d, want 202", r.Status)
	}
	// Two seconds on, alice has earned one create, and only one.
	clock.Advance(2 * time.Second)
	if r := alice.Do(t, http.MethodPost, "/v1/tasks", body); r.Status != http.StatusAccepted {
		t.Fatalf("after 2 s: got %d %s, want 202", r.Status, r.Body)
	}
	if r := alice.Do(t, http.MethodPost, "/v1/tasks", body); r.Status != http.StatusTooManyRequests {
		t.Fatalf("the second create after 2 s: got %d, want 429", r.Status)
	}
	// The operator raises alice's limit; it applies at once.
	r = env.Admin.Do(t, http.MethodPut, "/admin/v1/tenants/"+aliceCreds.TenantID+"/limits", map[string]any{"createRate": 100, "createBurst": 10})
	if r.Status != http.StatusOK {
		t.Fatalf("set limits: %d %s", r.Status, r.Body)
	}
	if r := alice.Do(t, http.MethodPost, "/v1/tasks", body); r.Status != http.StatusAccepted || r.Header.Get("RateLimit-Policy") != `"create";q=10;w=1` {
		t.Fatalf("after the override: %d, policy %q", r.Status, r.Header.Get("RateLimit-Policy"))
	}
	if r := env.Admin.Do(t, http.MethodPut, "/admin/v1/tenants/"+aliceCreds.TenantID+"/limits", map[string]any{"createRate": -1}); r.Status != http.StatusBadRequest {
		t.Fatalf("a negative rate: got %d, want 400", r.Status)
	}
	if r := env.Admin.Do(t, http.MethodGet, "/admin/v1/tenants/ten_nosuchtenant/limits", nil); r.Status != http.StatusNotFound {
		t.Fatalf("limits of an unknown tenant: got %d, want 404", r.Status)
	}
}
