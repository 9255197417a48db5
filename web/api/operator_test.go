package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/internal/testenv"
	"github.com/boomerang-dev/boomerang/web/webtest"
)

type tenantPage struct {
	Items []struct {
		TenantID    string     `json:"tenantId"`
		Name        string     `json:"name"`
		SuspendedAt *time.Time `json:"suspendedAt"`
	} `json:"items"`
	NextCursor string `json:"nextCursor"`
}

type quotaBody struct {
	MonthlyTasks *int64 `json:"monthlyTasks"`
	Default      bool   `json:"default"`
	Used         int64  `json:"used"`
	Remaining    *int64 `json:"remaining"`
}

// TestAdminListsAndFindsTenants finds tenants by name prefix (any case)
// and id prefix, pages through them, and reads one by id.
func TestAdminListsAndFindsTenants(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{})
	_, acme := env.Tenant(t, "Acme")
	_, acme2 := env.Tenant(t, "acme labs")
	env.Tenant(t, "zeta")
	var page tenantPage
	env.Admin.Do(t, http.MethodGet, "/admin/v1/tenants?name=ACM", nil).JSON(t, &page)
	if len(page.Items) != 2 || page.NextCursor != "" {
		t.Fatalf("name=ACM: got %+v, want the two acme tenants on one page", page)
	}
	var seen []string
	cursor := ""
	for range 5 {
		var p tenantPage
		env.Admin.Do(t, http.MethodGet, "/admin/v1/tenants?limit=1&cursor="+url.QueryEscape(cursor), nil).JSON(t, &p)
		for _, it := range p.Items {
			seen = append(seen, it.Name)
		}
		if cursor = p.NextCursor; cursor == "" {
			break
		}
	}
	if len(seen) != 3 {
		t.Fatalf("paging one by one: got %v, want the three tenants", seen)
	}
	env.Admin.Do(t, http.MethodGet, "/admin/v1/tenants?id="+acme2.TenantID, nil).JSON(t, &page)
	if len(page.Items) != 1 || page.Items[0].TenantID != acme2.TenantID {
		t.Errorf("id=%s: got %+v", acme2.TenantID, page)
	}
	var one struct {
		TenantID string `json:"tenantId"`
		Name     string `json:"name"`
		Keys     []any  `json:"keys"`
	}
	env.Admin.Do(t, http.MethodGet, "/admin/v1/tenants/"+acme.TenantID, nil).JSON(t, &one)
	if one.TenantID != acme.TenantID || one.Name != "Acme" || len(one.Keys) != 1 {
		t.Errorf("GET one: got %+v", one)
	}
	for path, want := range map[string]int{
		"/admin/v1/tenants/ten_nosuchtenant": http.StatusNotFound,
		"/admin/v1/tenants?limit=0":          http.StatusBadRequest,
		"/admin/v1/tenants?color=red":        http.StatusBadRequest,
	} {
		if r := env.Admin.Do(t, http.MethodGet, path, nil); r.Status != want {
			t.Errorf("%s: got %d, want %d", path, r.Status, want)
		}
	}
}

