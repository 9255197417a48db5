package broker

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"

	"github.com/boomerang-dev/boomerang/internal/natsembed"
	"github.com/boomerang-dev/boomerang/internal/projector"
	"github.com/boomerang-dev/boomerang/internal/testenv"
)

var scheduleTemplate = Spec{TargetURL: "https://example.com/tick", Method: "POST", Retries: 1, Timeout: 10}

// runFirer runs a schedule firer until the test ends.
func runFirer(t *testing.T, js jetstream.JetStream, tasks *Tasks) {
	t.Helper()
	f := NewScheduleFirer(js, NewPublisher(js), tasks, quiet, ScheduleFirerConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = f.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// scheduleTasks returns the tasks of the view made by schedule id.
func scheduleTasks(t *testing.T, view *View, tenantID, id string) []*Task {
	t.Helper()
	page, err := view.List(tenantID, ListQuery{Limit: 200})
	if err != nil {
		t.Fatal(err)
	}
	var out []*Task
	for _, task := range page.Items {
		if task.ScheduleID == id {
			out = append(out, task)
		}
	}
	return out
}

// waitTasks waits until schedule id has made at least n tasks, and
// returns them.
func waitTasks(t *testing.T, view *View, tenantID, id string, n int) []*Task {
	t.Helper()
	var got []*Task
	testenv.WaitUntil(t, fmt.Sprintf("%d tasks of schedule %s", n, id), func() (bool, string) {
		got = scheduleTasks(t, view, tenantID, id)
		return len(got) >= n, fmt.Sprintf("%d tasks", len(got))
	})
	return got
}

// checkLinked checks that each task names the schedule and its own firing,
// with the firing's idempotency key, and that no firing made two tasks.
func checkLinked(t *testing.T, tasks []*Task, id string) {
	t.Helper()
	seen := map[time.Time]string{}
	for _, task := range tasks {
		if task.FiringAt == nil {
			t.Fatalf("task %s: no firing time", task.ID)
		}
		if want := FiringKey(id, *task.FiringAt); task.IdempotencyKey != want {
			t.Errorf("task %s: idempotency key %q, want %q", task.ID, task.IdempotencyKey, want)
		}
		if other, dup := seen[*task.FiringAt]; dup {
			t.Errorf("firing %s made two tasks: %s and %s", task.FiringAt, other, task.ID)
		}
		seen[*task.FiringAt] = task.ID
		if task.TargetURL != scheduleTemplate.TargetURL {
			t.Errorf("task %s: target %q, want the template's", task.ID, task.TargetURL)
		}
	}
}

// TestScheduleEverySecondMakesLinkedTasks: a schedule every second fires
// through two firers sharing the consumer (two nodes), each firing making
// one task linked to the schedule.
func TestScheduleEverySecondMakesLinkedTasks(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	p, _ := b.runProjector(t)
	tasks := NewTasks(b.pub, b.view, p, quiet, nil)
	runFirer(t, b.js, tasks)
	runFirer(t, b.js, tasks)
	ctx := context.Background()
	sc, err := NewSchedules(b.pub, quiet, nil).Create(ctx, "ten_a", ScheduleTiming{Every: time.Second}, scheduleTemplate)
	if err != nil {
		t.Fatal(err)
	}
	got := waitTasks(t, b.view, "ten_a", sc.ID, 5)
	checkLinked(t, got, sc.ID)
	logLateness(t, got)
}

// logLateness logs how late the firings made their tasks (createdAt minus
// firingAt): a measurement, not a condition of the test.
func logLateness(t *testing.T, tasks []*Task) {
	t.Helper()
	var late []time.Duration
	for _, task := range tasks {
		late = append(late, task.CreatedAt.Sub(*task.FiringAt))
	}
	slices.Sort(late)
	pct := func(p float64) time.Duration { return late[int(p*float64(len(late)-1))] }
	t.Logf("firing lateness over %d firings: p50 %s, p99 %s, max %s", len(late), pct(0.5), pct(0.99), late[len(late)-1])
}

// TestScheduleFiringHandledTwiceMakesOneTask hands the same firing to two
// firers at once, several times: one task, and one next firing armed.
func TestScheduleFiringHandledTwiceMakesOneTask(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	p, _ := b.runProjector(t)
	tasks := NewTasks(b.pub, b.view, p, quiet, nil)
	ctx := context.Background()
	// A daily schedule: its own firing is far off and irrelevant.
	sc, err := NewSchedules(b.pub, quiet, nil).Create(ctx, "ten_a", ScheduleTiming{Cron: "0 3 * * *"}, scheduleTemplate)
	if err != nil {
		t.Fatal(err)
	}
	firers := []*ScheduleFirer{
		NewScheduleFirer(b.js, NewPublisher(b.js), tasks, quiet, ScheduleFirerConfig{}),
		NewScheduleFirer(b.js, NewPublisher(b.js), tasks, quiet, ScheduleFirerConfig{}),
	}
	at := time.Date(2026, 5, 1, 3, 0, 0, 0, time.UTC)
	for round := range 5 {
		var wg sync.WaitGroup
		errs := make([]error, len(firers))
		for i, f := range firers {
			wg.Go(func() { _, errs[i] = f.fire(ctx, "ten_a", sc.ID, sc.Revision, at) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d, firer %d: %v", round, i, err)
			}
		}
	}
	seq := b.pub.LastTaskSeq()
	waitFor(t, p, seq)
	got := scheduleTasks(t, b.view, "ten_a", sc.ID)
	if len(got) != 1 {
		t.Fatalf("one firing handled 10 times made %d tasks, want 1", len(got))
	}
	checkLinked(t, got, sc.ID)
	if !got[0].FiringAt.Equal(at) {
		t.Errorf("firing time %s, want %s", got[0].FiringAt, at)
	}
	if n := pendingFirings(t, b.js, "ten_a", sc.ID); n != 1 {
		t.Errorf("pending firings: got %d, want 1", n)
	}
}

// TestSchedulePauseResumeDelete: a paused schedule makes no task and has
// no pending firing, a resumed one fires again, a deleted one is gone
// with its pending firing, and a firing of an old revision is dropped.
func TestSchedulePauseResumeDelete(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	p, _ := b.runProjector(t)
	tasks := NewTasks(b.pub, b.view, p, quiet, nil)
	ctx := context.Background()
	s := NewSchedules(b.pub, quiet, nil)
	sc, err := s.Create(ctx, "ten_a", ScheduleTiming{Every: time.Second}, scheduleTemplate)
	if err != nil {
		t.Fatal(err)
	}
	pending := func() uint64 { return pendingFirings(t, b.js, "ten_a", sc.ID) }
	paused, err := s.Pause(ctx, "ten_a", sc.ID)
	if err != nil || paused.Status != SchedulePaused || paused.NextFiringAt != nil {
		t.Fatalf("pause: got %+v, %v; want paused without a next firing", paused, err)
	}
	if n := pending(); n != 0 {
		t.Fatalf("paused schedule: %d pending firings, want 0", n)
	}
	// A firing of the active revision that comes anyway is dropped.
	f := NewScheduleFirer(b.js, b.pub, tasks, quiet, ScheduleFirerConfig{})
	if _, err := f.fire(ctx, "ten_a", sc.ID, sc.Revision, time.Now()); err != nil {
		t.Fatal(err)
	}
	runFirer(t, b.js, tasks)
	resumed, err := s.Resume(ctx, "ten_a", sc.ID)
	if err != nil || resumed.Status != ScheduleActive || resumed.NextFiringAt == nil {
		t.Fatalf("resume: got %+v, %v; want active with a next firing", resumed, err)
	}
	got := waitTasks(t, b.view, "ten_a", sc.ID, 2)
	checkLinked(t, got, sc.ID)
	for _, task := range got {
		if task.FiringAt.Before(resumed.UpdatedAt) {
			t.Errorf("task %s fired at %s, before the resume at %s (or for the dropped firing)", task.ID, task.FiringAt, resumed.UpdatedAt)
		}
	}
	if err := s.Delete(ctx, "ten_a", sc.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "ten_a", sc.ID); !errors.Is(err, ErrScheduleNotFound) {
		t.Errorf("get after delete: got %v, want ErrScheduleNotFound", err)
	}
	if n := pending(); n != 0 {
		t.Errorf("deleted schedule: %d pending firings, want 0", n)
	}
	if err := s.Delete(ctx, "ten_a", sc.ID); !errors.Is(err, ErrScheduleNotFound) {
		t.Errorf("second delete: got %v, want ErrScheduleNotFound", err)
	}
}

// TestScheduleSurvivesRestart stops the server and starts it again on
// the same directory: the schedule is there and fires again.
func TestScheduleSurvivesRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	start := func() (jetstream.JetStream, func()) {
		srv, err := natsembed.Start(natsembed.Config{Dir: dir}, nil)
		if err != nil {
			t.Fatal(err)
		}
		nc, err := srv.Connect()
		if err != nil {
			t.Fatal(err)
		}
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		if err := EnsureStreams(context.Background(), js, StreamOptions{}); err != nil {
			t.Fatal(err)
		}
		return js, func() { nc.Close(); srv.Shutdown() }
	}
	ctx := context.Background()
	js, stop := start()
	sc, err := NewSchedules(NewPublisher(js), quiet, nil).Create(ctx, "ten_a", ScheduleTiming{Every: time.Second}, scheduleTemplate)
	if err != nil {
		t.Fatal(err)
	}
	stop()

	js, stop = start()
	t.Cleanup(stop)
	b := &bundle{js: js, db: newBundleDB(t), pub: NewPublisher(js)}
	b.view = NewView(b.db, NewHub())
	p := projector.New(b.js, b.db, StreamTasks, b.view, quiet)
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = p.Run(pctx) }()
	t.Cleanup(func() { cancel(); <-done })
	got, err := NewSchedules(b.pub, quiet, nil).Get(ctx, "ten_a", sc.ID)
	if err != nil || got.Status != ScheduleActive || got.Every != time.Second {
		t.Fatalf("after restart: got %+v, %v; want the active schedule", got, err)
	}
	runFirer(t, js, NewTasks(b.pub, b.view, p, quiet, nil))
	checkLinked(t, waitTasks(t, b.view, "ten_a", sc.ID, 2), sc.ID)
}

// TestScheduleTimingValidation: what compile accepts and refuses.
func TestScheduleTimingValidation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		timing ScheduleTiming
		ok     bool
	}{
		{ScheduleTiming{Cron: "*/5 * * * *"}, true},
		{ScheduleTiming{Cron: "0 9 * * mon-fri", Timezone: "Europe/Paris"}, true},
		{ScheduleTiming{Cron: "@hourly"}, true},
		{ScheduleTiming{Every: 90 * time.Second}, true},
		{ScheduleTiming{Every: time.Second}, true},
		{ScheduleTiming{}, false},
		{ScheduleTiming{Every: 999 * time.Millisecond}, false},
		{ScheduleTiming{Every: time.Minute, Timezone: "UTC"}, false},
		{ScheduleTiming{Every: time.Minute, Cron: "* * * * *"}, false},
		{ScheduleTiming{Cron: "* * * * * *"}, false}, // six fields: ours have five
		{ScheduleTiming{Cron: "61 * * * *"}, false},
		{ScheduleTiming{Cron: "0 0 31 2 *"}, false}, // never
		{ScheduleTiming{Cron: "* * * * *", Timezone: "Mars/Olympus"}, false},
		{ScheduleTiming{Cron: "* * * * *", Timezone: "Local"}, false},
		{ScheduleTiming{Every: MaxScheduleEvery}, true},
		{ScheduleTiming{Every: MaxScheduleEvery + time.Second}, false},
		{ScheduleTiming{Every: 2562047 * time.Hour}, false}, // ran away: fired at once, over and over
		{ScheduleTiming{Every: 1500 * time.Millisecond}, false},
		{ScheduleTiming{Cron: "0 9 * * 7"}, true}, // Sunday, as Vixie cron reads it
		{ScheduleTiming{Cron: "0 9 * * 1,7"}, true},
		{ScheduleTiming{Cron: "0 9 * * 5-7"}, true},
		{ScheduleTiming{Cron: "0 9 L * *"}, false},
		{ScheduleTiming{Cron: "@every 5s"}, false},
	} {
		_, err := tc.timing.compile()
		if (err == nil) != tc.ok {
			t.Errorf("%+v: got %v, want ok %v", tc.timing, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrScheduleInvalid) {
			t.Errorf("%+v: got %v, want ErrScheduleInvalid", tc.timing, err)
		}
	}
}

