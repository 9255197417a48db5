package api

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/boomerang-dev/boomerang/web/problem"
)

// defaultScheduleTasks is how many tasks GET /v1/schedules/{id}/tasks
// returns without a limit.
const defaultScheduleTasks = 20

// ScheduleTasks handles GET /v1/schedules/:id/tasks?limit=: the tasks of
// the schedule's latest firings, latest first (at most limit, 1 to 200,
// default 20), as this node's view holds them once caught up. An unknown
// schedule is a 404; a deleted one's tasks stay in the task list.
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
	sc, err := a.loadSchedule(c)
	if err != nil {
		return err
	}
	tasks, err := a.tasks.ScheduleTasks(c.Request().Context(), Principal(c).TenantID, sc.ID, limit)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, listBody{Items: tasks})
}
