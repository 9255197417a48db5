package broker

import (
	"encoding/binary"
	"time"
)

// What a batch updates besides the task records: the indexes by status and
// webhook state, and the tenant's live counts and per-minute statistics,
// gathered per batch and written once at its end (flush).

// indexed is what the indexes and counters know of a task.
type indexed struct {
	status  Status
	webhook WebhookStatus
}

func indexOf(rec *taskRecord) indexed {
	ix := indexed{status: rec.Status}
	ix.webhook = rec.webhookStatus()
	return ix
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
		if err := decodeCounts(data, g.counts); err != nil {
			return nil, err
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
	if after.status.Finished() && (before == nil || !before.status.Finished()) && rec.FinishedAt != nil {
		if err := tb.byFinish.Put(finishKey(*rec.FinishedAt, taskID), nil); err != nil {
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

// nonZero returns the entries of counts that are not zero.
func nonZero[K comparable](counts map[K]int) map[K]int {
	out := make(map[K]int, len(counts))
	for k, n := range counts {
		if n != 0 {
			out[k] = n
		}
	}
	return out
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
	if err := a.writeTasks(); err != nil {
		return err
	}
	for tenantID, g := range a.aggs {
		tb := a.tenants[tenantID]
		// Zero counts are left out, so that the counts of a view do not
		// depend on the statuses of tasks it no longer holds.
		counts := Counts{Status: nonZero(g.counts.Status), Webhook: nonZero(g.counts.Webhook)}
		if err := tb.counters.Put(countersKey, encodeRecord(&counts)); err != nil {
			return err
		}
		for minute, add := range g.minutes {
			key := binary.BigEndian.AppendUint64(nil, minute)
			var cur MinuteStats
			if data := tb.stats.Get(key); data != nil {
				if err := decodeValue(data, &cur); err != nil {
					return err
				}
			}
			cur.Add(*add)
			if err := tb.stats.Put(key, encodeRecord(&cur)); err != nil {
				return err
			}
		}
	}
	return nil
}
