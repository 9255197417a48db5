package broker

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"
)

// Deliverer posts finished tasks' results to their webhook URLs, retries on
// the webhook schedule and dead-letters what the schedule cannot deliver.
// Any number of nodes share its durable consumers.
type Deliverer struct {
	worker
	notifier Notifier
	policy   RetryPolicy
}

// NewDeliverer returns a deliverer. progress is the task view's progress
// through the stream (its projector): the deliverer waits for it to apply a
// task's end before acting on it.
func NewDeliverer(js jetstream.JetStream, pub *Publisher, view *View, progress ViewProgress, notifier Notifier, policy RetryPolicy, logger *slog.Logger, cfg WorkerConfig) *Deliverer {
	return &Deliverer{
		worker:   newWorker(js, pub, view, progress, logger.With("component", "deliverer"), cfg),
		notifier: notifier, policy: policy,
	}
}

// Run delivers until ctx ends, then waits for the deliveries in flight.
func (d *Deliverer) Run(ctx context.Context) error {
	return d.run(ctx,
		loop{StreamTasks, consumerDeliver, d.handleTaskEvent},
		loop{StreamSchedules, consumerDeliverDue, d.handleDue})
}

// handleTaskEvent starts a round of deliveries for a task's end (succeeded,
// failed) or a redelivery request.
func (d *Deliverer) handleTaskEvent(msg jetstream.Msg) {
	tenantID, taskID, kind, err := parseTaskEvent(msg)
	meta, merr := msg.Metadata()
	if err != nil || merr != nil {
		_ = msg.Term()
		return
	}
	seq := meta.Sequence.Stream
	var dues []hookDue
	if kind != KindRedeliver {
		var deliver bool
		if dues, deliver = d.endDues(msg, tenantID, taskID, kind, seq); !deliver {
			return
		}
	}
	log := d.logFor(tenantID, taskID, "round", seq)
	ctx, cancel := context.WithTimeout(d.work, awaitViewTimeout)
	defer cancel()
	if kind != KindRedeliver && meta.NumDelivered == 1 && !d.roundKnown(tenantID, taskID, seq) {
		// First delivery of a task's end: no delivery can have been made
		// for it yet, and only a cancel that reached the stream first could
		// stop it. The stream answers that at once, without waiting for
		// this node's view to catch up.
		canceled, err := d.pub.canceledBefore(ctx, tenantID, taskID, seq)
		if err == nil {
			if canceled {
				_ = msg.Ack()
				return
			}
			d.startRound(msg, dues, log)
			return
		}
		log.Warn("could not check for a cancel in the stream; asking the view", slog.Any("err", err))
	}
	// The view decides whether this event starts a round: a cancel may have
	// won the race, or a later redelivery request may have replaced it.
	if err := d.awaitView(ctx, msg, meta, seq); err != nil {
		d.settle(msg, err, log)
		return
	}
	rec, err := d.view.state(tenantID, taskID)
	if err != nil || rec == nil || rec.Webhook == nil || rec.Webhook.Round != seq {
		d.settle(msg, err, log)
		return
	}
	if kind == KindRedeliver {
		task, err := d.view.Get(tenantID, taskID)
		if err != nil {
			d.settle(msg, err, log)
			return
		}
		dues = roundDues(task, seq)
	} else if rec.TerminalSeq != seq {
		_ = msg.Ack()
		return
	}
	d.resumeRound(msg, rec, dues, log)
}

// resumeRound carries on with a round the view knows: a receiver whose
// deliveries have begun (a redelivery of the message that started the
// round) gets the schedule a crash may have lost; the others start.
func (d *Deliverer) resumeRound(msg jetstream.Msg, rec *taskRecord, dues []hookDue, log workLog) {
	var fresh []hookDue
	for _, due := range dues {
		w := rec.lane(due.Receiver)
		if w == nil {
			continue
		}
		due.Number = w.Count + 1
		if w.Index < 0 {
			fresh = append(fresh, due)
			continue
		}
		if err := d.repair(w, due, d.cfg.Telemetry.messageTrace(msg.Headers())); err != nil {
			d.settle(msg, err, log)
			return
		}
	}
	if len(fresh) == 0 {
		d.settle(msg, nil, log)
		return
	}
	d.startRound(msg, fresh, log)
}

// startRound begins the deliveries of a round. A round to one receiver
// makes its first delivery now, as msg's work. A round to two schedules
// each receiver's first delivery at once, on its own schedule subject,
// and acknowledges msg: each lane then goes its own way (a full gate or a
// held tenant delays one due, not the message that starts both), and only
// a crash before the acknowledgement schedules a first delivery twice,
// which the lane's checks mostly make harmless (at least once).
func (d *Deliverer) startRound(msg jetstream.Msg, dues []hookDue, log workLog) {
	if len(dues) == 1 {
		d.deliver(msg, dues[0], log)
		return
	}
	ctx, cancel := publishCtx()
	defer cancel()
	ctx = withTrace(ctx, d.cfg.Telemetry.messageTrace(msg.Headers()))
	for _, due := range dues {
		n := due.Notification
		if err := d.pub.schedule(ctx, dueHook, n.TenantID, hookToken(n.TaskID, due.Receiver), d.cfg.Now().UTC(), &due); err != nil {
			d.settle(msg, err, log)
			return
		}
	}
	d.settle(msg, nil, log)
}

