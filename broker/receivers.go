package broker

import "time"

// A task's result can have two receivers: webhookUrl, which gets every
// end (succeeded or failed), and failureWebhookUrl, which gets only a
// failure. Each receiver of a round has its own state in the view, its own
// deliveries, retry schedule and dead letter; the task's webhook status is
// theirs combined. See docs/architecture.md, "Failure webhooks".

// FailureReceiver names the failure webhook: in Delivery.Receiver, in
// WebhookReceiver.Receiver and in the view's records.
const FailureReceiver = "failure"

// webhookReceiver is how the API names the webhookUrl receiver.
const webhookReceiver = "webhook"

// failureDeliveryBase is added to the number of a failure receiver's
// delivery in the view's key, so that its deliveries, numbered from 1 like
// the webhook's, sort after them and never collide.
const failureDeliveryBase = 1 << 24

// receiver is one URL that gets a task's result.
type receiver struct {
	name string // "" for webhookUrl, FailureReceiver
	url  string
}

// receiversOf returns who gets the result of a task that ended with
// status: webhookUrl whatever the end, failureWebhookUrl only on failure.
// The first is the one the end event itself delivers to.
func receiversOf(webhookURL, failureURL string, status Status) []receiver {
	var rs []receiver
	if webhookURL != "" {
		rs = append(rs, receiver{url: webhookURL})
	}
	if failureURL != "" && status == StatusFailed {
		rs = append(rs, receiver{name: FailureReceiver, url: failureURL})
	}
	return rs
}

// receiversOfTask returns who gets a finished task's result.
func receiversOfTask(t *Task) []receiver {
	if t.Status == StatusCanceled {
		return nil
	}
	return receiversOf(t.WebhookURL, t.FailureWebhookURL, t.Status)
}

// hookToken is the task token of a receiver's schedule subjects: the task
// id for webhookUrl, the id and "-failure" for the failure receiver, so
// that the receivers' pending schedules do not replace each other.
func hookToken(taskID, name string) string {
	if name == "" {
		return taskID
	}
	return taskID + "-" + name
}

// deliveryNumberKey is a delivery's number in the view's key.
func deliveryNumberKey(d *Delivery) int {
	if d.Receiver == FailureReceiver {
		return failureDeliveryBase + d.Number
	}
	return d.Number
}

// combineWebhook is the status of two receivers' deliveries together:
// retrying or pending while either is under way, then dead if either is
// dead, delivered when both are.
func combineWebhook(a, b WebhookStatus) WebhookStatus {
	switch {
	case a == WebhookRetrying || b == WebhookRetrying:
		return WebhookRetrying
	case a == WebhookPending || b == WebhookPending:
		return WebhookPending
	case a == WebhookDead || b == WebhookDead:
		return WebhookDead
	}
	return a
}

// webhookStatus is the task's webhook status: its receivers' combined;
// empty for a task without one.
func (rec *taskRecord) webhookStatus() WebhookStatus {
	switch {
	case rec.Webhook == nil:
		return ""
	case rec.FailureHook == nil:
		return rec.Webhook.Status
	}
	return combineWebhook(rec.Webhook.Status, rec.FailureHook.Status)
}

// webhookSettled reports whether no receiver's delivery is under way.
func (rec *taskRecord) webhookSettled() bool {
	s := rec.webhookStatus()
	return s == "" || s == WebhookDelivered || s == WebhookDead
}

// lane returns the view's state of the named receiver, nil when the task
// has no such receiver.
func (rec *taskRecord) lane(name string) *webhookRecord {
	for _, w := range []*webhookRecord{rec.Webhook, rec.FailureHook} {
		if w != nil && w.Receiver == name {
			return w
		}
	}
	return nil
}

// startRound makes every receiver of the task pending in a new round that
// event seq starts.
func (rec *taskRecord) startRound(seq uint64) {
	for _, w := range []*webhookRecord{rec.Webhook, rec.FailureHook} {
		if w != nil {
			w.Status, w.NextAttemptAt, w.Round, w.Index = WebhookPending, nil, seq, -1
		}
	}
}

// finishReceivers sets up the receivers of a task's end, event seq.
func (rec *taskRecord) finishReceivers(e *finishedEvent, status Status, seq uint64) {
	rs := receiversOf(e.WebhookURL, e.FailureWebhookURL, status)
	if len(rs) == 0 {
		return
	}
	rec.Webhook = &webhookRecord{Status: WebhookPending, Round: seq, Index: -1, Receiver: rs[0].name}
	if len(rs) > 1 {
		rec.FailureHook = &webhookRecord{Status: WebhookPending, Round: seq, Index: -1, Receiver: rs[1].name}
	}
}

// receiverStates is what the API shows of each receiver: for a task whose
// result goes to the failure receiver.
func (rec *taskRecord) receiverStates() []WebhookReceiver {
	if rec.Webhook == nil || (rec.FailureHook == nil && rec.Webhook.Receiver == "") {
		return nil
	}
	var out []WebhookReceiver
	for _, w := range []*webhookRecord{rec.Webhook, rec.FailureHook} {
		if w == nil {
			continue
		}
		name := w.Receiver
		if name == "" {
			name = webhookReceiver
		}
		out = append(out, WebhookReceiver{Receiver: name, Status: w.Status, NextAttemptAt: w.NextAttemptAt})
	}
	return out
}

// nextWebhookAt is the earliest next delivery of the task's receivers.
func (rec *taskRecord) nextWebhookAt() *time.Time {
	var next *time.Time
	for _, w := range []*webhookRecord{rec.Webhook, rec.FailureHook} {
		if w != nil && w.NextAttemptAt != nil && (next == nil || w.NextAttemptAt.Before(*next)) {
			next = w.NextAttemptAt
		}
	}
	return next
}
