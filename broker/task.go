package broker

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"net"
	"net/url"
	"strings"
	"time"
)

// Status is where a task is in its life.
type Status string

// Task statuses. A task starts pending, is running while an attempt is in
// flight, retrying while it waits for its next attempt, and ends succeeded,
// failed or canceled.
const (
	StatusPending   Status = "pending"
	StatusRunning   Status = "running"
	StatusRetrying  Status = "retrying"
	StatusSucceeded Status = "succeeded"
	StatusFailed    Status = "failed"
	StatusCanceled  Status = "canceled"
)

// Finished reports whether the status is terminal.
func (s Status) Finished() bool {
	return s == StatusSucceeded || s == StatusFailed || s == StatusCanceled
}

// Valid reports whether s is one of the defined statuses.
func (s Status) Valid() bool {
	switch s {
	case StatusPending, StatusRunning, StatusRetrying, StatusSucceeded, StatusFailed, StatusCanceled:
		return true
	}
	return false
}

// Spec is what a tenant asked for when it created a task.
type Spec struct {
	TargetURL string            `json:"targetUrl"`
	Method    string            `json:"method"`
	Headers   map[string]string `json:"headers,omitempty"`
	// Payload is a JSON payload byte for byte as the client wrote it, or,
	// when ContentType is not a JSON type, a JSON string whose text is the
	// body. See Body.
	Payload json.RawMessage `json:"payload,omitempty"`
	// PayloadBase64 is a payload of bytes (base64 in JSON); a spec has
	// Payload or PayloadBase64, not both.
	PayloadBase64 []byte `json:"payloadBase64,omitempty"`
	// ContentType is the payload's media type as the client named it; ""
	// means the default (see Body).
	ContentType string `json:"contentType,omitempty"`
	WebhookURL  string `json:"webhookUrl,omitempty"`
	// Retries is how many attempts may follow the first one.
	Retries int `json:"retries"`
	// Timeout is the limit of one attempt, in seconds.
	Timeout float64 `json:"timeout"`
	// NotBefore is the earliest time of the first attempt.
	NotBefore      *time.Time `json:"notBefore,omitempty"`
	IdempotencyKey string     `json:"idempotencyKey,omitempty"`
	// FailureWebhookURL receives the task.failed webhook when the task
	// fails, besides WebhookURL or instead of it (see FailureReceiver).
	FailureWebhookURL string `json:"failureWebhookUrl,omitempty"`
	// OrderingKey runs the tenant's tasks with the same key one at a
	// time, in creation order (keys.go).
	OrderingKey string `json:"orderingKey,omitempty"`
	// FlowControl bounds the rate and parallelism of the tenant's tasks
	// with the same key (keys.go).
	FlowControl *FlowControl `json:"flowControl,omitempty"`
}

// AttemptTimeout is Timeout as a duration.
func (s Spec) AttemptTimeout() time.Duration {
	return time.Duration(s.Timeout * float64(time.Second))
}

// MaxAttempts is the number of attempts the spec allows.
func (s Spec) MaxAttempts() int { return s.Retries + 1 }

