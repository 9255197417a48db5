package broker

import (
	"context"
	"errors"
	"time"
)

// Get returns the tenant's task or ErrNotFound. A task just created, on
// this node or another, is found even if the view has not applied it yet.
func (t *Tasks) Get(ctx context.Context, tenantID, taskID string) (*Task, error) {
	task, err := t.view.Get(tenantID, taskID)
	if !errors.Is(err, ErrNotFound) {
		return task, err
	}
	return t.getCaughtUp(ctx, tenantID, taskID)
}

// Find returns the tenant's task with this id or idempotency key.
func (t *Tasks) Find(ctx context.Context, tenantID, query string) (*Task, error) {
	task, err := t.view.FindTask(tenantID, query)
	if !errors.Is(err, ErrNotFound) || !ValidToken(query) {
		return task, err
	}
	return t.getCaughtUp(ctx, tenantID, query)
}

// getCaughtUp reads a task the view did not have, once the view has caught
// up with the stream (within readWait).
func (t *Tasks) getCaughtUp(ctx context.Context, tenantID, taskID string) (*Task, error) {
	if t.CatchUp(ctx) != nil {
		return nil, ErrNotFound
	}
	return t.view.Get(tenantID, taskID)
}

// List returns a page of the tenant's tasks, newest first, including every
// task this node has created so far.
func (t *Tasks) List(ctx context.Context, tenantID string, q ListQuery) (Page, error) {
	t.catchUp(ctx)
	return t.view.List(tenantID, q)
}

// catchUp waits, within readWait, for the view to apply everything this
// node has published, so that reads see this node's writes.
func (t *Tasks) catchUp(ctx context.Context) {
	wctx, cancel := context.WithTimeout(ctx, t.readWait)
	defer cancel()
	_ = t.progress.WaitFor(wctx, t.pub.LastTaskSeq())
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
	t.catchUp(ctx)
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
