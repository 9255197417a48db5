package broker

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"
)

// Apply applies a batch of task events to the view, inside the projector's
// write transaction: it is the task stream's projector.Applier
// (internal/projector), and returns the hub's wake-up to run after the
// commit. Events of tasks the view does not know (pruned by the tenant's
// retention, see prune.go, or whose creation aged out of the stream) change
// nothing. A malformed event — a subject or payload that does not decode,
// an unknown kind, an impossible number — is skipped (marked with Skip, so
// that the projector logs and counts it); an error writing the view is
// returned, and the projector retries the batch. The first terminal event
// of a task wins: a success published after a cancel does not revive it.
func (v *View) Apply(tx *bolt.Tx, msgs []jetstream.Msg) (func(), error) {
	root, err := tx.CreateBucketIfNotExists(bucketTasks)
	if err != nil {
		return nil, err
	}
	a := applyBatch{root: root, tenants: map[string]*tenantBuckets{}, aggs: map[string]*tenantAgg{},
		tasks: map[taskKey]*taskEntry{}}
	changes := make([]Change, 0, len(msgs))
	for _, m := range msgs {
		meta, err := m.Metadata()
		if err != nil {
			return nil, err
		}
		pe := v.prepared(m)
		if pe.badSubject {
			skip(m, "not a task subject")
			continue
		}
		tenantID, taskID, kind := pe.tenantID, pe.taskID, pe.kind
		ev := event{tenantID: tenantID, taskID: []byte(taskID), kind: kind,
			seq: meta.Sequence.Stream, at: meta.Timestamp.UTC(), data: m.Data(), payload: pe.payload}
		applied, err := a.apply(ev)
		if errors.Is(err, errMalformed) {
			skip(m, err.Error())
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("apply %s at %d: %w", m.Subject(), ev.seq, err)
		}
		if applied {
			changes = append(changes, Change{TenantID: tenantID, TaskID: taskID, Kind: kind, Seq: ev.seq})
		}
	}
	if err := a.flush(); err != nil {
		return nil, err
	}
	if err := a.flushUsage(tx); err != nil {
		return nil, err
	}
	return func() { v.hub.publish(changes) }, nil
}

// maxIndexedLen bounds the values a created event puts in index keys.
const maxIndexedLen = 8 << 10

// errMalformed marks an event the view cannot use: it is skipped, not
// retried. Every other error of applying is a failure to write the view.
var errMalformed = errors.New("malformed event")

func malformed(what string) error { return fmt.Errorf("%w: %s", errMalformed, what) }

// skipper is what the projector's messages offer (projector.Skipper): a
// way to say that the view skipped one as malformed.
type skipper interface{ Skip(reason string) }

func skip(m jetstream.Msg, reason string) {
	if s, ok := m.(skipper); ok {
		s.Skip(reason)
	}
}

type event struct {
	tenantID string
	taskID   []byte
	kind     string
	seq      uint64
	at       time.Time
	data     []byte
	payload  any // data decoded by Prepare (decodePayload), or nil
}

type tenantBuckets struct {
	state, spec, attempts, deliveries, byTime, events, taskEvents *bolt.Bucket
	byStatus, byHost, byWebhook, byIdem, counters, stats          *bolt.Bucket
	byFinish, replays                                             *bolt.Bucket
}

type applyBatch struct {
	root    *bolt.Bucket
	tenants map[string]*tenantBuckets
	aggs    map[string]*tenantAgg
	// tasks holds the records of the tasks the batch has changed so far,
	// written once each, with their index entries, at the end of the batch
	// (writeTasks): a task's events often come in one batch, and each
	// write of a record and each move between index entries costs a
	// search of a bbolt tree. order is the order they were first met in.
	tasks map[taskKey]*taskEntry
	order []*taskEntry
	// usage counts the batch's usage per tenant and day (usage.go).
	usage map[string]map[uint32]*Usage
}

type taskKey struct{ tenantID, taskID string }