// endDues decodes the first deliveries a task's end (succeeded or failed),
// event seq, asks for: one per receiver. When there is nothing to deliver
// — no receiver, or an event that cannot be decoded — it settles msg and
// reports false.
func (d *Deliverer) endDues(msg jetstream.Msg, tenantID, taskID, kind string, seq uint64) ([]hookDue, bool) {
	if msg.Headers().Get(headerWebhook) == "0" {
		_ = msg.Ack() // no webhook: nothing to decode or deliver
		return nil, false
	}
	var ev finishedEvent
	if decodeEvent(msg.Data(), &ev) != nil {
		_ = msg.Term()
		return nil, false
	}
	rs := receiversOf(ev.WebhookURL, ev.FailureWebhookURL, Status(kind))
	if len(rs) == 0 {
		_ = msg.Ack() // nothing to deliver: skip the view entirely
		return nil, false
	}
	dues := make([]hookDue, len(rs))
	for i, r := range rs {
		dues[i] = hookDue{Notification: Notification{
			TenantID: tenantID, TaskID: taskID, WebhookID: WebhookID(taskID), URL: r.url,
			Status: Status(kind), Attempts: ev.Attempts, FinishedAt: ev.FinishedAt, Result: ev.result(),
		}, Round: seq, Number: 1, Receiver: r.name}
	}
	return dues, true
}

func (d *Deliverer) handleDue(msg jetstream.Msg) {
	var due hookDue
	if json.Unmarshal(msg.Data(), &due) != nil || !ValidToken(due.Notification.TenantID) || !ValidToken(due.Notification.TaskID) {
		d.logger.Error("dropping malformed due message", "subject", msg.Subject())
		_ = msg.Term()
		return
	}
	n := due.Notification
	log := d.logFor(n.TenantID, n.TaskID, "round", due.Round)
	w, err := d.lane(n, due.Receiver)
	// A view that cannot place this due (it lacks the round, or the
	// delivery that scheduled it) is behind the stream: a node catching up
	// after a restart, or a round to two receivers whose start it has not
	// applied yet. So is, possibly, the view of a node handed the due again
	// (a delivery may have been made elsewhere since). Either way the view
	// first applies all that the stream holds; deciding on a view behind
	// would drop a retry or repeat a delivery.
	if meta, merr := msg.Metadata(); err == nil && merr == nil && (meta.NumDelivered > 1 || w.behind(due)) {
		ctx, cancel := context.WithTimeout(d.work, awaitViewTimeout)
		err = d.awaitStream(ctx, msg)
		cancel()
		if err == nil {
			w, err = d.lane(n, due.Receiver)
		}
	}
	if err != nil {
		d.settle(msg, err, log)
		return
	}
	if w == nil || w.Round != due.Round {
		_ = msg.Ack() // the task is gone, or a redelivery replaced this round
		return
	}
	if w.Count >= due.Number {
		d.settle(msg, d.repair(w, due, d.cfg.Telemetry.messageTrace(msg.Headers())), log)
		return
	}
	d.deliver(msg, due, log)
}

// lane returns the view's state of the task's deliveries to receiver
// (nil: the view has no such task or lane).
func (d *Deliverer) lane(n Notification, receiver string) (*webhookRecord, error) {
	rec, err := d.view.state(n.TenantID, n.TaskID)
	if err != nil || rec == nil {
		return nil, err
	}
	return rec.lane(receiver), nil
}

// behind reports whether a view showing w cannot place due: it lacks the
// round, or the delivery after which due was scheduled. A later round
// (a redelivery replaced this one) is not behind.
func (w *webhookRecord) behind(due hookDue) bool {
	return w == nil || w.Round < due.Round || (w.Round == due.Round && w.Count < due.Number-1)
}

// roundKnown reports whether this node's view, as it stands, already
// knows the webhook round that the task end at stream sequence seq starts.
// A message the consumer counts as a first delivery can still be a
// repeat: a clustered consumer whose leader changed hands out again, as
// first deliveries, what its new leader had not heard was acknowledged.
// When the view knows the round, it decides (resumeRound: lanes begun are
// repaired, the others start), as for a redelivery; the read is a local
// one, without waiting.
func (d *Deliverer) roundKnown(tenantID, taskID string, seq uint64) bool {
	rec, err := d.view.state(tenantID, taskID)
	return err == nil && rec != nil && rec.Webhook != nil && rec.Webhook.Round == seq
}

