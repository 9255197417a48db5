package broker

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// TestScheduleFiringHonoursTheTenantsLimits: a firing the tenant's quota
// refuses makes no task and says why; one its create rate holds back
// waits and makes nothing yet; one admitted makes its task; each time the
// schedule's last firing says what happened, and the next is armed.
func TestScheduleFiringHonoursTheTenantsLimits(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	p, _ := b.runProjector(t)
	tasks := NewTasks(b.pub, b.view, p, quiet, nil)
	ctx := context.Background()
	schedules := NewSchedules(b.pub, quiet, nil)
	sc, err := schedules.Create(ctx, "ten_a", ScheduleTiming{Cron: "0 3 * * *"}, scheduleTemplate)
	if err != nil {
		t.Fatal(err)
	}
	var decision FiringDecision
	var asked []string
	f := NewScheduleFirer(b.js, b.pub, tasks, quiet, ScheduleFirerConfig{
		Admit: func(_ context.Context, tenantID string) (FiringDecision, error) {
			asked = append(asked, tenantID)
			return decision, nil
		}})
	fire := func(at time.Time) time.Duration {
		t.Helper()
		wait, err := f.fire(ctx, "ten_a", sc.ID, sc.Revision, at)
		if err != nil {
			t.Fatal(err)
		}
		return wait
	}
	last := func() *ScheduleFiring {
		t.Helper()
		got, err := schedules.Get(ctx, "ten_a", sc.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got.LastFiring
	}
	if lf := last(); lf != nil {
		t.Fatalf("a schedule that never fired has a last firing: %+v", lf)
	}

	day1 := time.Date(2026, 5, 1, 3, 0, 0, 0, time.UTC)
	decision = FiringDecision{Skip: "the monthly task quota is spent"}
	if wait := fire(day1); wait != 0 {
		t.Fatalf("a skipped firing asks to wait %s", wait)
	}
	if lf := last(); lf == nil || !lf.At.Equal(day1) || lf.TaskID != "" || lf.Skipped != decision.Skip {
		t.Fatalf("last firing after a skip: %+v", lf)
	}
	if n := pendingFirings(t, b.js, "ten_a", sc.ID); n != 1 {
		t.Fatalf("after a skip %d pending firings, want 1 (the schedule goes on)", n)
	}

	day2 := day1.AddDate(0, 0, 1)
	decision = FiringDecision{Wait: 3 * time.Second}
	if wait := fire(day2); wait != 3*time.Second {
		t.Fatalf("a rate-limited firing waits %s, want 3s", wait)
	}
	decision = FiringDecision{}
	if wait := fire(day2); wait != 0 {
		t.Fatalf("an admitted firing waits %s", wait)
	}
	waitFor(t, p, b.pub.LastTaskSeq())
	got := scheduleTasks(t, b.view, "ten_a", sc.ID)
	if len(got) != 1 || !got[0].FiringAt.Equal(day2) {
		t.Fatalf("tasks made: %d (want 1, of the admitted firing at %s)", len(got), day2)
	}
	if lf := last(); lf == nil || !lf.At.Equal(day2) || lf.TaskID != got[0].ID || lf.Skipped != "" {
		t.Fatalf("last firing after a task: %+v, want task %s", lf, got[0].ID)
	}
	if len(asked) != 3 || asked[0] != "ten_a" {
		t.Errorf("admission asked %v, want ten_a three times", asked)
	}

	if err := schedules.Delete(ctx, "ten_a", sc.ID); err != nil {
		t.Fatal(err)
	}
	if lf := b.pub.lastFiring(ctx, "ten_a", sc.ID); lf != nil {
		t.Errorf("a deleted schedule keeps its last firing: %+v", lf)
	}
}

// TestSchedulesCappedPerTenant: a tenant at its cap cannot create more,
// another tenant can, and a delete makes room.
func TestSchedulesCappedPerTenant(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	ctx := context.Background()
	s := NewSchedules(b.pub, quiet, nil)
	s.MaxPerTenant = 2
	var made []*Schedule
	for range 2 {
		sc, err := s.Create(ctx, "ten_a", ScheduleTiming{Cron: "0 3 * * *"}, scheduleTemplate)
		if err != nil {
			t.Fatal(err)
		}
		made = append(made, sc)
	}
	if _, err := s.Create(ctx, "ten_a", ScheduleTiming{Cron: "0 3 * * *"}, scheduleTemplate); !errors.Is(err, ErrTooManySchedules) {
		t.Fatalf("third schedule: %v, want ErrTooManySchedules", err)
	}
	if _, err := s.Create(ctx, "ten_b", ScheduleTiming{Cron: "0 3 * * *"}, scheduleTemplate); err != nil {
		t.Fatalf("another tenant's first schedule: %v", err)
	}
	if err := s.Delete(ctx, "ten_a", made[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, "ten_a", ScheduleTiming{Every: time.Hour}, scheduleTemplate); err != nil {
		t.Fatalf("after a delete: %v", err)
	}
}

// TestSchedulesPage walks a tenant's schedules a page at a time: each
// once, oldest first, none of another tenant's.
func TestSchedulesPage(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	ctx := context.Background()
	s := NewSchedules(b.pub, quiet, nil)
	var want []string
	for range 5 {
		sc, err := s.Create(ctx, "ten_a", ScheduleTiming{Cron: "0 3 * * *"}, scheduleTemplate)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, sc.ID)
	}
	slices.Sort(want) // ids sort by creation time, and within a millisecond at random
	if _, err := s.Create(ctx, "ten_b", ScheduleTiming{Cron: "0 3 * * *"}, scheduleTemplate); err != nil {
		t.Fatal(err)
	}
	var got []string
	var sizes []int
	after := ""
	for range 10 {
		page, next, err := s.Page(ctx, "ten_a", after, 2)
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(page))
		for _, sc := range page {
			got = append(got, sc.ID)
		}
		if next == "" {
			break
		}
		after = next
	}
	if len(got) != len(want) || len(sizes) != 3 {
		t.Fatalf("pages %v held %v, want %v in pages of 2, 2, 1", sizes, got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("pages held %v, want %v", got, want)
		}
	}
}
