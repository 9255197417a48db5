package api_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/internal/testenv"
	"github.com/boomerang-dev/boomerang/web/webtest"
)

type scheduleJSON struct {
	ID           string
	Cron         string
	Timezone     string
	Every        string
	Status       string
	NextFiringAt *time.Time
	Task         struct {
		TargetURL string
		Retries   int
	}
}

// TestSchedulesAPI: create (cron or every), list, get, change, pause,
// resume and delete a schedule through the contract-checked client; a
// schedule every second creates tasks linked to it, each with its firing.
func TestSchedulesAPI(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{Workers: true})
	c, _ := env.Tenant(t, "acme")
	target := "https://example.com/report"
	var daily scheduleJSON
	r := c.Do(t, http.MethodPost, "/v1/schedules", map[string]any{
		"cron": "30 2 * * *", "timezone": "Europe/Paris", "task": map[string]any{"targetUrl": target, "retries": 0}})
	r.JSON(t, &daily)
	if r.Status != http.StatusCreated || daily.Status != "active" || daily.NextFiringAt == nil || daily.Task.TargetURL != target ||
		r.Header.Get("Location") != "/v1/schedules/"+daily.ID {
		t.Fatalf("create: got %d %s", r.Status, r.Body)
	}
	if paris, _ := time.LoadLocation("Europe/Paris"); daily.NextFiringAt.In(paris).Format("15:04") != "02:30" {
		t.Errorf("next firing %s, want 02:30 in Paris", daily.NextFiringAt)
	}

	var patched scheduleJSON
	r = c.Do(t, http.MethodPatch, "/v1/schedules/"+daily.ID, map[string]any{"every": "1s"})
	r.JSON(t, &patched)
	if r.Status != http.StatusOK || patched.Every != "1s" || patched.Cron != "" || patched.Timezone != "" {
		t.Fatalf("patch to every 1s: got %d %s", r.Status, r.Body)
	}
	testenv.WaitUntil(t, "two tasks of the schedule", func() (bool, string) {
		var page struct{ Items []broker.Task }
		c.Do(t, http.MethodGet, "/v1/tasks", nil).JSON(t, &page)
		linked := 0
		for _, task := range page.Items {
			if task.ScheduleID == daily.ID && task.FiringAt != nil {
				linked++
			}
		}
		return linked >= 2, fmt.Sprintf("%d linked tasks", linked)
	})

	var paused scheduleJSON
	c.Do(t, http.MethodPost, "/v1/schedules/"+daily.ID+"/pause", nil).JSON(t, &paused)
	if paused.Status != "paused" || paused.NextFiringAt != nil {
		t.Errorf("pause: got %+v, want paused without a next firing", paused)
	}
	var resumed scheduleJSON
	c.Do(t, http.MethodPost, "/v1/schedules/"+daily.ID+"/resume", nil).JSON(t, &resumed)
	if resumed.Status != "active" || resumed.NextFiringAt == nil {
		t.Errorf("resume: got %+v, want active with a next firing", resumed)
	}
	var list struct{ Items []scheduleJSON }
	c.Do(t, http.MethodGet, "/v1/schedules", nil).JSON(t, &list)
	if len(list.Items) != 1 || list.Items[0].ID != daily.ID {
		t.Errorf("list: got %+v, want the one schedule", list.Items)
	}
	if r := c.Do(t, http.MethodDelete, "/v1/schedules/"+daily.ID, nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete: got %d %s", r.Status, r.Body)
	}
	for _, path := range []string{"/v1/schedules/" + daily.ID, "/v1/schedules/sch_nope"} {
		if r := c.Do(t, http.MethodGet, path, nil); r.Status != http.StatusNotFound {
			t.Errorf("GET %s: got %d %s, want 404", path, r.Status, r.Body)
		}
	}
	other, _ := env.Tenant(t, "other")
	if r := other.Do(t, http.MethodGet, "/v1/schedules/"+patched.ID, nil); r.Status != http.StatusNotFound {
		t.Errorf("another tenant's schedule: got %d, want 404", r.Status)
	}
}

// TestSchedulesAPIRefusesBadInput: every bad timing or template is a 400
// naming its field.
func TestSchedulesAPIRefusesBadInput(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{})
	c, _ := env.Tenant(t, "acme")
	task := map[string]any{"targetUrl": "https://example.com/x"}
	for _, tc := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"task": task}, "cron"},
		{map[string]any{"cron": "* * * * * *", "task": task}, "cron"},
		{map[string]any{"cron": "61 * * * *", "task": task}, "cron"},
		{map[string]any{"cron": "0 0 30 2 *", "task": task}, "cron"},
		{map[string]any{"cron": "* * * * *", "timezone": "Mars/Olympus", "task": task}, "timezone"},
		{map[string]any{"every": "500ms", "task": task}, "every"},
		{map[string]any{"every": "soon", "task": task}, "every"},
		{map[string]any{"every": "1m", "timezone": "UTC", "task": task}, "timezone"},
		{map[string]any{"every": "1m", "cron": "* * * * *", "task": task}, "every"},
		{map[string]any{"every": "1m"}, "task"},
		{map[string]any{"every": "1m", "task": map[string]any{"targetUrl": "ftp://x"}}, "task.targetUrl"},
		{map[string]any{"every": "1m", "task": map[string]any{"targetUrl": "https://example.com/x", "delay": 5}}, "task"},
	} {
		r := c.Do(t, http.MethodPost, "/v1/schedules", tc.body)
		var p struct {
			Errors []struct{ Field string }
		}
		r.JSON(t, &p)
		if r.Status != http.StatusBadRequest || len(p.Errors) == 0 || p.Errors[0].Field != tc.field {
			t.Errorf("%v: got %d %s, want 400 naming %s", tc.body, r.Status, r.Body, tc.field)
		}
	}
}
