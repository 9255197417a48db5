package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/internal/testenv"
)

// receiverStates returns a task's receivers as "name=status".
func receiverStates(t broker.Task) []string {
	var out []string
	if t.Webhook != nil {
		for _, r := range t.Webhook.Receivers {
			out = append(out, r.Receiver+"="+string(r.Status))
		}
	}
	return out
}

// assertNoneFor fails if the receiver got a webhook for taskID. Call it
// after a later task's webhook reached a receiver of the same node: a
// delivery for taskID would have been handed out first.
func assertNoneFor(t *testing.T, r *testenv.Receiver, taskID, why string) {
	t.Helper()
	if got := r.For(taskID); len(got) != 0 {
		t.Errorf("%s: the receiver got %d webhooks (%s), want none", why, len(got), got[0].Event.Type)
	}
}

// checkFailedHook checks that a webhook is the signed task.failed
// notification of taskID.
func checkFailedHook(t *testing.T, h testenv.Webhook, taskID string) {
	t.Helper()
	if h.VerifyErr != nil {
		t.Errorf("failure webhook does not verify: %v", h.VerifyErr)
	}
	if got, want := h.Header.Get("Webhook-Id"), broker.WebhookID(taskID); got != want {
		t.Errorf("webhook-id: got %q, want %q", got, want)
	}
	if h.Event.Type != "task.failed" || h.Event.Data.Status != "failed" {
		t.Errorf("failure webhook: got type %s status %s, want task.failed", h.Event.Type, h.Event.Data.Status)
	}
}

