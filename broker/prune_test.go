package broker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"

	"github.com/boomerang-dev/boomerang/internal/testenv"
)

// pruneFixture publishes a tenant's tasks in every state, old and recent,
// their ids starting with prefix: finishedAt is old for those a prune with
// a cutoff between old and recent must drop. It returns the ids of those and
// of the others; with settledOnly it publishes only the first.
func pruneFixture(t *testing.T, b *bundle, tenantID, prefix string, old, recent time.Time, settledOnly bool) (drop, keep []string) {
	t.Helper()
	spec := func(webhook, idem string) createdEvent {
		return createdEvent{Spec: Spec{TargetURL: "https://target.example/x", Method: "POST", Retries: 3, Timeout: 30,
			WebhookURL: webhook, IdempotencyKey: idem}, CreatedAt: old.Add(-time.Minute)}
	}
	id := func(name string) string { return "tsk_" + prefix + name }
	ok := &Attempt{Number: 1, Outcome: OutcomeSucceeded, Response: Response{StatusCode: 200}}
	delivered := deliveryEvent{Delivery: Delivery{Number: 1, Outcome: "delivered", StatusCode: 204}}
	steps := []struct {
		name   string
		events []any // kind, payload pairs
		drop   bool
	}{
		{"delivered", []any{KindCreated, spec("https://hook", "k1"), KindStarted, startedEvent{Attempt: 1},
			KindSucceeded, finishedEvent{Attempt: ok, Attempts: 1, FinishedAt: old, WebhookURL: "https://hook"},
			KindDelivered, delivered}, true},
		{"failed", []any{KindCreated, spec("", ""), KindAttempt, attemptEvent{Attempt: Attempt{Number: 1, Outcome: OutcomeRetry}},
			KindFailed, finishedEvent{Attempt: &Attempt{Number: 2, Outcome: OutcomeFailed}, Attempts: 2, FinishedAt: old}}, true},
		{"canceled", []any{KindCreated, spec("https://hook", ""), KindCanceled, canceledEvent{At: old}}, true},
		{"dead", []any{KindCreated, spec("https://hook", ""),
			KindSucceeded, finishedEvent{Attempt: ok, Attempts: 1, FinishedAt: old, WebhookURL: "https://hook"},
			KindDead, deliveryEvent{Delivery: Delivery{Number: 1, Outcome: "dead", StatusCode: 500}}}, true},
		{"hookretrying", []any{KindCreated, spec("https://hook", ""),
			KindSucceeded, finishedEvent{Attempt: ok, Attempts: 1, FinishedAt: old, WebhookURL: "https://hook"},
			KindDelivery, deliveryEvent{Delivery: Delivery{Number: 1, Outcome: "retry", StatusCode: 500}, NextAttemptAt: &recent}}, false},
		{"redelivering", []any{KindCreated, spec("https://hook", ""),
			KindSucceeded, finishedEvent{Attempt: ok, Attempts: 1, FinishedAt: old, WebhookURL: "https://hook"},
			KindDelivered, delivered, KindRedeliver, redeliverEvent{At: recent}}, false},
		{"pending", []any{KindCreated, spec("https://hook", "k2")}, false},
		{"retrying", []any{KindCreated, spec("", ""), KindAttempt, attemptEvent{Attempt: Attempt{Number: 1, Outcome: OutcomeRetry}, NextAttemptAt: &recent}}, false},
		{"running", []any{KindCreated, spec("", ""), KindStarted, startedEvent{Attempt: 1}}, false},
		{"recent", []any{KindCreated, spec("https://hook", ""),
			KindSucceeded, finishedEvent{Attempt: ok, Attempts: 1, FinishedAt: recent, WebhookURL: "https://hook"},
			KindDelivered, delivered}, false},
	}
	for _, s := range steps {
		if settledOnly && !s.drop {
			continue
		}
		for i := 0; i < len(s.events); i += 2 {
			b.publish(t, tenantID, id(s.name), s.events[i].(string), s.events[i+1])
		}
		if s.drop {
			drop = append(drop, id(s.name))
		} else {
			keep = append(keep, id(s.name))
		}
	}
	return drop, keep
}

func (b *bundle) prune(t *testing.T, tenantID string, before time.Time) uint64 {
	t.Helper()
	return b.publish(t, tenantID, pruneToken, KindPrune, pruneEvent{Before: before})
}

