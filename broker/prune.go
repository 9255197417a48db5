package broker

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Applying a prune event: the tenant's retention made deterministic. The
// event carries an absolute cutoff; the view drops every finished task of
// the tenant whose webhook has settled (delivered, dead, or none) and that
// finished before it, with everything derived from it, and the per-minute
// statistics of the minutes before it. Nothing here reads a clock, so a
// view rebuilt from the stream makes the same deletions at the same point.

// prune applies a prune event; a malformed one changes nothing. A tenant
// left with nothing in the view loses its bucket too, as if it had never
// had a task: a view rebuilt from a stream whose age limit has dropped the
// tenant's old events has none either.
func (a *applyBatch) prune(ev event) error {
	var e pruneEvent
	if string(ev.taskID) != pruneToken || json.Unmarshal(ev.data, &e) != nil || e.Before.IsZero() {
		return malformed("a prune event without a cutoff")
	}
	tb, err := a.buckets(ev.tenantID)
	if err != nil {
		return err
	}
	g, err := a.agg(ev.tenantID, tb)
	if err != nil {
		return err
	}
	for _, k := range keysBelow(tb.byFinish, finishKey(e.Before, nil)) {
		if err := dropTask(tb, g, k); err != nil {
			return err
		}
	}
	if err := dropMinutes(tb, g, e.Before); err != nil {
		return err
	}
	return a.dropIfEmpty(ev.tenantID, tb, g)
}

// dropIfEmpty deletes the tenant's bucket when the view holds nothing of
// the tenant any more but zero counts.
func (a *applyBatch) dropIfEmpty(tenantID string, tb *tenantBuckets, g *tenantAgg) error {
	for _, b := range []*bolt.Bucket{tb.state, tb.events, tb.stats, tb.byIdem} {
		if k, _ := b.Cursor().First(); k != nil {
			return nil
		}
	}
	if len(g.minutes) > 0 || len(nonZero(g.counts.Status)) > 0 || len(nonZero(g.counts.Webhook)) > 0 {
		return nil
	}
	delete(a.tenants, tenantID)
	delete(a.aggs, tenantID)
	return a.root.DeleteBucket([]byte(tenantID))
}

// keysBelow returns a copy of the keys of b that sort before end.
func keysBelow(b *bolt.Bucket, end []byte) [][]byte {
	var keys [][]byte
	c := b.Cursor()
	for k, _ := c.First(); k != nil && bytes.Compare(k, end) < 0; k, _ = c.Next() {
		keys = append(keys, append([]byte(nil), k...))
	}
	return keys
}

// dropTask removes the task of a bucketByFinish key from the view, unless
// its webhook is still to be delivered (a redelivery in progress): that
// task stays, and a later prune finds it again.
func dropTask(tb *tenantBuckets, g *tenantAgg, finishedKey []byte) error {
	id := finishedKey[8:]
	data := tb.state.Get(id)
	if data == nil {
		return tb.byFinish.Delete(finishedKey)
	}
	rec, err := decodeRecord(data)
	if err != nil {
		return err
	}
	if !rec.Status.Finished() || !rec.webhookSettled() {
		return nil
	}
	ix := indexOf(rec)
	g.counts.Status[ix.status]--
	deletes := []struct {
		b   *bolt.Bucket
		key []byte
	}{
		{tb.byFinish, finishedKey},
		{tb.state, id},
		{tb.spec, id},
		{tb.byTime, timeKey(rec.CreatedAt, string(id))},
		{tb.byStatus, indexKey(string(ix.status), rec.CreatedAt, id)},
		{tb.byHost, indexKey(rec.Host, rec.CreatedAt, id)},
	}
	if ix.webhook != "" {
		g.counts.Webhook[ix.webhook]--
		deletes = append(deletes, struct {
			b   *bolt.Bucket
			key []byte
		}{tb.byWebhook, indexKey(string(ix.webhook), rec.CreatedAt, id)})
	}
	if err := dropSpecLinks(tb, id); err != nil {
		return err
	}
	for _, d := range deletes {
		if err := d.b.Delete(d.key); err != nil {
			return err
		}
	}
	return dropChildren(tb, id)
}

// dropSpecLinks forgets what the task's created event linked it to: the
// idempotency key that made it, unless a later task of the same key has it
// now, and its place among the replays of the task it replays.
func dropSpecLinks(tb *tenantBuckets, id []byte) error {
	spec, err := decodeCreatedIndex(tb.spec.Get(id))
	if err != nil {
		return nil
	}
	if spec.ReplayOf != "" {
		if err := tb.replays.Delete(replayKey([]byte(spec.ReplayOf), spec.CreatedAt, id)); err != nil {
			return err
		}
	}
	key := []byte(spec.IdempotencyKey)
	if spec.IdempotencyKey == "" || !bytes.Equal(tb.byIdem.Get(key), id) {
		return nil
	}
	return tb.byIdem.Delete(key)
}

// dropChildren removes the task's attempts, deliveries, links to its
// replays and event history.
func dropChildren(tb *tenantBuckets, id []byte) error {
	prefix := append(append([]byte(nil), id...), 0)
	for _, b := range []*bolt.Bucket{tb.attempts, tb.deliveries, tb.replays} {
		if err := deletePrefix(b, prefix, nil); err != nil {
			return err
		}
	}
	return deletePrefix(tb.taskEvents, prefix, func(k []byte) error {
		return tb.events.Delete(k[len(prefix):]) // the event's sequence
	})
}

// deletePrefix deletes the keys of b that start with prefix, calling each
// first, when given, with the key.
func deletePrefix(b *bolt.Bucket, prefix []byte, each func(k []byte) error) error {
	var keys [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, append([]byte(nil), k...))
	}
	for _, k := range keys {
		if each != nil {
			if err := each(k); err != nil {
				return err
			}
		}
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// dropMinutes removes the per-minute statistics of the minutes that ended
// before before, including those this batch has yet to write.
func dropMinutes(tb *tenantBuckets, g *tenantAgg, before time.Time) error {
	first := uint64(before.Unix() / 60) // the minute before falls in is kept
	for m := range g.minutes {
		if m < first {
			delete(g.minutes, m)
		}
	}
	for _, k := range keysBelow(tb.stats, binary.BigEndian.AppendUint64(nil, first)) {
		if err := tb.stats.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