// TestScheduleCronReadsSundayAsSevenAndExplainsMistakes: day-of-week 7
// fires on Sundays, and the messages for a pattern it refuses name the
// pattern's mistake, not the parser's functions.
func TestScheduleCronReadsSundayAsSevenAndExplainsMistakes(t *testing.T) {
	t.Parallel()
	wed := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	for pattern, want := range map[string]time.Time{
		"0 9 * * 7":   time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC),
		"0 9 * * 5-7": time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC),
		"0 9 * * 0":   time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC),
	} {
		f, err := ScheduleTiming{Cron: pattern}.compile()
		if err != nil {
			t.Fatalf("%s: %v", pattern, err)
		}
		if got, _ := f.next(wed); !got.Equal(want) {
			t.Errorf("%s after %s: got %s, want %s", pattern, wed, got, want)
		}
	}
	saturdayLate := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	f, err := ScheduleTiming{Cron: "0 9 * * 5-7"}.compile()
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := f.next(saturdayLate); !got.Equal(time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)) {
		t.Errorf("5-7 after Saturday 10:00: got %s, want Sunday 09:00", got)
	}
	for pattern, want := range map[string]string{
		"0 9 L * *": "L, W, # and ? are not supported",
		"@every 5s": "give the schedule's every field",
		"0 9 * *":   "must have 5 fields",
	} {
		_, err := ScheduleTiming{Cron: pattern}.compile()
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "strconv") {
			t.Errorf("%s: got %v, want a message saying %q", pattern, err, want)
		}
	}
}

