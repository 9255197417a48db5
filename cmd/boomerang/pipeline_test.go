package main

import (
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/internal/testenv"
	"github.com/boomerang-dev/boomerang/signing"
)

// answer returns a target script that answers statuses in turn (the last one
// repeats) with a small JSON body.
func answer(statuses ...int) func(http.ResponseWriter, *http.Request, int) {
	return func(w http.ResponseWriter, r *http.Request, n int) {
		status := statuses[min(n, len(statuses))-1]
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Target", "yes")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"call":` + strconv.Itoa(n) + `}`))
	}
}

func TestTaskSucceedsAtFirstAttempt(t *testing.T) {
	t.Parallel()
	node := MustRunMain(t)
	client, creds := node.tenantClient(t, "acme")
	target := testenv.NewTarget(t, answer(200))
	receiver := testenv.NewReceiver(t, creds.SigningSecret)

	created := createTask(t, client, map[string]any{
		"targetUrl": target.URL + "/work?x=1", "method": "PUT", "headers": map[string]string{"X-Custom": "42"},
		"payload": json.RawMessage(`{"order": 7, "items": ["a", "b"]}`), "webhookUrl": receiver.URL,
	})
	if created.Status != broker.StatusPending || created.Retries != 3 || created.Timeout != 30 {
		t.Fatalf("created task: got status %s retries %d timeout %g, want pending 3 30", created.Status, created.Retries, created.Timeout)
	}
	hooks := receiver.WaitFor(t, created.ID, 1, 20*time.Second)

	calls := target.CallsFor(created.ID)
	if len(calls) != 1 {
		t.Fatalf("target calls: got %d, want 1", len(calls))
	}
	call := calls[0]
	if call.Method != http.MethodPut || call.Path != "/work?x=1" {
		t.Errorf("call: got %s %s, want PUT /work?x=1", call.Method, call.Path)
	}
	if got := string(call.Body); got != `{"order":7,"items":["a","b"]}` {
		t.Errorf("call body: got %s, want the payload", got)
	}
	for header, want := range map[string]string{
		"X-Custom": "42", "Content-Type": "application/json", "Boomerang-Task-Id": created.ID,
		"Boomerang-Attempt": "1", "Webhook-Id": created.ID,
	} {
		if got := call.Header.Get(header); got != want {
			t.Errorf("call header %s: got %q, want %q", header, got, want)
		}
	}
	secret, _ := signing.ParseSecret(creds.SigningSecret)
	if err := signing.Verify(call.Header, call.Body, time.Now(), secret); err != nil {
		t.Errorf("the call to the target does not verify: %v", err)
	}

	hook := hooks[0]
	if hook.VerifyErr != nil {
		t.Fatalf("webhook does not verify: %v", hook.VerifyErr)
	}
	if got, want := hook.Header.Get("Webhook-Id"), broker.WebhookID(created.ID); got != want {
		t.Errorf("webhook-id: got %q, want %q", got, want)
	}
	ev := hook.Event
	if ev.Type != "task.succeeded" || ev.Data.Status != "succeeded" || ev.Data.Attempts != 1 || ev.Data.Result.StatusCode != 200 {
		t.Errorf("webhook event: got %+v", ev)
	}
	if string(ev.Data.Result.Body) != `{"call":1}` {
		t.Errorf("webhook result body: got %s, want embedded JSON {\"call\":1}", ev.Data.Result.Body)
	}
	if ev.Data.Result.Headers["X-Target"] != "yes" {
		t.Errorf("webhook result headers: got %v, want X-Target", ev.Data.Result.Headers)
	}

	task := waitTask(t, client, created.ID, 10*time.Second, webhookSettled)
	if task.Status != broker.StatusSucceeded || task.AttemptCount != 1 || len(task.Attempts) != 1 {
		t.Fatalf("task: got %s with %d attempts", task.Status, len(task.Attempts))
	}
	a := task.Attempts[0]
	if a.StatusCode != 200 || a.Outcome != broker.OutcomeSucceeded || a.StartedAt.IsZero() || string(a.Body) != `{"call":1}` {
		t.Errorf("attempt: got %+v", a)
	}
	if task.Webhook.Status != broker.WebhookDelivered || len(task.Webhook.Deliveries) != 1 || task.Webhook.Deliveries[0].StatusCode != 204 {
		t.Errorf("webhook state: got %+v", task.Webhook)
	}
}

