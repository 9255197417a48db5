package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/boomerang-dev/boomerang/broker"
)

// taskFilter is the query of the tasks page, as the form sends it.
type taskFilter struct {
	Status  string
	Range   string // 1h, 24h, 7d, 30d or empty for all time
	Host    string
	Webhook string
	Query   string
}

var ranges = map[string]time.Duration{"1h": time.Hour, "24h": 24 * time.Hour, "7d": 7 * 24 * time.Hour, "30d": 30 * 24 * time.Hour}

func (f taskFilter) values() url.Values {
	v := url.Values{}
	for k, val := range map[string]string{"status": f.Status, "range": f.Range, "host": f.Host, "webhook": f.Webhook} {
		if val != "" {
			v.Set(k, val)
		}
	}
	return v
}

// Active reports whether any filter is set: live updates then leave the
// list alone, since a new task may not match.
func (f taskFilter) Active() bool {
	return f.Status != "" || f.Range != "" || f.Host != "" || f.Webhook != ""
}

type tasksData struct {
	Filter   taskFilter
	Items    []*broker.Task
	NextURL  string
	FirstURL string
	Paged    bool
}

// tasksPage handles GET /tasks: the tenant's tasks, newest first, filtered,
// searched by id or idempotency key, a page at a time.
func (s *Server) tasksPage(c echo.Context) error {
	f := taskFilter{Status: c.QueryParam("status"), Range: c.QueryParam("range"), Host: strings.TrimSpace(c.QueryParam("host")),
		Webhook: c.QueryParam("webhook"), Query: strings.TrimSpace(c.QueryParam("q"))}
	tenantID := principal(c).TenantID
	if f.Query != "" {
		task, err := s.tasks.Find(c.Request().Context(), tenantID, f.Query)
		if err == nil {
			return c.Redirect(http.StatusSeeOther, "/tasks/"+task.ID)
		}
		if !errors.Is(err, broker.ErrNotFound) {
			return err
		}
		return s.render(c, http.StatusOK, "tasks", view{Title: "Tasks", Nav: "tasks", Data: tasksData{Filter: f, Items: []*broker.Task{}},
			Error: "No task has the id or idempotency key “" + f.Query + "”."})
	}
	q := broker.ListQuery{Status: broker.Status(f.Status), Host: f.Host, Webhook: broker.WebhookStatus(f.Webhook), Cursor: c.QueryParam("cursor"), Limit: 50}
	var problems []string
	if q.Status != "" && !q.Status.Valid() {
		problems, q.Status, f.Status = append(problems, "unknown status"), "", ""
	}
	if d, ok := ranges[f.Range]; ok {
		q.CreatedAfter = s.now().Add(-d)
	} else {
		f.Range = ""
	}
	page, err := s.tasks.List(c.Request().Context(), tenantID, q)
	if errors.Is(err, broker.ErrBadCursor) {
		return c.Redirect(http.StatusSeeOther, "/tasks?"+f.values().Encode())
	}
	if err != nil {
		return err
	}
	data := tasksData{Filter: f, Items: page.Items, Paged: q.Cursor != "", FirstURL: "/tasks?" + f.values().Encode()}
	if page.NextCursor != "" {
		v := f.values()
		v.Set("cursor", page.NextCursor)
		data.NextURL = "/tasks?" + v.Encode()
	}
	v := view{Title: "Tasks", Nav: "tasks", Data: data}
	if len(problems) > 0 {
		v.Error = "Ignored: " + strings.Join(problems, ", ") + "."
	}
	return s.render(c, http.StatusOK, "tasks", v)
}

// taskRow handles GET /tasks/:id/row: one row of the list, for live updates.
func (s *Server) taskRow(c echo.Context) error {
	task, err := s.loadTask(c)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := s.dash.pages["tasks"].ExecuteTemplate(&buf, "task-row", rowData{Task: task, Now: s.now()}); err != nil {
		return err
	}
	return c.HTMLBlob(http.StatusOK, buf.Bytes())
}

type rowData struct {
	Task *broker.Task
	Now  time.Time
}

// newTaskForm is the form on /tasks/new, as typed.
type newTaskForm struct {
	TargetURL, Method, Headers, Payload, WebhookURL, Retries, Timeout, Delay string
	Errors                                                                   map[string]string
}

// newTaskPage handles GET /tasks/new.
func (s *Server) newTaskPage(c echo.Context) error {
	return s.render(c, http.StatusOK, "newtask", view{Title: "New task", Nav: "new",
		Data: newTaskForm{Method: "POST", Retries: "3", Timeout: "30"}})
}

// createTaskFromForm handles POST /tasks/new: the same validation as the
// API, errors shown next to their fields.
func (s *Server) createTaskFromForm(c echo.Context) error {
	form := newTaskForm{
		TargetURL: c.FormValue("targetUrl"), Method: c.FormValue("method"), Headers: c.FormValue("headers"),
		Payload: c.FormValue("payload"), WebhookURL: c.FormValue("webhookUrl"), Retries: c.FormValue("retries"),
		Timeout: c.FormValue("timeout"), Delay: c.FormValue("delay"), Errors: map[string]string{},
	}
	req := createTaskRequest{TargetURL: &form.TargetURL, Method: &form.Method, WebhookURL: &form.WebhookURL, Headers: map[string]string{}}
	for i, line := range strings.Split(form.Headers, "\n") {
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			form.Errors["headers"] = "line " + strconv.Itoa(i+1) + " is not “Name: value”"
			continue
		}
		req.Headers[strings.TrimSpace(name)] = strings.TrimSpace(value)
	}
	if p := strings.TrimSpace(form.Payload); p != "" {
		if !json.Valid([]byte(p)) {
			form.Errors["payload"] = "is not valid JSON"
		} else {
			req.Payload = json.RawMessage(p)
		}
	}
	number := func(field, text string, integer bool, dst any) {
		if strings.TrimSpace(text) == "" {
			return
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(text), 64)
		if err != nil || (integer && f != float64(int(f))) {
			form.Errors[field] = "must be a number"
			return
		}
		switch d := dst.(type) {
		case **int:
			n := int(f)
			*d = &n
		case **float64:
			*d = &f
		}
	}
	number("retries", form.Retries, true, &req.Retries)
	number("timeout", form.Timeout, false, &req.Timeout)
	number("delay", form.Delay, false, &req.Delay)
	spec, errs := s.validateTask(req, "")
	for _, e := range errs {
		field, _, _ := strings.Cut(e.Field, ".")
		if _, taken := form.Errors[field]; !taken {
			form.Errors[field] = e.Message
		}
	}
	if len(form.Errors) > 0 {
		return s.render(c, http.StatusBadRequest, "newtask", view{Title: "New task", Nav: "new", Data: form,
			Error: "The task was not created: see the fields marked below."})
	}
	task, _, err := s.tasks.Create(c.Request().Context(), principal(c).TenantID, spec, "")
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/tasks/"+task.ID+"?created=1")
}
