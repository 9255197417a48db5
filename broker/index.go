package broker

import (
	"encoding/binary"
	"encoding/json"
	"net/url"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Buckets under each tenant's bucket that keep the dashboard fast: indexes
// by status, target host and webhook state (each key: value, 0, created
// nanoseconds, task id), the task an idempotency key made, live counts, and
// per-minute statistics. All of it derives from the events, so a rebuilt
// view has the same.
var (
	bucketByStatus  = []byte("bystatus")
	bucketByHost    = []byte("byhost")
	bucketByWebhook = []byte("bywebhook")
	bucketByIdem    = []byte("byidem")
	bucketCounters  = []byte("counters")
	bucketStats     = []byte("stats") // uint64 unix minute -> MinuteStats
	countersKey     = []byte("live")
)

// Counts are a tenant's tasks by status and webhook state, now.
type Counts struct {
	Status  map[Status]int        `json:"status"`
	Webhook map[WebhookStatus]int `json:"webhook"`
}

// LatencyBuckets are the upper bounds, in milliseconds, of the attempt
// latency histogram in MinuteStats; a last bucket counts the rest.
var LatencyBuckets = []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000}

// MinuteStats counts what happened to a tenant's tasks in one minute.
type MinuteStats struct {
	Created          int   `json:"created,omitempty"`
	Succeeded        int   `json:"succeeded,omitempty"`
	Failed           int   `json:"failed,omitempty"`
	Canceled         int   `json:"canceled,omitempty"`
	Attempts         int   `json:"attempts,omitempty"`
	Latency          []int `json:"latency,omitempty"` // per LatencyBuckets, plus one
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
		m.Latency = make([]int, len(LatencyBuckets)+1)
	}
	for i, n := range o.Latency {
		m.Latency[i] += n
	}
}

func (m *MinuteStats) observeAttempt(durationMs float64) {
	m.Attempts++
	if m.Latency == nil {
		m.Latency = make([]int, len(LatencyBuckets)+1)
	}
	i := 0
	for i < len(LatencyBuckets) && durationMs > LatencyBuckets[i] {
		i++
	}
	m.Latency[i]++
}

// indexed is what the indexes and counters know of a task.
type indexed struct {
	status  Status
	webhook WebhookStatus
}

func indexOf(rec *taskRecord) indexed {
	ix := indexed{status: rec.Status}
	if rec.Webhook != nil {
		ix.webhook = rec.Webhook.Status
	}
	return ix
}

func indexKey(value string, created time.Time, taskID []byte) []byte {
	k := make([]byte, 0, len(value)+9+len(taskID))
	k = append(k, value...)
	k = append(k, 0)
	k = binary.BigEndian.AppendUint64(k, uint64(created.UnixNano()))
	return append(k, taskID...)
}

// HostOf returns the host of a target URL, the key of the host index.
func HostOf(target string) string {
	u, err := url.Parse(target)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// tenantAgg gathers a batch's changes to a tenant's counters and statistics,
// written once at the end of the batch.
type tenantAgg struct {
	counts  *Counts
	minutes map[uint64]*MinuteStats
}

func (a *applyBatch) agg(tenantID string, tb *tenantBuckets) (*tenantAgg, error) {
	if g, ok := a.aggs[tenantID]; ok {
		return g, nil
	}
	g := &tenantAgg{counts: &Counts{Status: map[Status]int{}, Webhook: map[WebhookStatus]int{}}, minutes: map[uint64]*MinuteStats{}}
	if data := tb.counters.Get(countersKey); data != nil {
		if err := json.Unmarshal(data, g.counts); err != nil {
			return nil, err
		}
		if g.counts.Status == nil {
			g.counts.Status = map[Status]int{}
		}
		if g.counts.Webhook == nil {
			g.counts.Webhook = map[WebhookStatus]int{}
		}
	}
	a.aggs[tenantID] = g
	return g, nil
}

func (g *tenantAgg) minute(at time.Time) *MinuteStats {
	m := uint64(at.Unix() / 60)
	s := g.minutes[m]
	if s == nil {
		s = &MinuteStats{}
		g.minutes[m] = s
	}
	return s
}

// reindex moves a task between index entries and counts when its status or
// webhook state changed; before is nil for a new task.
func reindex(tb *tenantBuckets, g *tenantAgg, taskID []byte, rec *taskRecord, before *indexed) error {
	after := indexOf(rec)
	if before != nil && *before == after {
		return nil
	}
	if before == nil || before.status != after.status {
		if before != nil {
			g.counts.Status[before.status]--
			if err := tb.byStatus.Delete(indexKey(string(before.status), rec.CreatedAt, taskID)); err != nil {
				return err
			}
		}
		g.counts.Status[after.status]++
		if err := tb.byStatus.Put(indexKey(string(after.status), rec.CreatedAt, taskID), nil); err != nil {
			return err
		}
	}
	if before == nil || before.webhook != after.webhook {
		if before != nil && before.webhook != "" {
			g.counts.Webhook[before.webhook]--
			if err := tb.byWebhook.Delete(indexKey(string(before.webhook), rec.CreatedAt, taskID)); err != nil {
				return err
			}
		}
		if after.webhook != "" {
			g.counts.Webhook[after.webhook]++
			if err := tb.byWebhook.Put(indexKey(string(after.webhook), rec.CreatedAt, taskID), nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// observe adds an applied event to the minute statistics.
func observe(g *tenantAgg, ev event, e *Event) {
	m := g.minute(ev.at)
	switch ev.kind {
	case KindCreated:
		m.Created++
	case KindSucceeded:
		m.Succeeded++
	case KindFailed:
		m.Failed++
	case KindCanceled:
		m.Canceled++
	}
	if a := e.Attempt; a != nil && a.Outcome != "" && a.Outcome != OutcomeCanceled {
		m.observeAttempt(a.DurationMs)
	}
	if w := e.Webhook; w != nil && w.Delivery != nil {
		switch w.Delivery.Outcome {
		case "delivered":
			m.Delivered++
		case "dead":
			m.Dead++
			m.DeliveryFailures++
		default:
			m.DeliveryFailures++
		}
	}
}

// flush writes the batch's counters and statistics.
func (a *applyBatch) flush() error {
	for tenantID, g := range a.aggs {
		tb := a.tenants[tenantID]
		if err := putJSON(tb.counters, countersKey, g.counts); err != nil {
			return err
		}
		for minute, add := range g.minutes {
			key := binary.BigEndian.AppendUint64(nil, minute)
			var cur MinuteStats
			if data := tb.stats.Get(key); data != nil {
				if err := json.Unmarshal(data, &cur); err != nil {
					return err
				}
			}
			cur.Add(*add)
			if err := putJSON(tb.stats, key, &cur); err != nil {
				return err
			}
		}
	}
	return nil
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
			return json.Unmarshal(data, &c)
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
			if err := json.Unmarshal(val, &m); err != nil {
				return err
			}
			out[time.Unix(int64(binary.BigEndian.Uint64(k))*60, 0).UTC()] = m
		}
		return nil
	})
	return out, err
}
