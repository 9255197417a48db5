package broker

import (
	"encoding/binary"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Counts are a tenant's tasks by status and webhook state, now.
type Counts struct {
	Status  map[Status]int        `json:"status"`
	Webhook map[WebhookStatus]int `json:"webhook"`
}

// latencyBounds are the upper bounds, in milliseconds, of the attempt
// latency histogram in MinuteStats; a last bucket counts the rest. Stored
// statistics count by position, so these fix the meaning of every
// MinuteStats already in a view file: never change them.
var latencyBounds = [...]float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000}

// latencyBucketCount is the length of MinuteStats.Latency: a bucket per
// bound and one for the rest.
const latencyBucketCount = len(latencyBounds) + 1

// LatencyBuckets returns the upper bounds, in milliseconds, of the attempt
// latency histogram in MinuteStats.Latency, whose last bucket, one past
// these, counts the rest. The slice is a copy: changing it changes nothing
// else.
func LatencyBuckets() []float64 { return append([]float64(nil), latencyBounds[:]...) }

// MinuteStats counts what happened to a tenant's tasks in one minute.
type MinuteStats struct {
	Created          int   `json:"created,omitempty"`
	Succeeded        int   `json:"succeeded,omitempty"`
	Failed           int   `json:"failed,omitempty"`
	Canceled         int   `json:"canceled,omitempty"`
	Attempts         int   `json:"attempts,omitempty"`
	Latency          []int `json:"latency,omitempty"` // per LatencyBuckets(), plus one
	Delivered        int   `json:"delivered,omitempty"`
	DeliveryFailures int   `json:"deliveryFailures,omitempty"`
	Dead             int   `json:"dead,omitempty"`
}

// Add adds o's counts to m.
func (m *MinuteStats) Add(o MinuteStats) {
	m.Created += o.Created
	m.Succeeded += o.Succeeded
	m.Failed += o.Failed
	m.Canceled += o.Canceled
	m.Attempts += o.Attempts
	m.Delivered += o.Delivered
	m.DeliveryFailures += o.DeliveryFailures
	m.Dead += o.Dead
	if len(o.Latency) > 0 && len(m.Latency) == 0 {
		m.Latency = make([]int, latencyBucketCount)
	}
	for i, n := range o.Latency {
		m.Latency[i] += n
	}
}

func (m *MinuteStats) observeAttempt(durationMs float64) {
	m.Attempts++
	if m.Latency == nil {
		m.Latency = make([]int, latencyBucketCount)
	}
	i := 0
	for i < len(latencyBounds) && durationMs > latencyBounds[i] {
		i++
	}
	m.Latency[i]++
}

// Counts returns the tenant's live counts.
func (v *View) Counts(tenantID string) (Counts, error) {
	c := Counts{Status: map[Status]int{}, Webhook: map[WebhookStatus]int{}}
	err := v.db.View(func(tx *bolt.Tx) error {
		tb := tenantBucket(tx, tenantID)
		if tb == nil {
			return nil
		}
		if data := tb.Bucket(bucketCounters).Get(countersKey); data != nil {
			return decodeCounts(data, &c)
		}
		return nil
	})
	return c, err
}

// Stats returns the tenant's per-minute statistics from since (inclusive)
// to until (exclusive), keyed by the minute's start.
func (v *View) Stats(tenantID string, since, until time.Time) (map[time.Time]MinuteStats, error) {
	out := map[time.Time]MinuteStats{}
	err := v.db.View(func(tx *bolt.Tx) error {
		tb := tenantBucket(tx, tenantID)
		if tb == nil {
			return nil
		}
		from := binary.BigEndian.AppendUint64(nil, uint64(since.Unix()/60))
		to := uint64(until.Unix() / 60)
		c := tb.Bucket(bucketStats).Cursor()
		for k, val := c.Seek(from); k != nil && binary.BigEndian.Uint64(k) < to; k, val = c.Next() {
			var m MinuteStats
			if err := decodeValue(val, &m); err != nil {
				return err
			}
			out[time.Unix(int64(binary.BigEndian.Uint64(k))*60, 0).UTC()] = m
		}
		return nil
	})
	return out, err
}
