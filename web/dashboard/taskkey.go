package dashboard

import (
	"context"
	"errors"
	"log/slog"
	"slices"

	"github.com/boomerang-dev/boomerang/broker"
)

// keyWait is the state of the key an unfinished task waits for or holds,
// as its page shows it: why a pending task has no attempt yet.
type keyWait struct {
	// Key and Path name the key and its page; Ordering says it is an
	// ordering key (a flow-control key otherwise).
	Key, Path string
	Ordering  bool
	// Paused: the key admits no task until it is resumed on its page.
	Paused bool
	// Holding: the task holds the key (or one of its slots).
	Holding bool
	// Place is the task's place in the key's queue (1 for the next), 0
	// when it is not among the first listed (broker.MaxKeyQueueListed).
	Place int
	// Listed is how many of the waiting tasks the key lists.
	Listed int
	// Waiting and InFlight are the key's counts.
	Waiting, InFlight int
}

// Ahead is how many tasks wait before the task in the key's queue.
func (k keyWait) Ahead() int { return k.Place - 1 }

// taskKeyWait reads the state of the task's key: nil for a finished task,
// a task without a key, a key without state (idle, forgotten) or a key
// that cannot be read now (logged: the page shows the task without it).
func (d *Dashboard) taskKeyWait(ctx context.Context, tenantID string, t *broker.Task) *keyWait {
	kind, key := broker.KeyOrdering, t.OrderingKey
	if t.FlowControl != nil {
		kind, key = broker.KeyFlowControl, t.FlowControl.Key
	}
	if d.keys == nil || key == "" || t.Status.Finished() {
		return nil
	}
	info, err := d.keys.Get(ctx, tenantID, kind, key)
	if err != nil {
		if !errors.Is(err, broker.ErrKeyNotFound) {
			d.logger.Warn("could not read a task's key", "tenant_id", tenantID, "task_id", t.ID, slog.Any("err", err))
		}
		return nil
	}
	return &keyWait{Key: key, Path: keyPath(kind, key), Ordering: kind == broker.KeyOrdering, Paused: info.Paused,
		Holding: slices.Contains(info.Holding, t.ID), Place: slices.Index(info.Queue, t.ID) + 1, Listed: len(info.Queue),
		Waiting: info.Waiting, InFlight: info.InFlight}
}