func TestFailureWebhook(t *testing.T) {
	t.Parallel()
	// Webhooks retry every second for half an hour: the test, not the
	// schedule, decides when a receiver comes back.
	node := MustRunMain(t, "--webhook-schedule", patientWebhookSchedule)
	client, creds := node.tenantClient(t, "acme")
	fails := testenv.NewTarget(t, answer(400))
	succeeds := testenv.NewTarget(t, answer(200))

	t.Run("only the failure receiver, on failure", func(t *testing.T) {
		onFailure := testenv.NewReceiver(t, creds.SigningSecret)
		// Only failureWebhookUrl, and a success: nothing is sent.
		ok := createTask(t, client, map[string]any{"targetUrl": succeeds.URL, "failureWebhookUrl": onFailure.URL})
		okTask := waitTask(t, client, ok.ID, 20*time.Second, finished)
		if okTask.Status != broker.StatusSucceeded || okTask.Webhook != nil {
			t.Fatalf("succeeded task: got %s, webhook %+v; want succeeded without one", okTask.Status, okTask.Webhook)
		}
		created := createTask(t, client, map[string]any{"targetUrl": fails.URL, "failureWebhookUrl": onFailure.URL})
		if created.FailureWebhookURL != onFailure.URL || created.Webhook == nil {
			t.Errorf("created: failureWebhookUrl %q, webhook %+v; want the URL and a pending webhook", created.FailureWebhookURL, created.Webhook)
		}
		hooks := onFailure.WaitFor(t, created.ID, 1, 20*time.Second)
		checkFailedHook(t, hooks[0], created.ID)
		task := waitTask(t, client, created.ID, 20*time.Second, webhookSettled)
		if task.Webhook.Status != broker.WebhookDelivered || len(task.Webhook.Deliveries) != 1 || task.Webhook.Deliveries[0].Receiver != broker.FailureReceiver {
			t.Errorf("webhook: got %+v, want one delivery to the failure receiver", task.Webhook)
		}
		if got := strings.Join(receiverStates(task), " "); got != "failure=delivered" {
			t.Errorf("receivers: got %q, want failure=delivered", got)
		}
		assertNoneFor(t, onFailure, ok.ID, "a task that succeeded")
	})

	t.Run("both receivers", func(t *testing.T) {
		always := testenv.NewReceiver(t, creds.SigningSecret)
		onFailure := testenv.NewReceiver(t, creds.SigningSecret)
		ok := createTask(t, client, map[string]any{"targetUrl": succeeds.URL, "webhookUrl": always.URL, "failureWebhookUrl": onFailure.URL})
		if h := always.WaitFor(t, ok.ID, 1, 20*time.Second); h[0].Event.Type != "task.succeeded" {
			t.Errorf("webhook of a success: got %s", h[0].Event.Type)
		}
		created := createTask(t, client, map[string]any{"targetUrl": fails.URL, "webhookUrl": always.URL, "failureWebhookUrl": onFailure.URL})
		checkFailedHook(t, always.WaitFor(t, created.ID, 1, 20*time.Second)[0], created.ID)
		checkFailedHook(t, onFailure.WaitFor(t, created.ID, 1, 20*time.Second)[0], created.ID)
		task := waitTask(t, client, created.ID, 20*time.Second, webhookSettled)
		if got := strings.Join(receiverStates(task), " "); got != "webhook=delivered failure=delivered" || task.Webhook.Status != broker.WebhookDelivered {
			t.Errorf("receivers: got %q (status %s), want both delivered", got, task.Webhook.Status)
		}
		if n := len(task.Webhook.Deliveries); n != 2 {
			t.Errorf("deliveries: got %d, want 2 (one per receiver)", n)
		}
		assertNoneFor(t, onFailure, ok.ID, "a task that succeeded")
	})

	t.Run("the failure receiver down then up", func(t *testing.T) {
		always := testenv.NewReceiver(t, creds.SigningSecret)
		onFailure := testenv.NewReceiver(t, creds.SigningSecret)
		onFailure.Answer(http.StatusServiceUnavailable)
		created := createTask(t, client, map[string]any{"targetUrl": fails.URL, "webhookUrl": always.URL, "failureWebhookUrl": onFailure.URL})
		onFailure.WaitFor(t, created.ID, 2, 20*time.Second)
		task := waitTask(t, client, created.ID, 20*time.Second, func(t broker.Task) bool {
			return t.Webhook != nil && t.Webhook.Status == broker.WebhookRetrying && len(t.Webhook.Receivers) == 2 &&
				t.Webhook.Receivers[0].Status == broker.WebhookDelivered
		})
		if task.Webhook.NextAttemptAt == nil {
			t.Errorf("a retrying failure receiver: no nextAttemptAt in %+v", task.Webhook)
		}
		onFailure.Answer(0)
		task = waitTask(t, client, created.ID, 20*time.Second, webhookSettled)
		if task.Webhook.Status != broker.WebhookDelivered {
			t.Fatalf("webhook: got %s, want delivered", task.Webhook.Status)
		}
		hooks := onFailure.For(created.ID)
		if len(hooks) < 3 {
			t.Fatalf("failure receiver: got %d deliveries, want at least 3", len(hooks))
		}
		for _, h := range hooks {
			checkFailedHook(t, h, created.ID)
		}
		if n := len(always.For(created.ID)); n != 1 {
			t.Errorf("webhook receiver: got %d deliveries, want 1 (its own lane succeeded at once)", n)
		}
		var failureDeliveries int
		for _, d := range task.Webhook.Deliveries {
			if d.Receiver == broker.FailureReceiver {
				failureDeliveries++
			}
		}
		if failureDeliveries != len(hooks) {
			t.Errorf("recorded failure deliveries: got %d, want %d", failureDeliveries, len(hooks))
		}
	})
}

