package api_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/web/webtest"
)

func TestListFiltersByCreationTime(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{})
	client, _ := env.Tenant(t, "acme")
	var tasks []broker.Task
	for range 4 {
		tasks = append(tasks, webtest.CreateTask(t, client, map[string]any{"targetUrl": "http://127.0.0.1:1/", "delay": 60}))
	}
	after, before := tasks[0].CreatedAt.Format(time.RFC3339Nano), tasks[3].CreatedAt.Format(time.RFC3339Nano)
	var list struct{ Items []struct{ ID string } }
	client.Do(t, http.MethodGet, "/v1/tasks?createdAfter="+after+"&createdBefore="+before, nil).JSON(t, &list)
	if len(list.Items) != 2 || list.Items[0].ID != tasks[2].ID || list.Items[1].ID != tasks[1].ID {
		t.Fatalf("between the first and the last: got %+v, want tasks 2 and 1", list.Items)
	}
	if r := client.Do(t, http.MethodGet, "/v1/tasks?createdAfter=yesterday", nil); r.Status != http.StatusBadRequest {
		t.Fatalf("bad createdAfter: got %d, want 400", r.Status)
	}
}
