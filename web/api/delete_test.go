package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/internal/testenv"
	"github.com/boomerang-dev/boomerang/tenant"
	"github.com/boomerang-dev/boomerang/web/webtest"
)

// TestDeleteTenantRemovesAllItsData deletes a tenant with a finished task
// whose webhook was delivered, a task waiting a minute (a pending
// schedule) and one waiting an hour (a parked wait, in the same minute's
// bucket as another tenant's): afterwards no key of the view, and no
// message of the three streams, names it, but the two tombstones that
// hold only its id; its key is refused; the other tenant keeps all of
// its tasks and its parked wait.
func TestDeleteTenantRemovesAllItsData(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{Workers: true})
	target := testenv.NewTarget(t, webtest.Answer(200))
	client, creds := env.Tenant(t, "acme")
	other, otherCreds := env.Tenant(t, "other")
	receiver := testenv.NewReceiver(t, creds.SigningSecret)
	done := webtest.CreateTask(t, client, map[string]any{"targetUrl": target.URL, "webhookUrl": receiver.URL})
	webtest.WaitTask(t, client, done.ID, 30*time.Second, func(tk broker.Task) bool {
		return tk.Webhook != nil && tk.Webhook.Status == broker.WebhookDelivered
	})
	webtest.CreateTask(t, client, map[string]any{"targetUrl": target.URL, "delay": 60})
	webtest.CreateTask(t, client, map[string]any{"targetUrl": target.URL, "delay": 3600})
	kept := webtest.CreateTask(t, other, map[string]any{"targetUrl": target.URL, "delay": 3600})
	otherDone := webtest.CreateTask(t, other, map[string]any{"targetUrl": target.URL})
	webtest.WaitTask(t, other, otherDone.ID, 30*time.Second, func(tk broker.Task) bool { return tk.Status == broker.StatusSucceeded })
	id := creds.TenantID
	var usage struct {
		Items []struct{ TasksCreated, Attempts, WebhookDeliveries, BytesStored int64 } `json:"items"`
	}
	env.Admin.Do(t, http.MethodGet, "/admin/v1/tenants/"+id+"/usage", nil).JSON(t, &usage)
	var sum struct{ TasksCreated, Attempts, WebhookDeliveries int64 }
	for _, d := range usage.Items { // one day, or two across midnight UTC
		sum.TasksCreated, sum.Attempts, sum.WebhookDeliveries = sum.TasksCreated+d.TasksCreated, sum.Attempts+d.Attempts, sum.WebhookDeliveries+d.WebhookDeliveries
	}
	if sum.TasksCreated != 3 || sum.Attempts != 1 || sum.WebhookDeliveries != 1 {
		t.Errorf("usage: got %+v, want 3 tasks, 1 attempt, 1 delivery", usage.Items)
	}
	if n := mentions(env.StreamMessages(t, broker.StreamSchedules), id); n == 0 {
		t.Fatal("before: the schedules stream holds nothing of the tenant; the test would prove nothing")
	}

	r := env.Admin.Do(t, http.MethodDelete, "/admin/v1/tenants/"+id, nil)
	var rep struct{ TaskEvents, Schedules int }
	r.JSON(t, &rep)
	if r.Status != http.StatusOK || rep.TaskEvents == 0 || rep.Schedules == 0 {
		t.Fatalf("DELETE: got %d %s, want 200 with what went", r.Status, r.Body)
	}
	if r := client.Do(t, http.MethodGet, "/v1/tasks", nil); r.Status != http.StatusUnauthorized {
		t.Errorf("the deleted tenant's key: got %d, want 401", r.Status)
	}
	if r := env.Admin.Do(t, http.MethodGet, "/admin/v1/tenants/"+id, nil); r.Status != http.StatusNotFound {
		t.Errorf("GET the deleted tenant: got %d, want 404", r.Status)
	}
	if r := env.Admin.Do(t, http.MethodDelete, "/admin/v1/tenants/"+id, nil); r.Status != http.StatusOK {
		t.Errorf("DELETE again: got %d, want 200", r.Status)
	}
	if r := env.Admin.Do(t, http.MethodDelete, "/admin/v1/tenants/ten_nosuchtenant", nil); r.Status != http.StatusNotFound {
		t.Errorf("DELETE of a tenant that never was: got %d, want 404", r.Status)
	}

	for _, k := range env.ViewKeys(t) {
		if strings.Contains(k, id) && k != "tenants_deleted/"+id {
			t.Errorf("the view still holds %q", k)
		}
	}
	for _, m := range env.StreamMessages(t, tenant.Stream) {
		if mentions([]*jetstream.RawStreamMsg{m}, id) > 0 && m.Subject != "tenant."+id+".deleted" {
			t.Errorf("the tenant stream still holds %s: %s", m.Subject, m.Data)
		}
	}
	for _, m := range env.StreamMessages(t, broker.StreamTasks) {
		if mentions([]*jetstream.RawStreamMsg{m}, id) > 0 && m.Subject != "task."+id+".tenant.erase" {
			t.Errorf("the task stream still holds %s", m.Subject)
		}
	}
	if n := mentions(env.StreamMessages(t, broker.StreamSchedules), id); n != 0 {
		t.Errorf("the schedules stream still holds %d messages of the tenant", n)
	}

	if n := mentions(env.StreamMessages(t, broker.StreamSchedules), otherCreds.TenantID); n == 0 {
		t.Error("the other tenant's parked wait went too")
	}
	for _, taskID := range []string{kept.ID, otherDone.ID} {
		if r := other.Do(t, http.MethodGet, "/v1/tasks/"+taskID, nil); r.Status != http.StatusOK {
			t.Errorf("the other tenant's task %s: got %d, want 200", taskID, r.Status)
		}
	}
	var page tenantPage
	env.Admin.Do(t, http.MethodGet, "/admin/v1/tenants", nil).JSON(t, &page)
	if len(page.Items) != 1 || page.Items[0].TenantID != otherCreds.TenantID {
		t.Errorf("the list after the delete: got %+v, want the other tenant only", page)
	}
}

// mentions counts the messages whose subject, headers or data name id.
func mentions(msgs []*jetstream.RawStreamMsg, id string) int {
	n := 0
	for _, m := range msgs {
		found := strings.Contains(m.Subject, id) || strings.Contains(string(m.Data), id)
		for _, vs := range m.Header {
			for _, v := range vs {
				found = found || strings.Contains(v, id)
			}
		}
		if found {
			n++
		}
	}
	return n
}