// taskEntry is a task's record as the batch has changed it.
type taskEntry struct {
	tb     *tenantBuckets
	g      *tenantAgg
	id     []byte
	rec    taskRecord
	before *indexed // what the indexes hold for it; nil for a task new in the batch
	dirty  bool     // changed by the batch
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
	}{{bucketState, &tb.state}, {bucketSpec, &tb.spec}, {bucketAttempts, &tb.attempts}, {bucketDeliveries, &tb.deliveries}, {bucketByTime, &tb.byTime},
		{bucketEvents, &tb.events}, {bucketTaskEvents, &tb.taskEvents},
		{bucketByStatus, &tb.byStatus}, {bucketByHost, &tb.byHost}, {bucketByWebhook, &tb.byWebhook},
		{bucketByIdem, &tb.byIdem}, {bucketCounters, &tb.counters}, {bucketStats, &tb.stats},
		{bucketByFinish, &tb.byFinish}, {bucketReplays, &tb.replays}} {
		if *sub.dst, err = b.CreateBucketIfNotExists(sub.name); err != nil {
			return nil, err
		}
		// Keys mostly arrive in order (time-ordered ids, sequences, time
		// in index keys): fill pages before splitting them, instead of
		// bbolt's default of half, which leaves appended pages half empty.
		(*sub.dst).FillPercent = 0.9
	}
	a.tenants[tenantID] = tb
	return tb, nil
}

// apply applies one event and reports whether it changed a task.
func (a *applyBatch) apply(ev event) (bool, error) {
	if ev.kind == KindErase {
		return false, a.erase(ev)
	}
	if ev.kind == KindPrune {
		// Pruning reads the records and indexes: they must be written.
		if err := a.writeTasks(); err != nil {
			return false, err
		}
		return false, a.prune(ev)
	}
	tb, err := a.buckets(ev.tenantID)
	if err != nil {
		return false, err
	}
	g, err := a.agg(ev.tenantID, tb)
	if err != nil {
		return false, err
	}
	var detail Event
	t, err := a.task(tb, g, ev)
	if err != nil {
		return false, err
	}
	if ev.kind == KindCreated {
		if t != nil {
			return false, nil // a repeat: the task exists
		}
		if t, err = a.create(tb, g, ev); err != nil || t == nil {
			return false, err
		}
	} else {
		if t == nil {
			return false, nil
		}
		if changed, err := applyToRecord(tb, &t.rec, ev, &detail); err != nil || !changed {
			return false, err
		}
		t.rec.UpdatedAt, t.rec.LastSeq = ev.at, ev.seq
	}
	t.dirty = true
	if err := recordEvent(tb, ev, &t.rec, &detail); err != nil {
		return false, err
	}
	observe(g, ev, &detail)
	a.countUsage(ev, &detail)
	return true, nil
}

// task returns the batch's entry for the event's task, reading its record
// from the view the first time; nil when the view has no such task.
func (a *applyBatch) task(tb *tenantBuckets, g *tenantAgg, ev event) (*taskEntry, error) {
	key := taskKey{ev.tenantID, string(ev.taskID)}
	if t, ok := a.tasks[key]; ok {
		return t, nil
	}
	data := tb.state.Get(ev.taskID)
	if data == nil {
		return nil, nil
	}
	t := &taskEntry{tb: tb, g: g, id: ev.taskID}
	if err := decodeValue(data, &t.rec); err != nil {
		return nil, fmt.Errorf("the view's record of the task: %w", err)
	}
	ix := indexOf(&t.rec)
	t.before = &ix
	a.tasks[key] = t
	a.order = append(a.order, t)
	return t, nil
}

// writeTasks writes the records the batch changed and moves their index
// entries and counts from where they were before the batch to where they
// are now, then forgets them: what writing each change at once would
// leave.
func (a *applyBatch) writeTasks() error {
	for _, t := range a.order {
		if !t.dirty {
			continue
		}
		if err := t.tb.state.Put(t.id, encodeRecord(&t.rec)); err != nil {
			return err
		}
		if err := reindex(t.tb, t.g, t.id, &t.rec, t.before); err != nil {
			return err
		}
	}
	clear(a.tasks)
	a.order = a.order[:0]
	return nil
}

// recordEvent keeps the change in the tenant's event history, which event
// streams replay from a Last-Event-ID.
func recordEvent(tb *tenantBuckets, ev event, rec *taskRecord, e *Event) error {
	e.Seq, e.TaskID, e.Type, e.At = ev.seq, string(ev.taskID), ev.kind, ev.at
	e.Status, e.AttemptCount, e.NextAttemptAt = rec.Status, rec.AttemptCount, rec.NextAttemptAt
	if rec.Webhook != nil && e.Webhook == nil && (ev.kind == KindSucceeded || ev.kind == KindFailed || ev.kind == KindRedeliver) {
		e.Webhook = &WebhookEvent{Status: rec.webhookStatus()}
	}
	key := binary.BigEndian.AppendUint64(nil, ev.seq)
	if err := tb.events.Put(key, encodeRecord(e)); err != nil {
		return err
	}
	return tb.taskEvents.Put(eventKey(ev.taskID, ev.seq), nil)
}

