package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Errors of the Tasks operations.
var (
	// ErrFinished is returned when canceling a task that has finished.
	ErrFinished = errors.New("broker: task has finished")
	// ErrNotFinished is returned when redelivering a task's webhook before
	// the task has finished.
	ErrNotFinished = errors.New("broker: task has not finished")
	// ErrNoWebhook is returned when redelivering for a task without a
	// webhook URL, or one that was canceled and so has no result.
	ErrNoWebhook = errors.New("broker: task has no webhook to deliver")
	// ErrIdempotencyMismatch is returned when an idempotency key already
	// created a task from a different request.
	ErrIdempotencyMismatch = errors.New("broker: idempotency key used with a different request")
	// ErrRetentionPassed is returned when redelivering the webhook of a
	// task whose tenant's retention has passed since it finished: the task
	// is on its way out of the view.
	ErrRetentionPassed = errors.New("broker: the task's retention has passed")
)

// DefaultWriteWait is how long a create, cancel or redelivery waits for the
// event log to store its event before it gives up with ErrUnavailable.
// Long enough for a busy cluster, short enough that a client learns of an
// outage (a stream electing a new leader takes seconds) and can retry.
const DefaultWriteWait = 5 * time.Second

// DefaultIdempotencyWindow is how long an idempotency key keeps returning
// the task it created.
const DefaultIdempotencyWindow = 24 * time.Hour

// maxGenerations bounds the id generations tried for one idempotency key;
// the task log's retention frees the oldest ones.
const maxGenerations = 1000

// Tasks is what the API does with tasks: create, read, cancel, redeliver.
// Writes are single publishes; reads come from this node's view.
type Tasks struct {
	pub      *Publisher
	view     *View
	progress ViewProgress
	logger   *slog.Logger
	now      func() time.Time
	// readWait bounds how long a read waits for the view to catch up.
	readWait time.Duration
	// IdempotencyWindow is how long an idempotency key returns its task
	// (DefaultIdempotencyWindow unless set).
	IdempotencyWindow time.Duration
	// WriteWait bounds a create, cancel or redelivery (DefaultWriteWait
	// unless set): past it the operation fails with ErrUnavailable.
	WriteWait time.Duration
	// Writable, when set, says whether this node can write to the event log
	// now; while it returns an error, a create, cancel or redelivery fails
	// at once with ErrUnavailable instead of waiting WriteWait for an
	// acknowledgement that cannot come (and leaving a cut-off stream leader
	// a write it will have to take back).
	Writable func() error
	// Retention returns how long the tenant's finished tasks stay (nil or
	// zero: for ever). Redelivery stops when it has passed, so that no
	// webhook round keeps a task in the view past the task stream's age
	// limit.
	Retention func(tenantID string) time.Duration
	// Telemetry traces creates and redeliveries and counts creates and
	// cancels (the zero value: neither).
	Telemetry Telemetry
}

// NewTasks returns the task operations over a publisher and a view whose
// progress through the task stream is progress (its projector). now is the
// clock (nil means time.Now).
func NewTasks(pub *Publisher, view *View, progress ViewProgress, logger *slog.Logger, now func() time.Time) *Tasks {
	if now == nil {
		now = time.Now
	}
	return &Tasks{pub: pub, view: view, progress: progress, logger: logger, now: now, readWait: 2 * time.Second,
		IdempotencyWindow: DefaultIdempotencyWindow, WriteWait: DefaultWriteWait}
}

// writeCtx bounds a write by WriteWait.
func (t *Tasks) writeCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if t.WriteWait <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, t.WriteWait)
}

