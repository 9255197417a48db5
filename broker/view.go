package broker

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ErrNotFound is returned for a task the tenant does not have.
var ErrNotFound = errors.New("broker: task not found")

// ErrViewBehind is returned for a read this node's view cannot answer: it
// did not have what was asked for and could not catch up with the event
// log in time to tell whether it exists (a NATS server unreachable, a
// leader being elected). Asking again may answer.
var ErrViewBehind = errors.New("broker: the view could not catch up with the event log")

// ErrBadCursor is returned by List for a cursor it did not make.
var ErrBadCursor = errors.New("broker: invalid cursor")

// ViewProgress is how far the view has applied the task stream: the view's
// projector (internal/projector.Projector) in a node. Reads that must see a
// write, on this node or another, wait on it.
type ViewProgress interface {
	// WaitFor blocks until the view has applied stream sequence seq, or ctx
	// ends (returning its error).
	WaitFor(ctx context.Context, seq uint64) error
	// CatchUp blocks until the view has applied everything the stream held
	// when it was called, or ctx ends.
	CatchUp(ctx context.Context) error
}

// View is this node's queryable copy of the task stream, kept in bbolt by a
// projector (internal/projector); View.Apply is the projector's Applier of
// the task stream.
type View struct {
	db  *bolt.DB
	hub *Hub
}

// NewView returns the task view in db; changes are announced on hub.
func NewView(db *bolt.DB, hub *Hub) *View {
	return &View{db: db, hub: hub}
}

// Hub returns the hub that announces the view's changes.
func (v *View) Hub() *Hub { return v.hub }

// Get returns the task with its attempts and deliveries, or ErrNotFound.
func (v *View) Get(tenantID, taskID string) (*Task, error) {
	var task *Task
	err := v.db.View(func(tx *bolt.Tx) error {
		tb := tenantBucket(tx, tenantID)
		if tb == nil {
			return ErrNotFound
		}
		var err error
		task, err = readTask(tb, tenantID, []byte(taskID))
		return err
	})
	return task, err
}

// state returns the task's record, or nil when the view has no such task.
func (v *View) state(tenantID, taskID string) (*taskRecord, error) {
	var rec *taskRecord
	err := v.db.View(func(tx *bolt.Tx) error {
		tb := tenantBucket(tx, tenantID)
		if tb == nil {
			return nil
		}
		data := tb.Bucket(bucketState).Get([]byte(taskID))
		if data == nil {
			return nil
		}
		var err error
		rec, err = decodeRecord(data)
		return err
	})
	return rec, err
}

// FindTask finds a task by its id or by the idempotency key that created
// it, or returns ErrNotFound.
func (v *View) FindTask(tenantID, query string) (*Task, error) {
	task, err := v.Get(tenantID, query)
	if !errors.Is(err, ErrNotFound) {
		return task, err
	}
	var id []byte
	_ = v.db.View(func(tx *bolt.Tx) error {
		if tb := tenantBucket(tx, tenantID); tb != nil {
			id = append(id, tb.Bucket(bucketByIdem).Get([]byte(query))...)
		}
		return nil
	})
	if id == nil {
		return nil, ErrNotFound
	}
	return v.Get(tenantID, string(id))
}

// readTask reads a task from its tenant's bucket, or returns ErrNotFound.
func readTask(tb *bolt.Bucket, tenantID string, id []byte) (*Task, error) {
	data := tb.Bucket(bucketState).Get(id)
	if data == nil {
		return nil, ErrNotFound
	}
	rec, err := decodeRecord(data)
	if err != nil {
		return nil, err
	}
	return taskOf(tb, tenantID, id, rec)
}

