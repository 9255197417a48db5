package api

import (
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/web/problem"
)

// taskFilter is what selects tasks, in the list (GET /v1/tasks, as query
// parameters) and in bulk redelivery (POST /v1/webhooks/redeliver, as body
// members): the dashboard's filters — status, webhook state, target host,
// a creation time range — and its search by idempotency key, all of them
// together (a task must meet each one given). An empty value is no filter.
type taskFilter struct {
	Status         string `json:"status"`
	Webhook        string `json:"webhook"`
	Host           string `json:"host"`
	CreatedAfter   string `json:"createdAfter"`
	CreatedBefore  string `json:"createdBefore"`
	IdempotencyKey string `json:"idempotencyKey"`
}

// filterParams are the query parameters of taskFilter.
var filterParams = []string{"status", "webhook", "host", "createdAfter", "createdBefore", "idempotencyKey"}

// filterOf reads a taskFilter from the query string.
func filterOf(c echo.Context) taskFilter {
	return taskFilter{Status: c.QueryParam("status"), Webhook: c.QueryParam("webhook"), Host: c.QueryParam("host"),
		CreatedAfter: c.QueryParam("createdAfter"), CreatedBefore: c.QueryParam("createdBefore"),
		IdempotencyKey: c.QueryParam("idempotencyKey")}
}

// query checks the filter and returns it as a list query, or the fields
// at fault.
func (f taskFilter) query() (broker.ListQuery, []problem.FieldError) {
	q := broker.ListQuery{Status: broker.Status(f.Status), Webhook: broker.WebhookStatus(f.Webhook), Host: f.Host, IdempotencyKey: f.IdempotencyKey}
	var errs []problem.FieldError
	if q.Status != "" && !q.Status.Valid() {
		errs = append(errs, problem.FieldError{Field: "status", Message: "must be one of pending, running, retrying, succeeded, failed, canceled"})
	}
	switch q.Webhook {
	case "", broker.WebhookPending, broker.WebhookRetrying, broker.WebhookDelivered, broker.WebhookDead:
	default:
		errs = append(errs, problem.FieldError{Field: "webhook", Message: "must be one of pending, retrying, delivered, dead"})
	}
	if len(f.Host) > 253 || !utf8.ValidString(f.Host) {
		errs = append(errs, problem.FieldError{Field: "host", Message: "must be a host name of at most 253 characters"})
	}
	if len(f.IdempotencyKey) > 255 {
		errs = append(errs, problem.FieldError{Field: "idempotencyKey", Message: "must be at most 255 characters"})
	}
	for _, t := range []struct {
		name, value string
		dst         *time.Time
	}{{"createdAfter", f.CreatedAfter, &q.CreatedAfter}, {"createdBefore", f.CreatedBefore, &q.CreatedBefore}} {
		if t.value == "" {
			continue
		}
		v, err := time.Parse(time.RFC3339Nano, t.value)
		if err != nil {
			errs = append(errs, problem.FieldError{Field: t.name, Message: "must be an RFC 3339 time, like 2026-01-02T15:04:05Z"})
		}
		*t.dst = v
	}
	return q, errs
}

// ListTasks handles GET /v1/tasks: the tenant's tasks, newest first, a page
// at a time, filtered as taskFilter says.
func (a *API) ListTasks(c echo.Context) error {
	if err := checkQuery(c, append(filterParams, "cursor", "limit")...); err != nil {
		return err
	}
	q, errs := filterOf(c).query()
	q.Cursor = c.QueryParam("cursor")
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 200 {
			errs = append(errs, problem.FieldError{Field: "limit", Message: "must be an integer from 1 to 200"})
		}
		q.Limit = n
	}
	if len(errs) > 0 {
		return problem.Invalid(errs...)
	}
	page, err := a.tasks.List(c.Request().Context(), Principal(c).TenantID, q)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, listBody{Items: page.Items, NextCursor: page.NextCursor})
}

type listBody struct {
	Items      []*broker.Task `json:"items"`
	NextCursor string         `json:"nextCursor,omitempty"`
}