// publishBounded publishes one event of a task within WriteWait.
func (t *Tasks) publishBounded(ctx context.Context, tenantID, taskID, kind string, v any, opts ...eventOpt) (uint64, error) {
	if t.Writable != nil {
		if err := t.Writable(); err != nil {
			return 0, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
	}
	ctx, cancel := t.writeCtx(ctx)
	defer cancel()
	return t.pub.PublishEvent(ctx, tenantID, taskID, kind, v, opts...)
}

// Create publishes a new task and returns it as it stands: pending. The spec
// must have been validated. It answers once JetStream has stored the event,
// or fails with ErrUnavailable when Writable says the event log cannot be
// written from here, or when it has not confirmed the event within
// WriteWait: the task may then exist or not (a retry with the same
// idempotency key tells).
//
// With an idempotency key the id derives from the tenant, the key and a
// generation, and the stream refuses a second created event for it, on any
// node. Within the idempotency window a repeat returns the first task with
// replay true, or ErrIdempotencyMismatch when the first request's hash is
// neither requestHash nor one of sameRequest (the hashes of this request
// as earlier versions computed them); after the window the key starts a
// new generation.
//
// The create has a span of its own, a child of ctx's span (a request's
// traceparent), and the task's messages carry it: see trace.go.
func (t *Tasks) Create(ctx context.Context, tenantID string, spec Spec, requestHash string, sameRequest ...string) (task *Task, replay bool, err error) {
	ctx, span := t.Telemetry.startProducer(ctx, spanCreate, tenantID)
	defer func() {
		if err == nil {
			t.observeCreate(span, tenantID, task.ID, replay)
		} else if span.IsRecording() {
			span.SetStatus(codes.Error, "not created")
		}
		span.End()
	}()
	return t.createWithID(ctx, tenantID, createdEvent{Spec: spec}, requestHash, sameRequest)
}

// observeCreate counts a new task and describes the create on its span.
func (t *Tasks) observeCreate(span trace.Span, tenantID, taskID string, replay bool) {
	if !replay {
		t.Telemetry.observer().TaskCreated(tenantID)
	}
	if span.IsRecording() {
		span.SetAttributes(attrTaskID.String(taskID), attrReplay.Bool(replay))
	}
}

// createWithID is Create without its span.
// ev is the created event but for its time and request hash.
func (t *Tasks) createWithID(ctx context.Context, tenantID string, ev createdEvent, requestHash string, sameRequest []string) (task *Task, replay bool, err error) {
	spec := ev.Spec
	if spec.IdempotencyKey == "" {
		task, err := t.create(ctx, tenantID, NewTaskID(), ev, "")
		return task, false, err
	}
	for gen := 0; gen < maxGenerations; gen++ {
		id := IdempotentTaskID(tenantID, spec.IdempotencyKey, gen)
		task, err := t.create(ctx, tenantID, id, ev, requestHash, firstOnSubject())
		if !errors.Is(err, ErrConflict) {
			return task, false, err
		}
		first, err := t.firstCreated(ctx, tenantID, id)
		if err != nil {
			return nil, false, err
		}
		if t.now().Sub(first.CreatedAt) > t.IdempotencyWindow {
			continue // that use of the key has expired: try the next generation
		}
		if first.RequestHash != requestHash && !slices.Contains(sameRequest, first.RequestHash) {
			return nil, false, ErrIdempotencyMismatch
		}
		if task, err := t.Get(ctx, tenantID, id); err == nil {
			return task, true, nil
		}
		task = newTask(tenantID, id, first.Spec, first.CreatedAt) // created on another node a moment ago
		task.ReplayOf, task.ScheduleID, task.FiringAt = first.ReplayOf, first.ScheduleID, first.FiringAt
		return task, true, nil
	}
	return nil, false, fmt.Errorf("broker: idempotency key %q exhausted %d generations", spec.IdempotencyKey, maxGenerations)
}

func (t *Tasks) create(ctx context.Context, tenantID, id string, ev createdEvent, requestHash string, opts ...eventOpt) (*Task, error) {
	ev.RequestHash = requestHash
	return t.publishCreated(ctx, tenantID, id, ev, opts...)
}

// publishCreated publishes ev, stamped with the time now, as the created
// event of task id, and returns the task as it stands: pending.
func (t *Tasks) publishCreated(ctx context.Context, tenantID, id string, ev createdEvent, opts ...eventOpt) (*Task, error) {
	ev.CreatedAt = t.now().UTC()
	if _, err := t.publishBounded(ctx, tenantID, id, KindCreated, ev, opts...); err != nil {
		return nil, err
	}
	t.queueOrdered(ctx, tenantID, id, ev)
	task := newTask(tenantID, id, ev.Spec, ev.CreatedAt)
	task.ReplayOf, task.ScheduleID, task.FiringAt = ev.ReplayOf, ev.ScheduleID, ev.FiringAt
	return task, nil
}

// firstCreated reads the created event that made the stream refuse ours,
// straight from the stream: another node may have published it a moment
// ago. A replicated stream refuses a second created event as soon as the
// first is on its way, before any server has stored it, so one that is not
// there yet is looked for again, a little later each time, within
// readWait. If it never comes (its publish failed after all) the create
// fails and may be sent again.
func (t *Tasks) firstCreated(ctx context.Context, tenantID, taskID string) (*createdEvent, error) {
	ctx, cancel := context.WithTimeout(ctx, t.readWait)
	defer cancel()
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		ev, err := t.pub.lastCreated(ctx, tenantID, taskID)
		if !errors.Is(err, jetstream.ErrMsgNotFound) {
			return ev, err
		}
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return nil, err
		}
	}
}

