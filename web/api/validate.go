package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/delivery"
	"github.com/boomerang-dev/boomerang/signing"
	"github.com/boomerang-dev/boomerang/web/problem"
)

// Defaults and bounds of a task's optional fields.
const (
	defaultMethod  = http.MethodPost
	defaultRetries = 3
	defaultTimeout = 30.0
	maxURLLength   = 2048
	maxHeaders     = 64
	maxHeaderBytes = 8 << 10
	maxIdemKeyLen  = 255
)

// TaskRequest is a new task as a client sends it: the body of POST
// /v1/tasks, or the dashboard's form. Pointers tell a missing field from a
// zero one.
type TaskRequest struct {
	TargetURL *string           `json:"targetUrl"`
	Method    *string           `json:"method"`
	Headers   map[string]string `json:"headers"`
	// Payload is any JSON value, kept byte for byte as the client wrote
	// it; with a ContentType that is not JSON, a string whose text is the
	// body.
	Payload json.RawMessage `json:"payload"`
	// PayloadBase64 is a body of bytes, in standard base64.
	PayloadBase64 *string `json:"payloadBase64"`
	ContentType   *string `json:"contentType"`
	WebhookURL    *string `json:"webhookUrl"`
	// FailureWebhookURL receives the task.failed webhook only.
	FailureWebhookURL *string  `json:"failureWebhookUrl"`
	Retries           *int     `json:"retries"`
	Timeout           *float64 `json:"timeout"`
	Delay             *float64 `json:"delay"`
	NotBefore         *string  `json:"notBefore"`
	// OrderingKey runs the tenant's tasks with the same key one at a time.
	OrderingKey *string `json:"orderingKey"`
	// FlowControl bounds the rate and parallelism of the tenant's tasks
	// with the same key.
	FlowControl *FlowControlRequest `json:"flowControl"`
}

var allowedMethods = map[string]bool{
	http.MethodGet: true, http.MethodPost: true, http.MethodPut: true, http.MethodPatch: true,
	http.MethodDelete: true, http.MethodHead: true, http.MethodOptions: true,
}

// reservedHeaders are set by Boomerang or by the HTTP layer; a task may not
// set them. Keys are lower case.
var reservedHeaders = lowerSet(
	"host", "content-length", "transfer-encoding", "connection",
	"keep-alive", "upgrade", "te", "trailer", "proxy-connection",
	signing.HeaderID, signing.HeaderTimestamp, signing.HeaderSignature,
	delivery.HeaderTaskID, delivery.HeaderAttempt,
)

func lowerSet(names ...string) map[string]bool {
	set := make(map[string]bool, len(names))
	for _, n := range names {
		set[strings.ToLower(n)] = true
	}
	return set
}

// Validator checks new tasks against the server's limits: the one
// validation behind the API and the dashboard's form.
type Validator struct {
	limits   Limits
	checkURL func(*url.URL) error
	now      func() time.Time
}

