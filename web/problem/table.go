package problem

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/tenant"
)

// table maps the errors of the domain packages to the problem each answers
// with. A handler returns the error as it is (wrapped or not); a handler
// that knows more may reword the detail with WithDetail, never the status
// or the type.
var table = []struct {
	err    error
	kind   Kind
	detail string
	field  FieldError // named in the problem's errors when set
}{
	{err: broker.ErrNotFound, kind: NotFound, detail: "No such resource."},
	{err: tenant.ErrNotFound, kind: NotFound, detail: "No such resource."},
	{err: tenant.ErrUnauthorized, kind: Unauthorized, detail: "The API key is missing, malformed, unknown or revoked."},
	{err: broker.ErrBadCursor, kind: Validation, detail: "One or more fields are invalid.",
		field: FieldError{Field: "cursor", Message: "is not a cursor from a previous page"}},
	{err: broker.ErrFinished, kind: TaskFinished, detail: "The task has finished; only unfinished tasks can be canceled."},
	{err: broker.ErrNotFinished, kind: TaskNotFinished, detail: "The task has not finished yet."},
	{err: broker.ErrNoWebhook, kind: NoWebhook, detail: "The task has no webhookUrl, or was canceled and so has no result to send."},
	{err: broker.ErrIdempotencyMismatch, kind: IdempotencyKeyReused,
		detail: "This Idempotency-Key was used with a different request body within the idempotency window."},
	{err: tenant.ErrExists, kind: TenantExists, detail: "A tenant with this id exists already; nothing was changed."},
	{err: tenant.ErrRetentionOutOfBounds, kind: Validation, detail: "One or more fields are invalid.",
		field: FieldError{Field: "days", Message: "is outside the retention this server allows"}},
	{err: broker.ErrRetentionPassed, kind: NotFound, detail: "The task's retention has passed since it finished: it is being removed."},
	{err: broker.ErrConflict, kind: Conflict, detail: "The change conflicts with one stored before it; nothing was changed."},
	{err: broker.ErrUnavailable, kind: Unavailable, detail: "The event log did not confirm the change in time (a NATS server is unreachable, or the cluster is electing a leader). It may or may not have been stored: retry, with the same Idempotency-Key for a create."},
	{err: broker.ErrViewBehind, kind: Unavailable, detail: viewBehindDetail},
	{err: tenant.ErrViewBehind, kind: Unavailable, detail: viewBehindDetail},
	{err: broker.ErrEventTooLarge, kind: TooLarge, detail: "The task is larger than the event log takes (its NATS server's max_payload); nothing was stored."},
}

// viewBehindDetail answers a request this node could not check against
// the event log in time: what it asked for may exist, made on another node.
const viewBehindDetail = "This server could not catch up with the event log in time to answer (a NATS server is unreachable, or the cluster is electing a leader); nothing was changed. Retry."

// internalDetail is all a client learns of a fault on our side.
const internalDetail = "Something went wrong on our side; nothing you sent was changed by it. Try again."

// For returns the problem that answers err to request r: a *Problem as it
// is; a domain error, an http.MaxBytesError or an echo.HTTPError by the
// table; and for anything else the internal problem, with internal true so
// that the caller logs err (it is never shown). maxBody is the body limit,
// for echo's 413, which does not say it.
func For(err error, r *http.Request, maxBody int64) (p *Problem, internal bool) {
	p = lookup(err, r, maxBody)
	if p == nil {
		return Internal.New(internalDetail), true
	}
	var d *detailed
	if errors.As(err, &d) {
		copied := *p
		copied.Detail = d.detail
		p = &copied
	}
	return p, false
}

func lookup(err error, r *http.Request, maxBody int64) *Problem {
	var p *Problem
	var maxErr *http.MaxBytesError
	var he *echo.HTTPError
	switch {
	case errors.As(err, &p):
		return p
	case errors.As(err, &maxErr):
		return TooLargeFor(maxErr.Limit)
	}
	for _, row := range table {
		if errors.Is(err, row.err) {
			p := row.kind.New(row.detail)
			if row.field.Field != "" {
				p.Errors = []FieldError{row.field}
			}
			return p
		}
	}
	if !errors.As(err, &he) {
		return nil
	}
	switch he.Code {
	case http.StatusNotFound:
		return NotFound.New("No route for " + r.Method + " " + r.URL.Path + ".")
	case http.StatusMethodNotAllowed:
		return MethodNotAllowed.New(r.Method + " is not allowed here.")
	case http.StatusRequestEntityTooLarge:
		return TooLargeFor(maxBody)
	}
	if he.Code < 500 {
		return httpError(he.Code, fmt.Sprint(he.Message))
	}
	return nil
}

// detailed rewords the detail of the problem its error answers with.
type detailed struct {
	err    error
	detail string
}

func (d *detailed) Error() string { return d.err.Error() }
func (d *detailed) Unwrap() error { return d.err }

// WithDetail returns err with the detail its problem shows instead of the
// table's: what the handler knows (the task's status, the route) in the
// same status and type.
func WithDetail(err error, detail string) error {
	if err == nil {
		return nil
	}
	return &detailed{err: err, detail: detail}
}

// Mapper turns errors into problems for one server, logging the internal
// ones. It is safe for concurrent use.
type Mapper struct {
	logger  *slog.Logger
	maxBody int64
}

// NewMapper returns a mapper that logs to logger; maxBody is the server's
// request body limit.
func NewMapper(logger *slog.Logger, maxBody int64) *Mapper {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Mapper{logger: logger, maxBody: maxBody}
}

// Problem returns the problem that answers err. An internal error is logged
// with the route, never shown.
func (m *Mapper) Problem(c echo.Context, err error) *Problem {
	p, internal := For(err, c.Request(), m.maxBody)
	if internal {
		m.logger.Error("request failed", "method", c.Request().Method, "route", c.Path(), "err", err)
	}
	return p
}

// WriteError answers with the problem of err, as the API does.
func (m *Mapper) WriteError(c echo.Context, err error) {
	if c.Response().Committed {
		return
	}
	Write(c, m.Problem(c, err))
}
