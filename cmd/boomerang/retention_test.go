package main

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/internal/testenv"
)

// aheadBy runs the node's janitor on a clock d ahead of the wall clock:
// tasks that have just finished are then d old for the retention.
func aheadBy(d time.Duration) func(*Main) {
	return func(m *Main) { m.now = func() time.Time { return time.Now().Add(d) } }
}

// setRetention sets the tenant's retention through the admin API.
func (n *testNode) setRetention(t *testing.T, tenantID string, days int) {
	t.Helper()
	if r := n.Admin.Do(t, http.MethodPut, "/admin/v1/tenants/"+tenantID+"/retention", map[string]any{"days": days}); r.Status != http.StatusOK {
		t.Fatalf("set retention: got %d %s", r.Status, r.Body)
	}
}

// waitGone waits, up to testenv.GiveUpAfter, until the task answers 404.
func waitGone(t *testing.T, c *testenv.Client, id string) {
	t.Helper()
	testenv.WaitUntil(t, "task "+id+" to be gone after its tenant's retention", func() (bool, string) {
		r := c.Do(t, http.MethodGet, "/v1/tasks/"+id, nil)
		return r.Status == http.StatusNotFound, fmt.Sprintf("GET answers %d", r.Status)
	})
}

// TestFinishedTasksLeaveAfterTheirTenantsRetention runs a node whose
// janitor's clock is two days ahead. A tenant whose retention is one day
// sees its finished tasks (succeeded with the webhook delivered, failed,
// canceled) leave: GET and redeliver answer 404 and the list no longer has
// them. Its waiting task and the task whose webhook is still being retried
// stay, and so does everything of a tenant on the default 30 days.
func TestFinishedTasksLeaveAfterTheirTenantsRetention(t *testing.T) {
	t.Parallel()
	node := mustRunMainWith(t, t.TempDir(), aheadBy(49*time.Hour), "--prune-interval", "1s", "--webhook-schedule", "0s,1h")
	acme, creds := node.tenantClient(t, "acme")
	other, otherCreds := node.tenantClient(t, "other")
	node.setRetention(t, creds.TenantID, 1)
	target := mixedTarget(t)
	up := testenv.NewReceiver(t, creds.SigningSecret)
	down := testenv.NewReceiver(t, creds.SigningSecret)
	down.Answer(http.StatusServiceUnavailable)
	otherUp := testenv.NewReceiver(t, otherCreds.SigningSecret)

	done := createTask(t, acme, map[string]any{"targetUrl": target.URL, "webhookUrl": up.URL})
	failed := createTask(t, acme, map[string]any{"targetUrl": target.URL + "/bad"})
	canceled := createTask(t, acme, map[string]any{"targetUrl": target.URL, "delay": 3600})
	acme.Do(t, http.MethodDelete, "/v1/tasks/"+canceled.ID, nil)
	waiting := createTask(t, acme, map[string]any{"targetUrl": target.URL, "delay": 3600})
	hookRetrying := createTask(t, acme, map[string]any{"targetUrl": target.URL, "webhookUrl": down.URL})
	kept := createTask(t, other, map[string]any{"targetUrl": target.URL, "webhookUrl": otherUp.URL})
	waitTask(t, other, kept.ID, 30*time.Second, webhookSettled)
	waitTask(t, acme, hookRetrying.ID, 30*time.Second, func(task broker.Task) bool {
		return task.Webhook != nil && task.Webhook.Status == broker.WebhookRetrying
	})

	for _, id := range []string{done.ID, failed.ID, canceled.ID} {
		waitGone(t, acme, id)
		if r := acme.Do(t, http.MethodPost, "/v1/tasks/"+id+"/redeliver", nil); r.Status != http.StatusNotFound {
			t.Errorf("redeliver of pruned %s: got %d, want 404", id, r.Status)
		}
		if r := acme.Do(t, http.MethodGet, "/v1/tasks/"+id+"/events", nil); r.Status != http.StatusNotFound {
			t.Errorf("events of pruned %s: got %d, want 404", id, r.Status)
		}
	}
	var list struct {
		Items []broker.Task `json:"items"`
	}
	acme.Do(t, http.MethodGet, "/v1/tasks?limit=200", nil).JSON(t, &list)
	var ids []string
	for _, task := range list.Items {
		ids = append(ids, task.ID)
	}
	if len(ids) != 2 || !slices.Contains(ids, waiting.ID) || !slices.Contains(ids, hookRetrying.ID) {
		t.Errorf("acme's list: got %v, want only the waiting task and the one whose webhook is retried", ids)
	}
	for c, id := range map[*testenv.Client]string{acme: waiting.ID, other: kept.ID} {
		if r := c.Do(t, http.MethodGet, "/v1/tasks/"+id, nil); r.Status != http.StatusOK {
			t.Errorf("task %s: got %d, want it kept", id, r.Status)
		}
	}
	if r := acme.Do(t, http.MethodGet, "/v1/tasks/"+hookRetrying.ID, nil); r.Status != http.StatusOK {
		t.Errorf("the task whose webhook is being retried: got %d, want it kept", r.Status)
	}
}