func TestTaskRetriesThenSucceeds(t *testing.T) {
	t.Parallel()
	node := MustRunMain(t)
	client, creds := node.tenantClient(t, "acme")
	target := testenv.NewTarget(t, answer(503, 503, 200))
	receiver := testenv.NewReceiver(t, creds.SigningSecret)

	created := createTask(t, client, map[string]any{"targetUrl": target.URL, "payload": "hi", "webhookUrl": receiver.URL})
	hooks := receiver.WaitFor(t, created.ID, 1, 20*time.Second)

	calls := target.CallsFor(created.ID)
	if len(calls) != 3 {
		t.Fatalf("target calls: got %d, want 3", len(calls))
	}
	for i, c := range calls {
		if got, want := c.Header.Get("Boomerang-Attempt"), strconv.Itoa(i+1); got != want {
			t.Errorf("call %d Boomerang-Attempt: got %s, want %s", i, got, want)
		}
	}
	if ev := hooks[0].Event; ev.Type != "task.succeeded" || ev.Data.Attempts != 3 {
		t.Errorf("webhook: got type %s attempts %d, want task.succeeded 3", ev.Type, ev.Data.Attempts)
	}
	task := waitTask(t, client, created.ID, 10*time.Second, finished)
	var outcomes []broker.Outcome
	for _, a := range task.Attempts {
		outcomes = append(outcomes, a.Outcome)
	}
	if len(outcomes) != 3 || outcomes[0] != broker.OutcomeRetry || outcomes[1] != broker.OutcomeRetry || outcomes[2] != broker.OutcomeSucceeded {
		t.Fatalf("attempt outcomes: got %v, want [retry retry succeeded]", outcomes)
	}
	if task.Attempts[0].StatusCode != 503 || task.Attempts[0].Error == "" {
		t.Errorf("first attempt: got %+v, want a 503 with an error", task.Attempts[0])
	}
}

func TestTaskFailsAtOnceOnClientError(t *testing.T) {
	t.Parallel()
	node := MustRunMain(t)
	client, creds := node.tenantClient(t, "acme")
	target := testenv.NewTarget(t, answer(400, 200))
	receiver := testenv.NewReceiver(t, creds.SigningSecret)

	created := createTask(t, client, map[string]any{"targetUrl": target.URL, "webhookUrl": receiver.URL, "retries": 5})
	hooks := receiver.WaitFor(t, created.ID, 1, 20*time.Second)
	if ev := hooks[0].Event; ev.Type != "task.failed" || ev.Data.Status != "failed" || ev.Data.Attempts != 1 || ev.Data.Result.StatusCode != 400 {
		t.Fatalf("webhook: got %+v, want task.failed after 1 attempt with 400", ev)
	}
	if n := len(target.CallsFor(created.ID)); n != 1 {
		t.Fatalf("target calls: got %d, want 1", n)
	}
	r := client.Do(t, http.MethodGet, "/v1/tasks/"+created.ID+"/result", nil)
	var res struct {
		Status     string `json:"status"`
		StatusCode int    `json:"statusCode"`
	}
	r.JSON(t, &res)
	if r.Status != 200 || res.Status != "failed" || res.StatusCode != 400 {
		t.Fatalf("result: got %d %s", r.Status, r.Body)
	}
}

func TestTaskFailsWhenRetriesRunOut(t *testing.T) {
	t.Parallel()
	node := MustRunMain(t)
	client, creds := node.tenantClient(t, "acme")
	target := testenv.NewTarget(t, answer(500))
	receiver := testenv.NewReceiver(t, creds.SigningSecret)

	created := createTask(t, client, map[string]any{"targetUrl": target.URL, "webhookUrl": receiver.URL, "retries": 2})
	hooks := receiver.WaitFor(t, created.ID, 1, 20*time.Second)
	if ev := hooks[0].Event; ev.Type != "task.failed" || ev.Data.Attempts != 3 || ev.Data.Result.StatusCode != 500 {
		t.Fatalf("webhook: got %+v, want task.failed after 3 attempts", ev)
	}
	if n := len(target.CallsFor(created.ID)); n != 3 {
		t.Fatalf("target calls: got %d, want 3 (1 + 2 retries)", n)
	}
}