// create adds a new task (its record is written with the batch's others)
// and returns its entry; nil for a malformed event.
func (a *applyBatch) create(tb *tenantBuckets, g *tenantAgg, ev event) (*taskEntry, error) {
	// Only what the record and the indexes need; the payload is skipped,
	// and the event itself becomes the spec record (a superset of Spec).
	c, ok := ev.payload.(*createdIndex)
	if !ok {
		decoded, err := decodeCreatedIndex(ev.data)
		if err != nil {
			return nil, malformed("a created event without a spec")
		}
		c = &decoded
	}
	if c.TargetURL == "" {
		return nil, malformed("a created event without a spec")
	}
	// Index keys hold these: bbolt refuses keys over 32 KiB, and such a
	// refusal must not pass for a failing disk. The API allows far less.
	if len(c.IdempotencyKey) > maxIndexedLen || len(c.TargetURL) > maxIndexedLen {
		return nil, malformed("an idempotency key or target URL too long to index")
	}
	t := &taskEntry{tb: tb, g: g, id: ev.taskID, rec: taskRecord{Status: StatusPending, CreatedAt: c.CreatedAt,
		UpdatedAt: ev.at, LastSeq: ev.seq, NextAttemptAt: c.NotBefore, Host: HostOf(c.TargetURL)}}
	if err := tb.byHost.Put(indexKey(t.rec.Host, c.CreatedAt, ev.taskID), nil); err != nil {
		return nil, err
	}
	if c.IdempotencyKey != "" {
		if err := tb.byIdem.Put([]byte(c.IdempotencyKey), ev.taskID); err != nil {
			return nil, err
		}
	}
	if err := tb.spec.Put(ev.taskID, ev.data); err != nil {
		return nil, err
	}
	if err := tb.byTime.Put(timeKey(c.CreatedAt, string(ev.taskID)), nil); err != nil {
		return nil, err
	}
	// The link is written whether or not the view holds the original, so
	// that it does not depend on how events were batched; it goes when
	// either task is pruned.
	if c.ReplayOf != "" && ValidToken(c.ReplayOf) {
		if err := tb.replays.Put(replayKey([]byte(c.ReplayOf), c.CreatedAt, ev.taskID), nil); err != nil {
			return nil, err
		}
	}
	a.tasks[taskKey{ev.tenantID, string(ev.taskID)}] = t
	a.order = append(a.order, t)
	return t, nil
}

// applyToRecord changes rec and the task's child records for ev, fills in
// the event's details for event streams, and reports whether anything
// changed. A malformed event is an errMalformed error; any other error is
// a failed write.
func applyToRecord(tb *tenantBuckets, rec *taskRecord, ev event, detail *Event) (bool, error) {
	switch ev.kind {
	case KindStarted:
		var e startedEvent
		if err := decode(ev, &e); err != nil {
			return false, err
		}
		// A started event that lands after its attempt's outcome is stale.
		if rec.Status.Finished() || e.Attempt <= rec.AttemptCount {
			return false, nil
		}
		rec.Status, rec.NextAttemptAt = StatusRunning, nil
		detail.Attempt = &AttemptEvent{Number: e.Attempt}
	case KindAttempt:
		var e attemptEvent
		if err := decode(ev, &e); err != nil {
			return false, err
		}
		if err := putAttempt(tb, ev.taskID, rec, e.Attempt); err != nil {
			return false, err
		}
		detail.Attempt = attemptSummary(&e.Attempt)
		if !rec.Status.Finished() {
			rec.Status, rec.NextAttemptAt = StatusRetrying, e.NextAttemptAt
		}
	case KindSucceeded, KindFailed:
		return applyFinished(tb, rec, ev, detail)
	case KindCanceled:
		var e canceledEvent
		if err := decode(ev, &e); err != nil || rec.Status.Finished() {
			return false, err
		}
		rec.Status, rec.FinishedAt, rec.NextAttemptAt, rec.TerminalSeq = StatusCanceled, &e.At, nil, ev.seq
	case KindDelivery, KindDelivered, KindDead:
		return applyDelivery(tb, rec, ev, detail)
	case KindRedeliver:
		if rec.Webhook == nil {
			return false, nil
		}
		rec.startRound(ev.seq)
	default:
		return false, malformed("unknown kind " + strconv.Quote(ev.kind))
	}
	return true, nil
}

// decode decodes ev's payload into v, or says the event is malformed.
// decode takes what Prepare decoded when it can.
func decode[T any, P interface {
	*T
	binDecoder
}](ev event, v P) error {
	if pre, ok := ev.payload.(P); ok {
		*v = *pre
		return nil
	}
	if err := decodeEvent(ev.data, v); err != nil {
		return malformed("a " + ev.kind + " event that does not decode")
	}
	return nil
}

