package broker

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Get returns the tenant's task or ErrNotFound. A task just created, on
// this node or another, is found even if the view has not applied it yet;
// when the view cannot catch up to tell, Get fails with ErrViewBehind
// rather than call a task that may exist missing.
func (t *Tasks) Get(ctx context.Context, tenantID, taskID string) (*Task, error) {
	task, err := t.view.Get(tenantID, taskID)
	if !errors.Is(err, ErrNotFound) {
		return task, err
	}
	return t.getCaughtUp(ctx, tenantID, taskID)
}

// GetSettled returns the tenant's task like Get, but when the view has it
// unfinished it first catches up with the stream (within readWait): a
// client asking for the result may have learned from a webhook, sent as
// soon as the outcome was stored, or from another node, that the task has
// finished, before this view applied it.
func (t *Tasks) GetSettled(ctx context.Context, tenantID, taskID string) (*Task, error) {
	task, err := t.Get(ctx, tenantID, taskID)
	if err != nil || task.Status.Finished() || t.CatchUp(ctx) != nil {
		return task, err
	}
	return t.view.Get(tenantID, taskID)
}

// Find returns the tenant's task with this id or idempotency key. A task
// just created, on this node or another, is found even if the view has not
// applied it yet (ErrViewBehind as for Get).
func (t *Tasks) Find(ctx context.Context, tenantID, query string) (*Task, error) {
	task, err := t.view.FindTask(tenantID, query)
	if !errors.Is(err, ErrNotFound) {
		return task, err
	}
	if err := t.catchUpOnMiss(ctx); err != nil {
		return nil, err
	}
	return t.view.FindTask(tenantID, query)
}

// getCaughtUp reads a task the view did not have, once the view has caught
// up with the stream (within readWait).
func (t *Tasks) getCaughtUp(ctx context.Context, tenantID, taskID string) (*Task, error) {
	if err := t.catchUpOnMiss(ctx); err != nil {
		return nil, err
	}
	return t.view.Get(tenantID, taskID)
}

// catchUpOnMiss catches the view up after a read found nothing:
// ErrViewBehind when it cannot, so that the miss is not taken for an answer.
func (t *Tasks) catchUpOnMiss(ctx context.Context) error {
	if err := t.CatchUp(ctx); err != nil {
		return fmt.Errorf("%w: %w", ErrViewBehind, err)
	}
	return nil
}

// List returns a page of the tenant's tasks, newest first. A first page
// includes every task created before the call, on this node or another:
// it waits, within readWait, for the view to apply what the stream holds
// (a later page continues from a cursor that a caught-up page made). If
// the stream cannot be asked, it includes at least this node's own tasks.
func (t *Tasks) List(ctx context.Context, tenantID string, q ListQuery) (Page, error) {
	wctx, cancel := context.WithTimeout(ctx, t.readWait)
	defer cancel()
	if q.Cursor == "" && t.progress.CatchUp(wctx) == nil {
		return t.view.List(tenantID, q)
	}
	_ = t.progress.WaitFor(wctx, t.pub.LastTaskSeq())
	return t.view.List(tenantID, q)
}

// AwaitOwnWrites waits, within readWait, for the view to apply everything
// this node has published, so that the reads after it see this node's
// writes (a page that counts the task just created, say). It costs no
// request to NATS.
func (t *Tasks) AwaitOwnWrites(ctx context.Context) {
	wctx, cancel := context.WithTimeout(ctx, t.readWait)
	defer cancel()
	_ = t.progress.WaitFor(wctx, t.pub.LastTaskSeq())
}

// WaitApplied waits, within readWait, until the view has applied stream
// sequence seq: a task's version that a client saw on another node, say.
// It returns ctx's error, or the wait's, when it cannot.
func (t *Tasks) WaitApplied(ctx context.Context, seq uint64) error {
	wctx, cancel := context.WithTimeout(ctx, t.readWait)
	defer cancel()
	return t.progress.WaitFor(wctx, seq)
}

// TaskEvents returns up to limit of a task's events after sequence after.
func (t *Tasks) TaskEvents(tenantID, taskID string, after uint64, limit int) ([]Event, error) {
	return t.view.TaskEvents(tenantID, taskID, after, limit)
}

// TenantEvents returns up to limit of the tenant's events after sequence
// after.
func (t *Tasks) TenantEvents(tenantID string, after uint64, limit int) ([]Event, error) {
	return t.view.TenantEvents(tenantID, after, limit)
}

// LastTenantEvent returns the sequence of the tenant's latest event, after
// the view has caught up with this node's own writes.
func (t *Tasks) LastTenantEvent(ctx context.Context, tenantID string) (uint64, error) {
	t.AwaitOwnWrites(ctx)
	return t.view.LastTenantEvent(tenantID)
}

// Counts returns the tenant's live counts by status and webhook state.
func (t *Tasks) Counts(tenantID string) (Counts, error) { return t.view.Counts(tenantID) }

// Stats returns the tenant's per-minute statistics between since and until.
func (t *Tasks) Stats(tenantID string, since, until time.Time) (map[time.Time]MinuteStats, error) {
	return t.view.Stats(tenantID, since, until)
}

// CatchUp waits, within readWait, until the view has applied everything
// the stream holds now: for a client that names an event another node may
// have shown it. It returns ctx's error, or the wait's, when it cannot.
func (t *Tasks) CatchUp(ctx context.Context) error {
	wctx, cancel := context.WithTimeout(ctx, t.readWait)
	defer cancel()
	return t.progress.CatchUp(wctx)
}