// TestScheduleDST pins down daylight-saving behaviour in a time zone
// (Europe/Paris, 2026: clocks go 02:00→03:00 on 29 March and 03:00→02:00
// on 25 October): a time that does not exist that day is skipped, and a
// time that happens twice fires twice.
func TestScheduleDST(t *testing.T) {
	t.Parallel()
	f, err := ScheduleTiming{Cron: "30 2 * * *", Timezone: "Europe/Paris"}.compile()
	if err != nil {
		t.Fatal(err)
	}
	times := func(from time.Time, n int) []string {
		var out []string
		for range n {
			next, err := f.next(from)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, next.Format(time.RFC3339))
			from = next
		}
		return out
	}
	spring := times(time.Date(2026, 3, 28, 0, 0, 0, 0, time.UTC), 2)
	if want := []string{"2026-03-28T01:30:00Z", "2026-03-30T00:30:00Z"}; strings.Join(spring, " ") != strings.Join(want, " ") {
		t.Errorf("spring forward: got %v, want %v (29 March skipped)", spring, want)
	}
	autumn := times(time.Date(2026, 10, 24, 12, 0, 0, 0, time.UTC), 3)
	if want := []string{"2026-10-25T00:30:00Z", "2026-10-25T01:30:00Z", "2026-10-26T01:30:00Z"}; strings.Join(autumn, " ") != strings.Join(want, " ") {
		t.Errorf("fall back: got %v, want %v (02:30 twice on 25 October)", autumn, want)
	}
}