// HostOf returns the host name of a target URL, empty when it does not
// parse: the key of the view's host index (GET /v1/tasks?host=).
func HostOf(target string) string {
	u, err := url.Parse(target)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// DestinationOf returns the service a URL calls, the key of the workers'
// per-host caps, adaptive limits and Retry-After pauses: its host name in
// lower case, with its port when the URL names one other than the
// scheme's default (two services on one host are two destinations; a 429
// from one says nothing of the other). Empty when it does not parse.
func DestinationOf(target string) string {
	u, err := url.Parse(target)
	if err != nil {
		return ""
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if port == "" || (u.Scheme == "http" && port == "80") || (u.Scheme == "https" && port == "443") {
		return host
	}
	return net.JoinHostPort(host, port)
}

// Response is what a target or webhook receiver answered, as recorded.
type Response struct {
	StatusCode int               `json:"statusCode,omitempty"`
	Headers    map[string]string `json:"headers,omitempty"`
	// Body is the response body: embedded JSON when the body was JSON, a
	// JSON string otherwise (base64 when BodyEncoding is "base64").
	Body          json.RawMessage `json:"body,omitempty"`
	BodyEncoding  string          `json:"bodyEncoding,omitempty"`
	BodyTruncated bool            `json:"bodyTruncated,omitempty"`
	// HeadersTruncated says that some headers were left out or cut: past
	// the caller's bounds, or dropped so that the record fits the stream.
	HeadersTruncated bool `json:"headersTruncated,omitempty"`
}

// Outcome classifies one attempt.
type Outcome string

// Attempt outcomes.
const (
	OutcomeSucceeded Outcome = "succeeded" // 2xx
	OutcomeRetry     Outcome = "retry"     // retryable failure
	OutcomeFailed    Outcome = "failed"    // permanent failure, or the last retryable one
	OutcomeCanceled  Outcome = "canceled"  // aborted because the task was canceled
)

// Attempt is one call to the target.
type Attempt struct {
	Number     int       `json:"number"`
	StartedAt  time.Time `json:"startedAt"`
	DurationMs float64   `json:"durationMs"`
	Outcome    Outcome   `json:"outcome"`
	// Error describes a failure without a response (connection refused,
	// timeout) or why a response counts as a failure.
	Error string `json:"error,omitempty"`
	Response
	// Timing is where the call's time went; nil when no call was made,
	// and in attempts recorded before timings existed.
	Timing *Timing `json:"timing,omitempty"`
}

// Result is a finished task's final answer: the target's last response, or
// the final error when there was none.
type Result struct {
	Response
	Error string `json:"error,omitempty"`
}

// WebhookStatus is where a task's result notification is.
type WebhookStatus string

// Webhook statuses.
const (
	WebhookPending   WebhookStatus = "pending"
	WebhookRetrying  WebhookStatus = "retrying"
	WebhookDelivered WebhookStatus = "delivered"
	WebhookDead      WebhookStatus = "dead"
)

// Delivery is one POST of the result to the webhook URL.
type Delivery struct {
	Number      int       `json:"number"`
	AttemptedAt time.Time `json:"attemptedAt"`
	DurationMs  float64   `json:"durationMs"`
	Outcome     string    `json:"outcome"` // delivered, retry or dead
	StatusCode  int       `json:"statusCode,omitempty"`
	Error       string    `json:"error,omitempty"`
	// ResponseBody is the receiver's answer, capped.
	ResponseBody string `json:"responseBody,omitempty"`
	// Round is the stream sequence of the event that started this series
	// of deliveries: the task's end, or a redelivery request.
	Round uint64 `json:"round"`
	// Index is the position in the retry schedule within the round.
	Index int `json:"index"`
	// Timing is where the delivery's time went; nil when no call was
	// made, and in deliveries recorded before timings existed.
	Timing *Timing `json:"timing,omitempty"`
	// Receiver is FailureReceiver for a delivery to failureWebhookUrl,
	// empty for one to webhookUrl.
	Receiver string `json:"receiver,omitempty"`
}

// Webhook is the state of a task's result notification.
type Webhook struct {
	// ID is the webhook-id header, the same on every delivery of the task's
	// result, redeliveries included.
	ID string `json:"id"`
	// Status is empty until the task has finished.
	Status        WebhookStatus `json:"status,omitempty"`
	NextAttemptAt *time.Time    `json:"nextAttemptAt,omitempty"`
	Deliveries    []Delivery    `json:"deliveries"`
	// Receivers is the state of each receiver of the result, for a task
	// with a failureWebhookUrl once it has failed; Status is then theirs
	// combined (see combineWebhook).
	Receivers []WebhookReceiver `json:"receivers,omitempty"`
}

// WebhookReceiver is the state of one receiver of a task's result.
type WebhookReceiver struct {
	// Receiver is "webhook" (webhookUrl) or FailureReceiver.
	Receiver      string        `json:"receiver"`
	Status        WebhookStatus `json:"status"`
	NextAttemptAt *time.Time    `json:"nextAttemptAt,omitempty"`
}

// Task is a task as the view knows it, the shape the API returns.
type Task struct {
	ID       string `json:"id"`
	TenantID string `json:"-"`
	Status   Status `json:"status"`
	Spec
	CreatedAt     time.Time  `json:"createdAt"`
	UpdatedAt     time.Time  `json:"updatedAt"`
	FinishedAt    *time.Time `json:"finishedAt,omitempty"`
	NextAttemptAt *time.Time `json:"nextAttemptAt,omitempty"`
	AttemptCount  int        `json:"attemptCount"`
	Attempts      []Attempt  `json:"attempts"`
	Result        *Result    `json:"result,omitempty"`
	Webhook       *Webhook   `json:"webhook,omitempty"`
	// ReplayOf is the task this one replays, when it is a replay.
	ReplayOf string `json:"replayOf,omitempty"`
	// Replays are the tasks that replay this one and are still in the
	// view, oldest first.
	Replays []string `json:"replays,omitempty"`
	// ScheduleID is the schedule whose firing made the task, and FiringAt
	// the time of that firing, when a schedule made it.
	ScheduleID string     `json:"scheduleId,omitempty"`
	FiringAt   *time.Time `json:"firingAt,omitempty"`
	// Version is the stream sequence of the last event applied to the
	// task: it changes whenever the task does.
	Version uint64 `json:"-"`
}

// idEncoding is base32 with the "extended hex" alphabet in lower case,
// whose character order is the order of the values: ids that start with a
// time sort by it.
var idEncoding = base32.NewEncoding("0123456789abcdefghijklmnopqrstuv").WithPadding(base32.NoPadding)

// NewTaskID returns a task id, "tsk_" and 26 base32 characters: 48 bits of
// the time in milliseconds, then 80 random bits. Ids made later sort later,
// so the view appends new tasks to its indexes instead of splitting pages
// all over them.
func NewTaskID() string {
	return newTaskID(time.Now())
}

func newTaskID(now time.Time) string {
	var b [16]byte
	ms := uint64(now.UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	_, _ = rand.Read(b[6:])
	return "tsk_" + idEncoding.EncodeToString(b[:])
}

// IdempotentTaskID returns the task id for a tenant's idempotency key and
// generation: the same inputs give the same id on every node, so the stream
// itself refuses a second create.
func IdempotentTaskID(tenantID, key string, generation int) string {
	h := sha256.New()
	h.Write([]byte(tenantID))
	h.Write([]byte{0})
	h.Write([]byte(key))
	h.Write([]byte{0, byte(generation >> 8), byte(generation)})
	return "tsk_" + idEncoding.EncodeToString(h.Sum(nil)[:16])
}

// WebhookID returns the webhook-id of a task's result notification.
func WebhookID(taskID string) string { return "msg_" + taskID }

// Settled reports whether a task will change no more on its own: it has
// finished and its webhook, if any, was delivered or dead-lettered.
func (t *Task) Settled() bool {
	if !t.Status.Finished() {
		return false
	}
	if t.Webhook == nil || t.Status == StatusCanceled {
		return true
	}
	return t.Webhook.Status == WebhookDelivered || t.Webhook.Status == WebhookDead
}
