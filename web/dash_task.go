package web

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/boomerang-dev/boomerang/broker"
)

type taskData struct {
	Task    *broker.Task
	Curl    string
	CanStop bool
	CanSend bool
}

// taskPage handles GET /tasks/:id: the request, every attempt and delivery,
// and the actions.
func (s *Server) taskPage(c echo.Context) error {
	return s.renderTask(c, http.StatusOK, flashFor(c.QueryParam("created"), c.QueryParam("done")), "")
}

func flashFor(created, done string) string {
	switch {
	case created != "":
		return "Task created."
	case done == "canceled":
		return "Task canceled."
	case done == "redeliver":
		return "Webhook redelivery on its way."
	}
	return ""
}

func (s *Server) renderTask(c echo.Context, status int, flash, problemText string) error {
	task, err := s.loadTask(c)
	if err != nil {
		return err // an unknown task: handleError renders the 404 page
	}
	data := taskData{
		Task: task, Curl: curlCommand(task, c.Scheme()+"://"+c.Request().Host),
		CanStop: !task.Status.Finished(),
		CanSend: task.Status.Finished() && task.Status != broker.StatusCanceled && task.Webhook != nil,
	}
	return s.render(c, status, "task", view{Title: "Task " + task.ID, Nav: "tasks", Data: data, Flash: flash, Error: problemText})
}

// cancelFromDashboard handles POST /tasks/:id/cancel.
func (s *Server) cancelFromDashboard(c echo.Context) error {
	id, err := taskParam(c)
	if err != nil {
		return err
	}
	_, err = s.tasks.Cancel(c.Request().Context(), principal(c).TenantID, id)
	if errors.Is(err, broker.ErrFinished) {
		return s.renderTask(c, http.StatusConflict, "", "The task finished before it could be canceled.")
	}
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/tasks/"+id+"?done=canceled")
}

// redeliverFromDashboard handles POST /tasks/:id/redeliver.
func (s *Server) redeliverFromDashboard(c echo.Context) error {
	id, err := taskParam(c)
	if err != nil {
		return err
	}
	_, err = s.tasks.Redeliver(c.Request().Context(), principal(c).TenantID, id)
	if errors.Is(err, broker.ErrNotFinished) || errors.Is(err, broker.ErrNoWebhook) {
		return s.renderTask(c, http.StatusConflict, "", "This task has no webhook to send (yet).")
	}
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/tasks/"+id+"?done=redeliver")
}
