package broker

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/boomerang-dev/boomerang/internal/jsensure"
)

// errTaskCanceled is the cause of an attempt's context being canceled
// because the task was (errShutdown is the other cause).
var errTaskCanceled = errors.New("task canceled")

// Dispatcher calls the targets of tasks that are due, records each attempt
// and schedules retries. Any number of nodes share its durable consumers.
type Dispatcher struct {
	worker
	caller   Caller
	policy   RetryPolicy
	adaptive *adaptive    // nil: adaptation off
	room     *waitingRoom // nil: no waiting room

	// listeningSince is when the dispatcher began to hear the cancels this
	// node's view applies: a cancel of a task created after it, once
	// applied here, is in the cancel memory.
	listeningSince time.Time

	mu       sync.Mutex
	running  map[string]context.CancelCauseFunc // tenant/task -> attempt
	canceled cancelMemory
}

// canceledMemory is how long, at least, the dispatcher remembers a cancel
// this node's view has applied, so a task's first dispatch can skip reading
// the view.
const canceledMemory = 10 * time.Minute

// cancelMemory holds the cancels heard from this node's view (through its
// hub), not every cancel in the stream: one published elsewhere is heard
// only once this node's projector applies it. It keeps them in two
// generations: a cancel is in
// current until current is at least canceledMemory old and becomes
// previous, and is forgotten with previous at the swap after that. A swap
// is one map allocation, however many cancels there are.
type cancelMemory struct {
	current, previous map[string]struct{} // tenant/task
	since             time.Time           // when current began
}

func newCancelMemory(now time.Time) cancelMemory {
	return cancelMemory{current: map[string]struct{}{}, previous: map[string]struct{}{}, since: now}
}

// add remembers key's cancel, heard at now.
func (m *cancelMemory) add(key string, now time.Time) {
	if now.Sub(m.since) >= canceledMemory {
		m.previous, m.current, m.since = m.current, map[string]struct{}{}, now
	}
	m.current[key] = struct{}{}
}

func (m *cancelMemory) has(key string) bool {
	_, inCurrent := m.current[key]
	_, inPrevious := m.previous[key]
	return inCurrent || inPrevious
}

// NewDispatcher returns a dispatcher. It cancels a running attempt when the
// view applies the task's cancel event. progress is the task view's
// progress through the stream (its projector): a redelivered attempt waits
// for it to apply everything before the view is asked whether the attempt
// was made.
func NewDispatcher(js jetstream.JetStream, pub *Publisher, view *View, progress ViewProgress, caller Caller, policy RetryPolicy, logger *slog.Logger, cfg WorkerConfig) *Dispatcher {
	d := &Dispatcher{
		worker: newWorker(js, pub, view, progress, logger.With("component", "dispatcher"), cfg),
		caller: caller, policy: policy,
		running: make(map[string]context.CancelCauseFunc),
	}
	d.canceled = newCancelMemory(d.cfg.Now())
	d.adaptive = newAdaptive(d.cfg.Adaptive, d.cfg.Now)
	d.room = newWaitingRoom(d.cfg.Adaptive.withDefaults(), d.cfg.AckWait)
	view.Hub().Listen(d.onChange)
	d.listeningSince = d.cfg.Now()
	return d
}

// onChange aborts a running attempt of a task that has just been canceled
// and remembers the cancel for a while.
func (d *Dispatcher) onChange(c Change) {
	if c.Kind != KindCanceled {
		return
	}
	key := c.TenantID + "/" + c.TaskID
	now := d.cfg.Now()
	d.mu.Lock()
	cancel := d.running[key]
	d.canceled.add(key, now)
	d.mu.Unlock()
	if cancel != nil {
		cancel(errTaskCanceled)
	}
	d.cancelWaiting(c.TenantID, c.TaskID)
}