// TestMonthlyQuotaRefusesCreatesBeyondIt sets a quota of two tasks: two
// creates pass with the "monthly" RateLimit members, the third is a 429
// quota-exceeded that publishes nothing, another tenant is not limited,
// usage counts the two, and null returns the tenant to the default
// (unlimited).
func TestMonthlyQuotaRefusesCreatesBeyondIt(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{})
	client, creds := env.Tenant(t, "acme")
	other, _ := env.Tenant(t, "other")
	path := "/admin/v1/tenants/" + creds.TenantID + "/quota"
	var q quotaBody
	env.Admin.Do(t, http.MethodPut, path, map[string]any{"monthlyTasks": 2}).JSON(t, &q)
	if q.MonthlyTasks == nil || *q.MonthlyTasks != 2 || q.Default || q.Used != 0 {
		t.Fatalf("PUT quota: got %+v", q)
	}
	task := map[string]any{"targetUrl": "https://example.com/hook", "delay": 3600}
	for i := range 2 {
		r := client.Do(t, http.MethodPost, "/v1/tasks", task)
		if r.Status != http.StatusAccepted {
			t.Fatalf("create %d: got %d %s", i+1, r.Status, r.Body)
		}
		if got, want := r.Header.Get("RateLimit"), `"monthly";r=`+string(rune('2'-i)); !strings.Contains(got, want) {
			t.Errorf("create %d: RateLimit %q, want a member %s…", i+1, got, want)
		}
		if got := r.Header.Get("RateLimit-Policy"); !strings.Contains(got, `"monthly";q=2;w=`) || !strings.Contains(got, `"create";`) {
			t.Errorf("create %d: RateLimit-Policy %q, want the create and monthly policies", i+1, got)
		}
	}
	before := env.TaskLastSeq(t)
	r := client.Do(t, http.MethodPost, "/v1/tasks", task)
	var p problemBody
	r.JSON(t, &p)
	if r.Status != http.StatusTooManyRequests || !strings.HasSuffix(p.Type, "/quota-exceeded") || r.Header.Get("Retry-After") == "" {
		t.Fatalf("third create: got %d %s (Retry-After %q), want 429 quota-exceeded", r.Status, r.Body, r.Header.Get("Retry-After"))
	}
	if !strings.Contains(r.Header.Get("RateLimit"), `"monthly";r=0;`) {
		t.Errorf("third create: RateLimit %q, want monthly r=0", r.Header.Get("RateLimit"))
	}
	if after := env.TaskLastSeq(t); after != before {
		t.Errorf("the refused create published: stream went from %d to %d", before, after)
	}
	webtest.CreateTask(t, other, task)
	var usage struct {
		Items []struct {
			TasksCreated int64 `json:"tasksCreated"`
			BytesStored  int64 `json:"bytesStored"`
		} `json:"items"`
		Quota quotaBody `json:"quota"`
	}
	client.Do(t, http.MethodGet, "/v1/usage?period=month", nil).JSON(t, &usage)
	if len(usage.Items) != 1 || usage.Items[0].TasksCreated != 2 || usage.Items[0].BytesStored <= 0 || usage.Quota.Used != 2 {
		t.Errorf("the tenant's usage: got %+v, want 2 tasks this month", usage)
	}
	env.Admin.Do(t, http.MethodPut, path, map[string]any{"monthlyTasks": nil}).JSON(t, &q)
	if q.MonthlyTasks != nil || !q.Default || q.Used != 2 {
		t.Errorf("back to the default: got %+v, want unlimited", q)
	}
	webtest.CreateTask(t, client, task)
	for _, bad := range []any{-1, 1.5, "3"} {
		if r := env.Admin.Do(t, http.MethodPut, path, map[string]any{"monthlyTasks": bad}); r.Status != http.StatusBadRequest {
			t.Errorf("monthlyTasks %v: got %d, want 400", bad, r.Status)
		}
	}
}