// taskOf builds the task whose record is rec, reading its spec, attempts and
// deliveries.
func taskOf(tb *bolt.Bucket, tenantID string, id []byte, rec *taskRecord) (*Task, error) {
	t := &Task{
		ID: string(id), TenantID: tenantID, Status: rec.Status,
		CreatedAt: rec.CreatedAt, UpdatedAt: rec.UpdatedAt, FinishedAt: rec.FinishedAt,
		NextAttemptAt: rec.NextAttemptAt, AttemptCount: rec.AttemptCount,
		Attempts: []Attempt{}, Version: rec.LastSeq,
	}
	var created createdEvent // the spec record is the created event
	if err := decodeEvent(tb.Bucket(bucketSpec).Get(id), &created); err != nil {
		return nil, fmt.Errorf("broker: task spec: %w", err)
	}
	t.Spec, t.ReplayOf = created.Spec, created.ReplayOf
	t.ScheduleID, t.FiringAt = created.ScheduleID, created.FiringAt
	prefix := append(append([]byte{}, id...), 0)
	t.Replays = replaysOf(tb, prefix)
	if err := scanPrefix(tb.Bucket(bucketAttempts), prefix, func(v []byte) error {
		var a Attempt
		if err := decodeValue(v, &a); err != nil {
			return err
		}
		t.Attempts = append(t.Attempts, a)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("broker: attempts: %w", err)
	}
	if rec.Status == StatusSucceeded || rec.Status == StatusFailed {
		t.Result = &Result{Error: rec.ResultError}
		for _, a := range t.Attempts {
			if a.Number == rec.ResultAttempt {
				t.Result.Response = a.Response
			}
		}
	}
	if t.WebhookURL != "" || rec.Webhook != nil || (t.FailureWebhookURL != "" && !t.Status.Finished()) {
		t.Webhook = &Webhook{ID: WebhookID(t.ID), Deliveries: []Delivery{}, Receivers: rec.receiverStates()}
		t.Webhook.Status, t.Webhook.NextAttemptAt = rec.webhookStatus(), rec.nextWebhookAt()
		if err := scanPrefix(tb.Bucket(bucketDeliveries), prefix, func(v []byte) error {
			var d Delivery
			if err := decodeValue(v, &d); err != nil {
				return err
			}
			t.Webhook.Deliveries = append(t.Webhook.Deliveries, d)
			return nil
		}); err != nil {
			return nil, fmt.Errorf("broker: deliveries: %w", err)
		}
	}
	return t, nil
}

// replaysOf returns the ids of the tasks that replay the task whose
// bucketReplays prefix (id, 0) is given; nil when there is none, or in a
// view written before replays, which has no such bucket.
func replaysOf(tb *bolt.Bucket, prefix []byte) []string {
	b := tb.Bucket(bucketReplays)
	if b == nil {
		return nil
	}
	var ids []string
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		if len(k) > len(prefix)+8 {
			ids = append(ids, string(k[len(prefix)+8:])) // past the created time
		}
	}
	return ids
}

func scanPrefix(b *bolt.Bucket, prefix []byte, fn func(v []byte) error) error {
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if err := fn(v); err != nil {
			return err
		}
	}
	return nil
}

// ListQuery selects a page of a tenant's tasks, newest first.
type ListQuery struct {
	Status  Status        // empty for any
	Host    string        // the target's host; empty for any
	Webhook WebhookStatus // empty for any
	// CreatedAfter and CreatedBefore, when not zero, keep tasks created
	// strictly between them.
	CreatedAfter  time.Time
	CreatedBefore time.Time
	// IdempotencyKey, when set, selects the task that key created, if it
	// matches the other criteria: a page of one task at most.
	IdempotencyKey string
	Cursor         string // from the previous page's NextCursor
	Limit          int    // 1..200; zero means 50
}

// matches reports whether a task's record meets q's criteria (all but the
// idempotency key and the cursor).
func (q ListQuery) matches(rec *taskRecord) bool {
	return (q.Status == "" || rec.Status == q.Status) && (q.Host == "" || rec.Host == q.Host) &&
		(q.Webhook == "" || rec.webhookStatus() == q.Webhook) &&
		(q.CreatedAfter.IsZero() || rec.CreatedAt.After(q.CreatedAfter)) &&
		(q.CreatedBefore.IsZero() || rec.CreatedAt.Before(q.CreatedBefore))
}

// Page is one page of a listing.
type Page struct {
	Items      []*Task
	NextCursor string // empty on the last page
}

