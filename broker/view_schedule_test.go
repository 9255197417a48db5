package broker

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestScheduleTasksLatestFirst: a schedule's tasks come back latest
// firing first, up to the limit; another schedule's tasks and a task whose
// client-chosen idempotency key looks like a firing's are left out.
func TestScheduleTasksLatestFirst(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	p, _ := b.runProjector(t)
	tasks := NewTasks(b.pub, b.view, p, quiet, nil)
	ctx := context.Background()
	s := NewSchedules(b.pub, quiet, nil)
	// Daily schedules: their own firings are far off and irrelevant.
	sc, err := s.Create(ctx, "ten_a", ScheduleTiming{Cron: "0 3 * * *"}, scheduleTemplate)
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.Create(ctx, "ten_a", ScheduleTiming{Cron: "0 4 * * *"}, scheduleTemplate)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 5, 1, 3, 0, 0, 0, time.UTC)
	var firings []time.Time
	for i := range 4 {
		// Fractional times, as an interval's firings have: they still
		// sort by time.
		at := start.Add(time.Duration(i)*1500*time.Millisecond + 250*time.Millisecond*time.Duration(i%2))
		firings = append(firings, at)
		madeByFiring(t, tasks, "ten_a", sc.ID, at)
	}
	madeByFiring(t, tasks, "ten_a", other.ID, start)
	spoof := scheduleTemplate
	spoof.IdempotencyKey = FiringKey(sc.ID, start.Add(time.Hour))
	if !strings.HasPrefix(spoof.IdempotencyKey, string(scheduleKeyPrefix(sc.ID))) {
		t.Fatalf("FiringKey %q does not start with scheduleKeyPrefix %q", spoof.IdempotencyKey, scheduleKeyPrefix(sc.ID))
	}
	if _, _, err := tasks.Create(ctx, "ten_a", spoof, ""); err != nil {
		t.Fatal(err)
	}

	for _, limit := range []int{0, 2} {
		got, err := tasks.ScheduleTasks(ctx, "ten_a", sc.ID, limit)
		if err != nil {
			t.Fatal(err)
		}
		want := len(firings)
		if limit > 0 {
			want = limit
		}
		if len(got) != want {
			t.Fatalf("limit %d: got %d tasks, want %d", limit, len(got), want)
		}
		for i, task := range got {
			if wantAt := firings[len(firings)-1-i]; task.ScheduleID != sc.ID || task.FiringAt == nil || !task.FiringAt.Equal(wantAt) {
				t.Errorf("limit %d, item %d: got schedule %s firing %v, want %s firing %s", limit, i, task.ScheduleID, task.FiringAt, sc.ID, wantAt)
			}
		}
	}
	if got, err := tasks.ScheduleTasks(ctx, "ten_b", sc.ID, 0); err != nil || len(got) != 0 {
		t.Errorf("another tenant: got %d tasks, %v; want none", len(got), err)
	}
	if got, err := tasks.ScheduleTasks(ctx, "ten_a", other.ID, 0); err != nil || len(got) != 1 || got[0].ScheduleID != other.ID {
		t.Errorf("the other schedule: got %v, %v; want its one task", got, err)
	}
}

// madeByFiring creates the task of a schedule's firing at at as the
// firer does (ScheduleFirer.fire): the firing's idempotency key, linked
// to the schedule and the firing.
func madeByFiring(t *testing.T, tasks *Tasks, tenantID, scheduleID string, at time.Time) {
	t.Helper()
	spec, key := scheduleTemplate, FiringKey(scheduleID, at)
	spec.IdempotencyKey = key
	at = at.UTC()
	ev := createdEvent{Spec: spec, ScheduleID: scheduleID, FiringAt: &at}
	if _, _, err := tasks.createWithID(context.Background(), tenantID, ev, key, nil); err != nil {
		t.Fatal(err)
	}
}
