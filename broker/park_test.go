package broker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/boomerang-dev/boomerang/internal/testenv"
)

// shortParking parks waits of two seconds or more in one-second buckets,
// woken half a second ahead: parking at the scale of a test.
func shortParking() parking {
	return parking{after: 2 * time.Second, bucket: time.Second, lead: 500 * time.Millisecond}
}

// nextMsg takes the next message of a durable consumer, or fails the test.
func nextMsg(t *testing.T, js jetstream.JetStream, stream, consumer string) jetstream.Msg {
	t.Helper()
	cons, err := js.Consumer(context.Background(), stream, consumer)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := cons.Next(jetstream.FetchMaxWait(testenv.GiveUpAfter))
	if err != nil {
		t.Fatalf("%s: no message: %v", consumer, err)
	}
	return msg
}

// lastOn returns the last message on subject, nil when there is none.
func lastOn(t *testing.T, b *bundle, subject string) *jetstream.RawStreamMsg {
	t.Helper()
	s, err := b.pub.stream(context.Background(), StreamSchedules)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := s.GetLastMsgForSubject(context.Background(), subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

// parkOne schedules attempt 2 of ten_a/tsk_1 three seconds ahead with
// shortParking, and returns the bundle, the time and the wait's bucket.
func parkOne(t *testing.T) (*bundle, time.Time, int64) {
	t.Helper()
	b := newBundle(t)
	b.pub.parking = shortParking()
	at := time.Now().Add(3 * time.Second)
	due := taskDue{TenantID: "ten_a", TaskID: "tsk_1", Attempt: 2}
	if err := b.pub.schedule(context.Background(), dueTask, "ten_a", "tsk_1", at, due); err != nil {
		t.Fatal(err)
	}
	return b, at, b.pub.parking.bucketOf(at)
}

// TestFarWaitIsParkedAndFiresAtItsTime: a wait longer than parking.after
// holds no schedule of its own, only a message in its bucket; the bucket's
// wake, promoted, gives it its schedule, and the due fires at its time.
func TestFarWaitIsParkedAndFiresAtItsTime(t *testing.T) {
	t.Parallel()
	b, at, bucket := parkOne(t)
	ctx := context.Background()
	due := taskDue{TenantID: "ten_a", TaskID: "tsk_1", Attempt: 2}
	if lastOn(t, b, scheduleSubject(dueTask, "ten_a", "tsk_1")) != nil {
		t.Fatal("a far wait got a pending schedule of its own")
	}
	if parked := lastOn(t, b, parkSubject(bucket)); parked == nil || parked.Header.Get(headerParkedSchedule) != scheduleSubject(dueTask, "ten_a", "tsk_1") {
		t.Fatalf("parked: got %+v, want the wait in bucket %d", parked, bucket)
	}

	wake := nextMsg(t, b.js, StreamSchedules, consumerWake)
	if got, ok := parseWakeSubject(wake.Subject()); !ok || got != bucket {
		t.Fatalf("wake: got %s, want bucket %d", wake.Subject(), bucket)
	}
	if woken := time.Now(); !woken.Before(at) {
		t.Fatalf("the bucket woke at %s, not before the wait's time %s", woken, at)
	}
	if n, err := b.pub.promote(ctx, bucket, quiet); err != nil || n != 1 {
		t.Fatalf("promote: got %d, %v; want 1", n, err)
	}
	_ = wake.Ack()
	if lastOn(t, b, parkSubject(bucket)) != nil {
		t.Fatal("the promoted bucket was not purged")
	}
	msg := nextMsg(t, b.js, StreamSchedules, consumerDispatchDue)
	arrived := time.Now()
	var got taskDue
	if err := json.Unmarshal(msg.Data(), &got); err != nil || got.TaskID != due.TaskID || got.Attempt != due.Attempt {
		t.Fatalf("due: got %s, want %+v", msg.Data(), due)
	}
	if msg.Subject() != dueSubject(dueTask, "ten_a", "tsk_1") || arrived.Before(at) {
		t.Fatalf("due on %s at %s; want %s at %s or later", msg.Subject(), arrived, dueSubject(dueTask, "ten_a", "tsk_1"), at)
	}
	_ = msg.Ack()
}

// TestParkedAfterItsWakeStillFires parks a wait in a bucket whose wake has
// fired and been promoted already (a node that was slow to park): its park
// writes the wake again, which fires at once, and the wait is promoted.
func TestParkedAfterItsWakeStillFires(t *testing.T) {
	t.Parallel()
	b, at, bucket := parkOne(t)
	ctx := context.Background()
	wake := nextMsg(t, b.js, StreamSchedules, consumerWake)
	if _, err := b.pub.promote(ctx, bucket, quiet); err != nil {
		t.Fatal(err)
	}
	_ = wake.Ack()

	// Another node: it has not seen this bucket's wake.
	late := NewPublisher(b.js)
	late.parking = b.pub.parking
	data, _ := json.Marshal(taskDue{TenantID: "ten_a", TaskID: "tsk_2", Attempt: 1})
	if err := late.park(ctx, scheduleSubject(dueTask, "ten_a", "tsk_2"), at, data); err != nil {
		t.Fatal(err)
	}
	wake = nextMsg(t, b.js, StreamSchedules, consumerWake)
	if n, err := b.pub.promote(ctx, bucket, quiet); err != nil || n != 1 {
		t.Fatalf("promote again: got %d, %v; want 1 (the late wait only)", n, err)
	}
	_ = wake.Ack()
	for range 2 {
		msg := nextMsg(t, b.js, StreamSchedules, consumerDispatchDue)
		_ = msg.Ack()
	}
}

// TestMalformedParkedWaitIsDropped: a parked message without a valid
// schedule is logged and dropped; the others in its bucket are promoted.
func TestMalformedParkedWaitIsDropped(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	ctx := context.Background()
	bucket := int64(1_700_000_000)
	for _, h := range []map[string]string{
		{headerParkedSchedule: "sched.task.ten_a.tsk_1", headerParkedAt: "not a time"},
		{headerParkedSchedule: "sched.other.ten_a.tsk_1", headerParkedAt: time.Now().Format(time.RFC3339Nano)},
		{headerParkedSchedule: "due.task.ten_a.tsk_1", headerParkedAt: time.Now().Format(time.RFC3339Nano)},
		{headerParkedSchedule: "sched.task.ten_a.tsk_1", headerParkedAt: time.Now().Format(time.RFC3339Nano)},
	} {
		msg := nats.NewMsg(parkSubject(bucket))
		for k, v := range h {
			msg.Header.Set(k, v)
		}
		msg.Data = []byte(`{"tenantId":"ten_a","taskId":"tsk_1","attempt":1}`)
		if _, err := b.pub.publish(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := b.pub.promote(ctx, bucket, quiet); err != nil || n != 1 {
		t.Fatalf("promote: got %d, %v; want 1", n, err)
	}
	msg := nextMsg(t, b.js, StreamSchedules, consumerDispatchDue)
	if msg.Subject() != dueSubject(dueTask, "ten_a", "tsk_1") {
		t.Fatalf("due on %s", msg.Subject())
	}
	_ = msg.Ack()
}

// target records the calls it gets, by task.
type target struct {
	*httptest.Server
	mu    sync.Mutex
	calls map[string][]time.Time
}

func newTarget(t *testing.T) *target {
	tg := &target{calls: map[string][]time.Time{}}
	tg.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tg.mu.Lock()
		tg.calls[r.Header.Get("Boomerang-Task-Id")] = append(tg.calls[r.Header.Get("Boomerang-Task-Id")], time.Now())
		tg.mu.Unlock()
	}))
	t.Cleanup(tg.Close)
	return tg
}

func (tg *target) callsFor(id string) []time.Time {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return tg.calls[id]
}

// httpCaller calls a task's target over HTTP (package delivery does it for
// real, with signing; this is the least a dispatcher needs).
type httpCaller struct{}

func (httpCaller) Call(ctx context.Context, req CallRequest) CallResult {
	started := time.Now()
	r, err := http.NewRequestWithContext(ctx, req.Spec.Method, req.Spec.TargetURL, nil)
	if err != nil {
		return CallResult{Outcome: OutcomeFailed, Error: err.Error(), StartedAt: started}
	}
	r.Header.Set("Boomerang-Task-Id", req.TaskID)
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		return CallResult{Outcome: OutcomeRetry, Error: err.Error(), StartedAt: started, Duration: time.Since(started)}
	}
	resp.Body.Close()
	return CallResult{Outcome: OutcomeSucceeded, Response: Response{StatusCode: resp.StatusCode}, StartedAt: started, Duration: time.Since(started)}
}

