package broker

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// TestIdempotencyKeyWindow drives Tasks.Create on an injected clock: within
// the window a key returns its first task (replayed), with a different
// request it is refused, for another tenant it is a different key, and once
// the window has passed it makes a new task, whatever the request.
func TestIdempotencyKeyWindow(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	p, _ := b.runProjector(t)
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	advance := func(d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(d)
	}
	tasks := NewTasks(b.pub, b.view, p, quiet, func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	})
	tasks.IdempotencyWindow = time.Hour
	ctx := context.Background()
	spec := Spec{TargetURL: "https://example.com/work", Method: "POST", Retries: 3, Timeout: 30, IdempotencyKey: "order-42"}
	create := func(tenantID, hash string) (*Task, bool) {
		t.Helper()
		task, replay, err := tasks.Create(ctx, tenantID, spec, hash)
		if err != nil {
			t.Fatalf("create for %s with hash %s: %v", tenantID, hash, err)
		}
		return task, replay
	}

	first, replay := create("ten_a", "hash-1")
	if replay || first.ID != IdempotentTaskID("ten_a", "order-42", 0) {
		t.Fatalf("first create: got task %s replay %v, want task %s not replayed", first.ID, replay, IdempotentTaskID("ten_a", "order-42", 0))
	}

	// Within the window, up to its last instant.
	for _, step := range []time.Duration{time.Minute, time.Hour - time.Minute} {
		advance(step)
		again, replay := create("ten_a", "hash-1")
		if !replay || again.ID != first.ID || !again.CreatedAt.Equal(first.CreatedAt) {
			t.Fatalf("repeat after %s: got task %s created %s replay %v, want the first task replayed", step, again.ID, again.CreatedAt, replay)
		}
		if _, _, err := tasks.Create(ctx, "ten_a", spec, "hash-2"); !errors.Is(err, ErrIdempotencyMismatch) {
			t.Fatalf("another request with the key: got %v, want ErrIdempotencyMismatch", err)
		}
	}
	other, replay := create("ten_b", "hash-1")
	if replay || other.ID == first.ID {
		t.Fatalf("the key for another tenant: got task %s replay %v, want a new task", other.ID, replay)
	}

	// Past the window the key is free again, even for another request; the
	// new task is then the one the key returns.
	advance(time.Nanosecond)
	second, replay := create("ten_a", "hash-2")
	if replay || second.ID == first.ID || second.ID != IdempotentTaskID("ten_a", "order-42", 1) {
		t.Fatalf("after the window: got task %s replay %v, want new task %s", second.ID, replay, IdempotentTaskID("ten_a", "order-42", 1))
	}
	advance(time.Minute)
	if again, replay := create("ten_a", "hash-2"); !replay || again.ID != second.ID {
		t.Fatalf("repeat of the new use: got task %s replay %v, want %s replayed", again.ID, replay, second.ID)
	}
	if _, _, err := tasks.Create(ctx, "ten_a", spec, "hash-1"); !errors.Is(err, ErrIdempotencyMismatch) {
		t.Fatalf("the first request again: got %v, want ErrIdempotencyMismatch (the key now belongs to the second)", err)
	}

	// Both uses of the key stay readable, each with its own request.
	for _, want := range []*Task{first, second} {
		got, err := tasks.Get(ctx, "ten_a", want.ID)
		if err != nil || !got.CreatedAt.Equal(want.CreatedAt) {
			t.Fatalf("task %s: got %+v, %v; want created at %s", want.ID, got, err, want.CreatedAt)
		}
	}
}

// TestIdempotencyKeyConcurrentCreates races creates with one key: exactly
// one makes the task, every other returns it replayed.
func TestIdempotencyKeyConcurrentCreates(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	p, _ := b.runProjector(t)
	tasks := NewTasks(b.pub, b.view, p, quiet, nil)
	spec := Spec{TargetURL: "https://example.com/work", Method: "POST", Retries: 3, Timeout: 30, IdempotencyKey: "order-7"}
	const n = 20
	ids := make([]string, n)
	replays := make([]bool, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			task, replay, err := tasks.Create(context.Background(), "ten_a", spec, "hash-1")
			if err == nil {
				ids[i], replays[i] = task.ID, replay
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	made := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("create %d: %v", i, errs[i])
		}
		if ids[i] != ids[0] {
			t.Fatalf("create %d got task %s, create 0 got %s", i, ids[i], ids[0])
		}
		if !replays[i] {
			made++
		}
	}
	if made != 1 {
		t.Fatalf("%d creates made the task, want exactly 1 (the rest replayed)", made)
	}
}
