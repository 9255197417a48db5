package client

import (
	"encoding/json"
	"time"
)

// Status is where a task is in its life.
type Status string

// Task statuses: a task starts pending, is running while an attempt is in
// flight, retrying while it waits for its next attempt, and ends
// succeeded, failed or canceled.
const (
	StatusPending   Status = "pending"
	StatusRunning   Status = "running"
	StatusRetrying  Status = "retrying"
	StatusSucceeded Status = "succeeded"
	StatusFailed    Status = "failed"
	StatusCanceled  Status = "canceled"
)

// Finished reports whether the status is final: succeeded, failed or
// canceled.
func (s Status) Finished() bool {
	return s == StatusSucceeded || s == StatusFailed || s == StatusCanceled
}

// WebhookStatus is where a task's result notification is.
type WebhookStatus string

// Webhook statuses; a task's webhook has none until the task finishes.
const (
	WebhookPending   WebhookStatus = "pending"
	WebhookRetrying  WebhookStatus = "retrying"
	WebhookDelivered WebhookStatus = "delivered"
	WebhookDead      WebhookStatus = "dead"
)

// Task is a task as the API shows it: the request, its attempts, its
// result and its webhook's deliveries.
type Task struct {
	ID     string `json:"id"`
	Status Status `json:"status"`

	TargetURL     string            `json:"targetUrl"`
	Method        string            `json:"method"`
	Headers       map[string]string `json:"headers,omitempty"`
	Payload       json.RawMessage   `json:"payload,omitempty"`
	PayloadBase64 []byte            `json:"payloadBase64,omitempty"`
	ContentType   string            `json:"contentType,omitempty"`
	WebhookURL    string            `json:"webhookUrl,omitempty"`
	// FailureWebhookURL gets the task.failed webhook only.
	FailureWebhookURL string     `json:"failureWebhookUrl,omitempty"`
	Retries           int        `json:"retries"`
	Timeout           float64    `json:"timeout"` // seconds per attempt
	NotBefore         *time.Time `json:"notBefore,omitempty"`
	IdempotencyKey    string     `json:"idempotencyKey,omitempty"`

	// OrderingKey and FlowControl put the task under a key (see
	// WithOrderingKey, WithFlowControl).
	OrderingKey string       `json:"orderingKey,omitempty"`
	FlowControl *FlowControl `json:"flowControl,omitempty"`

	CreatedAt     time.Time  `json:"createdAt"`
	UpdatedAt     time.Time  `json:"updatedAt"`
	FinishedAt    *time.Time `json:"finishedAt,omitempty"`
	NextAttemptAt *time.Time `json:"nextAttemptAt,omitempty"`
	AttemptCount  int        `json:"attemptCount"`
	Attempts      []Attempt  `json:"attempts"`
	Result        *Result    `json:"result,omitempty"`
	Webhook       *Webhook   `json:"webhook,omitempty"`

	// ReplayOf is the task this one replays; Replays the tasks that
	// replay this one, oldest first.
	ReplayOf string   `json:"replayOf,omitempty"`
	Replays  []string `json:"replays,omitempty"`

	// ScheduleID is the schedule whose firing created this task, and
	// FiringAt that firing's time (CreatedAt minus FiringAt is how late it
	// fired).
	ScheduleID string     `json:"scheduleId,omitempty"`
	FiringAt   *time.Time `json:"firingAt,omitempty"`

	// StatusToken, in the answer to a create or a replay, reads this task
	// only: hand it to a browser.
	StatusToken          string     `json:"statusToken,omitempty"`
	StatusTokenExpiresAt *time.Time `json:"statusTokenExpiresAt,omitempty"`

	// ETag is the task's version as the answer's ETag said; WaitTask
	// sends it back to wait for the next change.
	ETag string `json:"-"`
	// IdempotentReplayed is true when a create with an idempotency key
	// returned the task an earlier create made.
	IdempotentReplayed bool `json:"-"`
}

// Settled reports whether the task will change no more on its own: it has
// finished and its webhook, if it has one, was delivered or
// dead-lettered.
func (t *Task) Settled() bool {
	if !t.Status.Finished() {
		return false
	}
	if t.Webhook == nil || t.Status == StatusCanceled {
		return true
	}
	return t.Webhook.Status == WebhookDelivered || t.Webhook.Status == WebhookDead
}

