package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"
)

// Erasing a tenant: everything the task stream, the schedules stream and
// the view hold of it goes. EraseTenant publishes an erase event on
// task.<tenant>.tenant.erase, then purges the tenant's other messages
// from both streams. Every node's projector applies the event by dropping
// the tenant's buckets, its usage included; a node that lags applies it
// when it gets there, since the purge keeps it (it is the one message of
// the tenant left: its id and a time, nothing else). A view rebuilt later
// meets the event first and has nothing to drop.

// KindErase drops everything of a tenant from the view: published on
// task.<tenant>.tenant.erase by EraseTenant, applied by every projector.
const KindErase = "erase"

// eraseEvent is the payload of an erase event.
type eraseEvent struct {
	At time.Time `json:"at"`
}

// EraseReport says what EraseTenant removed.
type EraseReport struct {
	// TaskEvents is how many messages of the tenant the task stream lost.
	TaskEvents uint64 `json:"taskEvents"`
	// Schedules is how many pending schedules, due messages and parked
	// waits of the tenant the schedules stream lost.
	Schedules uint64 `json:"schedules"`
}

// EraseTenant removes every task of the tenant from the streams and, once
// each has applied the erase event, from every node's view, then waits
// (bounded) until this node's view has applied it. Run it after the
// tenant's keys have stopped working and its work has stopped (the tenant
// is deleted): an attempt in flight at that moment may still record its
// outcome afterwards; EraseTenant run again removes that too.
func (t *Tasks) EraseTenant(ctx context.Context, tenantID string) (EraseReport, error) {
	var rep EraseReport
	if !ValidToken(tenantID) {
		return rep, ErrNotFound
	}
	seq, err := t.pub.PublishEvent(ctx, tenantID, pruneToken, KindErase, eraseEvent{At: t.now().UTC()})
	if err != nil {
		return rep, err
	}
	if rep.TaskEvents, err = t.pub.purgeTaskEvents(ctx, tenantID, seq); err != nil {
		return rep, err
	}
	if rep.Schedules, err = t.pub.purgeSchedules(ctx, tenantID); err != nil {
		return rep, err
	}
	wctx, cancel := context.WithTimeout(ctx, t.readWait)
	defer cancel()
	if err := t.progress.WaitFor(wctx, seq); err != nil {
		return rep, fmt.Errorf("broker: view did not apply the erase: %w", err)
	}
	return rep, nil
}

// purgeTaskEvents purges the tenant's task events: every one on its
// kinds' subjects (task.<tenant>.<kind>), and those on tasks' own
// subjects (task.<tenant>.<task>.<kind>) before the erase event at seq,
// which stays.
func (p *Publisher) purgeTaskEvents(ctx context.Context, tenantID string, seq uint64) (uint64, error) {
	s, err := p.stream(ctx, StreamTasks)
	if err != nil {
		return 0, err
	}
	n, err := purgeCounted(ctx, s, "task."+tenantID+".*")
	if err != nil {
		return n, err
	}
	m, err := purgeCounted(ctx, s, "task."+tenantID+".*.*", jetstream.WithPurgeSequence(seq))
	return n + m, err
}

// purgeSchedules purges the tenant's pending schedules and due messages
// (sched.<kind>.<tenant>.<task>, due.<kind>.<tenant>.<task>) and deletes
// its parked waits, which share their minute's subject with other
// tenants'.
func (p *Publisher) purgeSchedules(ctx context.Context, tenantID string) (uint64, error) {
	s, err := p.stream(ctx, StreamSchedules)
	if err != nil {
		return 0, err
	}
	var total uint64
	for _, filter := range []string{"sched.*." + tenantID + ".*", "due.*." + tenantID + ".*"} {
		n, err := purgeCounted(ctx, s, filter)
		total += n
		if err != nil {
			return total, err
		}
	}
	n, err := p.deleteParked(ctx, s, tenantID)
	return total + n, err
}

// purgeCounted purges the stream's messages on filter and says how many
// went.
func purgeCounted(ctx context.Context, s jetstream.Stream, filter string, opts ...jetstream.StreamPurgeOpt) (uint64, error) {
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		return 0, fmt.Errorf("broker: erase: %w", err)
	}
	var before uint64
	for _, n := range info.State.Subjects {
		before += n
	}
	if before == 0 {
		return 0, nil
	}
	if err := s.Purge(ctx, append([]jetstream.StreamPurgeOpt{jetstream.WithPurgeSubject(filter)}, opts...)...); err != nil {
		return 0, fmt.Errorf("broker: erase %s: %w", filter, err)
	}
	info, err = s.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		return 0, fmt.Errorf("broker: erase: %w", err)
	}
	var after uint64
	for _, n := range info.State.Subjects {
		after += n
	}
	return before - after, nil
}

// deleteParked deletes the tenant's waits parked in every minute's bucket.
func (p *Publisher) deleteParked(ctx context.Context, s jetstream.Stream, tenantID string) (uint64, error) {
	info, err := s.Info(ctx, jetstream.WithSubjectFilter("sched.park.*"))
	if err != nil {
		return 0, fmt.Errorf("broker: erase parked waits: %w", err)
	}
	var n uint64
	for subject := range info.State.Subjects {
		for next := uint64(1); ; {
			batch, err := p.readParked(ctx, subject, next)
			if err != nil {
				return n, err
			}
			if len(batch) == 0 {
				break
			}
			for _, w := range batch {
				next = w.seq + 1
				if !parkedFor(w.header.Get(headerParkedSchedule), tenantID) {
					continue
				}
				if err := s.DeleteMsg(ctx, w.seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
					return n, fmt.Errorf("broker: erase parked wait: %w", err)
				}
				n++
			}
		}
	}
	return n, nil
}

// parkedFor reports whether a parked wait's schedule subject,
// sched.<kind>.<tenant>.<task>, is the tenant's.
func parkedFor(schedule, tenantID string) bool {
	parts := strings.Split(schedule, ".")
	return len(parts) == 4 && parts[2] == tenantID
}

// erase applies an erase event: the tenant's task buckets and usage go,
// with what the batch held of them.
func (a *applyBatch) erase(ev event) error {
	var e eraseEvent
	if string(ev.taskID) != pruneToken || json.Unmarshal(ev.data, &e) != nil {
		return malformed("an erase event that does not decode")
	}
	if err := a.writeTasks(); err != nil {
		return err
	}
	delete(a.tenants, ev.tenantID)
	delete(a.aggs, ev.tenantID)
	delete(a.usage, ev.tenantID)
	if err := deleteBucket(a.root, ev.tenantID); err != nil {
		return err
	}
	if usage := a.root.Tx().Bucket(bucketUsage); usage != nil {
		return deleteBucket(usage, ev.tenantID)
	}
	return nil
}

func deleteBucket(parent *bolt.Bucket, name string) error {
	if err := parent.DeleteBucket([]byte(name)); err != nil && !errors.Is(err, bolt.ErrBucketNotFound) {
		return err
	}
	return nil
}