// TestScheduleNextAfterSkipsMissed: after an outage the next firing is the
// first that has not passed; an interval keeps its phase.
func TestScheduleNextAfterSkipsMissed(t *testing.T) {
	t.Parallel()
	last := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	now := last.Add(10*time.Minute + 20*time.Second)
	f, _ := ScheduleTiming{Every: time.Minute}.compile()
	if got, _ := f.nextAfter(last, now); !got.Equal(last.Add(11 * time.Minute)) {
		t.Errorf("every minute: got %s, want %s", got, last.Add(11*time.Minute))
	}
	c, _ := ScheduleTiming{Cron: "*/5 * * * *"}.compile()
	if got, _ := c.nextAfter(last, now); !got.Equal(last.Add(15 * time.Minute)) {
		t.Errorf("every 5 minutes by cron: got %s, want %s", got, last.Add(15*time.Minute))
	}
	if got, _ := f.nextAfter(last, last.Add(time.Second)); !got.Equal(last.Add(time.Minute)) {
		t.Errorf("on time: got %s, want %s", got, last.Add(time.Minute))
	}
}

func newBundleDB(t *testing.T) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "view.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// pendingFirings counts a schedule's pending firings, of every revision.
func pendingFirings(t *testing.T, js jetstream.JetStream, tenantID, id string) uint64 {
	t.Helper()
	ctx := context.Background()
	st, err := js.Stream(ctx, StreamSchedules)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(schedCronPrefix+tenantID+"."+id+".*"))
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	return n
}