// TestPruneDropsFinishedSettledTasksOnly applies a prune event to a tenant
// with tasks in every state: the finished tasks whose webhook has settled
// and that finished before the cutoff leave the view entirely (every
// record, index entry and event), the rest stay, with counts that match
// what is left; another tenant is not touched; a late event of a pruned
// task is ignored.
func TestPruneDropsFinishedSettledTasksOnly(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	p, _ := b.runProjector(t)
	now := time.Now().UTC()
	old, recent := now.Add(-72*time.Hour), now.Add(-time.Hour)
	drop, keep := pruneFixture(t, b, "ten_a", "a_", old, recent, false)
	otherDrop, _ := pruneFixture(t, b, "ten_b", "b_", old, recent, false)
	waitFor(t, p, b.prune(t, "ten_a", now.Add(-24*time.Hour)))

	for _, id := range drop {
		if _, err := b.view.Get("ten_a", id); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: got %v, want ErrNotFound after the prune", id, err)
		}
	}
	for _, id := range append(keep, otherDrop...) {
		tenantID := "ten_a"
		if strings.HasPrefix(id, "tsk_b_") {
			tenantID = "ten_b"
		}
		if _, err := b.view.Get(tenantID, id); err != nil {
			t.Errorf("%s: got %v, want it kept", id, err)
		}
	}
	dump := dumpView(t, b.db)
	for k, v := range dump {
		for _, id := range drop {
			if strings.Contains(k, id) || strings.Contains(v, id) {
				t.Errorf("the view still has %s in %s = %s", id, k, v)
			}
		}
		if strings.Contains(k, `"ten_a"/"byidem"/"k1"`) {
			t.Errorf("the pruned task's idempotency key is still indexed: %s", k)
		}
	}
	page, err := b.view.List("ten_a", ListQuery{Limit: 200})
	if err != nil || len(page.Items) != len(keep) {
		t.Fatalf("list: got %d tasks (%v), want the %d kept", len(page.Items), err, len(keep))
	}
	checkCounts(t, b.view, "ten_a", page.Items)

	// A late event of a pruned task changes nothing, live and on rebuild.
	seq := b.publish(t, "ten_a", drop[0], KindRedeliver, redeliverEvent{At: now})
	waitFor(t, p, seq)
	if _, err := b.view.Get("ten_a", drop[0]); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a redeliver of a pruned task revived it: %v", err)
	}
	// Everything the prune left is exactly what a replay of the whole
	// stream makes.
	compareRebuilt(t, b, dumpView(t, b.db), 0)
}

// checkCounts compares the tenant's live counts with the tasks listed.
func checkCounts(t *testing.T, v *View, tenantID string, tasks []*Task) {
	t.Helper()
	want := Counts{Status: map[Status]int{}, Webhook: map[WebhookStatus]int{}}
	for _, task := range tasks {
		want.Status[task.Status]++
		if task.Webhook != nil && task.Webhook.Status != "" {
			want.Webhook[task.Webhook.Status]++
		}
	}
	got, err := v.Counts(tenantID)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("counts: got %v, want %v", got, want)
	}
}

