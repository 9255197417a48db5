package broker

import (
	"context"
	"time"
)

// CallRequest is one attempt at calling a task's target.
type CallRequest struct {
	TenantID string
	TaskID   string
	Attempt  int
	Spec     Spec
}

// CallResult is what came of a CallRequest.
type CallResult struct {
	// Outcome is OutcomeSucceeded, OutcomeRetry or OutcomeFailed (a
	// permanent failure: the task fails at once).
	Outcome Outcome
	Response
	Error string
	// RetryAfter is the target's Retry-After, zero when it gave none.
	RetryAfter time.Duration
	// Refused is true when the target host refused the connection: a
	// sign of overload to adaptive concurrency.
	Refused   bool
	StartedAt time.Time
	Duration  time.Duration
	// Timing is where the call's time went, nil when no call was made.
	Timing *Timing
}

// Caller makes the HTTP call to a task's target. It must honour ctx: the
// dispatcher cancels it when the task is canceled or the node shuts down.
type Caller interface {
	Call(ctx context.Context, req CallRequest) CallResult
}

// Notification is a finished task's result on its way to the webhook URL.
type Notification struct {
	TenantID   string    `json:"tenantId"`
	TaskID     string    `json:"taskId"`
	WebhookID  string    `json:"webhookId"`
	URL        string    `json:"url"`
	Status     Status    `json:"status"`
	Attempts   int       `json:"attempts"`
	FinishedAt time.Time `json:"finishedAt"`
	Result     Result    `json:"result"`
}

// Type is the webhook's event type, "task.succeeded" or "task.failed".
func (n Notification) Type() string { return "task." + string(n.Status) }

// NotifyResult is what came of one delivery of a Notification.
type NotifyResult struct {
	Delivered    bool
	StatusCode   int
	Error        string
	ResponseBody string
	StartedAt    time.Time
	Duration     time.Duration
	// Timing is where the delivery's time went, nil when no call was made.
	Timing *Timing
}

// Notifier delivers a notification once: one signed POST.
type Notifier interface {
	Notify(ctx context.Context, n Notification) NotifyResult
}

// RetryPolicy decides when the next attempt or delivery happens.
type RetryPolicy interface {
	// TaskBackoff is the wait after failed attempt number attempt (1-based)
	// before the next; retryAfter is the target's hint, zero when none.
	TaskBackoff(attempt int, retryAfter time.Duration) time.Duration
	// WebhookBackoff is the wait before delivery index (0-based) of a round,
	// and false when the schedule has no such delivery.
	WebhookBackoff(index int) (time.Duration, bool)
}
