package broker

import (
	"bytes"
	"context"
	"errors"

	bolt "go.etcd.io/bbolt"
)

// The tasks of a schedule, read from the view without an index of their
// own: each firing's task has the idempotency key FiringKey (schedule:<id>:
// <firing time>), and the view's bucketByIdem is sorted by key, so a
// schedule's tasks are one run of keys there. Within the run the keys sort
// by firing time: the time is RFC 3339 in UTC, its whole seconds fixed
// width, and two firings of a schedule are at least MinScheduleEvery (one
// second) apart. The key lives as long as its task (prune.go drops both).

// scheduleKeyPrefix is the start of every FiringKey of the schedule.
func scheduleKeyPrefix(scheduleID string) []byte {
	return []byte("schedule:" + scheduleID + ":")
}

// ScheduleTasks returns up to limit (1..200; zero means 20) of the tasks
// the schedule's firings made, latest firing first, once the view has
// caught up with the stream (within readWait; if it cannot, what it has).
// A task whose idempotency key merely looks like a firing's (a client may
// choose any key) is left out.
func (t *Tasks) ScheduleTasks(ctx context.Context, tenantID, scheduleID string, limit int) ([]*Task, error) {
	_ = t.CatchUp(ctx)
	return t.view.ScheduleTasks(tenantID, scheduleID, limit)
}

// LatestFirings returns, for each schedule named, the task of its latest
// firing the view holds (none for a schedule that has not fired), once
// the view has caught up with the stream as ScheduleTasks does.
func (t *Tasks) LatestFirings(ctx context.Context, tenantID string, scheduleIDs []string) (map[string]*Task, error) {
	out := make(map[string]*Task, len(scheduleIDs))
	if len(scheduleIDs) == 0 {
		return out, nil
	}
	_ = t.CatchUp(ctx)
	for _, id := range scheduleIDs {
		last, err := t.view.ScheduleTasks(tenantID, id, 1)
		if err != nil {
			return nil, err
		}
		if len(last) > 0 {
			out[id] = last[0]
		}
	}
	return out, nil
}

// ScheduleTasks is Tasks.ScheduleTasks on the view as it is.
func (v *View) ScheduleTasks(tenantID, scheduleID string, limit int) ([]*Task, error) {
	if limit <= 0 || limit > 200 {
		limit = 20
	}
	prefix := scheduleKeyPrefix(scheduleID)
	out := []*Task{}
	err := v.db.View(func(tx *bolt.Tx) error {
		tb := tenantBucket(tx, tenantID)
		if tb == nil {
			return nil
		}
		c := tb.Bucket(bucketByIdem).Cursor()
		// Seek past the run, then step back through it.
		upper := append(bytes.Clone(prefix[:len(prefix)-1]), prefix[len(prefix)-1]+1)
		k, id := c.Seek(upper)
		if k == nil {
			k, id = c.Last()
		} else {
			k, id = c.Prev()
		}
		for ; k != nil && bytes.HasPrefix(k, prefix) && len(out) < limit; k, id = c.Prev() {
			task, err := readTask(tb, tenantID, bytes.Clone(id))
			if errors.Is(err, ErrNotFound) {
				continue // pruned meanwhile
			} else if err != nil {
				return err
			}
			if task.ScheduleID == scheduleID {
				out = append(out, task)
			}
		}
		return nil
	})
	return out, err
}
