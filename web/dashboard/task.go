package dashboard

import (
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/web/api"
	"github.com/boomerang-dev/boomerang/web/problem"
)

type taskData struct {
	Task    *broker.Task
	Curl    string
	CanStop bool
	CanSend bool
	// KeyWait is the state of the key the unfinished task waits for or
	// holds (nil: none to show).
	KeyWait *keyWait
}

// TaskPage handles GET /tasks/:id: the request, every attempt and delivery,
// and the actions.
func (d *Dashboard) TaskPage(c echo.Context) error {
	return d.renderTask(c, http.StatusOK, flashFor(c.QueryParam("created"), c.QueryParam("done")), "")
}

func flashFor(created, done string) string {
	switch {
	case created != "":
		return "Task created."
	case done == "canceled":
		return "Task canceled."
	case done == "redeliver":
		return "Webhook redelivery on its way."
	case done == "replay":
		return "Task replayed: this is the new task, with the same request."
	}
	return ""
}

func (d *Dashboard) renderTask(c echo.Context, status int, flash, problemText string) error {
	liveFrom, err := d.tasks.LastTenantEvent(c.Request().Context(), api.Principal(c).TenantID) // before the task: see view.LiveFrom
	if err != nil {
		return err
	}
	task, err := api.LoadTask(c, d.tasks)
	if err != nil {
		return err // an unknown task: WriteError renders the 404 page
	}
	data := taskData{
		Task: task, Curl: curlCommand(task, d.baseURL(c)),
		KeyWait: d.taskKeyWait(c.Request().Context(), api.Principal(c).TenantID, task),
		CanStop: !task.Status.Finished(),
		CanSend: task.Status.Finished() && task.Status != broker.StatusCanceled && task.Webhook != nil,
	}
	return d.render(c, status, "task", view{Title: "Task " + task.ID, Nav: "tasks", Data: data, Flash: flash, Error: problemText, LiveFrom: liveFrom})
}

// CancelTask handles POST /tasks/:id/cancel.
func (d *Dashboard) CancelTask(c echo.Context) error {
	id, err := api.TaskParam(c)
	if err != nil {
		return err
	}
	_, err = d.tasks.Cancel(c.Request().Context(), api.Principal(c).TenantID, id)
	if errors.Is(err, broker.ErrFinished) {
		return d.renderTask(c, d.problems.Problem(c, err).Status, "", "The task finished before it could be canceled.")
	}
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/tasks/"+id+"?done=canceled")
}

// RedeliverTask handles POST /tasks/:id/redeliver.
func (d *Dashboard) RedeliverTask(c echo.Context) error {
	id, err := api.TaskParam(c)
	if err != nil {
		return err
	}
	_, err = d.tasks.Redeliver(c.Request().Context(), api.Principal(c).TenantID, id)
	if errors.Is(err, broker.ErrNotFinished) || errors.Is(err, broker.ErrNoWebhook) {
		return d.renderTask(c, d.problems.Problem(c, err).Status, "", "This task has no webhook to send (yet).")
	}
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/tasks/"+id+"?done=redeliver")
}

// baseURL is the node's base URL as users reach it: the public URL when
// there is one, the request's own otherwise.
func (d *Dashboard) baseURL(c echo.Context) string {
	if d.publicURL != nil {
		return strings.TrimSuffix(d.publicURL.String(), "/")
	}
	return c.Scheme() + "://" + c.Request().Host
}

// ReplayTask handles POST /tasks/:id/replay: a new task with the same
// request, linked to this one both ways; the browser goes to the new
// task's page. A URL the network guard now refuses is shown on this page.
func (d *Dashboard) ReplayTask(c echo.Context) error {
	task, err := api.ReplayParam(c, d.tasks, d.validator)
	var p *problem.Problem
	if errors.As(err, &p) && p.Status == http.StatusBadRequest {
		return d.renderTask(c, p.Status, "", "This task cannot be replayed: "+fieldErrorsText(p)+".")
	}
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/tasks/"+task.ID+"?done=replay")
}

// fieldErrorsText joins a problem's field errors as "field message".
func fieldErrorsText(p *problem.Problem) string {
	parts := make([]string, len(p.Errors))
	for i, e := range p.Errors {
		parts[i] = e.Field + " " + e.Message
	}
	return strings.Join(parts, "; ")
}
