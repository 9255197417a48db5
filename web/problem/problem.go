// Package problem is the one place where errors become RFC 9457 problem
// details: the Problem type, the kinds of problem Boomerang answers with
// (docs/problems.md), the table that maps the domain packages' errors to
// them, and the writer of application/problem+json. The API answers with
// these problems; the dashboard shows the same ones as pages.
package problem

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"

	"github.com/labstack/echo/v4"
)

// Base prefixes every problem type URI; docs/problems.md describes each type.
const Base = "https://boomerang.dev/problems/"

// ContentType is the media type of every error response of the API.
const ContentType = "application/problem+json"

// Problem is an RFC 9457 problem detail, the body of every error response.
type Problem struct {
	Type   string       `json:"type"`
	Title  string       `json:"title"`
	Status int          `json:"status"`
	Detail string       `json:"detail,omitempty"`
	Errors []FieldError `json:"errors,omitempty"`
	// Scope is the scope an API key lacks, in an insufficient-scope
	// problem about one (an extension member).
	Scope string `json:"scope,omitempty"`
	// headers are set on the response (Retry-After, WWW-Authenticate).
	headers map[string]string
}

// FieldError names a request field and what is wrong with it.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (p *Problem) Error() string { return fmt.Sprintf("%d %s: %s", p.Status, p.Title, p.Detail) }

// WithHeader sets a response header of the problem (such as Retry-After)
// and returns it.
func (p *Problem) WithHeader(k, v string) *Problem {
	if p.headers == nil {
		p.headers = map[string]string{}
	}
	p.headers[k] = v
	return p
}

// Header returns a response header the problem sets, or "".
func (p *Problem) Header(k string) string { return p.headers[k] }

// Kind is a problem type: the slug after Base. Each has one status and one
// title; docs/problems.md lists them.
type Kind string

// The kinds of problem Boomerang answers with.
const (
	Validation           Kind = "validation"
	Malformed            Kind = "malformed-request"
	Unauthorized         Kind = "unauthorized"
	AdminDisabled        Kind = "admin-disabled"
	InsufficientScope    Kind = "insufficient-scope"
	NotFound             Kind = "not-found"
	MethodNotAllowed     Kind = "method-not-allowed"
	TaskFinished         Kind = "task-finished"
	TaskNotFinished      Kind = "task-not-finished"
	NoWebhook            Kind = "no-webhook"
	TenantExists         Kind = "tenant-exists"
	Conflict             Kind = "conflict"
	TooLarge             Kind = "request-too-large"
	UnsupportedMediaType Kind = "unsupported-media-type"
	IdempotencyKeyReused Kind = "idempotency-key-reused"
	RateLimited          Kind = "rate-limited"
	TooManyStreams       Kind = "too-many-streams"
	Unavailable          Kind = "unavailable"
	Internal             Kind = "internal"
	TenantSuspended      Kind = "tenant-suspended"
	QuotaExceeded        Kind = "quota-exceeded"
	TooManySchedules     Kind = "too-many-schedules"
	UpgradeRequired      Kind = "upgrade-required"
	ForbiddenOrigin      Kind = "forbidden-origin"
)

// kindInfo is what every problem of a kind shares.
type kindInfo struct {
	status int
	title  string
	header [2]string // a header every problem of the kind sets, if any
}

var kinds = map[Kind]kindInfo{
	Validation:           {http.StatusBadRequest, "Invalid request", [2]string{}},
	Malformed:            {http.StatusBadRequest, "Malformed request", [2]string{}},
	Unauthorized:         {http.StatusUnauthorized, "Unauthorized", [2]string{"WWW-Authenticate", `Bearer realm="boomerang"`}},
	AdminDisabled:        {http.StatusForbidden, "Admin API disabled", [2]string{}},
	InsufficientScope:    {http.StatusForbidden, "Insufficient scope", [2]string{}},
	NotFound:             {http.StatusNotFound, "Not found", [2]string{}},
	MethodNotAllowed:     {http.StatusMethodNotAllowed, "Method not allowed", [2]string{}},
	TaskFinished:         {http.StatusConflict, "Task already finished", [2]string{}},
	TaskNotFinished:      {http.StatusConflict, "Task not finished", [2]string{}},
	NoWebhook:            {http.StatusConflict, "Nothing to redeliver", [2]string{}},
	TenantExists:         {http.StatusConflict, "Tenant already exists", [2]string{}},
	Conflict:             {http.StatusConflict, "Conflict", [2]string{}},
	TooLarge:             {http.StatusRequestEntityTooLarge, "Request body too large", [2]string{}},
	UnsupportedMediaType: {http.StatusUnsupportedMediaType, "Unsupported media type", [2]string{}},
	IdempotencyKeyReused: {http.StatusUnprocessableEntity, "Idempotency key reused", [2]string{}},
	RateLimited:          {http.StatusTooManyRequests, "Too many requests", [2]string{}},
	TooManyStreams:       {http.StatusTooManyRequests, "Too many open streams", [2]string{}},
	Unavailable:          {http.StatusServiceUnavailable, "Service unavailable", [2]string{"Retry-After", "1"}},
	Internal:             {http.StatusInternalServerError, "Internal error", [2]string{}},
	TenantSuspended:      {http.StatusForbidden, "Tenant suspended", [2]string{}},
	QuotaExceeded:        {http.StatusTooManyRequests, "Monthly task quota exceeded", [2]string{}},
	TooManySchedules:     {http.StatusConflict, "Too many schedules", [2]string{}},
	UpgradeRequired:      {http.StatusUpgradeRequired, "WebSocket required", [2]string{"Upgrade", "websocket"}},
	ForbiddenOrigin:      {http.StatusForbidden, "Origin not allowed", [2]string{}},
}

// Kinds lists every kind, by status.
func Kinds() []Kind {
	out := make([]Kind, 0, len(kinds))
	for k := range kinds {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool {
		if si, sj := out[i].Status(), out[j].Status(); si != sj {
			return si < sj
		}
		return out[i] < out[j]
	})
	return out
}

// Status is the HTTP status of the kind's problems.
func (k Kind) Status() int { return kinds[k].status }

// New returns a problem of the kind with the given detail.
func (k Kind) New(detail string) *Problem {
	info := kinds[k]
	p := &Problem{Type: Base + string(k), Title: info.title, Status: info.status, Detail: detail}
	if info.header[0] != "" {
		p.WithHeader(info.header[0], info.header[1])
	}
	return p
}

// Invalid is the validation problem naming each field that is wrong.
func Invalid(errs ...FieldError) *Problem {
	p := Validation.New("One or more fields are invalid.")
	p.Errors = errs
	return p
}

// TooLargeFor is the problem of a body over limit bytes.
func TooLargeFor(limit int64) *Problem {
	return TooLarge.New(fmt.Sprintf("The request body exceeds %d bytes.", limit))
}

// httpError is the problem of another client error that echo reports.
func httpError(status int, message string) *Problem {
	return &Problem{Type: Base + "http-" + strconv.Itoa(status), Title: http.StatusText(status), Status: status, Detail: message}
}

// Write answers with p as application/problem+json (without a body to a
// HEAD request), unless the response has started.
func Write(c echo.Context, p *Problem) {
	if c.Response().Committed {
		return
	}
	h := c.Response().Header()
	for k, v := range p.headers {
		h.Set(k, v)
	}
	body, _ := json.Marshal(p)
	h.Set(echo.HeaderContentType, ContentType)
	c.Response().WriteHeader(p.Status)
	if c.Request().Method != http.MethodHead {
		_, _ = c.Response().Write(body)
	}
}