// lastCreated reads a task's created event straight from the stream, for a
// task another node may have created a moment ago.
func (p *Publisher) lastCreated(ctx context.Context, tenantID, taskID string) (*createdEvent, error) {
	msg, err := p.lastMsg(ctx, tenantID, taskID, KindCreated)
	if err != nil {
		return nil, err
	}
	var ev createdEvent
	if err := decodeEvent(msg.Data, &ev); err != nil {
		return nil, fmt.Errorf("broker: decode created event: %w", err)
	}
	return &ev, nil
}

func newTask(tenantID, id string, spec Spec, created time.Time) *Task {
	return &Task{
		ID: id, TenantID: tenantID, Status: StatusPending, Spec: spec,
		CreatedAt: created, UpdatedAt: created, NextAttemptAt: spec.NotBefore,
		Attempts: []Attempt{}, Webhook: pendingWebhook(id, spec),
	}
}

func pendingWebhook(id string, spec Spec) *Webhook {
	if spec.WebhookURL == "" && spec.FailureWebhookURL == "" {
		return nil
	}
	return &Webhook{ID: WebhookID(id), Deliveries: []Delivery{}}
}

// Cancel cancels a task that has not finished: no further attempt is made,
// an attempt in flight is aborted, no webhook is sent. Canceling a canceled
// task returns it unchanged; other finished tasks give ErrFinished.
func (t *Tasks) Cancel(ctx context.Context, tenantID, taskID string) (*Task, error) {
	task, err := t.Get(ctx, tenantID, taskID)
	if err != nil {
		return nil, err
	}
	if task.Status == StatusCanceled {
		return task, nil
	}
	if task.Status.Finished() {
		return task, ErrFinished
	}
	waiting := t.waitingBetweenAttempts(task)
	seq, err := t.publishBounded(ctx, tenantID, taskID, KindCanceled, canceledEvent{At: t.now().UTC()})
	if err != nil {
		return nil, err
	}
	// The pending schedule would be ignored anyway; removing it saves work.
	if err := t.pub.unschedule(ctx, dueTask, tenantID, taskID); err != nil {
		t.logger.Warn("could not remove schedule of canceled task", "tenant_id", tenantID, "task_id", taskID, "err", err)
	}
	if task, err = t.waitAndGet(ctx, seq, tenantID, taskID); err != nil {
		return nil, err
	}
	if task.Status != StatusCanceled {
		return task, ErrFinished // it finished before the cancel reached the log
	}
	t.Telemetry.observer().TaskFinished(tenantID, StatusCanceled)
	if waiting {
		t.releaseCanceled(ctx, task)
	}
	return task, nil
}

// Redeliver sends a finished task's webhook again, with the same webhook-id.
// The redelivery has a span of its own, a child of ctx's span (a request's
// traceparent), whose trace the round's deliveries join.
func (t *Tasks) Redeliver(ctx context.Context, tenantID, taskID string) (*Task, error) {
	ctx, span := t.Telemetry.startProducer(ctx, spanRedeliver, tenantID)
	defer span.End()
	if span.IsRecording() {
		span.SetAttributes(attrTaskID.String(taskID))
	}
	task, err := t.Get(ctx, tenantID, taskID)
	if err != nil {
		return nil, err
	}
	if err := t.redeliverable(tenantID, task); errors.Is(err, ErrRetentionPassed) {
		return nil, err
	} else if err != nil {
		return task, err
	}
	seq, err := t.publishBounded(ctx, tenantID, taskID, KindRedeliver, redeliverEvent{At: t.now().UTC()})
	if err != nil {
		return nil, err
	}
	return t.waitAndGet(ctx, seq, tenantID, taskID)
}

// redeliverable returns why the task's webhook cannot be sent again:
// ErrNotFinished, ErrNoWebhook or ErrRetentionPassed; nil when it can.
func (t *Tasks) redeliverable(tenantID string, task *Task) error {
	switch {
	case !task.Status.Finished():
		return ErrNotFinished
	case len(receiversOfTask(task)) == 0:
		return ErrNoWebhook
	case t.retentionPassed(tenantID, task):
		return ErrRetentionPassed
	}
	return nil
}

// retentionPassed reports whether the tenant's retention has passed since
// the task finished.
func (t *Tasks) retentionPassed(tenantID string, task *Task) bool {
	if t.Retention == nil || task.FinishedAt == nil {
		return false
	}
	r := t.Retention(tenantID)
	return r > 0 && t.now().Sub(*task.FinishedAt) >= r
}

func (t *Tasks) waitAndGet(ctx context.Context, seq uint64, tenantID, taskID string) (*Task, error) {
	wctx, cancel := context.WithTimeout(ctx, t.readWait)
	defer cancel()
	if err := t.progress.WaitFor(wctx, seq); err != nil {
		t.logger.Warn("view is behind the stream", "seq", seq, "err", err)
	}
	return t.view.Get(tenantID, taskID)
}
