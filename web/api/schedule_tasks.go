package api

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/web/problem"
)

// defaultScheduleTasks is how many tasks GET /v1/schedules/{id}/tasks
// returns without a limit.
const defaultScheduleTasks = 20

// ScheduleTasks handles GET /v1/schedules/:id/tasks?limit=: the tasks of
// the schedule's latest firings, latest first (at most limit, 1 to 200,
// default 20), as this node's view holds them once caught up. A deleted
// schedule's tasks stay, and are listed while any is kept; a schedule
// neither kept nor with a task kept is a 404.
func (a *API) ScheduleTasks(c echo.Context) error {
	if err := checkQuery(c, "limit"); err != nil {
		return err
	}
	limit := defaultScheduleTasks
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 200 {
			return problem.Invalid(problem.FieldError{Field: "limit", Message: "must be an integer from 1 to 200"})
		}
		limit = n
	}
	_, err := a.schedules.Get(c.Request().Context(), Principal(c).TenantID, c.Param("id"))
	gone := errors.Is(err, broker.ErrScheduleNotFound) && broker.ValidScheduleID(c.Param("id"))
	if err != nil && !gone {
		return a.scheduleError(err)
	}
	tasks, err := a.tasks.ScheduleTasks(c.Request().Context(), Principal(c).TenantID, c.Param("id"), limit)
	if err != nil {
		return err
	}
	if gone && len(tasks) == 0 {
		return problem.NotFound.New(noSuchSchedule)
	}
	return c.JSON(http.StatusOK, listBody{Items: tasks})
}