// repair schedules the next delivery of the round to due's receiver, whose
// state the view holds as w, with the task's trace context sc, when the
// view shows a retry whose schedule a crash may have lost.
func (d *Deliverer) repair(w *webhookRecord, due hookDue, sc trace.SpanContext) error {
	if w.Status != WebhookRetrying || w.NextAttemptAt == nil {
		return nil
	}
	due.Index, due.Number = w.Index+1, w.Count+1
	ctx, cancel := publishCtx()
	defer cancel()
	n := due.Notification
	return d.pub.schedule(withTrace(ctx, sc), dueHook, n.TenantID, hookToken(n.TaskID, due.Receiver), *w.NextAttemptAt, &due)
}

// deliver makes delivery due.Number, records it, and schedules the next one
// or dead-letters the notification.
func (d *Deliverer) deliver(msg jetstream.Msg, due hookDue, log workLog) {
	n := due.Notification
	token := hookToken(n.TaskID, due.Receiver)
	if d.held(msg, dueHook, n.TenantID, token, &due) {
		return
	}
	host := DestinationOf(n.URL)
	if !d.enterGate(msg, n.TenantID, host) {
		return
	}
	defer d.gate.leave(n.TenantID, host)
	stop := keepAlive(msg, d.cfg.AckWait/3)
	defer stop()
	callCtx, span := d.cfg.Telemetry.startWork(d.work, msg.Headers(), work{name: spanDelivery,
		tenantID: n.TenantID, taskID: n.TaskID, host: host, delivery: due.Number})
	d.calls.enter()
	res := d.notifier.Notify(callCtx, n)
	d.calls.leave()
	if d.work.Err() != nil {
		span.end("abandoned", res.StatusCode, "abandoned at shutdown")
		_ = msg.Nak()
		return
	}
	del := Delivery{
		Number: due.Number, AttemptedAt: res.StartedAt.UTC(), DurationMs: ms(res.Duration),
		StatusCode: res.StatusCode, Error: boundText(res.Error), ResponseBody: boundText(res.ResponseBody),
		Round: due.Round, Index: due.Index, Timing: res.Timing, Receiver: due.Receiver,
	}
	wait, again := d.policy.WebhookBackoff(due.Index + 1)
	switch {
	case res.Delivered:
		del.Outcome = "delivered"
	case again:
		del.Outcome = "retry"
	default:
		del.Outcome = "dead"
	}
	d.obs.DeliveryMade(n.TenantID, del.Outcome, res.StatusCode, res.Duration)
	span.end(del.Outcome, res.StatusCode, del.Error)
	ctx, cancel := publishCtx()
	defer cancel()
	ctx = withTrace(ctx, span.task)
	var err error
	switch del.Outcome {
	case "delivered":
		_, err = d.pub.PublishEvent(ctx, n.TenantID, n.TaskID, KindDelivered, deliveryEvent{Delivery: del})
	case "retry":
		next := d.cfg.Now().Add(wait).UTC()
		if _, err = d.pub.PublishEvent(ctx, n.TenantID, n.TaskID, KindDelivery, deliveryEvent{Delivery: del, NextAttemptAt: &next}); err == nil {
			due.Index, due.Number = due.Index+1, due.Number+1
			err = d.pub.schedule(ctx, dueHook, n.TenantID, token, next, &due)
		}
	default:
		_, err = d.pub.PublishEvent(ctx, n.TenantID, n.TaskID, KindDead, deliveryEvent{Delivery: del})
		log.Info("webhook dead-lettered", slog.Int("deliveries", due.Number), slog.String("receiver", due.Receiver))
	}
	d.settle(msg, err, log)
}

// roundDues returns the first deliveries of a redelivery round, event
// seq, to each receiver of the task's result, from the view's task.
func roundDues(t *Task, seq uint64) []hookDue {
	var dues []hookDue
	for _, r := range receiversOfTask(t) {
		n := Notification{
			TenantID: t.TenantID, TaskID: t.ID, WebhookID: WebhookID(t.ID), URL: r.url,
			Status: t.Status, Attempts: t.AttemptCount,
		}
		if t.FinishedAt != nil {
			n.FinishedAt = *t.FinishedAt
		}
		if t.Result != nil {
			n.Result = *t.Result
		}
		dues = append(dues, hookDue{Notification: n, Round: seq, Number: 1, Receiver: r.name})
	}
	return dues
}

// canceledBefore reports whether the task has a cancel event before stream
// sequence seq, reading the stream itself rather than a view that may lag.
func (p *Publisher) canceledBefore(ctx context.Context, tenantID, taskID string, seq uint64) (bool, error) {
	msg, err := p.lastMsg(ctx, tenantID, taskID, KindCanceled)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return msg.Sequence < seq, nil
}