// TestPruneRebuildEqualsLiveAfterAgeLimit prunes everything two tenants
// have finished, adds new tasks, then drops the stream's oldest events as
// its age limit would (up to the middle of the pruned tasks' history): a
// view rebuilt from what is left equals the live view key by key, one
// tenant gone from both.
func TestPruneRebuildEqualsLiveAfterAgeLimit(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	p, _ := b.runProjector(t)
	now := time.Now().UTC()
	old := now.Add(-72 * time.Hour)
	pruneFixture(t, b, "ten_a", "old_", old, old, true)
	pruneFixture(t, b, "ten_c", "old_", old, old, true)
	trim := b.publish(t, "ten_a", "tsk_late", KindCreated, createdEvent{Spec: Spec{TargetURL: "https://x"}, CreatedAt: old})
	b.publish(t, "ten_a", "tsk_late", KindCanceled, canceledEvent{At: old})
	// Everything finished is before this cutoff, and so is every minute
	// of statistics so far.
	for _, tenantID := range []string{"ten_a", "ten_c"} {
		b.prune(t, tenantID, now.Add(2*time.Minute))
	}
	newDrop, newKeep := pruneFixture(t, b, "ten_a", "new_", now.Add(time.Hour), now.Add(3*time.Hour), false)
	seq := b.prune(t, "ten_a", now.Add(90*time.Minute))
	waitFor(t, p, seq)
	for _, id := range newDrop {
		if _, err := b.view.Get("ten_a", id); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: got %v, want pruned", id, err)
		}
	}
	live := dumpView(t, b.db)
	for k := range live {
		if strings.HasPrefix(k, `"tasks"/"ten_c"`) {
			t.Errorf("a tenant with nothing left keeps %s", k)
		}
	}
	page, _ := b.view.List("ten_a", ListQuery{Limit: 200})
	checkCounts(t, b.view, "ten_a", page.Items)
	if len(page.Items) != len(newKeep) {
		t.Errorf("list: got %d tasks, want %d", len(page.Items), len(newKeep))
	}

	compareRebuilt(t, b, live, 0)
	// The age limit drops the oldest events, here up to tsk_late's
	// cancel: a rebuild then meets events of tasks it never saw created.
	s, err := b.js.Stream(context.Background(), StreamTasks)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Purge(context.Background(), jetstream.WithPurgeSequence(trim+1)); err != nil {
		t.Fatal(err)
	}
	compareRebuilt(t, b, live, trim+1)
}

// compareRebuilt projects the stream into a new view file and compares it
// with want, key by key; from is the first sequence the stream still has
// (0: all).
func compareRebuilt(t *testing.T, b *bundle, want map[string]string, from uint64) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "rebuilt.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rebuilt := &bundle{js: b.js, db: db, view: NewView(db, NewHub()), pub: b.pub}
	p, stop := rebuilt.runProjector(t)
	ctx, cancel := context.WithTimeout(context.Background(), testenv.GiveUpAfter)
	defer cancel()
	if err := p.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	stop()
	got := dumpView(t, db)
	if from > 0 {
		// Usage outlives the events it counts (usage.go): a view rebuilt
		// after the age limit dropped some lacks their days, as documented.
		dropUsage(want)
		dropUsage(got)
	}
	for k, v := range want {
		if w, ok := got[k]; !ok {
			t.Errorf("rebuilt from %d: lacks %s", from, k)
		} else if v != w {
			t.Errorf("rebuilt from %d: differs at %s:\n live    %s\n rebuilt %s", from, k, v, w)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("rebuilt from %d: has an extra %s", from, k)
		}
	}
}

// dropUsage removes the usage bucket's keys from a dump of a view.
func dropUsage(dump map[string]string) {
	for k := range dump {
		if strings.HasPrefix(k, `"usage"`) {
			delete(dump, k)
		}
	}
}