// Task checks a new task and returns its spec with defaults filled in, or
// every problem found, each naming its field. idemKey is the
// Idempotency-Key header ("" for none).
func (v *Validator) Task(req TaskRequest, idemKey string) (broker.Spec, []problem.FieldError) {
	var errs []problem.FieldError
	fail := func(field, format string, args ...any) {
		errs = append(errs, problem.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	spec := broker.Spec{Method: defaultMethod, Retries: defaultRetries, Timeout: defaultTimeout, Headers: req.Headers}
	if req.TargetURL == nil || *req.TargetURL == "" {
		fail("targetUrl", "is required")
	} else if msg := v.checkTaskURL(*req.TargetURL); msg != "" {
		fail("targetUrl", "%s", msg)
	} else {
		spec.TargetURL = *req.TargetURL
	}
	spec.WebhookURL = v.optionalURL("webhookUrl", req.WebhookURL, fail)
	spec.FailureWebhookURL = v.optionalURL("failureWebhookUrl", req.FailureWebhookURL, fail)
	if req.Method != nil {
		m := strings.ToUpper(*req.Method)
		if !allowedMethods[m] {
			fail("method", "must be one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS")
		}
		spec.Method = m
	}
	errs = append(errs, checkHeaders(req.Headers)...)
	checkPayload(req, &spec, fail)
	if req.Retries != nil {
		if *req.Retries < 0 || *req.Retries > v.limits.MaxRetries {
			fail("retries", "must be between 0 and %d", v.limits.MaxRetries)
		}
		spec.Retries = *req.Retries
	}
	if req.Timeout != nil {
		max := v.limits.MaxTimeout.Seconds()
		if !(*req.Timeout > 0 && *req.Timeout <= max) {
			fail("timeout", "must be more than 0 and at most %g seconds", max)
		}
		spec.Timeout = *req.Timeout
	}
	v.schedule(req, &spec, fail)
	checkKeys(req, &spec, fail)
	if idemKey != "" {
		if msg := checkIdemKey(idemKey); msg != "" {
			fail("Idempotency-Key", "%s", msg)
		}
		spec.IdempotencyKey = idemKey
	}
	return spec, errs
}

// checkIdemKey returns what is wrong with an Idempotency-Key header, or "".
func checkIdemKey(key string) string {
	if len(key) > maxIdemKeyLen || !printable(key) {
		return fmt.Sprintf("must be 1 to %d printable ASCII characters", maxIdemKeyLen)
	}
	return ""
}

// optionalURL checks an optional URL field as targetUrl is checked and
// returns it, "" when it is absent, empty or wrong (then fail says why).
func (v *Validator) optionalURL(field string, value *string, fail func(field, format string, args ...any)) string {
	if value == nil || *value == "" {
		return ""
	}
	if msg := v.checkTaskURL(*value); msg != "" {
		fail(field, "%s", msg)
		return ""
	}
	return *value
}

// schedule checks delay and notBefore and sets the spec's start time.
func (v *Validator) schedule(req TaskRequest, spec *broker.Spec, fail func(field, format string, args ...any)) {
	now := v.now().UTC()
	maxDelay := v.limits.MaxDelay
	switch {
	case req.Delay != nil && req.NotBefore != nil:
		fail("delay", "give delay or notBefore, not both")
	case req.Delay != nil:
		d := *req.Delay
		if !(d >= 0 && d <= maxDelay.Seconds()) { // also refuses NaN and ±Inf
			fail("delay", "must be between 0 and %g seconds", maxDelay.Seconds())
		} else if d > 0 {
			at := now.Add(time.Duration(d * float64(time.Second)))
			spec.NotBefore = &at
		}
	case req.NotBefore != nil:
		at, err := time.Parse(time.RFC3339Nano, *req.NotBefore)
		switch {
		case err != nil:
			fail("notBefore", "must be an RFC 3339 time, like 2026-01-02T15:04:05Z")
		case at.Sub(now) > maxDelay:
			fail("notBefore", "must be at most %s ahead", maxDelay)
		case at.After(now):
			at = at.UTC()
			spec.NotBefore = &at
		}
	}
}

// retentionMargin is kept between the latest start of a task and the end
// of the event log's retention, for its retries and its webhook.
const retentionMargin = 7 * 24 * time.Hour

// delayLimit is how far ahead a task may be scheduled: the configured limit
// d, and never so far that the task log's retention would drop the task's
// history before it has run.
func delayLimit(d, retention time.Duration) time.Duration {
	if retention > 0 && retention-retentionMargin < d {
		d = max(retention-retentionMargin, time.Hour)
	}
	return d
}

// checkTaskURL returns what is wrong with a target or webhook URL, or "":
// its form (see checkURLForm), then the server's check (the network guard)
// on its host in ASCII, so that an internationalised spelling of a blocked
// name or address is seen for what it is.
func (v *Validator) checkTaskURL(raw string) string {
	if len(raw) > maxURLLength {
		return fmt.Sprintf("must be at most %d characters", maxURLLength)
	}
	if msg := checkURLChars(raw); msg != "" {
		return msg
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() {
		return "must be an absolute http or https URL"
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "must be an http or https URL"
	}
	if u.Hostname() == "" {
		return "must have a host"
	}
	ascii, msg := checkURLForm(raw, u)
	if msg != "" {
		return msg
	}
	if err := v.checkURL(ascii); err != nil {
		return err.Error()
	}
	return ""
}

func checkHeaders(h map[string]string) []problem.FieldError {
	var errs []problem.FieldError
	if len(h) > maxHeaders {
		return []problem.FieldError{{Field: "headers", Message: fmt.Sprintf("at most %d headers", maxHeaders)}}
	}
	size := 0
	errs = append(errs, sameNameHeaders(h)...)
	for k, v := range h {
		field := "headers." + k
		size += len(k) + len(v)
		switch {
		case !httpguts.ValidHeaderFieldName(k):
			errs = append(errs, problem.FieldError{Field: field, Message: "is not a valid header name"})
		case !httpguts.ValidHeaderFieldValue(v):
			errs = append(errs, problem.FieldError{Field: field, Message: "has a character not allowed in a header value (CR, LF or a control character)"})
		case strings.Trim(v, " \t") != v:
			errs = append(errs, problem.FieldError{Field: field, Message: "has spaces or tabs around its value, which HTTP drops: remove them"})
		case reservedHeaders[strings.ToLower(k)]:
			errs = append(errs, problem.FieldError{Field: field, Message: "is set by Boomerang and may not be overridden"})
		}
	}
	if size > maxHeaderBytes {
		errs = append(errs, problem.FieldError{Field: "headers", Message: fmt.Sprintf("at most %d bytes of names and values", maxHeaderBytes)})
	}
	return errs
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// sameNameHeaders refuses header names that differ only in case: HTTP
// names are case-insensitive, so the target would get one of them, which
// one depending on map order.
func sameNameHeaders(h map[string]string) []problem.FieldError {
	byName := map[string][]string{}
	for k := range h {
		lower := strings.ToLower(k)
		byName[lower] = append(byName[lower], k)
	}
	var errs []problem.FieldError
	for _, names := range byName {
		if len(names) < 2 {
			continue
		}
		sort.Strings(names)
		quoted := make([]string, len(names))
		for i, n := range names {
			quoted[i] = strconv.Quote(n)
		}
		list := strings.Join(quoted[:len(quoted)-1], ", ") + " and " + quoted[len(quoted)-1]
		errs = append(errs, problem.FieldError{Field: "headers." + names[0],
			Message: list + " name the same header (header names are case-insensitive): send it once"})
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Field < errs[j].Field })
	return errs
}
