package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// The operator signs in with the admin token, finds a tenant, sets its
// quota, suspends and resumes it, and deletes it through the
// confirmation, in Chromium.
func TestOperatorViewInChromium(t *testing.T) {
	t.Parallel()
	b := newBrowser(t)
	node := MustRunMain(t)
	client, creds := node.tenantClient(t, "acme")
	node.tenantClient(t, "bolt")
	base := node.URL()
	page := "/operator/tenants/" + creds.TenantID

	// Sign in: an operator page sends to the admin token form, and back.
	b.do(t, chromedp.Navigate(base+"/operator/tenants"), chromedp.WaitVisible(css("#adminToken")))
	b.screenshots(t, "operator-signin")
	b.do(t, chromedp.SendKeys(css("#adminToken"), testAdminToken), chromedp.Submit(css("#adminToken")),
		chromedp.WaitVisible(css(`nav[aria-label="Operator"]`)))
	if got := b.text(t, "h1"); got != "Tenants" {
		t.Fatalf("after the operator's sign-in: page %q, want Tenants", got)
	}
	b.screenshots(t, "operator-tenants")

	// Find the tenant by the start of its name and open its page.
	b.do(t, chromedp.SendKeys(css("#q"), "ACM"), chromedp.Submit(css("#q")),
		chromedp.WaitVisible(css("#search-hint")))
	if list := b.text(t, "#tenants"); strings.Contains(list, "bolt") {
		t.Fatalf("the search for ACM lists bolt: %q", list)
	}
	b.do(t, chromedp.Click(css(`a[href="`+page+`"]`)), chromedp.WaitVisible(css("#monthlyTasks")))
	b.screenshots(t, "operator-tenant")

	// Set its quota.
	b.do(t, chromedp.SendKeys(css("#monthlyTasks"), "7"), chromedp.Submit(css("#monthlyTasks")), chromedp.WaitVisible(css(".flash")))
	if flash, state := b.text(t, ".flash"), b.text(t, "#quota-state"); flash != "Quota saved." || !strings.Contains(state, "0 of 7 tasks used") {
		t.Fatalf("after setting the quota: flash %q, quota %q", flash, state)
	}
	var quota struct{ MonthlyTasks *int64 }
	node.Admin.Do(t, http.MethodGet, "/admin/v1/tenants/"+creds.TenantID+"/quota", nil).JSON(t, &quota)
	if quota.MonthlyTasks == nil || *quota.MonthlyTasks != 7 {
		t.Fatalf("the quota set in the browser: got %v, want 7", quota.MonthlyTasks)
	}

	// Suspend it: its creates are refused; resume it: they work again.
	b.do(t, chromedp.Click(css("#suspend")), chromedp.WaitVisible(css("#resume")))
	if status := b.text(t, "#tenant-status"); !strings.Contains(status, "suspended") {
		t.Fatalf("after suspending: status %q", status)
	}
	newTask := map[string]any{"targetUrl": "http://127.0.0.1:1/", "delay": 3600}
	if r := client.Do(t, http.MethodPost, "/v1/tasks", newTask); r.Status != http.StatusForbidden {
		t.Fatalf("a suspended tenant's create: got %d, want 403", r.Status)
	}
	b.do(t, chromedp.Click(css("#resume")), chromedp.WaitVisible(css("#suspend")))
	if r := client.Do(t, http.MethodPost, "/v1/tasks", newTask); r.Status != http.StatusAccepted {
		t.Fatalf("a resumed tenant's create: got %d, want 202", r.Status)
	}

	// Delete it: a wrong confirmation is refused, its name is accepted.
	b.do(t, chromedp.SendKeys(css("#confirm"), "acne"), chromedp.Submit(css("#confirm")), chromedp.WaitVisible(css(".error")))
	b.forgetStatus(http.StatusUnprocessableEntity) // the refusal's own status
	if r := client.Do(t, http.MethodGet, "/v1/tasks", nil); r.Status != http.StatusOK {
		t.Fatalf("after a refused delete: got %d, want 200", r.Status)
	}
	b.do(t, chromedp.SendKeys(css("#confirm"), "acme"), chromedp.Submit(css("#confirm")), chromedp.WaitVisible(css(".flash")))
	if flash := b.text(t, ".flash"); !strings.Contains(flash, creds.TenantID) || !strings.Contains(flash, "deleted") {
		t.Fatalf("after deleting: flash %q", flash)
	}
	if r := client.Do(t, http.MethodGet, "/v1/tasks", nil); r.Status != http.StatusUnauthorized {
		t.Fatalf("the deleted tenant's key: got %d, want 401", r.Status)
	}
	if list := b.text(t, "#tenants"); strings.Contains(list, creds.TenantID) {
		t.Fatalf("the list still shows the deleted tenant: %q", list)
	}

	// Signing out leads back to the sign-in.
	b.do(t, chromedp.Click(css(`form[action="/operator/signout"] button`)), chromedp.WaitVisible(css("#adminToken")))
	b.do(t, chromedp.Navigate(base+"/operator/tenants"), chromedp.WaitVisible(css("#adminToken")))
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Fatalf("console errors: %v", errs)
	}
}

// forgetStatus drops the console's reports of pages answered with status.
func (b *browser) forgetStatus(status int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	kept := b.errors[:0]
	for _, e := range b.errors {
		if !strings.Contains(e, fmt.Sprintf("status of %d", status)) {
			kept = append(kept, e)
		}
	}
	b.errors = kept
}
