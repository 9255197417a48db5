package broker

import "time"

// The payloads of the task stream's events. They are JSON; the subject says
// which tenant and kind, and the task (or the Boomerang-Task header does:
// see subject.go). Each carries what its consumers need to act
// on it when it is new: created holds the whole spec, so the dispatcher
// makes a fresh task's first attempt from the event alone (with its cancel
// memory, see Dispatcher.fresh); succeeded and failed hold the result and
// the webhook URL, so the deliverer's first delivery needs only one read of
// the stream, for an earlier cancel. Work that comes again (a redelivery
// after a crash, an old backlog, a due message) is checked against this
// node's view first, and a redeliver request takes the result from the
// view: see Dispatcher.alreadyDone and Deliverer.handleTaskEvent.

type createdEvent struct {
	Spec
	CreatedAt time.Time `json:"createdAt"`
	// RequestHash identifies the request that created a task with an
	// idempotency key, so a repeat can be told from a different request.
	RequestHash string `json:"requestHash,omitempty"`
	// ReplayOf is the task this one replays (Tasks.Replay); empty for a
	// task created from a request, and in events written before replays.
	ReplayOf string `json:"replayOf,omitempty"`
	// ScheduleID is the schedule whose firing made the task, and FiringAt
	// that firing's time (schedules_fire.go); empty for other tasks.
	ScheduleID string     `json:"scheduleId,omitempty"`
	FiringAt   *time.Time `json:"firingAt,omitempty"`
}

type startedEvent struct {
	Attempt int       `json:"attempt"`
	At      time.Time `json:"at"`
}

type attemptEvent struct {
	Attempt       Attempt    `json:"attempt"`
	NextAttemptAt *time.Time `json:"nextAttemptAt,omitempty"`
}

// finishedEvent is the payload of succeeded and failed. The result is the
// final attempt's response, with Error when the task failed without one.
type finishedEvent struct {
	Attempt    *Attempt  `json:"attempt,omitempty"`
	Error      string    `json:"error,omitempty"`
	Attempts   int       `json:"attempts"`
	FinishedAt time.Time `json:"finishedAt"`
	WebhookURL string    `json:"webhookUrl,omitempty"`
	// FailureWebhookURL is the spec's, on a failed event only.
	FailureWebhookURL string `json:"failureWebhookUrl,omitempty"`
}

// result is the task's result that the event records.
func (e *finishedEvent) result() Result {
	r := Result{Error: e.Error}
	if e.Attempt != nil {
		r.Response = e.Attempt.Response
	}
	return r
}

type canceledEvent struct {
	At time.Time `json:"at"`
}

// deliveryEvent is the payload of delivery, delivered and dead.
type deliveryEvent struct {
	Delivery      Delivery   `json:"delivery"`
	NextAttemptAt *time.Time `json:"nextAttemptAt,omitempty"`
}

type redeliverEvent struct {
	At time.Time `json:"at"`
}

// pruneEvent is the payload of prune: the tenant's finished tasks whose
// webhook is settled and that finished before Before leave the view, with
// their history. Before is computed by the publisher (the janitor) from its
// clock and the tenant's retention; applying it reads no clock, so a view
// rebuilt from the stream drops the same tasks.
type pruneEvent struct {
	Before time.Time `json:"before"`
}
