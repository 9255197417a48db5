package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/internal/testenv"
	"github.com/boomerang-dev/boomerang/web"
	"github.com/boomerang-dev/boomerang/web/webtest"
)

// TestScheduleFiringsMeetTheMonthlyQuota: a tenant whose quota is spent
// gets no task from its schedule's firing, and the schedule says why; once
// the quota is lifted, the next firing makes its task.
func TestScheduleFiringsMeetTheMonthlyQuota(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{Workers: true})
	c, creds := env.Tenant(t, "acme")
	quota := "/admin/v1/tenants/" + creds.TenantID + "/quota"
	if r := env.Admin.Do(t, http.MethodPut, quota, map[string]any{"monthlyTasks": 1}); r.Status != http.StatusOK {
		t.Fatalf("PUT quota: %d %s", r.Status, r.Body)
	}
	if r := c.Do(t, http.MethodPost, "/v1/tasks", map[string]any{"targetUrl": "https://example.com/x", "delay": 3600}); r.Status != http.StatusAccepted {
		t.Fatalf("the one task of the quota: %d %s", r.Status, r.Body)
	}
	var sc scheduleJSON
	c.Do(t, http.MethodPost, "/v1/schedules", map[string]any{"every": "1s",
		"task": map[string]any{"targetUrl": "https://example.com/tick", "retries": 0}}).JSON(t, &sc)
	last := func() (taskID, skipped string) {
		var got struct {
			LastFiring *struct{ TaskID, Skipped string }
		}
		c.Do(t, http.MethodGet, "/v1/schedules/"+sc.ID, nil).JSON(t, &got)
		if got.LastFiring == nil {
			return "", ""
		}
		return got.LastFiring.TaskID, got.LastFiring.Skipped
	}
	testenv.WaitUntil(t, "a firing skipped for the quota", func() (bool, string) {
		taskID, skipped := last()
		if taskID != "" {
			t.Fatalf("a firing made task %s past the quota", taskID)
		}
		return strings.Contains(skipped, "monthly task quota (1)"), skipped
	})
	if r := env.Admin.Do(t, http.MethodPut, quota, map[string]any{"monthlyTasks": nil}); r.Status != http.StatusOK {
		t.Fatalf("lift the quota: %d %s", r.Status, r.Body)
	}
	var taskID string
	testenv.WaitUntil(t, "a firing that makes its task", func() (bool, string) {
		var skipped string
		taskID, skipped = last()
		return taskID != "", skipped
	})
	var task struct{ ScheduleID string }
	r := c.Do(t, http.MethodGet, "/v1/tasks/"+taskID, nil)
	if r.JSON(t, &task); r.Status != http.StatusOK || task.ScheduleID != sc.ID {
		t.Fatalf("the firing's task: %d %s", r.Status, r.Body)
	}
}

// TestScheduleFiringsMeetTheCreateRate asks the server's admission
// directly, on a clock that moves only when the test moves it: a firing
// spends a create like the API, waits when none is left, and goes once the
// bucket has refilled.
func TestScheduleFiringsMeetTheCreateRate(t *testing.T) {
	t.Parallel()
	clock := webtest.NewClock(time.Now())
	env := webtest.Start(t, webtest.Options{Now: clock.Now, Limits: web.Limits{CreateRate: 0.5, CreateBurst: 1}})
	_, creds := env.Tenant(t, "acme")
	ctx := context.Background()
	for i, want := range []time.Duration{0, 2 * time.Second} {
		d, err := env.Server.AdmitFiring(ctx, creds.TenantID)
		if err != nil || d.Skip != "" || d.Wait != want {
			t.Fatalf("firing %d: %+v %v, want to wait %s", i+1, d, err, want)
		}
	}
	clock.Advance(2 * time.Second)
	if d, err := env.Server.AdmitFiring(ctx, creds.TenantID); err != nil || d.Wait != 0 || d.Skip != "" {
		t.Fatalf("after 2 s: %+v %v, want admitted", d, err)
	}
}

// TestSchedulesCappedAndPaged: past the cap a create is a 409
// too-many-schedules that stores nothing; the list comes a page at a time.
func TestSchedulesCappedAndPaged(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{MaxSchedules: 3})
	c, _ := env.Tenant(t, "acme")
	body := map[string]any{"cron": "0 3 * * *", "task": map[string]any{"targetUrl": "https://example.com/x"}}
	for i := range 3 {
		if r := c.Do(t, http.MethodPost, "/v1/schedules", body); r.Status != http.StatusCreated {
			t.Fatalf("schedule %d: %d %s", i+1, r.Status, r.Body)
		}
	}
	r := c.Do(t, http.MethodPost, "/v1/schedules", body)
	var p problemBody
	r.JSON(t, &p)
	if r.Status != http.StatusConflict || p.Type != "https://boomerang.dev/problems/too-many-schedules" || !strings.Contains(p.Detail, "3 schedules") {
		t.Fatalf("a fourth schedule: %d %s", r.Status, r.Body)
	}
	seen := map[string]bool{}
	path := "/v1/schedules?limit=2"
	for pages := 1; ; pages++ {
		var page struct {
			Items      []scheduleJSON
			NextCursor string
		}
		c.Do(t, http.MethodGet, path, nil).JSON(t, &page)
		for _, sc := range page.Items {
			if seen[sc.ID] {
				t.Fatalf("schedule %s on two pages", sc.ID)
			}
			seen[sc.ID] = true
		}
		if page.NextCursor == "" {
			if pages != 2 || len(seen) != 3 {
				t.Fatalf("%d pages held %d schedules, want 2 pages of the 3", pages, len(seen))
			}
			break
		}
		path = "/v1/schedules?limit=2&cursor=" + page.NextCursor
	}
	for _, q := range []string{"?limit=0", "?limit=201", "?cursor=tsk_x", "?cursr=x"} {
		if r := c.Do(t, http.MethodGet, "/v1/schedules"+q, nil); r.Status != http.StatusBadRequest {
			t.Errorf("GET /v1/schedules%s: %d, want 400", q, r.Status)
		}
	}
}
