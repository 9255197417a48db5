package client

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// createRequest is the body of POST /v1/tasks.
type createRequest struct {
	TargetURL     string            `json:"targetUrl"`
	Method        string            `json:"method,omitempty"`
	Headers       map[string]string `json:"headers,omitempty"`
	Payload       json.RawMessage   `json:"payload,omitempty"`
	PayloadBase64 []byte            `json:"payloadBase64,omitempty"`
	ContentType   string            `json:"contentType,omitempty"`
	WebhookURL    string            `json:"webhookUrl,omitempty"`
	// FailureWebhookURL receives the task.failed webhook only.
	FailureWebhookURL string     `json:"failureWebhookUrl,omitempty"`
	Retries           *int       `json:"retries,omitempty"`
	Timeout           *float64   `json:"timeout,omitempty"`
	Delay             *float64   `json:"delay,omitempty"`
	NotBefore         *time.Time `json:"notBefore,omitempty"`

	OrderingKey string       `json:"orderingKey,omitempty"`
	FlowControl *FlowControl `json:"flowControl,omitempty"`

	idempotencyKey string
	err            error
}

// CreateOption sets a field of a new task.
type CreateOption func(*createRequest)

// WithMethod sets the HTTP method of the calls to the target (POST by
// default).
func WithMethod(method string) CreateOption { return func(r *createRequest) { r.Method = method } }

// WithHeader adds a header to the calls to the target.
func WithHeader(name, value string) CreateOption {
	return func(r *createRequest) {
		if r.Headers == nil {
			r.Headers = map[string]string{}
		}
		r.Headers[name] = value
	}
}

// WithPayload sets the body of the calls: v as JSON, or as it is when v is
// a json.RawMessage (which the target then receives byte for byte).
func WithPayload(v any) CreateOption {
	return func(r *createRequest) {
		if raw, ok := v.(json.RawMessage); ok {
			r.Payload = raw
			return
		}
		r.Payload, r.err = json.Marshal(v)
	}
}

// WithTextPayload sets a body of text of the given media type (form data,
// XML, plain text).
func WithTextPayload(contentType, text string) CreateOption {
	return func(r *createRequest) {
		r.ContentType = contentType
		r.Payload, r.err = json.Marshal(text)
	}
}

// WithBinaryPayload sets a body of bytes of the given media type
// (application/octet-stream when empty).
func WithBinaryPayload(contentType string, data []byte) CreateOption {
	return func(r *createRequest) { r.ContentType, r.PayloadBase64 = contentType, data }
}

// WithWebhook sets the URL the signed result is posted to.
func WithWebhook(url string) CreateOption { return func(r *createRequest) { r.WebhookURL = url } }

// WithFailureWebhook sets the URL the signed result is posted to only when
// the task fails (besides WithWebhook's URL, or instead of it).
func WithFailureWebhook(url string) CreateOption {
	return func(r *createRequest) { r.FailureWebhookURL = url }
}

// WithRetries sets how many attempts may follow the first (3 by default).
func WithRetries(n int) CreateOption { return func(r *createRequest) { r.Retries = &n } }

// WithTimeout bounds each attempt (30 s by default).
func WithTimeout(d time.Duration) CreateOption {
	return func(r *createRequest) { s := d.Seconds(); r.Timeout = &s }
}

// WithDelay makes the first attempt wait d.
func WithDelay(d time.Duration) CreateOption {
	return func(r *createRequest) { s := d.Seconds(); r.Delay = &s }
}

// WithNotBefore makes the first attempt wait until t.
func WithNotBefore(t time.Time) CreateOption { return func(r *createRequest) { r.NotBefore = &t } }

// WithIdempotencyKey makes the create safe to retry: within the server's
// idempotency window the same key with the same request returns the same
// task (Task.IdempotentReplayed), and with another request is a problem of
// kind KindIdempotencyKeyReused.
func WithIdempotencyKey(key string) CreateOption {
	return func(r *createRequest) { r.idempotencyKey = key }
}

// CreateTask creates a task that calls targetURL, as opts say. It returns
// the task as stored (pending), with its status token; the server calls
// the target after answering.
func (c *Client) CreateTask(ctx context.Context, targetURL string, opts ...CreateOption) (*Task, error) {
	req := createRequest{TargetURL: targetURL}
	for _, o := range opts {
		o(&req)
	}
	if req.err != nil {
		return nil, req.err
	}
	r := request{method: http.MethodPost, path: "/v1/tasks", body: &req}
	if req.idempotencyKey != "" {
		r.header = http.Header{"Idempotency-Key": {req.idempotencyKey}}
	}
	var task Task
	resp, err := c.do(ctx, r, &task)
	if err != nil {
		return nil, err
	}
	task.IdempotentReplayed = resp.Header.Get("Idempotent-Replayed") == "true"
	return &task, nil
}
