package broker

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"
)

// Apply implements Applier for the task stream. Events of tasks the view
// does not know (their creation aged out of the stream) and malformed events
// are skipped. The first terminal event of a task wins: a success published
// after a cancel does not revive it.
func (v *View) Apply(tx *bolt.Tx, msgs []jetstream.Msg) (func(), error) {
	root, err := tx.CreateBucketIfNotExists(bucketTasks)
	if err != nil {
		return nil, err
	}
	a := applyBatch{root: root, tenants: map[string]*tenantBuckets{}}
	changes := make([]Change, 0, len(msgs))
	for _, m := range msgs {
		meta, err := m.Metadata()
		if err != nil {
			return nil, err
		}
		tenantID, taskID, kind, err := parseTaskSubject(m.Subject())
		if err != nil {
			continue
		}
		ev := event{tenantID: tenantID, taskID: []byte(taskID), kind: kind,
			seq: meta.Sequence.Stream, at: meta.Timestamp.UTC(), data: m.Data()}
		applied, err := a.apply(ev)
		if err != nil {
			return nil, fmt.Errorf("apply %s at %d: %w", m.Subject(), ev.seq, err)
		}
		if applied {
			changes = append(changes, Change{TenantID: tenantID, TaskID: taskID, Kind: kind, Seq: ev.seq})
		}
	}
	return func() { v.hub.publish(changes) }, nil
}

type event struct {
	tenantID string
	taskID   []byte
	kind     string
	seq      uint64
	at       time.Time
	data     []byte
}

type tenantBuckets struct {
	state, spec, attempts, deliveries, byTime *bolt.Bucket
}

type applyBatch struct {
	root    *bolt.Bucket
	tenants map[string]*tenantBuckets
}

func (a *applyBatch) buckets(tenantID string) (*tenantBuckets, error) {
	if tb, ok := a.tenants[tenantID]; ok {
		return tb, nil
	}
	b, err := a.root.CreateBucketIfNotExists([]byte(tenantID))
	if err != nil {
		return nil, err
	}
	tb := &tenantBuckets{}
	for _, sub := range []struct {
		name []byte
		dst  **bolt.Bucket
	}{{bucketState, &tb.state}, {bucketSpec, &tb.spec}, {bucketAttempts, &tb.attempts}, {bucketDeliveries, &tb.deliveries}, {bucketByTime, &tb.byTime}} {
		if *sub.dst, err = b.CreateBucketIfNotExists(sub.name); err != nil {
			return nil, err
		}
	}
	a.tenants[tenantID] = tb
	return tb, nil
}

// apply applies one event and reports whether it changed the view.
func (a *applyBatch) apply(ev event) (bool, error) {
	tb, err := a.buckets(ev.tenantID)
	if err != nil {
		return false, err
	}
	if ev.kind == KindCreated {
		return a.create(tb, ev)
	}
	data := tb.state.Get(ev.taskID)
	if data == nil {
		return false, nil
	}
	var rec taskRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return false, err
	}
	if !applyToRecord(tb, &rec, ev) {
		return false, nil
	}
	rec.UpdatedAt, rec.LastSeq = ev.at, ev.seq
	return true, putJSON(tb.state, ev.taskID, &rec)
}

func (a *applyBatch) create(tb *tenantBuckets, ev event) (bool, error) {
	if tb.state.Get(ev.taskID) != nil {
		return false, nil
	}
	var c createdEvent
	if json.Unmarshal(ev.data, &c) != nil {
		return false, nil
	}
	rec := taskRecord{Status: StatusPending, CreatedAt: c.CreatedAt, UpdatedAt: ev.at, LastSeq: ev.seq, NextAttemptAt: c.NotBefore}
	if err := putJSON(tb.spec, ev.taskID, &c.Spec); err != nil {
		return false, err
	}
	if err := tb.byTime.Put(timeKey(c.CreatedAt, string(ev.taskID)), nil); err != nil {
		return false, err
	}
	return true, putJSON(tb.state, ev.taskID, &rec)
}

// applyToRecord changes rec and the task's child records for ev, and reports
// whether anything changed. Malformed payloads change nothing.
func applyToRecord(tb *tenantBuckets, rec *taskRecord, ev event) bool {
	switch ev.kind {
	case KindStarted:
		var e startedEvent
		if json.Unmarshal(ev.data, &e) != nil || rec.Status.Finished() {
			return false
		}
		rec.Status, rec.NextAttemptAt = StatusRunning, nil
	case KindAttempt:
		var e attemptEvent
		if json.Unmarshal(ev.data, &e) != nil || putAttempt(tb, ev.taskID, rec, e.Attempt) != nil {
			return false
		}
		if !rec.Status.Finished() {
			rec.Status, rec.NextAttemptAt = StatusRetrying, e.NextAttemptAt
		}
	case KindSucceeded, KindFailed:
		var e finishedEvent
		if json.Unmarshal(ev.data, &e) != nil {
			return false
		}
		if e.Attempt != nil && putAttempt(tb, ev.taskID, rec, *e.Attempt) != nil {
			return false
		}
		if rec.Status.Finished() {
			return e.Attempt != nil
		}
		rec.Status = Status(ev.kind)
		rec.Result, rec.FinishedAt, rec.NextAttemptAt, rec.TerminalSeq = &e.Result, &e.FinishedAt, nil, ev.seq
		if e.WebhookURL != "" {
			rec.Webhook = &webhookRecord{Status: WebhookPending, Round: ev.seq, Index: -1}
		}
	case KindCanceled:
		var e canceledEvent
		if json.Unmarshal(ev.data, &e) != nil || rec.Status.Finished() {
			return false
		}
		rec.Status, rec.FinishedAt, rec.NextAttemptAt, rec.TerminalSeq = StatusCanceled, &e.At, nil, ev.seq
	case KindDelivery, KindDelivered, KindDead:
		var e deliveryEvent
		if json.Unmarshal(ev.data, &e) != nil || rec.Webhook == nil {
			return false
		}
		d := e.Delivery
		if putJSON(tb.deliveries, childKey(ev.taskID, d.Number), &d) != nil {
			return false
		}
		w := rec.Webhook
		w.Count = max(w.Count, d.Number)
		w.Round, w.Index, w.NextAttemptAt = d.Round, d.Index, e.NextAttemptAt
		switch ev.kind {
		case KindDelivery:
			w.Status = WebhookRetrying
		case KindDelivered:
			w.Status = WebhookDelivered
		case KindDead:
			w.Status = WebhookDead
		}
	case KindRedeliver:
		if rec.Webhook == nil {
			return false
		}
		rec.Webhook.Status, rec.Webhook.NextAttemptAt = WebhookPending, nil
		rec.Webhook.Round, rec.Webhook.Index = ev.seq, -1
	default:
		return false
	}
	return true
}

func putAttempt(tb *tenantBuckets, taskID []byte, rec *taskRecord, a Attempt) error {
	if a.Number < 1 {
		return fmt.Errorf("attempt number %d", a.Number)
	}
	rec.AttemptCount = max(rec.AttemptCount, a.Number)
	return putJSON(tb.attempts, childKey(taskID, a.Number), &a)
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, data)
}
