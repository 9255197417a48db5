package delivery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/signing"
)

// SecretSource gives the secrets a tenant's messages are signed with, newest
// first; during a rotation there are two.
type SecretSource interface {
	SigningSecrets(tenantID string) ([]signing.Secret, error)
}

// Headers Boomerang adds to every call to a target.
const (
	HeaderTaskID  = "Boomerang-Task-Id"
	HeaderAttempt = "Boomerang-Attempt"
	userAgent     = "Boomerang/1.0 (+https://github.com/boomerang-dev/boomerang)"
)

// DefaultMaxResponseBody is the default cap on a recorded response body.
const DefaultMaxResponseBody = 64 << 10

// Caller calls task targets; it implements broker.Caller.
type Caller struct {
	client  *http.Client
	secrets SecretSource
	// MaxBody caps the response body kept per attempt.
	maxBody int
	now     func() time.Time
}

// NewCaller returns a caller using client, signing with secrets, keeping at
// most maxBody bytes of each response (DefaultMaxResponseBody when zero).
func NewCaller(client *http.Client, secrets SecretSource, maxBody int, now func() time.Time) *Caller {
	if maxBody <= 0 {
		maxBody = DefaultMaxResponseBody
	}
	if now == nil {
		now = time.Now
	}
	return &Caller{client: client, secrets: secrets, maxBody: maxBody, now: now}
}

// Call makes one attempt. The call is signed like a Standard Webhook with
// webhook-id set to the task id (the same on every attempt, so the target can
// de-duplicate) and carries Boomerang-Task-Id and Boomerang-Attempt, and
// the attempt's traceparent when ctx holds its span.
func (c *Caller) Call(ctx context.Context, req broker.CallRequest) broker.CallResult {
	start := c.now()
	res := broker.CallResult{StartedAt: start}
	var ph *phases
	finish := func() broker.CallResult {
		res.Duration = c.now().Sub(start)
		if ph != nil {
			res.Timing = ph.timing()
		}
		return res
	}
	secrets, err := c.secrets.SigningSecrets(req.TenantID)
	if err != nil {
		res.Outcome, res.Error = broker.OutcomeRetry, "signing secret unavailable"
		return finish()
	}
	timeout := req.Spec.AttemptTimeout()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ctx, ph = tracePhases(ctx, c.now)

	body, contentType := req.Spec.Body()
	httpReq, err := http.NewRequestWithContext(ctx, req.Spec.Method, req.Spec.TargetURL, bytes.NewReader(body))
	if err != nil {
		res.Outcome, res.Error = broker.OutcomeFailed, invalidRequest(err)
		return finish()
	}
	if body == nil {
		httpReq.Body, httpReq.ContentLength = http.NoBody, 0
	}
	for k, v := range req.Spec.Headers {
		httpReq.Header.Set(k, v)
	}
	if body != nil {
		httpReq.Header.Set("Content-Type", contentType)
	}
	if httpReq.Header.Get("User-Agent") == "" {
		httpReq.Header.Set("User-Agent", userAgent)
	}
	signing.SetHeaders(httpReq.Header, secrets, req.TaskID, start, body)
	httpReq.Header.Set(HeaderTaskID, req.TaskID)
	httpReq.Header.Set(HeaderAttempt, strconv.Itoa(req.Attempt))
	setTraceHeaders(ctx, httpReq.Header)

	resp, err := c.client.Do(httpReq)
	if err != nil {
		res.Outcome, res.Error = classifyError(ctx, err, timeout)
		res.Refused = errors.Is(err, syscall.ECONNREFUSED)
		return finish()
	}
	defer resp.Body.Close()
	ph.markHeaders()
	data, truncated, err := readCapped(resp.Body, c.maxBody)
	if truncated {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // let the connection be reused
	}
	ph.markBodyRead()
	if err != nil && ctx.Err() != nil {
		res.Outcome, res.Error = classifyError(ctx, err, timeout)
		return finish()
	}
	// A body cut short by the connection is kept for what it is: the
	// beginning of the answer.
	truncated = truncated || err != nil
	res.StatusCode = resp.StatusCode
	res.Headers, res.HeadersTruncated = keepHeaders(resp.Header)
	res.Body, res.BodyEncoding = encodeBody(data, resp.Header.Get("Content-Type"), truncated)
	res.BodyTruncated = truncated
	res.Outcome = ClassifyStatus(resp.StatusCode)
	if res.Outcome != broker.OutcomeSucceeded {
		res.Error = strings.TrimSpace(fmt.Sprintf("target answered %d %s", resp.StatusCode, http.StatusText(resp.StatusCode)))
	}
	res.Outcome, res.Error = noRetry(resp.StatusCode, resp.Header, res.Outcome, res.Error)
	if res.Outcome == broker.OutcomeRetry {
		res.RetryAfter, _ = ParseRetryAfter(resp.Header.Get("Retry-After"), c.now())
	}
	return finish()
}

// ClassifyStatus says what a target's status code means: 2xx success; 408,
// 425, 429 and 5xx retry; any other status fails the task at once.
func ClassifyStatus(code int) broker.Outcome {
	switch {
	case code >= 200 && code < 300:
		return broker.OutcomeSucceeded
	case code == http.StatusRequestTimeout, code == http.StatusTooEarly, code == http.StatusTooManyRequests, code >= 500:
		return broker.OutcomeRetry
	default:
		return broker.OutcomeFailed
	}
}

// classifyError turns a failed round trip into an outcome: a blocked address
// is permanent; timeouts and connection errors are retried. The text says
// why without naming any address (see describe).
func classifyError(ctx context.Context, err error, timeout time.Duration) (broker.Outcome, string) {
	switch {
	case errors.Is(err, ErrBlockedAddress):
		return broker.OutcomeFailed, "refused: the target resolves to a blocked network"
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return broker.OutcomeRetry, fmt.Sprintf("timed out after %s", timeout)
	case ctx.Err() != nil:
		return broker.OutcomeRetry, "aborted"
	default:
		return broker.OutcomeRetry, describe(err)
	}
}

// invalidRequest says why a request could not be built, without the URL,
// which may hold query-string secrets.
func invalidRequest(err error) string {
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		return "invalid request: the URL does not parse"
	}
	return bounded("invalid request: " + scrubAddresses(err.Error()))
}
