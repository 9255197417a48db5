package broker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/internal/projector"
)

// TestReadOnAViewThatCannotCatchUp: a node whose view does not have a
// task and cannot catch up with the stream (its projector stalled, as
// during an election) cannot tell whether the task exists — it may have
// been made on another node a moment ago — and says so (ErrViewBehind, a
// 503) instead of ErrNotFound (a 404), which a client may take for an
// answer. Once the view can catch up, the task is found, and a task that
// does not exist is not.
func TestReadOnAViewThatCannotCatchUp(t *testing.T) {
	t.Parallel()
	a := newBundle(t)
	pa, _ := a.runProjector(t)
	made, _, err := NewTasks(a.pub, a.view, pa, quiet, nil).Create(context.Background(), "ten_a",
		Spec{TargetURL: "https://example.com/work", Method: "POST", Retries: 3, Timeout: 30, IdempotencyKey: "order-7"}, "hash-1")
	if err != nil {
		t.Fatal(err)
	}

	// Node B: its own view of the same stream, whose projector does not run.
	b := &bundle{js: a.js, db: newBundleDB(t), pub: a.pub}
	b.view = NewView(b.db, NewHub())
	pb := projector.New(b.js, b.db, StreamTasks, b.view, quiet)
	tasks := NewTasks(b.pub, b.view, pb, quiet, nil)
	// It can never catch up: a short wait only makes the test quicker.
	tasks.readWait = 100 * time.Millisecond
	ctx := context.Background()
	reads := map[string]func(string) error{
		"Get":  func(id string) error { _, err := tasks.Get(ctx, "ten_a", id); return err },
		"Find": func(id string) error { _, err := tasks.Find(ctx, "ten_a", id); return err },
	}
	for name, read := range reads {
		for _, id := range []string{made.ID, "order-7", "tsk_nosuchtask"} {
			if err := read(id); !errors.Is(err, ErrViewBehind) {
				t.Errorf("%s(%s) on a view that cannot catch up: got %v, want ErrViewBehind", name, id, err)
			}
		}
	}

	startProjector(t, pb)
	for name, read := range reads {
		if err := read(made.ID); err != nil {
			t.Errorf("%s of node A's task once node B can catch up: %v", name, err)
		}
		if err := read("tsk_nosuchtask"); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s of a task that does not exist, caught up: got %v, want ErrNotFound", name, err)
		}
	}
}
