package broker

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// What the dispatcher does for tasks with a key (keys.go): it queues an
// attempt the key has not admitted, and gives the slot back when the
// attempt (flow control) or the task (ordering) ends.

// queueOnKey settles msg and reports true when it is an attempt of a task
// with a key that has not admitted it: it joins the key's queue. It comes
// before the attempt registers itself to hear its task's cancel: this
// node may be handed the task's admitted due while it queues the task (the
// create queued it already), and the attempt made from that due must be
// the one registered. The checks of a due to attempt (a finished task, a
// suspended tenant) are left to the admitter (which skips a finished
// task) and to the admitted due.
func (d *Dispatcher) queueOnKey(msg jetstream.Msg, due taskDue, log workLog) bool {
	k, keyed := keyOf(due.TenantID, due.Spec)
	if !keyed || due.Admitted {
		return false
	}
	ctx, cancel := publishCtx()
	defer cancel()
	ctx = withTrace(ctx, d.cfg.Telemetry.messageTrace(msg.Headers()))
	log.Debug("queued on its key")
	d.settle(msg, d.pub.enqueueKey(ctx, k, due), log)
	return true
}

// notNow settles msg and reports true when its attempt is not to be made
// now: the view shows it made or the task finished (alreadyDone; a
// redelivery or a stale due; a slot it holds is released), or the tenant
// is suspended or deleted (held). fresh says the view need not be read.
func (d *Dispatcher) notNow(msg jetstream.Msg, due taskDue, fresh bool, log workLog) bool {
	if !fresh {
		if done, err := d.alreadyDone(msg, due); err != nil || done {
			if err == nil {
				err = d.releaseKeyOf(due, d.finished(due.TenantID, due.TaskID))
			}
			d.settle(msg, err, log)
			return true
		}
	}
	return d.held(msg, dueTask, due.TenantID, due.TaskID, due)
}

// releaseKeyOf gives back the slot an admitted attempt holds, once the
// attempt is over: for flow control after every attempt, for an ordering
// key only when the task has ended.
func (d *Dispatcher) releaseKeyOf(due taskDue, ended bool) error {
	k, keyed := keyOf(due.TenantID, due.Spec)
	if !keyed || !due.Admitted || (k.Kind == KeyOrdering && !ended) {
		return nil
	}
	ctx, cancel := publishCtx()
	defer cancel()
	attempt := due.Attempt
	if k.Kind == KeyOrdering {
		attempt = 0 // held from the first attempt through the last
	}
	return d.pub.releaseKey(ctx, k, due.TaskID, attempt)
}

// queueOrdered puts a task with an ordering key in its key's queue as it
// is created, before the create is answered: so a client that creates its
// tasks one after the other has them queued in that order, whatever node
// dispatches each created event. The dispatcher queues it again from the
// created event (the same message id: the stream keeps one), which covers
// a crash before this.
func (t *Tasks) queueOrdered(ctx context.Context, tenantID, taskID string, ev createdEvent) {
	if ev.OrderingKey == "" {
		return
	}
	k, _ := keyOf(tenantID, ev.Spec)
	due := taskDue{TenantID: tenantID, TaskID: taskID, Attempt: 1, CreatedAt: ev.CreatedAt, Spec: ev.Spec}
	if err := t.pub.enqueueKey(ctx, k, due); err != nil {
		t.logger.Warn("could not queue a task on its ordering key; its dispatch will", "tenant_id", tenantID, "task_id", taskID, "err", err)
	}
}

// cancelMargin is how far ahead a task's next attempt must be for a
// cancel to release its key's slot itself.
const cancelMargin = 5 * time.Second

// waitingBetweenAttempts reports whether a task with a key is waiting for
// an attempt that is not about to start (its notBefore or its next retry
// at least cancelMargin ahead): no attempt of it runs, and none will once
// its cancel is applied. Only then does a cancel release its slot; an
// attempt in flight (or about to start) is aborted by the cancel, and its
// dispatcher releases the slot once it has recorded it, so that an
// ordering key never has two attempts in flight.
func (t *Tasks) waitingBetweenAttempts(task *Task) bool {
	_, keyed := keyOf(task.TenantID, task.Spec)
	return keyed && (task.Status == StatusPending || task.Status == StatusRetrying) &&
		task.NextAttemptAt != nil && task.NextAttemptAt.After(t.now().Add(cancelMargin))
}

// releaseCanceled gives back the slot a canceled task held, so that its
// key does not wait for the task's next due to find it canceled.
func (t *Tasks) releaseCanceled(ctx context.Context, task *Task) {
	k, keyed := keyOf(task.TenantID, task.Spec)
	if !keyed {
		return
	}
	if err := t.pub.releaseKey(ctx, k, task.ID, 0); err != nil {
		t.logger.Warn("could not release the key of a canceled task", "tenant_id", task.TenantID, "task_id", task.ID, "err", err)
	}
}
