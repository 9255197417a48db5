package client_test

import (
	"errors"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/client"
	"github.com/boomerang-dev/boomerang/internal/testenv"
	"github.com/boomerang-dev/boomerang/web/webtest"
)

// TestScheduleLifecycle: a schedule made, listed, read, changed to fire
// every second at another target (whose calls come from tasks linked to
// it), paused, resumed and deleted through the client, on a real node.
func TestScheduleLifecycle(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{Workers: true})
	_, creds := env.Tenant(t, "acme")
	c := newClient(t, env, creds.APIKey)
	ctx := testContext(t)
	target := testenv.NewTarget(t, webtest.Answer(200))

	daily, err := c.CreateSchedule(ctx, client.Cron("30 2 * * *", "Europe/Paris"), "https://example.com/report",
		client.WithMethod("PUT"), client.WithPayload(map[string]int{"n": 1}), client.WithRetries(0),
		client.WithFailureWebhook("https://example.com/failed"), client.WithOrderingKey("acct-7"))
	if err != nil {
		t.Fatal(err)
	}
	if daily.Status != client.ScheduleActive || daily.Cron != "30 2 * * *" || daily.Timezone != "Europe/Paris" || daily.Every != 0 ||
		daily.Task.Method != "PUT" || string(daily.Task.Payload) != `{"n":1}` || daily.Task.Retries != 0 || daily.NextFiringAt == nil ||
		daily.Task.FailureWebhookURL != "https://example.com/failed" || daily.Task.OrderingKey != "acct-7" {
		t.Fatalf("created: got %+v", daily)
	}
	if paris, _ := time.LoadLocation("Europe/Paris"); daily.NextFiringAt.In(paris).Format("15:04") != "02:30" {
		t.Errorf("next firing %s, want 02:30 in Paris", daily.NextFiringAt)
	}
	if got := daily.Summary(); got != "30 2 * * * (Europe/Paris)" {
		t.Errorf("timing: got %q", got)
	}
	list, err := c.ListSchedules(ctx)
	if err != nil || len(list) != 1 || list[0].ID != daily.ID {
		t.Fatalf("list: got %+v, %v; want the one schedule", list, err)
	}
	got, err := c.GetSchedule(ctx, daily.ID)
	if err != nil || got.ID != daily.ID || got.Timezone != "Europe/Paris" {
		t.Fatalf("get: got %+v, %v", got, err)
	}

	every := client.Every(time.Second)
	changed, err := c.UpdateSchedule(ctx, daily.ID, client.ScheduleChange{Timing: &every, TargetURL: target.URL + "/tick"})
	if err != nil {
		t.Fatal(err)
	}
	if changed.Every != time.Second || changed.Cron != "" || changed.Timezone != "" || changed.Task.TargetURL != target.URL+"/tick" ||
		changed.Task.Method != "POST" || len(changed.Task.Payload) != 0 || changed.Task.FailureWebhookURL != "" || changed.Task.Retries != 3 {
		t.Fatalf("changed: got %+v", changed)
	}
	linked := webtest.WaitScheduleTasks(t, env.Client(t, creds.APIKey), daily.ID, 2, 30*time.Second)
	for _, task := range linked {
		if task.FiringAt == nil || task.TargetURL != target.URL+"/tick" {
			t.Errorf("task %s: firing %v, target %s", task.ID, task.FiringAt, task.TargetURL)
		}
	}
	latest, err := c.ScheduleTasks(ctx, daily.ID, 2)
	if err != nil || len(latest) != 2 || latest[0].ScheduleID != daily.ID || !latest[1].FiringAt.Before(*latest[0].FiringAt) {
		t.Fatalf("ScheduleTasks: got %v, %v; want the two latest, latest first", latest, err)
	}

	// A server that reports the last firing (not every version does)
	// names the task it made, or why it made none.
	if got, err := c.GetSchedule(ctx, daily.ID); err != nil {
		t.Fatal(err)
	} else if f := got.LastFiring; f != nil && (f.At.IsZero() || (f.TaskID == "") == (f.Skipped == "")) {
		t.Errorf("last firing: got %+v", f)
	}

	paused, err := c.PauseSchedule(ctx, daily.ID)
	if err != nil || paused.Status != client.SchedulePaused || paused.NextFiringAt != nil {
		t.Fatalf("pause: got %+v, %v", paused, err)
	}
	resumed, err := c.ResumeSchedule(ctx, daily.ID)
	if err != nil || resumed.Status != client.ScheduleActive || resumed.NextFiringAt == nil {
		t.Fatalf("resume: got %+v, %v", resumed, err)
	}
	if err := c.DeleteSchedule(ctx, daily.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetSchedule(ctx, daily.ID); !client.IsKind(err, client.KindNotFound) {
		t.Errorf("get after delete: got %v, want not-found", err)
	}
	if err := c.DeleteSchedule(ctx, daily.ID); !client.IsKind(err, client.KindNotFound) {
		t.Errorf("delete twice: got %v, want not-found", err)
	}
}

// TestScheduleRefusals: a bad timing is a validation problem naming its
// field; an idempotency key is refused before anything is sent.
func TestScheduleRefusals(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{})
	_, creds := env.Tenant(t, "acme")
	c := newClient(t, env, creds.APIKey)
	ctx := testContext(t)
	for _, tc := range []struct {
		timing client.ScheduleTiming
		field  string
	}{
		{client.Every(500 * time.Millisecond), "every"},
		{client.Cron("61 * * * *", ""), "cron"},
		{client.Cron("* * * * *", "Mars/Olympus"), "timezone"},
		{client.ScheduleTiming{}, "cron"},
	} {
		_, err := c.CreateSchedule(ctx, tc.timing, "https://example.com/x")
		var p *client.Problem
		if !errors.As(err, &p) || p.Kind() != client.KindValidation || len(p.Errors) == 0 || p.Errors[0].Field != tc.field {
			t.Errorf("%+v: got %v, want a validation problem naming %s", tc.timing, err, tc.field)
		}
	}
	if _, err := c.CreateSchedule(ctx, client.Every(time.Minute), "https://example.com/x", client.WithIdempotencyKey("k")); err == nil {
		t.Error("a template with an idempotency key was accepted")
	}
	if list, err := c.ListSchedules(ctx); err != nil || len(list) != 0 {
		t.Errorf("list: got %+v, %v; want none", list, err)
	}
}
