package api

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/web/problem"
)

// ReplayTask handles POST /v1/tasks/:id/replay: a new task with the same
// request, answered as a create is (202, Location, status token), whose
// replayOf names the original; the original lists it in its replays.
func (a *API) ReplayTask(c echo.Context) error {
	if err := checkQuery(c); err != nil {
		return err
	}
	task, err := ReplayParam(c, a.tasks, a.validator)
	if err != nil {
		return err
	}
	return a.createdResponse(c, http.StatusAccepted, task)
}

// ReplayParam replays the task named by the :id parameter, of the tenant
// the request acts for, checking its URLs again with v: a 404 for an
// unknown task, a 400 naming the URL the guard now refuses, with nothing
// created.
func ReplayParam(c echo.Context, tasks *broker.Tasks, v *Validator) (*broker.Task, error) {
	id, err := TaskParam(c)
	if err != nil {
		return nil, err
	}
	task, err := tasks.Replay(c.Request().Context(), Principal(c).TenantID, id, v.Recheck)
	if errors.Is(err, broker.ErrNotFound) {
		return nil, problem.WithDetail(err, noSuchTask)
	}
	return task, err
}

// Recheck checks a stored spec's URLs as a create would (their form, then
// the network guard): for a replay of a task created under other settings.
// The error is a validation problem naming each URL at fault.
func (v *Validator) Recheck(spec broker.Spec) error {
	var errs []problem.FieldError
	for _, u := range []struct{ field, value string }{{"targetUrl", spec.TargetURL}, {"webhookUrl", spec.WebhookURL},
		{"failureWebhookUrl", spec.FailureWebhookURL}} {
		if u.value == "" {
			continue
		}
		if msg := v.checkTaskURL(u.value); msg != "" {
			errs = append(errs, problem.FieldError{Field: u.field, Message: "(the original task's) " + msg})
		}
	}
	if len(errs) > 0 {
		return problem.Invalid(errs...)
	}
	return nil
}
