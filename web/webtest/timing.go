package webtest

import (
	"net/http"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/internal/testenv"
	"github.com/boomerang-dev/boomerang/tenant"
)

// SlowTaskDelivered runs a task, on an Env with workers, against a target
// that waits wait before each answer (503, then 200) with one retry and a
// webhook, and returns the task once its webhook is delivered: two
// attempts and a delivery, each with a timing to look at.
func SlowTaskDelivered(tb testing.TB, client *testenv.Client, creds tenant.Credentials, wait time.Duration) broker.Task {
	tb.Helper()
	target := testenv.NewTarget(tb, func(w http.ResponseWriter, r *http.Request, n int) {
		time.Sleep(wait)
		Answer(http.StatusServiceUnavailable, http.StatusOK)(w, r, n)
	})
	hook := testenv.NewReceiver(tb, creds.SigningSecret)
	task := CreateTask(tb, client, map[string]any{"targetUrl": target.URL, "webhookUrl": hook.URL, "retries": 1})
	return WaitTask(tb, client, task.ID, 30*time.Second, func(task broker.Task) bool {
		return task.Webhook != nil && task.Webhook.Status == broker.WebhookDelivered
	})
}