func TestHangingTargetTimesOutThenRetries(t *testing.T) {
	t.Parallel()
	node := MustRunMain(t)
	client, _ := node.tenantClient(t, "acme")
	target := testenv.NewTarget(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			<-r.Context().Done() // hang until Boomerang gives up
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	created := createTask(t, client, map[string]any{"targetUrl": target.URL, "timeout": 0.5})
	task := waitTask(t, client, created.ID, 20*time.Second, finished)
	if task.Status != broker.StatusSucceeded || len(task.Attempts) != 2 {
		t.Fatalf("task: got %s after %d attempts, want succeeded after 2", task.Status, len(task.Attempts))
	}
	first := task.Attempts[0]
	if first.Outcome != broker.OutcomeRetry || first.StatusCode != 0 || first.Error != "timed out after 500ms" {
		t.Fatalf("first attempt: got %+v, want a retried timeout", first)
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	t.Parallel()
	node := MustRunMain(t)
	client, _ := node.tenantClient(t, "acme")
	target := testenv.NewTarget(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	created := createTask(t, client, map[string]any{"targetUrl": target.URL})
	task := waitTask(t, client, created.ID, 10*time.Second, func(t broker.Task) bool { return t.Status == broker.StatusRetrying })
	if task.NextAttemptAt == nil {
		t.Fatal("retrying task has no nextAttemptAt")
	}
	// The backoff alone would be ~100ms; Retry-After asks for 2 s.
	next := *task.NextAttemptAt
	if wait := next.Sub(task.Attempts[0].StartedAt); wait < 2*time.Second {
		t.Fatalf("next attempt scheduled %s after the first, want at least the 2s Retry-After", wait)
	}
	task = waitTask(t, client, created.ID, 10*time.Second, finished)
	if task.Status != broker.StatusSucceeded {
		t.Fatalf("task: got %s, want succeeded", task.Status)
	}
	calls := target.CallsFor(created.ID)
	if len(calls) != 2 || calls[1].At.Before(next) {
		t.Fatalf("got %d calls, the second at %s; want 2, the second not before %s", len(calls), calls[len(calls)-1].At, next)
	}
}

func TestWebhookReceiverDownThenUp(t *testing.T) {
	t.Parallel()
	node := MustRunMain(t, "--webhook-schedule", patientWebhookSchedule) // cannot run out while the test reacts
	client, creds := node.tenantClient(t, "acme")
	target := testenv.NewTarget(t, answer(200))
	receiver := testenv.NewReceiver(t, creds.SigningSecret)
	receiver.Answer(http.StatusServiceUnavailable)

	created := createTask(t, client, map[string]any{"targetUrl": target.URL, "webhookUrl": receiver.URL})
	receiver.WaitFor(t, created.ID, 2, 20*time.Second)
	receiver.Answer(0)
	task := waitTask(t, client, created.ID, 20*time.Second, webhookSettled)
	if task.Webhook.Status != broker.WebhookDelivered {
		t.Fatalf("webhook: got %s, want delivered", task.Webhook.Status)
	}
	hooks := receiver.For(created.ID)
	if len(hooks) < 3 || len(task.Webhook.Deliveries) != len(hooks) {
		t.Fatalf("deliveries: receiver got %d, task records %d, want the same and at least 3", len(hooks), len(task.Webhook.Deliveries))
	}
	for i, h := range hooks {
		if h.VerifyErr != nil {
			t.Errorf("delivery %d does not verify: %v", i, h.VerifyErr)
		}
		if h.Header.Get("Webhook-Id") != hooks[0].Header.Get("Webhook-Id") || !json.Valid(h.Body) || string(h.Body) != string(hooks[0].Body) {
			t.Errorf("delivery %d: webhook-id or body differs from the first delivery", i)
		}
	}
	last := task.Webhook.Deliveries[len(task.Webhook.Deliveries)-1]
	if task.Webhook.Deliveries[0].StatusCode != 503 || last.Outcome != "delivered" {
		t.Errorf("delivery records: first %+v, last %+v", task.Webhook.Deliveries[0], last)
	}
}

func TestWebhookDeadLetteredAfterSchedule(t *testing.T) {
	t.Parallel()
	node := MustRunMain(t)
	client, creds := node.tenantClient(t, "acme")
	target := testenv.NewTarget(t, answer(200))
	receiver := testenv.NewReceiver(t, creds.SigningSecret)
	receiver.Answer(http.StatusInternalServerError)

	created := createTask(t, client, map[string]any{"targetUrl": target.URL, "webhookUrl": receiver.URL})
	task := waitTask(t, client, created.ID, 20*time.Second, webhookSettled)
	if task.Webhook.Status != broker.WebhookDead {
		t.Fatalf("webhook: got %s, want dead", task.Webhook.Status)
	}
	if n := len(receiver.For(created.ID)); n != 4 {
		t.Fatalf("deliveries: got %d, want 4 (the test schedule's length)", n)
	}

	// A dead letter can be redelivered; it keeps its webhook-id.
	receiver.Answer(0)
	r := client.Do(t, http.MethodPost, "/v1/tasks/"+created.ID+"/redeliver", nil)
	if r.Status != http.StatusAccepted {
		t.Fatalf("redeliver: got %d %s, want 202", r.Status, r.Body)
	}
	task = waitTask(t, client, created.ID, 20*time.Second, func(t broker.Task) bool { return t.Webhook.Status == broker.WebhookDelivered })
	hooks := receiver.For(created.ID)
	if len(hooks) != 5 || hooks[4].Header.Get("Webhook-Id") != broker.WebhookID(created.ID) || hooks[4].VerifyErr != nil {
		t.Fatalf("redelivery: got %d webhooks, last id %q err %v", len(hooks), hooks[len(hooks)-1].Header.Get("Webhook-Id"), hooks[len(hooks)-1].VerifyErr)
	}
	if n := len(task.Webhook.Deliveries); n != 5 {
		t.Fatalf("delivery records: got %d, want 5", n)
	}
}

func TestDelayedTaskWaitsForItsTime(t *testing.T) {
	t.Parallel()
	node := MustRunMain(t)
	client, _ := node.tenantClient(t, "acme")
	target := testenv.NewTarget(t, answer(200))

	notBefore := time.Now().Add(1500 * time.Millisecond).UTC().Truncate(time.Millisecond)
	created := createTask(t, client, map[string]any{"targetUrl": target.URL, "notBefore": notBefore.Format(time.RFC3339Nano)})
	delayed := createTask(t, client, map[string]any{"targetUrl": target.URL, "delay": 1})
	if created.NextAttemptAt == nil || !created.NextAttemptAt.Equal(notBefore) {
		t.Fatalf("nextAttemptAt: got %v, want %v", created.NextAttemptAt, notBefore)
	}
	for _, id := range []string{created.ID, delayed.ID} {
		task := waitTask(t, client, id, 20*time.Second, finished)
		calls := target.CallsFor(id)
		if task.Status != broker.StatusSucceeded || len(calls) != 1 {
			t.Fatalf("task %s: got %s with %d calls", id, task.Status, len(calls))
		}
		if calls[0].At.Before(*task.NotBefore) {
			t.Fatalf("target called at %s, before notBefore %s", calls[0].At, task.NotBefore)
		}
	}
}

func TestCancelWaitingTask(t *testing.T) {
	t.Parallel()
	node := MustRunMain(t)
	client, creds := node.tenantClient(t, "acme")
	target := testenv.NewTarget(t, answer(200))
	receiver := testenv.NewReceiver(t, creds.SigningSecret)

	// Its time is far enough ahead that the cancel comes first, however
	// slow the machine.
	created := createTask(t, client, map[string]any{"targetUrl": target.URL, "webhookUrl": receiver.URL, "delay": 3})
	r := client.Do(t, http.MethodDelete, "/v1/tasks/"+created.ID, nil)
	var task broker.Task
	r.JSON(t, &task)
	if r.Status != http.StatusOK || task.Status != broker.StatusCanceled {
		t.Fatalf("cancel: got %d %s, want 200 canceled", r.Status, r.Body)
	}
	if r := client.Do(t, http.MethodDelete, "/v1/tasks/"+created.ID, nil); r.Status != http.StatusOK {
		t.Fatalf("second cancel: got %d, want 200", r.Status)
	}
	// A task created after it, with the same delay, runs: once it has, the
	// canceled one's time has passed too.
	after := createTask(t, client, map[string]any{"targetUrl": target.URL, "delay": 3.2})
	waitTask(t, client, after.ID, 20*time.Second, finished)
	if n := len(target.CallsFor(created.ID)); n != 0 {
		t.Fatalf("canceled task's target called %d times", n)
	}
	if n := len(receiver.For(created.ID)); n != 0 {
		t.Fatalf("canceled task sent %d webhooks", n)
	}
	r = client.Do(t, http.MethodDelete, "/v1/tasks/"+after.ID, nil)
	if r.Status != http.StatusConflict || r.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("cancel of a finished task: got %d %s, want 409 problem", r.Status, r.Body)
	}
}

func TestStatusMonitorRedirectsToResult(t *testing.T) {
	t.Parallel()
	node := MustRunMain(t)
	client, _ := node.tenantClient(t, "acme")
	target := testenv.NewTarget(t, answer(200))
	created := createTask(t, client, map[string]any{"targetUrl": target.URL, "delay": 30})
	r := client.Do(t, http.MethodGet, "/v1/tasks/"+created.ID+"/status", nil)
	if r.Status != http.StatusOK || r.Header.Get("Retry-After") == "" {
		t.Fatalf("status of a waiting task: got %d Retry-After %q, want 200 with Retry-After", r.Status, r.Header.Get("Retry-After"))
	}
	if r := client.Do(t, http.MethodGet, "/v1/tasks/"+created.ID+"/result", nil); r.Status != http.StatusConflict {
		t.Fatalf("result of a waiting task: got %d, want 409", r.Status)
	}
	if r := client.Do(t, http.MethodPost, "/v1/tasks/"+created.ID+"/redeliver", nil); r.Status != http.StatusConflict {
		t.Fatalf("redeliver of a waiting task: got %d, want 409", r.Status)
	}
	done := createTask(t, client, map[string]any{"targetUrl": target.URL})
	waitTask(t, client, done.ID, 10*time.Second, finished)
	r = client.Do(t, http.MethodGet, "/v1/tasks/"+done.ID+"/status", nil)
	if r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/v1/tasks/"+done.ID+"/result" {
		t.Fatalf("status of a finished task: got %d Location %q, want 303 to the result", r.Status, r.Header.Get("Location"))
	}
}

func TestListTasksNewestFirstWithCursor(t *testing.T) {
	t.Parallel()
	node := MustRunMain(t)
	client, _ := node.tenantClient(t, "acme")
	var ids []string
	for range 5 {
		ids = append(ids, createTask(t, client, map[string]any{"targetUrl": "http://127.0.0.1:1/", "delay": 60}).ID)
	}
	var seen []string
	cursor := ""
	for page := 0; page < 5; page++ {
		r := client.Do(t, http.MethodGet, "/v1/tasks?limit=2&cursor="+cursor, nil)
		var body struct {
			Items      []broker.Task `json:"items"`
			NextCursor string        `json:"nextCursor"`
		}
		r.JSON(t, &body)
		for _, it := range body.Items {
			seen = append(seen, it.ID)
		}
		if page == 0 {
			// A task created between pages must not shift the next ones.
			createTask(t, client, map[string]any{"targetUrl": "http://127.0.0.1:1/", "delay": 60})
		}
		if body.NextCursor == "" {
			break
		}
		cursor = body.NextCursor
	}
	if len(seen) != 5 {
		t.Fatalf("listed %d tasks, want 5: %v", len(seen), seen)
	}
	for i := range seen {
		if want := ids[len(ids)-1-i]; seen[i] != want {
			t.Fatalf("item %d: got %s, want %s (newest first)", i, seen[i], want)
		}
	}
}