func applyFinished(tb *tenantBuckets, rec *taskRecord, ev event, detail *Event) (bool, error) {
	var e finishedEvent
	if err := decode(ev, &e); err != nil {
		return false, err
	}
	if e.Attempt != nil {
		if err := putAttempt(tb, ev.taskID, rec, *e.Attempt); err != nil {
			return false, err
		}
	}
	detail.Attempt = attemptSummary(e.Attempt)
	if rec.Status.Finished() {
		return e.Attempt != nil, nil
	}
	rec.Status = Status(ev.kind)
	rec.ResultError, rec.FinishedAt, rec.NextAttemptAt, rec.TerminalSeq = e.Error, &e.FinishedAt, nil, ev.seq
	if e.Attempt != nil {
		rec.ResultAttempt = e.Attempt.Number
	}
	rec.finishReceivers(&e, rec.Status, ev.seq)
	return true, nil
}

func applyDelivery(tb *tenantBuckets, rec *taskRecord, ev event, detail *Event) (bool, error) {
	var e deliveryEvent
	if err := decode(ev, &e); err != nil {
		return false, err
	}
	d := e.Delivery
	if d.Number < 1 {
		return false, malformed(fmt.Sprintf("delivery number %d", d.Number))
	}
	w := rec.lane(d.Receiver)
	if w == nil {
		return false, nil
	}
	if err := tb.deliveries.Put(childKey(ev.taskID, deliveryNumberKey(&d)), encodeRecord(&d)); err != nil {
		return false, err
	}
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
	detail.Webhook = &WebhookEvent{Status: rec.webhookStatus(), NextAttemptAt: rec.nextWebhookAt(), Delivery: &DeliveryEvent{
		Number: d.Number, Outcome: d.Outcome, StatusCode: d.StatusCode, Error: d.Error, DurationMs: d.DurationMs,
		Receiver: d.Receiver,
	}}
	return true, nil
}

func putAttempt(tb *tenantBuckets, taskID []byte, rec *taskRecord, a Attempt) error {
	if a.Number < 1 {
		return malformed(fmt.Sprintf("attempt number %d", a.Number))
	}
	rec.AttemptCount = max(rec.AttemptCount, a.Number)
	return tb.attempts.Put(childKey(taskID, a.Number), encodeRecord(&a))
}

func attemptSummary(a *Attempt) *AttemptEvent {
	if a == nil {
		return nil
	}
	return &AttemptEvent{Number: a.Number, Outcome: a.Outcome, StatusCode: a.StatusCode, Error: a.Error, DurationMs: a.DurationMs}
}

// preparedEvent is what Prepare makes of a message of the task stream.
type preparedEvent struct {
	tenantID, taskID, kind string
	badSubject             bool
	payload                any // see decodePayload
}

// Prepare parses a message's subject and decodes its payload, before its
// batch's transaction and on another goroutine than the one applying the
// batch before (projector.Preparer). It touches no state.
func (v *View) Prepare(m jetstream.Msg) any {
	tenantID, taskID, kind, err := parseTaskEvent(m)
	if err != nil || !ValidToken(tenantID) || !ValidToken(taskID) {
		return &preparedEvent{badSubject: true}
	}
	return &preparedEvent{tenantID: tenantID, taskID: taskID, kind: kind, payload: decodePayload(kind, m.Data())}
}

// prepared returns what Prepare made of m, preparing it now if the
// projector did not (a message that is not the projector's).
func (v *View) prepared(m jetstream.Msg) *preparedEvent {
	if p, ok := m.(interface{ Prepared() any }); ok {
		if pe, ok := p.Prepared().(*preparedEvent); ok {
			return pe
		}
	}
	return v.Prepare(m).(*preparedEvent)
}

// decodePayload decodes an event's payload into the type its kind has (a
// created event's indexed fields only), or returns nil when it does not
// decode or the kind has no payload to decode: Apply then decodes it
// itself, and skips it if it is malformed.
func decodePayload(kind string, data []byte) any {
	var v binDecoder
	switch kind {
	case KindCreated:
		c, err := decodeCreatedIndex(data)
		if err != nil {
			return nil
		}
		return &c
	case KindStarted:
		v = new(startedEvent)
	case KindAttempt:
		v = new(attemptEvent)
	case KindSucceeded, KindFailed:
		v = new(finishedEvent)
	case KindCanceled:
		v = new(canceledEvent)
	case KindDelivery, KindDelivered, KindDead:
		v = new(deliveryEvent)
	default:
		return nil
	}
	if decodeEvent(data, v) != nil {
		return nil
	}
	return v
}
