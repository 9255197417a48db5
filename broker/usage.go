package broker

import (
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Usage per tenant and day, for billing and quotas. The projector counts
// it from the events themselves, at the time the stream stored each one
// (never a node's clock), so every node and a rebuilt view count the
// same. It lives in its own bucket, usage/<tenant>/<day>, outside the
// tenant's task buckets: a tenant's retention drops finished tasks, never
// what they cost. Only erasing the tenant (KindErase) drops it.

// bucketUsage holds a bucket per tenant: uint32 day (days since the Unix
// epoch, UTC) -> Usage.
var bucketUsage = []byte("usage")

// Usage counts what a tenant's tasks did in a period.
type Usage struct {
	// TasksCreated counts the tasks created (a repeat of an idempotent
	// create is not a new task).
	TasksCreated int64 `json:"tasksCreated"`
	// Attempts counts the calls made to targets, whatever their outcome.
	Attempts int64 `json:"attempts"`
	// WebhookDeliveries counts the webhook deliveries tried, whatever
	// their outcome.
	WebhookDeliveries int64 `json:"webhookDeliveries"`
	// BytesStored counts the bytes of the task events the tenant's tasks
	// wrote to the event log: their spec, payload, attempts' responses and
	// deliveries, as stored.
	BytesStored int64 `json:"bytesStored"`
}

// Add adds o's counts to u.
func (u *Usage) Add(o Usage) {
	u.TasksCreated += o.TasksCreated
	u.Attempts += o.Attempts
	u.WebhookDeliveries += o.WebhookDeliveries
	u.BytesStored += o.BytesStored
}

// DayUsage is a tenant's usage on one UTC day.
type DayUsage struct {
	Day time.Time `json:"day"` // the day's start, UTC
	Usage
}

const dayLength = 24 * time.Hour

// dayOf is the usage key of the UTC day of t.
func dayOf(t time.Time) uint32 { return uint32(t.Unix() / int64(dayLength/time.Second)) }

func dayKey(day uint32) []byte { return binary.BigEndian.AppendUint32(nil, day) }

// encodeUsage stores u as four big-endian uint64s, in the order of its
// fields; a later field would be appended.
func encodeUsage(u Usage) []byte {
	b := make([]byte, 0, 32)
	for _, n := range []int64{u.TasksCreated, u.Attempts, u.WebhookDeliveries, u.BytesStored} {
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return b
}

func decodeUsage(data []byte, u *Usage) error {
	if len(data) < 32 {
		return fmt.Errorf("broker: usage record of %d bytes", len(data))
	}
	for i, dst := range []*int64{&u.TasksCreated, &u.Attempts, &u.WebhookDeliveries, &u.BytesStored} {
		*dst = int64(binary.BigEndian.Uint64(data[8*i:]))
	}
	return nil
}

// countUsage adds an applied event to the batch's usage counts.
func (a *applyBatch) countUsage(ev event, detail *Event) {
	if a.usage == nil {
		a.usage = map[string]map[uint32]*Usage{}
	}
	days := a.usage[ev.tenantID]
	if days == nil {
		days = map[uint32]*Usage{}
		a.usage[ev.tenantID] = days
	}
	u := days[dayOf(ev.at)]
	if u == nil {
		u = &Usage{}
		days[dayOf(ev.at)] = u
	}
	u.BytesStored += int64(len(ev.data))
	if ev.kind == KindCreated {
		u.TasksCreated++
	}
	if at := detail.Attempt; at != nil && at.Outcome != "" && at.Outcome != OutcomeCanceled {
		u.Attempts++
	}
	if w := detail.Webhook; w != nil && w.Delivery != nil {
		u.WebhookDeliveries++
	}
}

// flushUsage adds the batch's usage counts to the view's.
func (a *applyBatch) flushUsage(tx *bolt.Tx) error {
	if len(a.usage) == 0 {
		return nil
	}
	root, err := tx.CreateBucketIfNotExists(bucketUsage)
	if err != nil {
		return err
	}
	for tenantID, days := range a.usage {
		b, err := root.CreateBucketIfNotExists([]byte(tenantID))
		if err != nil {
			return err
		}
		for day, add := range days {
			var cur Usage
			if data := b.Get(dayKey(day)); data != nil {
				if err := decodeUsage(data, &cur); err != nil {
					return err
				}
			}
			cur.Add(*add)
			if err := b.Put(dayKey(day), encodeUsage(cur)); err != nil {
				return err
			}
		}
	}
	clear(a.usage)
	return nil
}

// Usage returns the tenant's usage per UTC day from since to until (both
// days included), oldest first; days without use are left out.
func (v *View) Usage(tenantID string, since, until time.Time) ([]DayUsage, error) {
	out := []DayUsage{}
	err := v.db.View(func(tx *bolt.Tx) error {
		root := tx.Bucket(bucketUsage)
		if root == nil {
			return nil
		}
		b := root.Bucket([]byte(tenantID))
		if b == nil {
			return nil
		}
		last := dayOf(until)
		c := b.Cursor()
		for k, val := c.Seek(dayKey(dayOf(since))); k != nil && binary.BigEndian.Uint32(k) <= last; k, val = c.Next() {
			d := DayUsage{Day: time.Unix(int64(binary.BigEndian.Uint32(k))*int64(dayLength/time.Second), 0).UTC()}
			if err := decodeUsage(val, &d.Usage); err != nil {
				return err
			}
			out = append(out, d)
		}
		return nil
	})
	return out, err
}

// Usage returns the tenant's usage per UTC day from since to until (both
// days included), from this node's view.
func (t *Tasks) Usage(tenantID string, since, until time.Time) ([]DayUsage, error) {
	return t.view.Usage(tenantID, since, until)
}

// MonthStart is the start of t's month, UTC.
func MonthStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// MonthUsage returns the tenant's usage in the UTC month of at, from this
// node's view.
func (t *Tasks) MonthUsage(tenantID string, at time.Time) (Usage, error) {
	start := MonthStart(at)
	days, err := t.view.Usage(tenantID, start, start.AddDate(0, 1, -1))
	var sum Usage
	for _, d := range days {
		sum.Add(d.Usage)
	}
	return sum, err
}