// Run dispatches until ctx ends, then waits for the attempts in flight to
// finish (call Abort to stop waiting).
func (d *Dispatcher) Run(ctx context.Context) error {
	side, err := d.sideLoops(ctx)
	if err != nil {
		return err
	}
	sctx, stopSide := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { d.tendRoom(ctx) })
	for _, l := range side {
		wg.Go(func() {
			s := newSlots(l.parallel)
			fetchLoop(sctx, l.cons, s, l.parallel, d.logger.With("consumer", l.name), d.cfg.Paused, d.countRedeliveries(l.name, l.handle))
			s.wg.Wait()
		})
	}
	err = d.run(ctx,
		loop{StreamTasks, consumerDispatch, d.handleCreated},
		loop{StreamSchedules, consumerDispatchDue, d.handleDue})
	stopSide()
	wg.Wait()
	return err
}

// Abort cancels the work in flight (see worker.Abort) and gives the work
// waiting in the room back to the stream at once.
func (d *Dispatcher) Abort() {
	d.worker.Abort()
	d.room.close()
}

// sideLoop is a consumer the dispatcher serves with slots of its own, not
// the attempts': an idle one's fetch, waiting seconds for a message, would
// otherwise hold attempts' slots all that time.
type sideLoop struct {
	name     string
	cons     jetstream.Consumer
	parallel int
	handle   func(jetstream.Msg)
}

// sideLoops are the wake consumer (one bucket at a time) and the key
// admitter's (a few kicks at once: each is a read, a compare-and-set and
// a few publishes).
func (d *Dispatcher) sideLoops(ctx context.Context) ([]sideLoop, error) {
	wake, err := jsensure.LookupConsumer(ctx, d.js, StreamSchedules, consumerWake, d.logger)
	if err != nil {
		return nil, err
	}
	kicks, err := jsensure.LookupConsumer(ctx, d.js, StreamSchedules, consumerKeyAdmit, d.logger)
	if err != nil {
		return nil, err
	}
	return []sideLoop{
		{consumerWake, wake, 1, d.handleWake},
		{consumerKeyAdmit, kicks, 4, d.handleKick},
	}, nil
}

// handleWake promotes the waits parked in a bucket that is about to begin
// to pending schedules of their own (see parking). A bucket of many waits
// takes a while: the wake is kept in progress meanwhile, and a failure
// leaves it to be redelivered, which promotes what is left.
func (d *Dispatcher) handleWake(msg jetstream.Msg) {
	bucket, ok := parseWakeSubject(msg.Subject())
	if !ok {
		d.logger.Error("dropping malformed wake", "subject", msg.Subject())
		_ = msg.Term()
		return
	}
	stop := keepAlive(msg, d.cfg.AckWait/3)
	defer stop()
	ctx, cancel := context.WithTimeout(d.work, 10*time.Minute)
	defer cancel()
	n, err := d.pub.promote(ctx, bucket, d.logger)
	log := workLog{logger: d.logger.With("promoted", n), what: "bucket", n: uint64(bucket)}
	log.Debug("parked waits promoted")
	d.settle(msg, err, log)
}

func (d *Dispatcher) handleCreated(msg jetstream.Msg) {
	tenantID, taskID, _, err := parseTaskEvent(msg)
	var ev createdEvent
	if err != nil || decodeEvent(msg.Data(), &ev) != nil {
		d.logger.Error("dropping malformed created event", "subject", msg.Subject())
		_ = msg.Term()
		return
	}
	due := taskDue{TenantID: tenantID, TaskID: taskID, Attempt: 1, CreatedAt: ev.CreatedAt, Spec: ev.Spec}
	// A task with an ordering key takes its place in the key's queue at
	// once, notBefore or not: its place is its creation's.
	if ev.NotBefore != nil && ev.NotBefore.After(d.cfg.Now()) && ev.OrderingKey == "" {
		ctx, cancel := publishCtx()
		defer cancel()
		ctx = withTrace(ctx, d.cfg.Telemetry.messageTrace(msg.Headers()))
		d.settle(msg, d.pub.schedule(ctx, dueTask, tenantID, taskID, *ev.NotBefore, due), d.logFor(tenantID, taskID, "attempt", 1))
		return
	}
	meta, err := msg.Metadata()
	d.attempt(msg, due, err == nil && d.fresh(meta) && !d.attempted(tenantID, taskID))
}