// List returns a page of the tenant's tasks, newest first. It walks the
// most selective index for the query (host, status, webhook state, or
// creation time) and checks the other criteria on each task. Tasks created
// while a client pages do not shift the pages it has yet to read.
func (v *View) List(tenantID string, q ListQuery) (Page, error) {
	if q.IdempotencyKey != "" {
		return v.listByIdempotencyKey(tenantID, q)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 50
	}
	var start []byte // created nanos and task id of the last item returned
	if q.Cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(q.Cursor)
		if err != nil || len(raw) < 10 || raw[0] != cursorVersion || !ValidToken(string(raw[9:])) {
			return Page{}, ErrBadCursor
		}
		start = raw[1:]
	}
	if start == nil && !q.CreatedBefore.IsZero() {
		start = timeKey(q.CreatedBefore, "")
	}
	var after []byte
	if !q.CreatedAfter.IsZero() {
		after = timeKey(q.CreatedAfter.Add(1), "")
	}
	page := Page{Items: []*Task{}}
	err := v.db.View(func(tx *bolt.Tx) error {
		tb := tenantBucket(tx, tenantID)
		if tb == nil {
			return nil
		}
		index, prefix := tb.Bucket(bucketByTime), []byte(nil)
		switch {
		case q.Host != "":
			index, prefix = tb.Bucket(bucketByHost), append([]byte(q.Host), 0)
		case q.Status != "":
			index, prefix = tb.Bucket(bucketByStatus), append([]byte(q.Status), 0)
		case q.Webhook != "":
			index, prefix = tb.Bucket(bucketByWebhook), append([]byte(q.Webhook), 0)
		}
		states := tb.Bucket(bucketState)
		var last []byte // key of the last item on the page
		return scanNewestFirst(index.Cursor(), prefix, start, func(key []byte) (bool, error) {
			if after != nil && bytes.Compare(key, after) < 0 {
				return false, nil
			}
			id := key[8:]
			rec, err := decodeRecord(states.Get(id))
			if err != nil {
				return false, err
			}
			if !q.matches(rec) {
				return true, nil
			}
			if len(page.Items) == limit {
				page.NextCursor = base64.RawURLEncoding.EncodeToString(append([]byte{cursorVersion}, last...))
				return false, nil
			}
			task, err := taskOf(tb, tenantID, id, rec)
			if err != nil {
				return false, err
			}
			page.Items = append(page.Items, task)
			last = key
			return true, nil
		})
	})
	return page, err
}

// listByIdempotencyKey is List for a query naming an idempotency key: the
// task it created, when that matches the other criteria.
func (v *View) listByIdempotencyKey(tenantID string, q ListQuery) (Page, error) {
	page := Page{Items: []*Task{}}
	err := v.db.View(func(tx *bolt.Tx) error {
		tb := tenantBucket(tx, tenantID)
		if tb == nil {
			return nil
		}
		id := tb.Bucket(bucketByIdem).Get([]byte(q.IdempotencyKey))
		data := tb.Bucket(bucketState).Get(id)
		if id == nil || data == nil {
			return nil
		}
		rec, err := decodeRecord(data)
		if err != nil || !q.matches(rec) {
			return err
		}
		task, err := taskOf(tb, tenantID, bytes.Clone(id), rec)
		if err == nil {
			page.Items = append(page.Items, task)
		}
		return err
	})
	return page, err
}

// cursorVersion starts every cursor, so that other strings are refused.
const cursorVersion = 1

// scanNewestFirst walks the keys prefix+created+id of an index from the
// newest down, starting below start (created+id) when it is given, and calls
// fn with created+id until fn says stop.
func scanNewestFirst(c *bolt.Cursor, prefix, start []byte, fn func(key []byte) (bool, error)) error {
	var k []byte
	if start == nil {
		if len(prefix) == 0 {
			k, _ = c.Last()
		} else {
			// Seek past the prefix's last key, then step back into it.
			upper := append(append([]byte{}, prefix[:len(prefix)-1]...), 1)
			if k, _ = c.Seek(upper); k == nil {
				k, _ = c.Last()
			} else {
				k, _ = c.Prev()
			}
		}
	} else {
		from := append(append([]byte{}, prefix...), start...)
		if k, _ = c.Seek(from); k == nil {
			k, _ = c.Last()
		}
		for k != nil && bytes.Compare(k, from) >= 0 {
			k, _ = c.Prev()
		}
	}
	for ; k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Prev() {
		more, err := fn(k[len(prefix):])
		if err != nil || !more {
			return err
		}
	}
	return nil
}