// dumpView reads every key of every bucket, nested ones included (a bucket
// itself as an empty value).
func dumpView(t *testing.T, db *bolt.DB) map[string]string {
	t.Helper()
	out := map[string]string{}
	var walk func(prefix string, b *bolt.Bucket) error
	walk = func(prefix string, b *bolt.Bucket) error {
		return b.ForEach(func(k, v []byte) error {
			key := fmt.Sprintf("%s/%q", prefix, k)
			if v == nil {
				out[key+"/"] = ""
				return walk(key, b.Bucket(k))
			}
			out[key] = string(bytes.Clone(v))
			return nil
		})
	}
	err := db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error { return walk(fmt.Sprintf("%q", name), b) })
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestJanitorPrunesEachTenantByItsRetention runs the janitor with a clock
// two days ahead: the tenant whose retention is one day loses its
// finished tasks, the one with a week's keeps them, and one without
// retention keeps everything. The schedule firing reaches one janitor and
// prunes; writing the schedule again at the same interval keeps it.
func TestJanitorPrunesEachTenantByItsRetention(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	p, _ := b.runProjector(t)
	now := time.Now().UTC()
	drop, keep := pruneFixture(t, b, "ten_day", "d_", now.Add(-time.Hour), now.Add(47*time.Hour), false)
	_, weekKeep := pruneFixture(t, b, "ten_week", "w_", now.Add(-time.Hour), now.Add(47*time.Hour), false)
	_, foreverKeep := pruneFixture(t, b, "ten_ever", "e_", now.Add(-time.Hour), now.Add(47*time.Hour), false)
	waitFor(t, p, b.pub.LastTaskSeq())
	retention := map[string]time.Duration{"ten_day": 24 * time.Hour, "ten_week": 7 * 24 * time.Hour}
	j := NewJanitor(b.js, b.pub, b.view, quiet, JanitorConfig{
		Interval:  time.Second,
		Retention: func(tenantID string) time.Duration { return retention[tenantID] },
		Now:       func() time.Time { return now.Add(48 * time.Hour) },
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- j.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	// The schedule fires (within a second or so) and the janitor prunes:
	// wait for that, not for a time.
	testenv.WaitUntil(t, "the prune schedule to prune "+drop[0], func() (bool, string) {
		_, err := b.view.Get("ten_day", drop[0])
		return err != nil, fmt.Sprintf("Get: %v", err)
	})
	waitFor(t, p, b.pub.LastTaskSeq())
	for _, id := range drop {
		if _, err := b.view.Get("ten_day", id); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: got %v, want pruned", id, err)
		}
	}
	for tenantID, ids := range map[string][]string{"ten_day": keep, "ten_week": weekKeep, "ten_ever": foreverKeep} {
		for _, id := range ids {
			if _, err := b.view.Get(tenantID, id); err != nil {
				t.Errorf("%s/%s: got %v, want kept", tenantID, id, err)
			}
		}
	}
	if _, err := b.view.Get("ten_week", "tsk_w_delivered"); err != nil {
		t.Errorf("a task within its tenant's retention was pruned: %v", err)
	}

	s, err := b.js.Stream(context.Background(), StreamSchedules)
	if err != nil {
		t.Fatal(err)
	}
	first, err := s.GetLastMsgForSubject(context.Background(), pruneScheduleSubject)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.ensureSchedule(context.Background()); err != nil {
		t.Fatal(err)
	}
	again, _ := s.GetLastMsgForSubject(context.Background(), pruneScheduleSubject)
	if again.Sequence != first.Sequence {
		t.Errorf("the same schedule was written again (seq %d, then %d): restarts would put pruning off", first.Sequence, again.Sequence)
	}
	j.cfg.Interval = time.Hour
	if err := j.ensureSchedule(context.Background()); err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background(), jetstream.WithSubjectFilter(pruneScheduleSubject))
	if err != nil {
		t.Fatal(err)
	}
	if n := info.State.Subjects[pruneScheduleSubject]; n != 1 {
		t.Errorf("after a new interval the stream holds %d prune schedules, want 1", n)
	}
}

// TestRedeliverStopsWhenTheRetentionHasPassed: a finished task's webhook
// can be redelivered until its tenant's retention has passed since it
// finished, not after, so that redeliveries cannot keep a task in the view
// for ever; nothing is published for a refused one.
func TestRedeliverStopsWhenTheRetentionHasPassed(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	p, _ := b.runProjector(t)
	finished := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	now := finished.Add(24*time.Hour - time.Second)
	tasks := NewTasks(b.pub, b.view, p, quiet, func() time.Time { return now })
	tasks.Retention = func(string) time.Duration { return 24 * time.Hour }
	b.publish(t, "ten_a", "tsk_1", KindCreated, createdEvent{Spec: Spec{TargetURL: "https://x", WebhookURL: "https://hook"}, CreatedAt: finished})
	b.publish(t, "ten_a", "tsk_1", KindSucceeded, finishedEvent{Attempt: &Attempt{Number: 1, Outcome: OutcomeSucceeded}, Attempts: 1,
		FinishedAt: finished, WebhookURL: "https://hook"})
	waitFor(t, p, b.publish(t, "ten_a", "tsk_1", KindDelivered, deliveryEvent{Delivery: Delivery{Number: 1, Outcome: "delivered"}}))
	ctx := context.Background()
	if _, err := tasks.Redeliver(ctx, "ten_a", "tsk_1"); err != nil {
		t.Fatalf("a second before the retention has passed: %v", err)
	}
	now = finished.Add(24 * time.Hour)
	last := b.pub.LastTaskSeq()
	if _, err := tasks.Redeliver(ctx, "ten_a", "tsk_1"); !errors.Is(err, ErrRetentionPassed) {
		t.Fatalf("once the retention has passed: got %v, want ErrRetentionPassed", err)
	}
	if b.pub.LastTaskSeq() != last {
		t.Fatal("a refused redeliver was published")
	}
}