// TestScheduleRearmedAtStart: a schedule kept without its pending firing
// (its node stopped in between) is armed when a firer starts, and fires.
func TestScheduleRearmedAtStart(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	p, _ := b.runProjector(t)
	ctx := context.Background()
	sc, err := NewSchedules(b.pub, quiet, nil).Create(ctx, "ten_a", ScheduleTiming{Every: time.Second}, scheduleTemplate)
	if err != nil {
		t.Fatal(err)
	}
	if err := NewSchedules(b.pub, quiet, nil).disarmBefore(ctx, "ten_a", sc.ID, math.MaxUint64); err != nil {
		t.Fatal(err)
	}
	runFirer(t, b.js, NewTasks(b.pub, b.view, p, quiet, nil))
	checkLinked(t, waitTasks(t, b.view, "ten_a", sc.ID, 2), sc.ID)
}

// TestScheduleRearmLeavesAWaitingFiring: a firing the server made while
// no firer ran waits in the work queue; a starting firer does not arm the
// schedule from now (which would shift an interval's phase), and handling
// the waiting firing arms the next in phase.
func TestScheduleRearmLeavesAWaitingFiring(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	p, _ := b.runProjector(t)
	ctx := context.Background()
	s := NewSchedules(b.pub, quiet, nil)
	sc, err := s.Create(ctx, "ten_a", ScheduleTiming{Every: 3 * time.Second}, scheduleTemplate)
	if err != nil {
		t.Fatal(err)
	}
	first := *sc.NextFiringAt
	st, err := b.js.Stream(ctx, StreamSchedules)
	if err != nil {
		t.Fatal(err)
	}
	testenv.WaitUntil(t, "the server's firing, waiting", func() (bool, string) {
		info, err := st.Info(ctx, jetstream.WithSubjectFilter(dueCronFilter))
		return err == nil && len(info.State.Subjects) == 1, fmt.Sprint(err)
	})
	tasks := NewTasks(b.pub, b.view, p, quiet, nil)
	f := NewScheduleFirer(b.js, b.pub, tasks, quiet, ScheduleFirerConfig{})
	if n, err := f.rearm(ctx); err != nil || n != 0 {
		t.Fatalf("rearm with a firing waiting: armed %d, %v; want none", n, err)
	}
	if n := pendingFirings(t, b.js, "ten_a", sc.ID); n != 0 {
		t.Fatalf("%d pending firings after rearm, want 0", n)
	}
	runFirer(t, b.js, tasks)
	got := waitTasks(t, b.view, "ten_a", sc.ID, 1)
	if !got[0].FiringAt.Equal(first) {
		t.Fatalf("the waiting firing made a task for %s, want %s", got[0].FiringAt, first)
	}
	testenv.WaitUntil(t, "the next firing armed", func() (bool, string) {
		cur, err := s.Get(ctx, "ten_a", sc.ID)
		if err != nil || cur.NextFiringAt == nil {
			return false, fmt.Sprint(err)
		}
		if off := cur.NextFiringAt.Sub(first) % (3 * time.Second); off != 0 {
			t.Fatalf("next firing %s is out of phase with %s by %s", cur.NextFiringAt, first, off)
		}
		return true, ""
	})
}

