package broker

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestReplayLinksBothWaysAndPrunesClean replays a finished task twice: each
// replay has the original's request under a new id, without its
// idempotency key or a past notBefore, names the original, and the
// original lists both. The links are what a rebuilt view makes too, and a
// prune of either side leaves no link behind.
func TestReplayLinksBothWaysAndPrunesClean(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	p, _ := b.runProjector(t)
	now := time.Now().UTC()
	clock := now
	tasks := NewTasks(b.pub, b.view, p, quiet, func() time.Time { clock = clock.Add(time.Nanosecond); return clock })
	ctx := context.Background()
	past := now.Add(-time.Hour)
	spec := Spec{TargetURL: "https://target.example/x", Method: "PUT", Headers: map[string]string{"X-A": "1"},
		Payload: []byte(`{"b": 2, "a": 1}`), WebhookURL: "https://hook", Retries: 2, Timeout: 5, NotBefore: &past, IdempotencyKey: "k1"}
	b.publish(t, "ten_a", "tsk_orig", KindCreated, createdEvent{Spec: spec, CreatedAt: now.Add(-2 * time.Hour)})
	waitFor(t, p, b.publish(t, "ten_a", "tsk_orig", KindFailed, finishedEvent{Error: "no", Attempts: 3, FinishedAt: now.Add(-time.Hour)}))

	first, err := tasks.Replay(ctx, "ten_a", "tsk_orig", nil)
	if err != nil {
		t.Fatal(err)
	}
	second, err := tasks.Replay(ctx, "ten_a", "tsk_orig", nil)
	if err != nil {
		t.Fatal(err)
	}
	if first.ID == "tsk_orig" || first.ID == second.ID || first.Status != StatusPending || first.ReplayOf != "tsk_orig" {
		t.Fatalf("replay: got id %s status %s replayOf %q, want a new pending task naming tsk_orig", first.ID, first.Status, first.ReplayOf)
	}
	tasks.AwaitOwnWrites(ctx)
	got, err := b.view.Get("ten_a", first.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := spec
	want.IdempotencyKey, want.NotBefore = "", nil
	if got.TargetURL != want.TargetURL || got.Method != want.Method || string(got.Payload) != string(want.Payload) ||
		got.Headers["X-A"] != "1" || got.WebhookURL != want.WebhookURL || got.Retries != 2 || got.Timeout != 5 ||
		got.IdempotencyKey != "" || got.NotBefore != nil || got.ReplayOf != "tsk_orig" {
		t.Fatalf("replay's spec: got %+v replayOf %q, want %+v", got.Spec, got.ReplayOf, want)
	}
	orig, err := b.view.Get("ten_a", "tsk_orig")
	if err != nil {
		t.Fatal(err)
	}
	if wantIDs := []string{first.ID, second.ID}; !slices.Equal(orig.Replays, wantIDs) {
		t.Fatalf("original's replays: got %v, want %v", orig.Replays, wantIDs)
	}
	if _, err := tasks.Replay(ctx, "ten_a", "tsk_none", nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("replay of an unknown task: got %v, want ErrNotFound", err)
	}
	if _, err := tasks.Replay(ctx, "ten_b", "tsk_orig", nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("replay of another tenant's task: got %v, want ErrNotFound", err)
	}
	compareRebuilt(t, b, dumpView(t, b.db), 0)

	// The first replay finishes and is pruned: the original lists the
	// other only. Then the original goes: no link is left.
	waitFor(t, p, b.publish(t, "ten_a", first.ID, KindCanceled, canceledEvent{At: now.Add(-30 * time.Minute)}))
	waitFor(t, p, b.prune(t, "ten_a", now.Add(-20*time.Minute)))
	orig, err = b.view.Get("ten_a", "tsk_orig")
	if err == nil {
		t.Fatalf("the original finished before the cutoff: got %+v, want it pruned", orig)
	}
	got, err = b.view.Get("ten_a", second.ID)
	if err != nil || got.ReplayOf != "tsk_orig" {
		t.Fatalf("the second replay: got %v, %v; want it kept, still naming its original", got, err)
	}
	for k := range dumpView(t, b.db) {
		if strings.Contains(k, `"replays"/"`) {
			t.Errorf("a link outlived the tasks: %s", k)
		}
	}
	compareRebuilt(t, b, dumpView(t, b.db), 0)
}

// TestRedeliverMatchingIsBoundedAndResumes redelivers a tenant's dead
// letters in calls of a few tasks each: a dry run counts and publishes
// nothing; each call goes through at most its limit, skips what cannot be
// redelivered, and hands a cursor to the next, which goes on where it
// stopped until none is left.
func TestRedeliverMatchingIsBoundedAndResumes(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	p, _ := b.runProjector(t)
	now := time.Now().UTC()
	tasks := NewTasks(b.pub, b.view, p, quiet, func() time.Time { return now })
	ctx := context.Background()
	hook := Spec{TargetURL: "https://a.example/x", WebhookURL: "https://hook"}
	var dead []string
	for i := range 5 {
		id := "tsk_dead" + string(rune('a'+i))
		b.publish(t, "ten_a", id, KindCreated, createdEvent{Spec: hook, CreatedAt: now.Add(time.Duration(i) * time.Second)})
		b.publish(t, "ten_a", id, KindSucceeded, finishedEvent{Attempts: 1, FinishedAt: now, WebhookURL: "https://hook"})
		b.publish(t, "ten_a", id, KindDead, deliveryEvent{Delivery: Delivery{Number: 1, Outcome: "dead"}})
		dead = append(dead, id)
	}
	b.publish(t, "ten_a", "tsk_other", KindCreated, createdEvent{Spec: Spec{TargetURL: "https://b.example/"}, CreatedAt: now})
	waitFor(t, p, b.publish(t, "ten_b", "tsk_dead", KindCreated, createdEvent{Spec: hook, CreatedAt: now}))

	q := ListQuery{Webhook: WebhookDead, Limit: 2}
	before := b.pub.LastTaskSeq()
	dry, err := tasks.RedeliverMatching(ctx, "ten_a", q, true)
	if err != nil || dry.Redelivered != 2 || dry.Skipped != 0 || dry.NextCursor == "" {
		t.Fatalf("dry run: got %+v, %v; want 2 counted and a cursor", dry, err)
	}
	if b.pub.LastTaskSeq() != before {
		t.Fatal("a dry run published")
	}
	var total int
	for calls := 0; ; calls++ {
		if calls > 3 {
			t.Fatalf("the cursor does not end: %+v", q)
		}
		res, err := tasks.RedeliverMatching(ctx, "ten_a", q, false)
		if err != nil {
			t.Fatal(err)
		}
		total += res.Redelivered
		if res.Redelivered > 2 {
			t.Fatalf("a call redelivered %d, over its limit of 2", res.Redelivered)
		}
		if res.NextCursor == "" {
			break
		}
		q.Cursor = res.NextCursor
	}
	if total != len(dead) {
		t.Fatalf("redelivered %d in all, want %d", total, len(dead))
	}
	for _, id := range dead {
		task, _ := b.view.Get("ten_a", id)
		if task.Webhook.Status != WebhookPending {
			t.Errorf("%s: webhook %s, want pending again", id, task.Webhook.Status)
		}
	}
	// Every task of the tenant: the one without a webhook is skipped.
	res, err := tasks.RedeliverMatching(ctx, "ten_a", ListQuery{}, true)
	if err != nil || res.Redelivered != len(dead) || res.Skipped != 1 || res.NextCursor != "" {
		t.Fatalf("all tasks, dry run: got %+v, %v; want %d and 1 skipped", res, err, len(dead))
	}
}
