package broker

import (
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Holding the work of a suspended tenant, and dropping a deleted one's.
// Work that falls due while its tenant is suspended is not attempted and
// not failed: it is scheduled again HoldFor later (a new pending
// schedule, so it takes no place in a consumer's pending window), and
// again, until the tenant is resumed; then it runs at its next turn, at
// most HoldFor after the resume. An attempt or delivery already running
// when the suspension is applied finishes and is recorded as usual; the
// retry it schedules is held in turn. A deleted tenant's work is
// acknowledged and dropped. Work of a tenant this node's view does not
// know yet (made on another node while this view lags) is not attempted
// either: the node could not sign the call, and an attempt that fails for
// that would spend one of the task's retries. It goes back to the stream
// for UnknownTenantDelay, for this node once caught up or for another.

// DefaultHoldFor is how long held work waits before it asks again.
const DefaultHoldFor = 30 * time.Second

// UnknownTenantDelay is how long work of a tenant the view does not know
// yet waits in the stream before it is handed out again.
const UnknownTenantDelay = 2 * time.Second

// TenantState is what a tenant's work may do now.
type TenantState int

// Tenant states.
const (
	// TenantActive: its work runs.
	TenantActive TenantState = iota
	// TenantSuspended: its work waits.
	TenantSuspended
	// TenantDeleted: its work is dropped.
	TenantDeleted
	// TenantUnknown: this node's view does not know the tenant yet; its
	// work goes back to the stream for a moment.
	TenantUnknown
)

// TenantStates gives a tenant's state, from this node's tenant view. It is
// called for every attempt and delivery: it must be quick.
type TenantStates func(tenantID string) TenantState

func (w *worker) tenantState(tenantID string) TenantState {
	if w.cfg.Tenants == nil {
		return TenantActive
	}
	return w.cfg.Tenants(tenantID)
}

// held settles msg and reports true when its tenant's work may not run:
// it schedules v (a taskDue or hookDue of kind) again HoldFor from now
// for a suspended tenant, drops it for a deleted one.
func (w *worker) held(msg jetstream.Msg, kind, tenantID, taskID string, v any) bool {
	switch w.tenantState(tenantID) {
	case TenantSuspended:
		w.scheduleAgain(msg, kind, tenantID, taskID, w.cfg.Now().Add(w.cfg.HoldFor), v, w.logFor(tenantID, taskID, kind, 0), "held: the tenant is suspended")
		return true
	case TenantDeleted:
		_ = msg.Ack()
		return true
	case TenantUnknown:
		w.logFor(tenantID, taskID, kind, 0).Debug("the tenant view does not know the tenant yet; giving the work back",
			slog.Duration("for", UnknownTenantDelay))
		_ = msg.NakWithDelay(UnknownTenantDelay)
		return true
	}
	return false
}

// scheduleAgain settles msg by scheduling v (a taskDue or hookDue of
// kind) again at at: the work waits in a pending schedule, not in a
// consumer.
func (w *worker) scheduleAgain(msg jetstream.Msg, kind, tenantID, taskID string, at time.Time, v any, log workLog, why string) {
	ctx, cancel := publishCtx()
	defer cancel()
	ctx = withTrace(ctx, w.cfg.Telemetry.messageTrace(msg.Headers()))
	log.Debug(why, slog.Time("until", at))
	w.settle(msg, w.pub.schedule(ctx, kind, tenantID, taskID, at, v), log)
}

// TenantStateOf is the state of a tenant that is suspended or deleted,
// or neither, or that the view does not know.
func TenantStateOf(suspended, deleted, known bool) TenantState {
	switch {
	case deleted:
		return TenantDeleted
	case !known:
		return TenantUnknown
	case suspended:
		return TenantSuspended
	}
	return TenantActive
}
