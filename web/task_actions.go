package web

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/boomerang-dev/boomerang/broker"
)

// listTasks handles GET /v1/tasks?status=&cursor=&limit=.
func (s *Server) listTasks(c echo.Context) error {
	q := broker.ListQuery{Status: broker.Status(c.QueryParam("status")), Cursor: c.QueryParam("cursor")}
	var errs []FieldError
	if q.Status != "" && !q.Status.Valid() {
		errs = append(errs, FieldError{Field: "status", Message: "must be one of pending, running, retrying, succeeded, failed, canceled"})
	}
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{"createdAfter", &q.CreatedAfter}, {"createdBefore", &q.CreatedBefore}} {
		if v := c.QueryParam(f.name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				errs = append(errs, FieldError{Field: f.name, Message: "must be an RFC 3339 time, like 2026-01-02T15:04:05Z"})
			}
			*f.dst = t
		}
	}
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 200 {
			errs = append(errs, FieldError{Field: "limit", Message: "must be an integer from 1 to 200"})
		}
		q.Limit = n
	}
	if len(errs) > 0 {
		return problemValidation(errs)
	}
	page, err := s.tasks.List(c.Request().Context(), principal(c).TenantID, q)
	if errors.Is(err, broker.ErrBadCursor) {
		return problemValidation([]FieldError{{Field: "cursor", Message: "is not a cursor from a previous page"}})
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, listBody{Items: page.Items, NextCursor: page.NextCursor})
}

type listBody struct {
	Items      []*broker.Task `json:"items"`
	NextCursor string         `json:"nextCursor,omitempty"`
}

// cancelTask handles DELETE /v1/tasks/:id.
func (s *Server) cancelTask(c echo.Context) error {
	id, err := taskParam(c)
	if err != nil {
		return err
	}
	task, err := s.tasks.Cancel(c.Request().Context(), principal(c).TenantID, id)
	if errors.Is(err, broker.ErrFinished) {
		return problemConflict("task-finished", "Task already finished",
			"The task has "+string(task.Status)+"; only unfinished tasks can be canceled.")
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, task)
}

// redeliverTask handles POST /v1/tasks/:id/redeliver.
func (s *Server) redeliverTask(c echo.Context) error {
	id, err := taskParam(c)
	if err != nil {
		return err
	}
	task, err := s.tasks.Redeliver(c.Request().Context(), principal(c).TenantID, id)
	switch {
	case errors.Is(err, broker.ErrNotFinished):
		return problemConflict("task-not-finished", "Task not finished",
			"The task is "+string(task.Status)+"; its webhook is sent when it finishes.")
	case errors.Is(err, broker.ErrNoWebhook):
		return problemConflict("no-webhook", "Nothing to redeliver",
			"The task has no webhookUrl, or was canceled and so has no result to send.")
	case err != nil:
		return err
	}
	return c.JSON(http.StatusAccepted, task)
}
