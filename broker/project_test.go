package broker

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/boomerang-dev/boomerang/internal/testenv"
)

// TestWriteErrorIsNotASkip makes a real bbolt write fail in the middle of
// applying an event (the attempt's key is taken by a bucket, so Put
// refuses it): the batch fails and is retried, the view's sequence does not
// move past the event, and once the write can succeed the attempt is
// there. It used to be skipped like a malformed event, and lost.
func TestWriteErrorIsNotASkip(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	p, _ := b.runProjector(t)
	created := b.publish(t, "ten_a", "tsk_1", KindCreated, createdEvent{Spec: Spec{TargetURL: "https://x"}, CreatedAt: time.Now()})
	waitFor(t, p, created)

	attemptKey := childKey([]byte("tsk_1"), 1)
	inTenant := func(fn func(tb *bolt.Bucket) error) {
		t.Helper()
		if err := b.db.Update(func(tx *bolt.Tx) error {
			return fn(tx.Bucket(bucketTasks).Bucket([]byte("ten_a")).Bucket(bucketAttempts))
		}); err != nil {
			t.Fatal(err)
		}
	}
	inTenant(func(attempts *bolt.Bucket) error { _, err := attempts.CreateBucket(attemptKey); return err })
	seq := b.publish(t, "ten_a", "tsk_1", KindAttempt, attemptEvent{Attempt: Attempt{Number: 1, Outcome: OutcomeRetry, Error: "kept"}})
	testenv.WaitUntil(t, "the failed write to be reported", func() (bool, string) {
		return p.Err() != nil, fmt.Sprintf("Err %v, applied %d", p.Err(), p.Applied())
	})
	if err := p.Err(); !errors.Is(err, berrors.ErrIncompatibleValue) {
		t.Fatalf("Err: got %v, want bbolt's write error", err)
	}
	if got := p.Applied(); got != created {
		t.Fatalf("Applied: got %d, want %d: the failed event must not be passed over", got, created)
	}

	inTenant(func(attempts *bolt.Bucket) error { return attempts.DeleteBucket(attemptKey) })
	waitFor(t, p, seq)
	task, err := b.view.Get("ten_a", "tsk_1")
	if err != nil {
		t.Fatal(err)
	}
	if len(task.Attempts) != 1 || task.Attempts[0].Error != "kept" || task.Status != StatusRetrying || p.Err() != nil || p.Skipped() != 0 {
		t.Fatalf("after the retry: %d attempts, status %s, Err %v, skipped %d; want the attempt, retrying, healthy, none skipped",
			len(task.Attempts), task.Status, p.Err(), p.Skipped())
	}
}

// TestMalformedEventsAreSkippedAndCounted: what cannot be decoded is
// skipped, counted, and blocks nothing after it; an event of a task the
// view does not know is not malformed.
func TestMalformedEventsAreSkippedAndCounted(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	p, _ := b.runProjector(t)
	ctx := context.Background()
	b.publish(t, "ten_a", "tsk_1", KindCreated, createdEvent{Spec: Spec{TargetURL: "https://x"}, CreatedAt: time.Now()})
	for subject, data := range map[string]string{
		taskSubject("ten_a", "tsk_2", KindCreated):     "{not json",
		taskSubject("ten_a", "tsk_1", KindAttempt):     `{"attempt": "one"}`,
		taskSubject("ten_a", "tsk_1", KindAttempt+"x"): `{}`,
		taskSubject("ten_a", "tsk_1", KindDelivered):   `{"delivery": {"number": 0}}`,
		"task.ten_a.tsk$3.created":                     `{}`,
	} {
		if _, err := b.js.Publish(ctx, subject, []byte(data)); err != nil {
			t.Fatal(err)
		}
	}
	b.publish(t, "ten_a", "tsk_9", KindAttempt, attemptEvent{Attempt: Attempt{Number: 1}}) // unknown task
	seq := b.publish(t, "ten_a", "tsk_1", KindAttempt, attemptEvent{Attempt: Attempt{Number: 1, Outcome: OutcomeRetry}})
	waitFor(t, p, seq)
	if n := p.Skipped(); n != 5 {
		t.Errorf("Skipped: got %d, want 5", n)
	}
	task, err := b.view.Get("ten_a", "tsk_1")
	if err != nil || len(task.Attempts) != 1 || p.Err() != nil {
		t.Fatalf("the event after the malformed ones: task %v, err %v, projector %v; want it applied", task, err, p.Err())
	}
}
