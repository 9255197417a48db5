package dashboard

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/web/api"
)

// newScheduleForm is the form on /schedules/new, as typed: the timing
// (Kind "cron" or "every") and the task template.
type newScheduleForm struct {
	Kind, Cron, Timezone, Every string
	Task                        newTaskForm
}

// NewSchedulePage handles GET /schedules/new.
func (d *Dashboard) NewSchedulePage(c echo.Context) error {
	if d.schedules == nil {
		return errNoSchedules
	}
	form := newScheduleForm{Kind: "cron", Task: newTaskForm{Method: "POST", Retries: "3", Timeout: "30", Schedule: true}}
	return d.render(c, http.StatusOK, "newschedule", view{Title: "New schedule", Nav: "schedules", Data: form})
}

// CreateSchedule handles POST /schedules/new: the API's validation of the
// timing and the template, errors shown next to their fields.
func (d *Dashboard) CreateSchedule(c echo.Context) error {
	if d.schedules == nil {
		return errNoSchedules
	}
	form := newScheduleForm{Kind: c.FormValue("kind"), Cron: strings.TrimSpace(c.FormValue("cron")),
		Timezone: strings.TrimSpace(c.FormValue("timezone")), Every: strings.TrimSpace(c.FormValue("every"))}
	var req api.TaskRequest
	form.Task, req = readTaskForm(c)
	form.Task.Schedule, req.Delay = true, nil
	timing := form.timing()
	spec, errs := d.validator.Task(req, "")
	form.Task.markErrors(errs)
	if len(form.Task.Errors) > 0 {
		return d.render(c, http.StatusBadRequest, "newschedule", view{Title: "New schedule", Nav: "schedules", Data: form,
			Error: "The schedule was not created: see the fields marked below."})
	}
	sc, err := d.schedules.Create(c.Request().Context(), api.Principal(c).TenantID, timing, spec)
	if errors.Is(err, broker.ErrTooManySchedules) {
		return d.render(c, http.StatusConflict, "newschedule", view{Title: "New schedule", Nav: "schedules", Data: form,
			Error: "This tenant keeps as many schedules as it may: delete one first."})
	}
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/schedules/"+sc.ID+"?done=created")
}

// timing reads the timing fields, marking what is wrong with them on the
// form (under "cron", "timezone" or "every").
func (f *newScheduleForm) timing() broker.ScheduleTiming {
	var t broker.ScheduleTiming
	switch f.Kind {
	case "every":
		d, err := time.ParseDuration(f.Every)
		if err != nil {
			f.Task.Errors["every"] = "must be a duration, like 90s, 15m or 1h30m"
			return t
		}
		t.Every = d
	default:
		f.Kind = "cron"
		t.Cron, t.Timezone = f.Cron, f.Timezone
	}
	var te *broker.TimingError
	if errors.As(t.Validate(), &te) {
		f.Task.Errors[te.Field] = te.Message
	}
	return t
}
