package broker

import (
	"bytes"
	"encoding/binary"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Event is one change of a task as event streams send it: what happened,
// and the task's state right after. Seq is the event's stream sequence, the
// same on every node, so a client can resume on any node.
type Event struct {
	Seq           uint64        `json:"seq"`
	TaskID        string        `json:"taskId"`
	Type          string        `json:"type"`
	At            time.Time     `json:"at"`
	Status        Status        `json:"status"`
	AttemptCount  int           `json:"attemptCount"`
	NextAttemptAt *time.Time    `json:"nextAttemptAt,omitempty"`
	Attempt       *AttemptEvent `json:"attempt,omitempty"`
	Webhook       *WebhookEvent `json:"webhook,omitempty"`
}

// AttemptEvent summarises the attempt an event is about.
type AttemptEvent struct {
	Number     int     `json:"number"`
	Outcome    Outcome `json:"outcome,omitempty"`
	StatusCode int     `json:"statusCode,omitempty"`
	Error      string  `json:"error,omitempty"`
	DurationMs float64 `json:"durationMs,omitempty"`
}

// WebhookEvent summarises the webhook state an event changed.
type WebhookEvent struct {
	Status        WebhookStatus  `json:"status"`
	NextAttemptAt *time.Time     `json:"nextAttemptAt,omitempty"`
	Delivery      *DeliveryEvent `json:"delivery,omitempty"`
}

// DeliveryEvent summarises a webhook delivery.
type DeliveryEvent struct {
	Number     int     `json:"number"`
	Outcome    string  `json:"outcome"`
	StatusCode int     `json:"statusCode,omitempty"`
	Error      string  `json:"error,omitempty"`
	DurationMs float64 `json:"durationMs,omitempty"`
	// Receiver is FailureReceiver for a delivery to failureWebhookUrl.
	Receiver string `json:"receiver,omitempty"`
}

// TaskEvents returns up to limit of the task's events after sequence after,
// oldest first.
func (v *View) TaskEvents(tenantID, taskID string, after uint64, limit int) ([]Event, error) {
	var out []Event
	err := v.db.View(func(tx *bolt.Tx) error {
		tb := tenantBucket(tx, tenantID)
		if tb == nil {
			return nil
		}
		events := tb.Bucket(bucketEvents)
		prefix := append([]byte(taskID), 0)
		c := tb.Bucket(bucketTaskEvents).Cursor()
		for k, _ := c.Seek(eventKey([]byte(taskID), after+1)); k != nil && bytes.HasPrefix(k, prefix) && len(out) < limit; k, _ = c.Next() {
			var e Event
			if err := decodeValue(events.Get(k[len(prefix):]), &e); err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// TenantEvents returns up to limit of the tenant's events, of all its
// tasks, after sequence after, oldest first.
func (v *View) TenantEvents(tenantID string, after uint64, limit int) ([]Event, error) {
	var out []Event
	err := v.db.View(func(tx *bolt.Tx) error {
		tb := tenantBucket(tx, tenantID)
		if tb == nil {
			return nil
		}
		c := tb.Bucket(bucketEvents).Cursor()
		for k, val := c.Seek(binary.BigEndian.AppendUint64(nil, after+1)); k != nil && len(out) < limit; k, val = c.Next() {
			var e Event
			if err := decodeValue(val, &e); err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// LastTenantEvent returns the sequence of the tenant's latest event, zero
// when it has none.
func (v *View) LastTenantEvent(tenantID string) (uint64, error) {
	var seq uint64
	err := v.db.View(func(tx *bolt.Tx) error {
		if tb := tenantBucket(tx, tenantID); tb != nil {
			if k, _ := tb.Bucket(bucketEvents).Cursor().Last(); k != nil {
				seq = binary.BigEndian.Uint64(k)
			}
		}
		return nil
	})
	return seq, err
}