// attempted reports whether this node's view, as it stands, shows the task
// attempted or finished: a created event the consumer counts as a first
// delivery can still be a repeat (see Deliverer.roundKnown), and then the
// attempt goes through the view's checks. A local read, without waiting.
func (d *Dispatcher) attempted(tenantID, taskID string) bool {
	rec, err := d.view.state(tenantID, taskID)
	return err == nil && rec != nil && (rec.AttemptCount > 0 || rec.Status.Finished())
}

// fresh reports whether the dispatcher may attempt a created event without
// reading the view: on its first delivery it has not been attempted, and if
// it was stored after the dispatcher began to listen and within the
// memory's span, every cancel of its task that this node's view has applied
// is in the cancel memory. Older events (a backlog from before a restart)
// may have been canceled unheard: the view must be asked.
//
// A cancel the view has not applied yet is in neither the memory nor the
// view. It is caught later: applied while the attempt runs, it aborts it
// (onChange); applied after, it still precedes the attempt's outcome in the
// stream, so it is the task's end in every view (the first terminal event
// wins) and the deliverer, which checks the stream, sends no webhook.
func (d *Dispatcher) fresh(meta *jetstream.MsgMetadata) bool {
	return meta.NumDelivered == 1 && meta.Timestamp.After(d.listeningSince) &&
		d.cfg.Now().Sub(meta.Timestamp) < canceledMemory
}

func (d *Dispatcher) handleDue(msg jetstream.Msg) {
	var due taskDue
	if json.Unmarshal(msg.Data(), &due) != nil || !ValidToken(due.TenantID) || !ValidToken(due.TaskID) {
		d.logger.Error("dropping malformed due message", "subject", msg.Subject())
		_ = msg.Term()
		return
	}
	d.attempt(msg, due, false)
}

// attempt makes attempt due.Attempt of the task, records it and schedules
// what follows, then acknowledges msg. fresh says the task cannot have been
// attempted yet, so the view need not be read. Once its attempt has given
// its place towards the host back, it makes the attempt of the oldest
// message waiting for that host, if any, in the same slot (a hand-off),
// and so on.
func (d *Dispatcher) attempt(msg jetstream.Msg, due taskDue, fresh bool) {
	d.attemptFrom(&waiter{msg: msg, due: due, fresh: fresh})
}

// attemptFrom makes w's attempt, then the hand-offs that follow it.
func (d *Dispatcher) attemptFrom(w *waiter) {
	for w != nil {
		k, freed := d.attemptOne(w)
		if !freed || d.paused() {
			return
		}
		w = d.room.take(k)
	}
}

// attemptOne makes w's attempt, unless it is not to be made now, and
// settles w's message, or leaves it waiting in the room. freed says it
// took a place towards k and has given it back. A waiter from the room
// passed the checks before it waited: only a cancel or a suspension since
// matters.
func (d *Dispatcher) attemptOne(w *waiter) (k destKey, freed bool) {
	msg, due := w.msg, w.due
	log := d.logFor(due.TenantID, due.TaskID, "attempt", uint64(due.Attempt))
	if w.waited && w.lost.Load() {
		w.waited, w.fresh = false, false // checked again, as a redelivery
	}
	if !w.waited && d.queueOnKey(msg, due, log) {
		return k, false
	}
	key := due.TenantID + "/" + due.TaskID
	ctx, cancel := context.WithCancelCause(d.work)
	defer cancel(nil)
	// Registered and checked at once, so that a cancel applied from now on
	// reaches this attempt through the hub.
	d.mu.Lock()
	d.running[key] = cancel
	canceled := d.canceled.has(key)
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		delete(d.running, key)
		d.mu.Unlock()
	}()
	if canceled {
		d.settle(msg, d.releaseKeyOf(due, true), log)
		return k, false
	}
	if w.waited && d.held(msg, dueTask, due.TenantID, due.TaskID, due) || !w.waited && d.notNow(msg, due, w.fresh, log) {
		return k, false
	}
	host := DestinationOf(due.Spec.TargetURL)
	p, ok := d.enterDestination(w, host)
	if !ok {
		return k, false
	}
	defer d.gate.leave(due.TenantID, host)
	d.callAndRecord(ctx, msg, due, host, p, log)
	return destKey{due.TenantID, host}, true
}

