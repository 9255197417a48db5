package api_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/web/webtest"
)

// TestScheduleTasksRoute: GET /v1/schedules/{id}/tasks lists the tasks of
// the schedule's latest firings, latest first, up to limit; a bad limit
// or parameter is a 400, an unknown or another tenant's schedule a 404.
func TestScheduleTasksRoute(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{Workers: true})
	c, _ := env.Tenant(t, "acme")
	var sc struct{ ID string }
	c.Do(t, http.MethodPost, "/v1/schedules", map[string]any{"every": "1s",
		"task": map[string]any{"targetUrl": "http://127.0.0.1:1/tick", "retries": 0}}).JSON(t, &sc)
	fired := webtest.WaitScheduleTasks(t, c, sc.ID, 2, 30*time.Second)

	var all, one struct{ Items []broker.Task }
	if r := c.Do(t, http.MethodGet, "/v1/schedules/"+sc.ID+"/tasks", nil); r.Status != http.StatusOK {
		t.Fatalf("list: got %d %s", r.Status, r.Body)
	} else {
		r.JSON(t, &all)
	}
	if len(all.Items) < len(fired) {
		t.Fatalf("list: got %d tasks, want at least %d", len(all.Items), len(fired))
	}
	for i, task := range all.Items {
		if task.ScheduleID != sc.ID || task.FiringAt == nil {
			t.Fatalf("item %d: got %+v, want a task of the schedule", i, task)
		}
		if i > 0 && !task.FiringAt.Before(*all.Items[i-1].FiringAt) {
			t.Fatalf("items %d and %d: firings %s then %s, want latest first", i-1, i, all.Items[i-1].FiringAt, task.FiringAt)
		}
	}
	c.Do(t, http.MethodGet, "/v1/schedules/"+sc.ID+"/tasks?limit=1", nil).JSON(t, &one)
	if len(one.Items) != 1 || one.Items[0].FiringAt.Before(*all.Items[0].FiringAt) {
		t.Fatalf("limit=1: got %+v, want the latest firing's task", one.Items)
	}
	for _, path := range []string{"/tasks?limit=0", "/tasks?limit=201", "/tasks?status=failed"} {
		if r := c.Do(t, http.MethodGet, "/v1/schedules/"+sc.ID+path, nil); r.Status != http.StatusBadRequest {
			t.Errorf("%s: got %d, want 400", path, r.Status)
		}
	}
	if r := c.Do(t, http.MethodGet, "/v1/schedules/sch_nope/tasks", nil); r.Status != http.StatusNotFound {
		t.Errorf("an unknown schedule: got %d, want 404", r.Status)
	}
	other, _ := env.Tenant(t, "other")
	if r := other.Do(t, http.MethodGet, "/v1/schedules/"+sc.ID+"/tasks", nil); r.Status != http.StatusNotFound {
		t.Errorf("another tenant's schedule: got %d, want 404", r.Status)
	}

	// Deleted, the schedule's tasks stay, and so does their list.
	if r := c.Do(t, http.MethodDelete, "/v1/schedules/"+sc.ID, nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete: got %d %s", r.Status, r.Body)
	}
	var kept struct{ Items []broker.Task }
	if r := c.Do(t, http.MethodGet, "/v1/schedules/"+sc.ID+"/tasks", nil); r.Status != http.StatusOK {
		t.Fatalf("a deleted schedule's tasks: got %d %s, want 200", r.Status, r.Body)
	} else if r.JSON(t, &kept); len(kept.Items) < len(all.Items) {
		t.Fatalf("a deleted schedule's tasks: got %d, want at least %d", len(kept.Items), len(all.Items))
	}
	if r := other.Do(t, http.MethodGet, "/v1/schedules/"+sc.ID+"/tasks", nil); r.Status != http.StatusNotFound {
		t.Errorf("another tenant's deleted schedule: got %d, want 404", r.Status)
	}
}
