package broker

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"
	"go.uber.org/goleak"

	"github.com/boomerang-dev/boomerang/internal/projector"
	"github.com/boomerang-dev/boomerang/internal/testenv"
)

// TestMain fails the package when a goroutine outlives its tests: the
// embedded server, the projectors and the workers stop with the test that
// started them. No goroutine needs ignoring.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// The node wires these together: the view is the task projector's
// Applier, and the projector is the progress Tasks and the Deliverer wait on.
var (
	_ projector.Applier = (*View)(nil)
	_ ViewProgress      = (*projector.Projector)(nil)
)

// bundle is a stream, a bbolt file and a view, real parts all.
type bundle struct {
	js   jetstream.JetStream
	db   *bolt.DB
	view *View
	pub  *Publisher
}

func newBundle(t *testing.T) *bundle {
	t.Helper()
	js, _ := testenv.StartJetStream(t)
	if err := EnsureStreams(context.Background(), js, StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(filepath.Join(t.TempDir(), "view.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &bundle{js: js, db: db, view: NewView(db, NewHub()), pub: NewPublisher(js)}
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// runProjector runs a task projector until the test ends or stop is called.
func (b *bundle) runProjector(t *testing.T) (*projector.Projector, func()) {
	t.Helper()
	p := projector.New(b.js, b.db, StreamTasks, b.view, quiet)
	return p, startProjector(t, p)
}

// startProjector runs p until the test ends or stop is called.
func startProjector(t *testing.T, p *projector.Projector) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = p.Run(ctx) }()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return stop
}

func (b *bundle) publish(t *testing.T, tenant, task, kind string, v any) uint64 {
	t.Helper()
	seq, err := b.pub.PublishEvent(context.Background(), tenant, task, kind, v)
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

func waitFor(t *testing.T, p *projector.Projector, seq uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testenv.GiveUpAfter)
	defer cancel()
	if err := p.WaitFor(ctx, seq); err != nil {
		t.Fatalf("projector did not reach %d: %v", seq, err)
	}
}

func TestViewResumesWithoutApplyingTwice(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	p, stop := b.runProjector(t)
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b.publish(t, "ten_a", "tsk_1", KindCreated, createdEvent{Spec: Spec{TargetURL: "https://x", Method: "POST", Retries: 3, Timeout: 30}, CreatedAt: created})
	seq := b.publish(t, "ten_a", "tsk_1", KindAttempt, attemptEvent{Attempt: Attempt{Number: 1, Outcome: OutcomeRetry}})
	waitFor(t, p, seq)
	stop()

	// More events while the projector is down; a fresh one resumes after
	// the stored sequence.
	seq = b.publish(t, "ten_a", "tsk_1", KindAttempt, attemptEvent{Attempt: Attempt{Number: 2, Outcome: OutcomeRetry}})
	p2, _ := b.runProjector(t)
	waitFor(t, p2, seq)
	task, err := b.view.Get("ten_a", "tsk_1")
	if err != nil {
		t.Fatal(err)
	}
	if len(task.Attempts) != 2 || task.AttemptCount != 2 || task.Status != StatusRetrying {
		t.Fatalf("task: got %d attempts, count %d, status %s; want 2, 2, retrying", len(task.Attempts), task.AttemptCount, task.Status)
	}
	// Records keyed by task and number would hide a replay; the statistics
	// and counters, which add up, would not.
	stats, err := b.view.Stats("ten_a", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var total MinuteStats
	for _, m := range stats {
		total.Add(m)
	}
	if total.Created != 1 || total.Attempts != 2 {
		t.Fatalf("stats: got %d created, %d attempts; want 1, 2 (an event applied twice?)", total.Created, total.Attempts)
	}
	if counts, err := b.view.Counts("ten_a"); err != nil || counts.Status[StatusRetrying] != 1 || counts.Status[StatusPending] != 0 {
		t.Fatalf("counts: got %+v, %v; want one retrying task", counts, err)
	}
	select {
	case <-p2.Ready():
	case <-time.After(testenv.GiveUpAfter):
		t.Fatal("projector never became ready")
	}
}

func TestFirstTerminalEventWins(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	p, _ := b.runProjector(t)
	b.publish(t, "ten_a", "tsk_1", KindCreated, createdEvent{Spec: Spec{TargetURL: "https://x", WebhookURL: "https://hook"}, CreatedAt: time.Now()})
	b.publish(t, "ten_a", "tsk_1", KindCanceled, canceledEvent{At: time.Now()})
	seq := b.publish(t, "ten_a", "tsk_1", KindSucceeded, finishedEvent{
		Attempt: &Attempt{Number: 1, Outcome: OutcomeSucceeded, Response: Response{StatusCode: 200}}, Attempts: 1, WebhookURL: "https://hook",
	})
	waitFor(t, p, seq)
	task, _ := b.view.Get("ten_a", "tsk_1")
	if task.Status != StatusCanceled || task.Result != nil || task.Webhook.Status != "" {
		t.Fatalf("got status %s result %v webhook %q; want canceled, no result, no webhook", task.Status, task.Result, task.Webhook.Status)
	}
	if len(task.Attempts) != 1 {
		t.Fatalf("the late attempt is kept as a record: got %d attempts, want 1", len(task.Attempts))
	}
}

func TestMalformedAndOrphanEventsAreSkipped(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	p, _ := b.runProjector(t)
	ctx := context.Background()
	if _, err := b.js.Publish(ctx, taskSubject("ten_a", "tsk_1", KindCreated), []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	b.publish(t, "ten_a", "tsk_2", KindAttempt, attemptEvent{Attempt: Attempt{Number: 1}})
	if _, err := b.js.Publish(ctx, "task.too.many.tokens.here", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	seq := b.publish(t, "ten_a", "tsk_3", KindCreated, createdEvent{Spec: Spec{TargetURL: "https://x"}, CreatedAt: time.Now()})
	waitFor(t, p, seq)
	for id, want := range map[string]bool{"tsk_1": false, "tsk_2": false, "tsk_3": true} {
		_, err := b.view.Get("ten_a", id)
		if (err == nil) != want {
			t.Errorf("%s: got err %v, want found=%v", id, err, want)
		}
	}
}

func TestHubWakesWatchersOfChangedTasksOnly(t *testing.T) {
	t.Parallel()
	h := NewHub()
	one, stopOne := h.WatchTask("ten_a", "tsk_1")
	defer stopOne()
	two, stopTwo := h.WatchTask("ten_a", "tsk_2")
	defer stopTwo()
	tenant, stopTenant := h.WatchTenant("ten_a")
	defer stopTenant()
	other, stopOther := h.WatchTenant("ten_b")
	defer stopOther()
	var heard []Change
	h.Listen(func(c Change) { heard = append(heard, c) })

	h.publish([]Change{{TenantID: "ten_a", TaskID: "tsk_1", Kind: KindStarted, Seq: 7}})
	for name, ch := range map[string]<-chan struct{}{"task 1": one, "tenant a": tenant} {
		select {
		case <-ch:
		default:
			t.Errorf("%s watcher not woken", name)
		}
	}
	for name, ch := range map[string]<-chan struct{}{"task 2": two, "tenant b": other} {
		select {
		case <-ch:
			t.Errorf("%s watcher woken by another task's change", name)
		default:
		}
	}
	if len(heard) != 1 || heard[0].Seq != 7 {
		t.Fatalf("listener heard %v", heard)
	}
	stopTwo()
	if len(h.watchers) != 1 { // only tenant b remains
		t.Fatalf("watchers left: got %d keys, want 1", len(h.watchers))
	}
}

func TestListPagesByStatus(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	p, _ := b.runProjector(t)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var seq uint64
	for i := range 7 {
		id := "tsk_" + string(rune('a'+i))
		seq = b.publish(t, "ten_a", id, KindCreated, createdEvent{Spec: Spec{TargetURL: "https://x"}, CreatedAt: base.Add(time.Duration(i) * time.Second)})
		if i%2 == 0 {
			seq = b.publish(t, "ten_a", id, KindCanceled, canceledEvent{At: base})
		}
	}
	waitFor(t, p, seq)
	var got []string
	cursor := ""
	for {
		page, err := b.view.List("ten_a", ListQuery{Status: StatusCanceled, Limit: 2, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Items {
			got = append(got, it.ID)
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	want := []string{"tsk_g", "tsk_e", "tsk_c", "tsk_a"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	if _, err := b.view.List("ten_a", ListQuery{Cursor: "AAAA"}); err != ErrBadCursor {
		t.Fatalf("bad cursor: got %v, want ErrBadCursor", err)
	}
	if page, _ := b.view.List("ten_b", ListQuery{}); len(page.Items) != 0 {
		t.Fatalf("another tenant lists %d tasks", len(page.Items))
	}
}

func TestScheduledDueFiresAtItsTime(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	ctx := context.Background()
	at := time.Now().Add(700 * time.Millisecond)
	due := taskDue{TenantID: "ten_a", TaskID: "tsk_1", Attempt: 2}
	if err := b.pub.schedule(ctx, dueTask, "ten_a", "tsk_1", at, due); err != nil {
		t.Fatal(err)
	}
	cons, err := b.js.Consumer(ctx, StreamSchedules, consumerDispatchDue)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := cons.Next(jetstream.FetchMaxWait(testenv.GiveUpAfter))
	if err != nil {
		t.Fatal(err)
	}
	arrived := time.Now()
	var got taskDue
	if err := json.Unmarshal(msg.Data(), &got); err != nil || got.Attempt != 2 {
		t.Fatalf("due: got %s, want attempt 2", msg.Data())
	}
	if arrived.Before(at) {
		t.Fatalf("due arrived at %s, before its time %s", arrived, at)
	}
	_ = msg.Ack()

	// A purged schedule never fires: a later schedule that is left alone
	// fires, and nothing came before it. The purged one is due seconds after
	// it is published, far more than the purge takes; the control is due
	// after it, so waiting for the control waits past the purged one's time.
	purgedAt := time.Now().Add(3 * time.Second)
	if err := b.pub.schedule(ctx, dueTask, "ten_a", "tsk_2", purgedAt, due); err != nil {
		t.Fatal(err)
	}
	if err := b.pub.unschedule(ctx, dueTask, "ten_a", "tsk_2"); err != nil {
		t.Fatal(err)
	}
	if err := b.pub.schedule(ctx, dueTask, "ten_a", "tsk_3", purgedAt.Add(time.Second), due); err != nil {
		t.Fatal(err)
	}
	msg, err = cons.Next(jetstream.FetchMaxWait(testenv.GiveUpAfter))
	if err != nil {
		t.Fatalf("the control schedule did not fire: %v", err)
	}
	if want := dueSubject(dueTask, "ten_a", "tsk_3"); msg.Subject() != want {
		t.Fatalf("first due after the purge: got %s, want %s (the purged schedule fired)", msg.Subject(), want)
	}
	_ = msg.Ack()
}

func TestIndexesCountsAndStats(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	p, _ := b.runProjector(t)
	base := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	hosts := []string{"https://a.example/x", "https://b.example/y"}
	var seq uint64
	for i := range 6 {
		id := fmt.Sprintf("tsk_%d", i)
		spec := Spec{TargetURL: hosts[i%2], WebhookURL: "https://hook.example"}
		if i == 0 {
			spec.IdempotencyKey = "order-0"
		}
		b.publish(t, "ten_a", id, KindCreated, createdEvent{Spec: spec, CreatedAt: base.Add(time.Duration(i) * time.Second)})
		seq = b.publish(t, "ten_a", id, KindSucceeded, finishedEvent{
			Attempt:  &Attempt{Number: 1, Outcome: OutcomeSucceeded, DurationMs: 15, Response: Response{StatusCode: 200}},
			Attempts: 1, FinishedAt: base, WebhookURL: "https://hook.example",
		})
		if i < 2 {
			seq = b.publish(t, "ten_a", id, KindDead, deliveryEvent{Delivery: Delivery{Number: 1, Outcome: "dead"}})
		}
	}
	waitFor(t, p, seq)

	counts, err := b.view.Counts("ten_a")
	if err != nil {
		t.Fatal(err)
	}
	if counts.Status[StatusSucceeded] != 6 || counts.Status[StatusPending] != 0 || counts.Webhook[WebhookDead] != 2 || counts.Webhook[WebhookPending] != 4 {
		t.Fatalf("counts: got %+v", counts)
	}
	page, _ := b.view.List("ten_a", ListQuery{Host: "a.example"})
	if len(page.Items) != 3 || page.Items[0].ID != "tsk_4" {
		t.Fatalf("host filter: got %d items, first %v", len(page.Items), page.Items)
	}
	page, _ = b.view.List("ten_a", ListQuery{Webhook: WebhookDead})
	if len(page.Items) != 2 || page.Items[0].ID != "tsk_1" || page.Items[1].ID != "tsk_0" {
		t.Fatalf("dead letters: got %d items", len(page.Items))
	}
	page, _ = b.view.List("ten_a", ListQuery{Host: "b.example", Webhook: WebhookDead})
	if len(page.Items) != 1 || page.Items[0].ID != "tsk_1" {
		t.Fatalf("host and webhook: got %d items", len(page.Items))
	}
	if task, err := b.view.FindTask("ten_a", "order-0"); err != nil || task.ID != "tsk_0" {
		t.Fatalf("find by idempotency key: got %v %v", task, err)
	}
	if _, err := b.view.FindTask("ten_b", "order-0"); err != ErrNotFound {
		t.Fatalf("another tenant's key: got %v, want ErrNotFound", err)
	}
	stats, err := b.view.Stats("ten_a", time.Now().Add(-time.Hour), time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	var total MinuteStats
	for _, m := range stats {
		total.Add(m)
	}
	if total.Created != 6 || total.Succeeded != 6 || total.Attempts != 6 || total.Dead != 2 || total.Latency[4] != 6 {
		t.Fatalf("stats: got %+v", total)
	}
}

func TestTaskIDsSortByTime(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	prev := newTaskID(base)
	for i := 1; i < 1000; i++ {
		id := newTaskID(base.Add(time.Duration(i) * time.Millisecond))
		if id <= prev || len(id) != 30 || !ValidToken(id) {
			t.Fatalf("id %d: %q after %q", i, id, prev)
		}
		prev = id
	}
	if a, b := newTaskID(base), newTaskID(base); a == b {
		t.Fatal("two ids in the same millisecond are equal")
	}
}