// callAndRecord makes the call of an attempt that holds permit p towards
// host, gives p back, records the outcome and settles msg.
func (d *Dispatcher) callAndRecord(ctx context.Context, msg jetstream.Msg, due taskDue, host string, p permit, log workLog) {
	stop := keepAlive(msg, d.cfg.AckWait/3)
	defer stop()

	callCtx, span := d.cfg.Telemetry.startWork(ctx, msg.Headers(), work{name: spanAttempt,
		tenantID: due.TenantID, taskID: due.TaskID, host: host, attempt: due.Attempt, method: due.Spec.Method})
	res := d.call(callCtx, due, log)
	d.adaptive.release(p, res, context.Cause(ctx) == nil)
	a := Attempt{
		Number: due.Attempt, StartedAt: res.StartedAt.UTC(), DurationMs: ms(res.Duration),
		Outcome: res.Outcome, Error: res.Error, Response: res.Response, Timing: res.Timing,
	}
	switch cause := context.Cause(ctx); {
	case d.tenantState(due.TenantID) == TenantDeleted:
		span.end("abandoned", res.StatusCode, "tenant deleted")
		_ = msg.Ack() // its tasks are being erased: record nothing more
		return
	case errors.Is(cause, errShutdown):
		span.end("abandoned", res.StatusCode, "abandoned at shutdown")
		log.Info("attempt abandoned at shutdown; it will be redelivered")
		_ = msg.Nak()
		return
	case errors.Is(cause, errTaskCanceled):
		a.Outcome, a.Error = OutcomeCanceled, "task canceled during the attempt"
	case res.Outcome == OutcomeRetry && due.Attempt >= due.Spec.MaxAttempts():
		a.Outcome = OutcomeFailed
	}
	d.obs.AttemptMade(due.TenantID, a.Outcome, res.StatusCode, res.Duration)
	span.end(string(a.Outcome), res.StatusCode, a.Error)
	pctx, pcancel := publishCtx()
	defer pcancel()
	d.settle(msg, d.record(withTrace(pctx, span.task), due, a, res, log), log)
}

// call makes the call to the target, counted in flight, and announces the
// task as running if it takes a while.
func (d *Dispatcher) call(ctx context.Context, due taskDue, log workLog) CallResult {
	d.calls.enter()
	defer d.calls.leave()
	started := d.announceRunning(due, log)
	res := d.caller.Call(ctx, CallRequest{TenantID: due.TenantID, TaskID: due.TaskID, Attempt: due.Attempt, Spec: due.Spec})
	started()
	res.Error = boundText(res.Error)
	return res
}

