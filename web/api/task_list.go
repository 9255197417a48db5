package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/web/problem"
)

// ListTasks handles GET /v1/tasks?status=&cursor=&limit=.
func (a *API) ListTasks(c echo.Context) error {
	if err := checkQuery(c, "status", "createdAfter", "createdBefore", "cursor", "limit"); err != nil {
		return err
	}
	q := broker.ListQuery{Status: broker.Status(c.QueryParam("status")), Cursor: c.QueryParam("cursor")}
	var errs []problem.FieldError
	if q.Status != "" && !q.Status.Valid() {
		errs = append(errs, problem.FieldError{Field: "status", Message: "must be one of pending, running, retrying, succeeded, failed, canceled"})
	}
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{"createdAfter", &q.CreatedAfter}, {"createdBefore", &q.CreatedBefore}} {
		if v := c.QueryParam(f.name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				errs = append(errs, problem.FieldError{Field: f.name, Message: "must be an RFC 3339 time, like 2026-01-02T15:04:05Z"})
			}
			*f.dst = t
		}
	}
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
