package broker

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"

	"github.com/boomerang-dev/boomerang/internal/natsembed"
	"github.com/boomerang-dev/boomerang/internal/testenv"
)

// oldStreams sets up the streams and consumers as the version before
// subjects per tenant and parking did: every event on its task's subject,
// dispatch with a single filter, no direct gets on the schedules.
func oldStreams(t *testing.T, js jetstream.JetStream) {
	t.Helper()
	ctx := context.Background()
	for _, cfg := range []jetstream.StreamConfig{
		{Name: StreamTasks, Subjects: []string{"task.>"}, Storage: jetstream.FileStorage, AllowDirect: true},
		{Name: StreamSchedules, Subjects: []string{"sched.>", "due.>"}, Retention: jetstream.WorkQueuePolicy,
			Storage: jetstream.FileStorage, AllowMsgSchedules: true, AllowRollup: true},
	} {
		if _, err := js.CreateStream(ctx, cfg); err != nil {
			t.Fatal(err)
		}
	}
	old := StreamOptions{}.withDefaults()
	for _, c := range []struct {
		stream string
		cfg    jetstream.ConsumerConfig
	}{
		{StreamTasks, consumerConfig(consumerDispatch, old, "task.*.*.created")},
		{StreamSchedules, consumerConfig(consumerDispatchDue, old, "due.task.*.*")},
		{StreamTasks, consumerConfig(consumerDeliver, old, "task.*.*.succeeded", "task.*.*.failed", "task.*.*.redeliver")},
		{StreamSchedules, consumerConfig(consumerDeliverDue, old, "due.hook.*.*")},
	} {
		if _, err := js.CreateOrUpdateConsumer(ctx, c.stream, c.cfg); err != nil {
			t.Fatal(err)
		}
	}
}

// TestUpgradeKeepsOldEventsAndSchedules starts on streams written by the
// version before: its events, on their tasks' subjects, still reach the
// workers and the view beside new ones, and a schedule it left pending
// still fires where the dispatcher listens.
func TestUpgradeKeepsOldEventsAndSchedules(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	// The old node's server, stopped before the new one starts on its store.
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
	oldStreams(t, js)
	created, _ := json.Marshal(createdEvent{Spec: Spec{TargetURL: "https://x.example", Method: "POST"}, CreatedAt: time.Now().UTC()})
	for _, m := range []*nats.Msg{
		{Subject: "task.ten_a.tsk_done.created", Data: created},
		{Subject: "task.ten_a.tsk_old.created", Data: created},
		{Subject: "task.ten_a.tsk_old.succeeded", Header: nats.Header{headerWebhook: {"0"}}, Data: []byte(`{"attempts":1}`)},
	} {
		if _, err := js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	at := time.Now().Add(time.Second)
	due, _ := json.Marshal(taskDue{TenantID: "ten_a", TaskID: "tsk_sched", Attempt: 2})
	sched := nats.NewMsg("sched.task.ten_a.tsk_sched")
	sched.Header.Set("Nats-Schedule", "@at "+at.UTC().Format(time.RFC3339Nano))
	sched.Header.Set("Nats-Schedule-Target", "due.task.ten_a.tsk_sched")
	sched.Data = due
	if _, err := js.PublishMsg(ctx, sched); err != nil {
		t.Fatal(err)
	}

	// The old node had dispatched the first one.
	if msg := nextMsg(t, js, StreamTasks, consumerDispatch); msg.Subject() != "task.ten_a.tsk_done.created" {
		t.Fatalf("before the upgrade: got %s", msg.Subject())
	} else {
		_ = msg.Ack()
	}

	nc.Close()
	srv.Shutdown()
	js, _ = testenv.StartJetStream(t, func(c *natsembed.Config) { c.Dir = dir })

	for range 2 { // a restart updates nothing more
		if err := EnsureStreams(ctx, js, StreamOptions{}); err != nil {
			t.Fatalf("upgrading the streams: %v", err)
		}
	}
	b := &bundle{js: js, pub: NewPublisher(js)}
	b.db, b.view = newViewFile(t)
	if _, err := b.pub.PublishEvent(ctx, "ten_a", "tsk_new", KindCreated, createdEvent{Spec: Spec{TargetURL: "https://x.example", Method: "POST"}, CreatedAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"tsk_old", "tsk_new"} {
		msg := nextMsg(t, js, StreamTasks, consumerDispatch)
		if _, task, kind, err := parseTaskEvent(msg); err != nil || task != want || kind != KindCreated {
			t.Fatalf("dispatch: got %s (%s %s %v), want the created event of %s", msg.Subject(), task, kind, err, want)
		}
		_ = msg.Ack()
	}
	msg := nextMsg(t, js, StreamTasks, consumerDeliver)
	if _, task, kind, err := parseTaskEvent(msg); err != nil || task != "tsk_old" || kind != KindSucceeded {
		t.Fatalf("deliver: got %s, want tsk_old's succeeded event", msg.Subject())
	}
	_ = msg.Ack()
	msg = nextMsg(t, js, StreamSchedules, consumerDispatchDue)
	if msg.Subject() != "due.task.ten_a.tsk_sched" || time.Now().Before(at) {
		t.Fatalf("the old schedule: got %s at %s, want due.task.ten_a.tsk_sched at %s or later", msg.Subject(), time.Now(), at)
	}
	_ = msg.Ack()

	p, _ := b.runProjector(t)
	s, err := js.Stream(ctx, StreamTasks)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := s.Info(ctx)
	waitFor(t, p, info.State.LastSeq)
	for id, want := range map[string]Status{"tsk_done": StatusPending, "tsk_old": StatusSucceeded, "tsk_new": StatusPending} {
		task, err := b.view.Get("ten_a", id)
		if err != nil || task.Status != want {
			t.Fatalf("view: %s got %+v (%v), want %s", id, task, err, want)
		}
	}
}

func newViewFile(t *testing.T) (*bolt.DB, *View) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "view.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, NewView(db, NewHub())
}
