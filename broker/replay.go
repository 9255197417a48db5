package broker

import "context"

// Replay creates a new task with the request of the tenant's task taskID,
// finished or not: the same spec under a new id, without the idempotency
// key (a replay is a new request, on purpose) and without a notBefore that
// has passed, so that it runs now. Its created event names the original
// (replayOf), and the view links the two both ways: the replay's ReplayOf,
// the original's Replays. It returns ErrNotFound for a task the tenant
// does not have, and the replay as it stands: pending. The spec was
// validated when the original was created; check, when not nil, vets it
// again for what may have changed since (the network guard), and its
// error is returned as it is, with nothing published.
func (t *Tasks) Replay(ctx context.Context, tenantID, taskID string, check func(Spec) error) (*Task, error) {
	orig, err := t.Get(ctx, tenantID, taskID)
	if err != nil {
		return nil, err
	}
	spec := orig.Spec
	spec.IdempotencyKey = ""
	if spec.NotBefore != nil && !spec.NotBefore.After(t.now()) {
		spec.NotBefore = nil
	}
	if check != nil {
		if err := check(spec); err != nil {
			return nil, err
		}
	}
	return t.publishCreated(ctx, tenantID, NewTaskID(), createdEvent{Spec: spec, ReplayOf: orig.ID})
}