// TestScheduleConcurrentChangesKeepItArmed: changes made at once (each
// writes a revision, then purges older firings and arms its own, in any
// order) leave the schedule active with its current revision armed —
// a slow change used to purge a newer revision's firing and arm only its
// own, stale one, and the schedule never fired again. A change of the
// template alone keeps the pending firing's time; a change of the timing
// moves it.
func TestScheduleConcurrentChangesKeepItArmed(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	ctx := context.Background()
	// The clock moves 5 s between rounds: a change that armed its firing
	// from now would move it.
	var mu sync.Mutex
	clock := time.Now()
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	s := NewSchedules(b.pub, quiet, now)
	sc, err := s.Create(ctx, "ten_a", ScheduleTiming{Every: time.Hour}, scheduleTemplate)
	if err != nil {
		t.Fatal(err)
	}
	first := *sc.NextFiringAt
	for round := range 5 {
		mu.Lock()
		clock = clock.Add(5 * time.Second)
		mu.Unlock()
		var wg sync.WaitGroup
		for i := range 12 {
			wg.Go(func() {
				spec := scheduleTemplate
				spec.TargetURL = fmt.Sprintf("https://example.com/tick?r=%d&i=%d", round, i)
				if _, err := s.Update(ctx, "ten_a", sc.ID, nil, &spec); err != nil && !errors.Is(err, ErrConflict) {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		got, err := s.Get(ctx, "ten_a", sc.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != ScheduleActive || got.NextFiringAt == nil {
			t.Fatalf("round %d: after concurrent changes: %s, next firing %v; want active and armed", round, got.Status, got.NextFiringAt)
		}
		if !got.NextFiringAt.Equal(first) {
			t.Fatalf("round %d: template changes moved the next firing from %s to %s", round, first, got.NextFiringAt)
		}
	}
	// The race itself, step by step: a change stores its revision, a
	// second change stores and arms the next, then the first purges and
	// arms, late.
	slow, err := s.Get(ctx, "ten_a", sc.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.store(ctx, slow, slow.Revision); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(ctx, "ten_a", sc.ID, nil, &scheduleTemplate); err != nil {
		t.Fatal(err)
	}
	if err := s.rearm(ctx, slow, true); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, "ten_a", sc.ID); err != nil || got.NextFiringAt == nil || got.Revision == slow.Revision {
		t.Fatalf("after a late change: got %+v, %v; want the newer revision armed", got, err)
	}

	// Resuming an active schedule that lost its firing arms it again.
	if err := s.disarmBefore(ctx, "ten_a", sc.ID, math.MaxUint64); err != nil {
		t.Fatal(err)
	}
	if healed, err := s.Resume(ctx, "ten_a", sc.ID); err != nil || healed.NextFiringAt == nil || pendingFirings(t, b.js, "ten_a", sc.ID) != 1 {
		t.Fatalf("resume of an active schedule without a firing: got %+v, %v; want it armed", healed, err)
	}

	longer := ScheduleTiming{Every: 2 * time.Hour}
	moved, err := s.Update(ctx, "ten_a", sc.ID, &longer, nil)
	if err != nil || moved.NextFiringAt == nil || !moved.NextFiringAt.After(first) {
		t.Fatalf("a new interval: got %+v, %v; want the next firing moved past %s", moved, err, first)
	}
	same := longer
	kept, err := s.Update(ctx, "ten_a", sc.ID, &same, nil)
	if err != nil || kept.NextFiringAt == nil || !kept.NextFiringAt.Equal(*moved.NextFiringAt) {
		t.Fatalf("the same interval again: got %+v, %v; want the next firing kept at %s", kept, err, moved.NextFiringAt)
	}
}