type fixedPolicy struct{}

func (fixedPolicy) TaskBackoff(int, time.Duration) time.Duration { return time.Second }

func (fixedPolicy) WebhookBackoff(int) (time.Duration, bool) { return time.Second, true }

// runDispatcher runs a dispatcher on the bundle until the test ends.
func (b *bundle) runDispatcher(t *testing.T, progress ViewProgress) {
	t.Helper()
	d := NewDispatcher(b.js, b.pub, b.view, progress, httpCaller{}, fixedPolicy{}, quiet, WorkerConfig{MaxInFlight: 16})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = d.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// waitStatus waits until the view shows the task with one of the statuses.
func waitStatus(t *testing.T, tasks *Tasks, tenantID, taskID string, want ...Status) *Task {
	t.Helper()
	var task *Task
	testenv.WaitUntil(t, fmt.Sprintf("task %s with status %v", taskID, want), func() (bool, string) {
		got, err := tasks.Get(context.Background(), tenantID, taskID)
		if err != nil {
			return false, err.Error()
		}
		task = got
		return slices.Contains(want, got.Status), fmt.Sprintf("%+v", got)
	})
	return task
}

// TestParkedTasksRunOrStayCanceled runs tasks whose first attempt is far
// enough ahead to be parked: one is called once, at its time or later;
// another, canceled while parked, is never called.
func TestParkedTasksRunOrStayCanceled(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	b.pub.parking = shortParking()
	p, _ := b.runProjector(t)
	b.runDispatcher(t, p)
	tg := newTarget(t)
	tasks := NewTasks(b.pub, b.view, p, quiet, nil)
	ctx := context.Background()
	notBefore := time.Now().Add(3 * time.Second)
	spec := Spec{TargetURL: tg.URL, Method: http.MethodPost, Retries: 1, Timeout: 5, NotBefore: &notBefore}
	run, _, err := tasks.Create(ctx, "ten_a", spec, "")
	if err != nil {
		t.Fatal(err)
	}
	canceled, _, err := tasks.Create(ctx, "ten_a", spec, "")
	if err != nil {
		t.Fatal(err)
	}
	// Parked before it is canceled: the cancel has no schedule to purge.
	bucket := parkSubject(b.pub.parking.bucketOf(notBefore))
	testenv.WaitUntil(t, "both tasks to be parked", func() (bool, string) {
		if lastOn(t, b, bucket) == nil {
			return false, "nothing parked"
		}
		n := waitedParked(t, b, bucket)
		return n >= 2, fmt.Sprintf("%d parked", n)
	})
	if _, err := tasks.Cancel(ctx, "ten_a", canceled.ID); err != nil {
		t.Fatal(err)
	}
	task := waitStatus(t, tasks, "ten_a", run.ID, StatusSucceeded)
	if calls := tg.callsFor(run.ID); len(calls) != 1 || calls[0].Before(notBefore) {
		t.Fatalf("the parked task: got calls at %v, want one at %s or later", calls, notBefore)
	}
	if task.AttemptCount != 1 {
		t.Fatalf("attempts: got %d, want 1", task.AttemptCount)
	}
	// Both dues were made at once: the canceled one's has come too, and
	// been dropped, once its schedule stream is empty.
	testenv.WaitUntil(t, "the canceled task's due to be handled", func() (bool, string) {
		n := pendingDues(t, b)
		return n == 0, fmt.Sprintf("%d messages in the schedules stream", n)
	})
	if calls := tg.callsFor(canceled.ID); len(calls) != 0 {
		t.Fatalf("the task canceled while parked was called %d times", len(calls))
	}
	if got := waitStatus(t, tasks, "ten_a", canceled.ID, StatusCanceled); got.AttemptCount != 0 {
		t.Fatalf("the canceled task: got %d attempts", got.AttemptCount)
	}
}

// waitedParked counts the messages parked on subject.
func waitedParked(t *testing.T, b *bundle, subject string) uint64 {
	t.Helper()
	s, err := b.pub.stream(context.Background(), StreamSchedules)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background(), jetstream.WithSubjectFilter(subject))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Subjects[subject]
}