// record publishes what attempt a of the task came to: the attempt of a
// canceled task, the task's end, or a failed attempt and the schedule of
// the next.
func (d *Dispatcher) record(ctx context.Context, due taskDue, a Attempt, res CallResult, log workLog) error {
	switch a.Outcome {
	case OutcomeCanceled:
		_, err := d.pub.PublishEvent(ctx, due.TenantID, due.TaskID, KindAttempt, &attemptEvent{Attempt: a})
		if err == nil {
			err = d.releaseKeyOf(due, true)
		}
		return err
	case OutcomeSucceeded, OutcomeFailed:
		kind := KindSucceeded
		if a.Outcome == OutcomeFailed {
			kind = KindFailed
		}
		ev := &finishedEvent{Attempt: &a, Error: res.Error, Attempts: due.Attempt,
			FinishedAt: d.cfg.Now().UTC(), WebhookURL: due.Spec.WebhookURL}
		if kind == KindFailed {
			ev.FailureWebhookURL = due.Spec.FailureWebhookURL
		}
		_, err := d.pub.PublishEvent(ctx, due.TenantID, due.TaskID, kind, ev,
			webhookHeader(ev.WebhookURL != "" || ev.FailureWebhookURL != ""))
		if err == nil {
			d.obs.TaskFinished(due.TenantID, Status(kind))
		}
		log.Debug("task finished", slog.String("status", kind), slog.Int("status_code", res.StatusCode))
		if err == nil {
			err = d.releaseKeyOf(due, true)
		}
		return err
	}
	next := d.cfg.Now().Add(d.policy.TaskBackoff(due.Attempt, res.RetryAfter)).UTC()
	_, err := d.pub.PublishEvent(ctx, due.TenantID, due.TaskID, KindAttempt, &attemptEvent{Attempt: a, NextAttemptAt: &next})
	if err == nil {
		err = d.scheduleNext(ctx, due, next)
	}
	if err == nil {
		err = d.releaseKeyOf(due, false)
	}
	log.Debug("attempt failed; retry scheduled", slog.Time("next_attempt_at", next), slog.Int("status_code", res.StatusCode), slog.String("err", res.Error))
	return err
}

// announceRunning publishes the started event once the attempt has run for
// RunningAfter. The returned func, called when the attempt ends, cancels it
// or waits until it is sent, so that it precedes the outcome in the stream.
func (d *Dispatcher) announceRunning(due taskDue, log workLog) func() {
	publish := func() {
		ev := startedEvent{Attempt: due.Attempt, At: d.cfg.Now().UTC()}
		if err := d.pub.PublishEventNoWait(due.TenantID, due.TaskID, KindStarted, ev); err != nil {
			log.Warn("could not publish started", slog.Any("err", err))
		}
	}
	if d.cfg.RunningAfter <= 0 {
		publish()
		return func() {}
	}
	sent := make(chan struct{})
	timer := time.AfterFunc(d.cfg.RunningAfter, func() { publish(); close(sent) })
	return func() {
		if !timer.Stop() {
			<-sent
		}
	}
}

// alreadyDone reports whether the view shows that the task needs no attempt
// number due.Attempt: it has finished, or that attempt was made already (a
// redelivery after a crash). In the second case it makes sure the next
// attempt is scheduled, since the crash may have come before that. On a
// redelivery the view first catches up with the stream: an earlier try,
// here or on another node, may have made and recorded the attempt (and the
// next ones) after what a lagging view shows, and the view would have it
// made again, or its next attempt scheduled again.
func (d *Dispatcher) alreadyDone(msg jetstream.Msg, due taskDue) (bool, error) {
	if meta, err := msg.Metadata(); err == nil && meta.NumDelivered > 1 {
		ctx, cancel := context.WithTimeout(d.work, awaitViewTimeout)
		err = d.awaitView(ctx, msg, meta, 0)
		cancel()
		if err != nil {
			return false, err
		}
	}
	rec, err := d.view.state(due.TenantID, due.TaskID)
	if err != nil || rec == nil {
		return false, err
	}
	if rec.Status.Finished() {
		return true, nil
	}
	if rec.AttemptCount < due.Attempt {
		return false, nil
	}
	if rec.Status == StatusRetrying && rec.AttemptCount == due.Attempt && rec.NextAttemptAt != nil {
		ctx, cancel := publishCtx()
		defer cancel()
		sc := d.cfg.Telemetry.messageTrace(msg.Headers())
		return true, d.scheduleNext(withTrace(ctx, sc), due, *rec.NextAttemptAt)
	}
	return true, nil
}

func (d *Dispatcher) scheduleNext(ctx context.Context, due taskDue, at time.Time) error {
	due.Attempt++
	if due.Spec.OrderingKey == "" {
		due.Admitted = false // a flow-control key's retry waits for a slot again
	}
	return d.pub.schedule(ctx, dueTask, due.TenantID, due.TaskID, at, due)
}