func TestFailureWebhookDeadLetterAndRedelivery(t *testing.T) {
	t.Parallel()
	node := MustRunMain(t) // the test schedule: four deliveries
	client, creds := node.tenantClient(t, "acme")
	target := testenv.NewTarget(t, answer(500))
	always := testenv.NewReceiver(t, creds.SigningSecret)
	onFailure := testenv.NewReceiver(t, creds.SigningSecret)
	onFailure.Answer(http.StatusInternalServerError)

	created := createTask(t, client, map[string]any{"targetUrl": target.URL, "retries": 0,
		"webhookUrl": always.URL, "failureWebhookUrl": onFailure.URL})
	task := waitTask(t, client, created.ID, 20*time.Second, webhookSettled)
	if got := strings.Join(receiverStates(task), " "); got != "webhook=delivered failure=dead" || task.Webhook.Status != broker.WebhookDead {
		t.Fatalf("receivers: got %q (status %s), want the failure receiver dead and the task's webhook dead", got, task.Webhook.Status)
	}
	if n := len(onFailure.For(created.ID)); n != 4 {
		t.Errorf("failure receiver: got %d deliveries, want 4 (the schedule's length)", n)
	}
	for filter, want := range map[string]int{"dead": 1, "delivered": 0} {
		var page struct {
			Items []broker.Task `json:"items"`
		}
		r := client.Do(t, http.MethodGet, "/v1/tasks?webhook="+filter, nil)
		r.JSON(t, &page)
		if r.Status != http.StatusOK || len(page.Items) != want {
			t.Errorf("webhook=%s: got %d %d tasks, want %d", filter, r.Status, len(page.Items), want)
		}
	}

	// A redelivery is a new round to every receiver of the result.
	onFailure.Answer(0)
	if r := client.Do(t, http.MethodPost, "/v1/tasks/"+created.ID+"/redeliver", nil); r.Status != http.StatusAccepted {
		t.Fatalf("redeliver: got %d %s, want 202", r.Status, r.Body)
	}
	task = waitTask(t, client, created.ID, 20*time.Second, func(t broker.Task) bool {
		return t.Webhook != nil && t.Webhook.Status == broker.WebhookDelivered
	})
	if got := strings.Join(receiverStates(task), " "); got != "webhook=delivered failure=delivered" {
		t.Errorf("receivers after redelivery: got %q", got)
	}
	if a, f := len(always.For(created.ID)), len(onFailure.For(created.ID)); a != 2 || f != 5 {
		t.Errorf("after redelivery: webhook receiver got %d, failure receiver %d; want 2 and 5", a, f)
	}
}

func TestTargetEndsRetries(t *testing.T) {
	t.Parallel()
	node := MustRunMain(t)
	client, _ := node.tenantClient(t, "acme")
	tests := []struct {
		name    string
		status  int
		header  string
		want    broker.Status
		wantErr string // in the attempt's error
	}{
		{"Boomerang-No-Retry on a 503", http.StatusServiceUnavailable, "true", broker.StatusFailed, "(Boomerang-No-Retry)"},
		{"status 489", 489, "", broker.StatusFailed, "(status 489)"},
		{"Boomerang-No-Retry on a 200", http.StatusOK, "true", broker.StatusSucceeded, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := testenv.NewTarget(t, func(w http.ResponseWriter, r *http.Request, n int) {
				if tt.header != "" {
					w.Header().Set("Boomerang-No-Retry", tt.header)
				}
				w.WriteHeader(tt.status)
			})
			created := createTask(t, client, map[string]any{"targetUrl": target.URL, "retries": 5})
			task := waitTask(t, client, created.ID, 20*time.Second, finished)
			if task.Status != tt.want || len(task.Attempts) != 1 {
				t.Fatalf("task: got %s after %d attempts, want %s after 1", task.Status, len(task.Attempts), tt.want)
			}
			if n := len(target.CallsFor(created.ID)); n != 1 {
				t.Errorf("target calls: got %d, want 1", n)
			}
			a := task.Attempts[0]
			if tt.wantErr == "" && a.Error != "" || !strings.Contains(a.Error, tt.wantErr) {
				t.Errorf("attempt error: got %q, want it to contain %q", a.Error, tt.wantErr)
			}
		})
	}
}
