package api

import (
	"net/url"
	"strings"
	"time"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/tenant"
)

// A status token is handed to browsers, so what it reads of its task is
// the public view: the task's progress and its result, never what the
// tenant sent (request headers, payload, URLs, which may hold the tenant's
// credentials for the target or a webhook's secret path). Free text that
// Boomerang wrote about a failure keeps only its first clause (the kind of
// failure, before any quoted detail) with anything from the request
// removed.

// taskPublicView is the TaskPublicView of docs/openapi.yaml.
type taskPublicView struct {
	ID            string          `json:"id"`
	Status        broker.Status   `json:"status"`
	CreatedAt     time.Time       `json:"createdAt"`
	UpdatedAt     time.Time       `json:"updatedAt"`
	FinishedAt    *time.Time      `json:"finishedAt,omitempty"`
	NextAttemptAt *time.Time      `json:"nextAttemptAt,omitempty"`
	AttemptCount  int             `json:"attemptCount"`
	Attempts      []publicAttempt `json:"attempts"`
	Result        *broker.Result  `json:"result,omitempty"`
}

// publicAttempt is an attempt's outcome without what the target answered
// to it: only the final answer, the result, is public.
type publicAttempt struct {
	Number     int            `json:"number"`
	StartedAt  time.Time      `json:"startedAt"`
	DurationMs float64        `json:"durationMs"`
	Outcome    broker.Outcome `json:"outcome"`
	StatusCode int            `json:"statusCode,omitempty"`
	Error      string         `json:"error,omitempty"`
}

// isStatusToken reports whether p reads with a status token, and so sees
// only the public view.
func isStatusToken(p tenant.Principal) bool { return p.TaskID != "" }

// publicView returns the public view of t.
func publicView(t *broker.Task) taskPublicView {
	v := taskPublicView{
		ID: t.ID, Status: t.Status, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt, FinishedAt: t.FinishedAt,
		NextAttemptAt: t.NextAttemptAt, AttemptCount: t.AttemptCount, Attempts: make([]publicAttempt, 0, len(t.Attempts)),
		Result: publicResult(t.Result, t.Spec),
	}
	for _, at := range t.Attempts {
		v.Attempts = append(v.Attempts, publicAttempt{
			Number: at.Number, StartedAt: at.StartedAt, DurationMs: at.DurationMs, Outcome: at.Outcome,
			StatusCode: at.StatusCode, Error: publicError(at.Error, t.Spec),
		})
	}
	return v
}

// publicResult is the result as the target answered it, with Boomerang's
// error text made public.
func publicResult(r *broker.Result, spec broker.Spec) *broker.Result {
	if r == nil {
		return nil
	}
	out := *r
	out.Error = publicError(r.Error, spec)
	return &out
}

// publicEvent is an event without the detail of its errors.
func publicEvent(e broker.Event, spec broker.Spec) broker.Event {
	if e.Attempt != nil {
		at := *e.Attempt
		at.Error = publicError(at.Error, spec)
		e.Attempt = &at
	}
	if e.Webhook != nil {
		w := *e.Webhook
		if w.Delivery != nil {
			d := *w.Delivery
			d.Error = publicError(d.Error, spec)
			w.Delivery = &d
		}
		e.Webhook = &w
	}
	return e
}

// minSecret is the shortest request value removed from public text: a
// shorter one would cut up ordinary words and numbers.
const minSecret = 6

// publicError keeps the first clause of an error Boomerang wrote ("connection
// failed: dial tcp …" becomes "connection failed") and removes from it every
// value of the request that could be secret.
func publicError(text string, spec broker.Spec) string {
	text, _, _ = strings.Cut(text, ": ")
	for _, s := range requestValues(spec) {
		if len(s) >= minSecret {
			text = strings.ReplaceAll(text, s, "…")
		}
	}
	return text
}

// requestValues are the parts of a request a public text must not show:
// each URL whole and its userinfo, path, query, every query value and
// fragment; every header value; the payload.
func requestValues(spec broker.Spec) []string {
	out := []string{string(spec.Payload)}
	for _, raw := range []string{spec.TargetURL, spec.WebhookURL, spec.FailureWebhookURL} {
		out = append(out, raw)
		u, err := url.Parse(raw)
		if err != nil {
			continue
		}
		out = append(out, u.User.String(), u.EscapedPath(), u.Path, u.RawQuery, u.Fragment)
		for _, vs := range u.Query() {
			out = append(out, vs...)
		}
	}
	for _, v := range spec.Headers {
		out = append(out, v)
	}
	return out
}