// Response is what a target answered, as recorded (bounded: see the API's
// documentation).
type Response struct {
	StatusCode int               `json:"statusCode,omitempty"`
	Headers    map[string]string `json:"headers,omitempty"`
	// Body is embedded JSON when the target answered JSON, a JSON string
	// otherwise (base64 when BodyEncoding is "base64").
	Body             json.RawMessage `json:"body,omitempty"`
	BodyEncoding     string          `json:"bodyEncoding,omitempty"`
	BodyTruncated    bool            `json:"bodyTruncated,omitempty"`
	HeadersTruncated bool            `json:"headersTruncated,omitempty"`
}

// Attempt is one call to the target.
type Attempt struct {
	Number     int       `json:"number"`
	StartedAt  time.Time `json:"startedAt"`
	DurationMs float64   `json:"durationMs"`
	// Outcome is succeeded, retry, failed or canceled.
	Outcome string `json:"outcome"`
	Error   string `json:"error,omitempty"`
	Response
	// Timing is where the call's time went (see Timing).
	Timing *Timing `json:"timing,omitempty"`
}

// Result is a finished task's answer: its last attempt's response, and the
// final error when it failed.
type Result struct {
	Response
	Error string `json:"error,omitempty"`
}

// TaskResult is the answer of GetResult: the task's final response or
// error.
type TaskResult struct {
	ID     string `json:"id"`
	Status Status `json:"status"`
	Response
	Error string `json:"error,omitempty"`
}

// Webhook is the state of a task's result notification.
type Webhook struct {
	// ID is the webhook-id header, the same on every delivery.
	ID            string        `json:"id"`
	Status        WebhookStatus `json:"status,omitempty"`
	NextAttemptAt *time.Time    `json:"nextAttemptAt,omitempty"`
	Deliveries    []Delivery    `json:"deliveries"`
	// Receivers is each receiver's state, for a finished task whose result
	// goes to its failure webhook; Status is then theirs combined.
	Receivers []WebhookReceiver `json:"receivers,omitempty"`
}

// WebhookReceiver is the state of one receiver of a task's result:
// "webhook" (webhookUrl) or "failure" (failureWebhookUrl).
type WebhookReceiver struct {
	Receiver      string        `json:"receiver"`
	Status        WebhookStatus `json:"status"`
	NextAttemptAt *time.Time    `json:"nextAttemptAt,omitempty"`
}

// Delivery is one POST of the result to the webhook URL.
type Delivery struct {
	Number       int       `json:"number"`
	AttemptedAt  time.Time `json:"attemptedAt"`
	DurationMs   float64   `json:"durationMs"`
	Outcome      string    `json:"outcome"` // delivered, retry or dead
	StatusCode   int       `json:"statusCode,omitempty"`
	Error        string    `json:"error,omitempty"`
	ResponseBody string    `json:"responseBody,omitempty"`
	Round        uint64    `json:"round"`
	Index        int       `json:"index"`
	// Timing is where the delivery's time went (see Timing).
	Timing *Timing `json:"timing,omitempty"`
	// Receiver is "failure" for a delivery to the failure webhook, empty
	// for one to the webhook.
	Receiver string `json:"receiver,omitempty"`
}

// Event is one change of a task, from an event stream: what happened and
// the task's state right after it.
type Event struct {
	// Seq is the event's id: resume after it (After).
	Seq           uint64        `json:"seq"`
	TaskID        string        `json:"taskId"`
	Type          string        `json:"type"` // created, started, attempt, succeeded, failed, canceled, delivery, delivered, dead, redeliver
	At            time.Time     `json:"at"`
	Status        Status        `json:"status"`
	AttemptCount  int           `json:"attemptCount"`
	NextAttemptAt *time.Time    `json:"nextAttemptAt,omitempty"`
	Attempt       *EventAttempt `json:"attempt,omitempty"`
	Webhook       *EventWebhook `json:"webhook,omitempty"`
}

// EventAttempt summarises the attempt an event is about.
type EventAttempt struct {
	Number     int     `json:"number"`
	Outcome    string  `json:"outcome,omitempty"`
	StatusCode int     `json:"statusCode,omitempty"`
	Error      string  `json:"error,omitempty"`
	DurationMs float64 `json:"durationMs,omitempty"`
}

// EventWebhook summarises the webhook state an event changed.
type EventWebhook struct {
	Status        WebhookStatus  `json:"status"`
	NextAttemptAt *time.Time     `json:"nextAttemptAt,omitempty"`
	Delivery      *EventDelivery `json:"delivery,omitempty"`
}

// EventDelivery summarises a webhook delivery.
type EventDelivery struct {
	Number     int     `json:"number"`
	Outcome    string  `json:"outcome"`
	StatusCode int     `json:"statusCode,omitempty"`
	Error      string  `json:"error,omitempty"`
	DurationMs float64 `json:"durationMs,omitempty"`
}