// TestSuspendHoldsWorkAndResumeRunsIt suspends a tenant with a task due:
// creates get 403 tenant-suspended, the task is held (not attempted, not
// failed) while another tenant's runs, and after the resume it runs.
func TestSuspendHoldsWorkAndResumeRunsIt(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{Workers: true})
	target := testenv.NewTarget(t, webtest.Answer(200))
	client, creds := env.Tenant(t, "acme")
	other, _ := env.Tenant(t, "other")
	if r := env.Admin.Do(t, http.MethodPost, "/admin/v1/tenants/"+creds.TenantID+"/suspend", nil); r.Status != http.StatusOK {
		t.Fatalf("suspend: got %d %s", r.Status, r.Body)
	}
	r := client.Do(t, http.MethodPost, "/v1/tasks", map[string]any{"targetUrl": target.URL})
	var p problemBody
	r.JSON(t, &p)
	if r.Status != http.StatusForbidden || !strings.HasSuffix(p.Type, "/tenant-suspended") {
		t.Fatalf("create while suspended: got %d %s, want 403 tenant-suspended", r.Status, r.Body)
	}
	// A task created before the suspension, as if by another node whose
	// view had not applied it yet: published straight into the stream.
	held := env.CreateTaskDirect(t, creds.TenantID, target.URL)
	waitLog(t, env, "held: the tenant is suspended", 30*time.Second)
	ran := webtest.CreateTask(t, other, map[string]any{"targetUrl": target.URL})
	webtest.WaitTask(t, other, ran.ID, 30*time.Second, func(tk broker.Task) bool { return tk.Status == broker.StatusSucceeded })
	if calls := target.CallsFor(held); len(calls) != 0 {
		t.Fatalf("the suspended tenant's task was called %d times", len(calls))
	}
	if tk := getTask(t, client, held); tk.Status != broker.StatusPending {
		t.Fatalf("the held task: got %s, want pending", tk.Status)
	}
	if r := env.Admin.Do(t, http.MethodPost, "/admin/v1/tenants/"+creds.TenantID+"/resume", nil); r.Status != http.StatusOK {
		t.Fatalf("resume: got %d %s", r.Status, r.Body)
	}
	webtest.WaitTask(t, client, held, 30*time.Second, func(tk broker.Task) bool { return tk.Status == broker.StatusSucceeded })
	webtest.CreateTask(t, client, map[string]any{"targetUrl": target.URL})
}

// TestWorkOfATenantNotYetKnownWaits: a task whose tenant this node's view
// does not know yet (made on another node, this view lagging) is not
// attempted — the node cannot sign the call, and a failed attempt would
// spend one of the task's retries (a rolling restart failed tasks so):
// it goes back to the stream and comes again. Once the view knows the
// tenant, the task runs with its first attempt.
func TestWorkOfATenantNotYetKnownWaits(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{Workers: true})
	target := testenv.NewTarget(t, webtest.Answer(200))
	const tenantID = "ten_latecomer"
	id := env.CreateTaskDirect(t, tenantID, target.URL) // one retry: two failed attempts would fail it
	givenBack := "the tenant view does not know the tenant yet"
	testenv.WaitUntil(t, "the task given back twice", func() (bool, string) {
		n := 0
		for _, line := range strings.Split(env.Log.String(), "\n") {
			if strings.Contains(line, givenBack) && strings.Contains(line, id) {
				n++
			}
		}
		return n >= 2, fmt.Sprintf("given back %d times", n)
	})
	if calls := target.CallsFor(id); len(calls) != 0 {
		t.Fatalf("the task of a tenant the view does not know was called %d times", len(calls))
	}
	ctx, cancel := context.WithTimeout(context.Background(), testenv.GiveUpAfter)
	defer cancel()
	creds, err := env.TenantAdmin.CreateWithID(ctx, tenantID, "latecomer")
	if err != nil {
		t.Fatal(err)
	}
	client := env.Client(t, creds.APIKey)
	task := webtest.WaitTask(t, client, id, 30*time.Second, func(tk broker.Task) bool { return tk.Status.Finished() })
	if task.Status != broker.StatusSucceeded || len(task.Attempts) != 1 {
		t.Fatalf("once the tenant is known: got %s after %d attempts, want succeeded at the first (%+v)", task.Status, len(task.Attempts), task.Attempts)
	}
}

func getTask(t *testing.T, c *testenv.Client, id string) broker.Task {
	t.Helper()
	var tk broker.Task
	c.Do(t, http.MethodGet, "/v1/tasks/"+id, nil).JSON(t, &tk)
	return tk
}

// waitLog waits until the server has logged text.
func waitLog(t *testing.T, env *webtest.Env, text string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(testenv.GiveUp(timeout))
	for !strings.Contains(env.Log.String(), text) {
		if time.Now().After(deadline) {
			t.Fatalf("the server did not log %q", text)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