// pendingDues counts the messages in the schedules stream: pending
// schedules, parked waits and dues not yet acknowledged.
func pendingDues(t *testing.T, b *bundle) uint64 {
	t.Helper()
	s, err := b.pub.stream(context.Background(), StreamSchedules)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// TestPromoteLargeWaits promotes a bucket whose waits are too large for
// one batch read: every one gets its schedule, intact.
func TestPromoteLargeWaits(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	ctx := context.Background()
	bucket := int64(1_700_000_000)
	at := time.Now().Add(time.Hour)
	data := make([]byte, 3<<20)
	for i := range data {
		data[i] = 'a' + byte(i%26)
	}
	const waits = 7
	for i := range waits {
		msg := parkedMsg(bucket, scheduleSubject(dueTask, "ten_a", fmt.Sprintf("tsk_%d", i)), at, data)
		if _, err := b.pub.publish(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := b.pub.promote(ctx, bucket, quiet); err != nil || n != waits {
		t.Fatalf("promote: got %d, %v; want %d", n, err, waits)
	}
	for i := range waits {
		msg := lastOn(t, b, scheduleSubject(dueTask, "ten_a", fmt.Sprintf("tsk_%d", i)))
		if msg == nil || !bytes.Equal(msg.Data, data) || msg.Header.Get("Nats-Schedule") != "@at "+at.UTC().Format(time.RFC3339Nano) {
			t.Fatalf("wait %d: its schedule is missing or changed", i)
		}
	}
}
