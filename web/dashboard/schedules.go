package dashboard

import (
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/web/api"
	"github.com/boomerang-dev/boomerang/web/problem"
)

// The schedules pages: the list, a schedule with its latest tasks, its
// pause, resume and delete buttons (POSTs with the CSRF token), and the
// form that creates one (schedule_new.go). A schedule's state is read
// from the schedules stream, its tasks from the view.

// recentFirings is how many of a schedule's latest tasks its page shows.
const recentFirings = 20

// scheduleView is a schedule as the pages show it.
type scheduleView struct {
	*broker.Schedule
	// Last is the task of its latest firing that the view holds; nil
	// before the first.
	Last *broker.Task
}

// Timing says when the schedule fires: "every 15m0s", or its cron
// pattern and time zone.
func (s scheduleView) Timing() string {
	if s.Every > 0 {
		return "every " + api.EveryString(s.Every)
	}
	tz := s.Timezone
	if tz == "" {
		tz = "UTC"
	}
	return s.Cron + " (" + tz + ")"
}

// Changed reports whether the schedule was changed since it was made.
func (s scheduleView) Changed() bool { return !s.UpdatedAt.Equal(s.CreatedAt) }

type schedulesData struct {
	Items []scheduleView
}

type scheduleData struct {
	scheduleView
	Firings []firingRow
}

// firingRow is a task a schedule's firing made, with how late it came.
type firingRow struct {
	*broker.Task
	Late string // how long after its firing time it was created
}

// errNoSchedules is the answer of the pages on a node without schedules.
var errNoSchedules = problem.NotFound.New("Schedules are not available on this server.")

// SchedulesPage handles GET /schedules: the tenant's schedules, oldest
// first, with their next and last firings.
func (d *Dashboard) SchedulesPage(c echo.Context) error {
	if d.schedules == nil {
		return errNoSchedules
	}
	ctx, tenantID := c.Request().Context(), api.Principal(c).TenantID
	list, err := d.schedules.List(ctx, tenantID)
	if err != nil {
		return err
	}
	ids := make([]string, len(list))
	for i := range list {
		ids[i] = list[i].ID
	}
	last, err := d.tasks.LatestFirings(ctx, tenantID, ids)
	if err != nil {
		return err
	}
	data := schedulesData{Items: make([]scheduleView, 0, len(list))}
	for i := range list {
		data.Items = append(data.Items, scheduleView{Schedule: &list[i], Last: last[list[i].ID]})
	}
	return d.render(c, http.StatusOK, "schedules", view{Title: "Schedules", Nav: "schedules", Data: data,
		Flash: scheduleFlash(c.QueryParam("done"))})
}

// SchedulePage handles GET /schedules/:id: the schedule, its latest
// tasks, and its buttons.
func (d *Dashboard) SchedulePage(c echo.Context) error {
	sc, err := d.loadSchedule(c)
	if err != nil {
		return err
	}
	tasks, err := d.tasks.ScheduleTasks(c.Request().Context(), api.Principal(c).TenantID, sc.ID, recentFirings)
	if err != nil {
		return err
	}
	data := scheduleData{scheduleView: scheduleView{Schedule: sc}}
	for _, t := range tasks {
		data.Firings = append(data.Firings, firingRow{Task: t, Late: lateness(t)})
	}
	if len(tasks) > 0 {
		data.Last = tasks[0]
	}
	return d.render(c, http.StatusOK, "schedule", view{Title: "Schedule " + sc.ID, Nav: "schedules", Data: data,
		Flash: scheduleFlash(c.QueryParam("done"))})
}

// PauseSchedule handles POST /schedules/:id/pause.
func (d *Dashboard) PauseSchedule(c echo.Context) error {
	return d.changeSchedule(c, "paused", func(s *broker.Schedules, c echo.Context, tenantID, id string) error {
		_, err := s.Pause(c.Request().Context(), tenantID, id)
		return err
	})
}

// ResumeSchedule handles POST /schedules/:id/resume.
func (d *Dashboard) ResumeSchedule(c echo.Context) error {
	return d.changeSchedule(c, "resumed", func(s *broker.Schedules, c echo.Context, tenantID, id string) error {
		_, err := s.Resume(c.Request().Context(), tenantID, id)
		return err
	})
}

// DeleteSchedule handles POST /schedules/:id/delete; the browser goes
// back to the list.
func (d *Dashboard) DeleteSchedule(c echo.Context) error {
	return d.changeSchedule(c, "deleted", func(s *broker.Schedules, c echo.Context, tenantID, id string) error {
		return s.Delete(c.Request().Context(), tenantID, id)
	})
}

// changeSchedule applies op to the schedule the :id parameter names and
// sends the browser to its page (to the list once deleted), saying done.
func (d *Dashboard) changeSchedule(c echo.Context, done string, op func(*broker.Schedules, echo.Context, string, string) error) error {
	if d.schedules == nil {
		return errNoSchedules
	}
	id := c.Param("id")
	if err := scheduleError(op(d.schedules, c, api.Principal(c).TenantID, id)); err != nil {
		return err
	}
	if done == "deleted" {
		return c.Redirect(http.StatusSeeOther, "/schedules?done=deleted")
	}
	return c.Redirect(http.StatusSeeOther, "/schedules/"+id+"?done="+done)
}

// loadSchedule returns the schedule the :id parameter names.
func (d *Dashboard) loadSchedule(c echo.Context) (*broker.Schedule, error) {
	if d.schedules == nil {
		return nil, errNoSchedules
	}
	sc, err := d.schedules.Get(c.Request().Context(), api.Principal(c).TenantID, c.Param("id"))
	return sc, scheduleError(err)
}

// scheduleError gives an unknown schedule (or another tenant's) its 404.
func scheduleError(err error) error {
	if errors.Is(err, broker.ErrScheduleNotFound) {
		return problem.NotFound.New("No such schedule.")
	}
	return err
}

func scheduleFlash(done string) string {
	switch done {
	case "created":
		return "Schedule created."
	case "paused":
		return "Schedule paused: it fires no more until resumed."
	case "resumed":
		return "Schedule resumed: it fires from its next time; missed firings are not made up."
	case "deleted":
		return "Schedule deleted. The tasks it made stay."
	}
	return ""
}

// lateness says how long after its firing time a task was created.
func lateness(t *broker.Task) string {
	if t.FiringAt == nil {
		return ""
	}
	return fmtMs(float64(t.CreatedAt.Sub(*t.FiringAt)) / float64(time.Millisecond))
}
