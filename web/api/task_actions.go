package api

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/web/problem"
)

// CancelTask handles DELETE /v1/tasks/:id.
func (a *API) CancelTask(c echo.Context) error {
	if err := checkQuery(c); err != nil {
		return err
	}
	id, err := TaskParam(c)
	if err != nil {
		return err
	}
	task, err := a.tasks.Cancel(c.Request().Context(), Principal(c).TenantID, id)
	if errors.Is(err, broker.ErrFinished) {
		return problem.WithDetail(err, "The task has "+string(task.Status)+"; only unfinished tasks can be canceled.")
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, task)
}

// RedeliverTask handles POST /v1/tasks/:id/redeliver.
func (a *API) RedeliverTask(c echo.Context) error {
	if err := checkQuery(c); err != nil {
		return err
	}
	id, err := TaskParam(c)
	if err != nil {
		return err
	}
	task, err := a.tasks.Redeliver(c.Request().Context(), Principal(c).TenantID, id)
	switch {
	case errors.Is(err, broker.ErrNotFinished):
		return problem.WithDetail(err, "The task is "+string(task.Status)+"; its webhook is sent when it finishes.")
	case err != nil:
		return err
	}
	return c.JSON(http.StatusAccepted, task)
}
