package dashboard

import (
	"bytes"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/boomerang-dev/boomerang/web/api"

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

// TasksPage handles GET /tasks: the tenant's tasks, newest first, filtered,
// searched by id or idempotency key, a page at a time.
func (d *Dashboard) TasksPage(c echo.Context) error {
	f := taskFilter{Status: c.QueryParam("status"), Range: c.QueryParam("range"), Host: strings.TrimSpace(c.QueryParam("host")),
		Webhook: c.QueryParam("webhook"), Query: strings.TrimSpace(c.QueryParam("q"))}
	tenantID := api.Principal(c).TenantID
	if f.Query != "" {
		task, err := d.tasks.Find(c.Request().Context(), tenantID, f.Query)
		if err == nil {
			return c.Redirect(http.StatusSeeOther, "/tasks/"+task.ID)
		}
		if !errors.Is(err, broker.ErrNotFound) {
			return err
		}
		return d.render(c, http.StatusOK, "tasks", view{Title: "Tasks", Nav: "tasks", Data: tasksData{Filter: f, Items: []*broker.Task{}},
			Error: "No task has the id or idempotency key “" + f.Query + "”."})
	}
	q := broker.ListQuery{Status: broker.Status(f.Status), Host: f.Host, Webhook: broker.WebhookStatus(f.Webhook), Cursor: c.QueryParam("cursor"), Limit: 50}
	var problems []string
	if q.Status != "" && !q.Status.Valid() {
		problems, q.Status, f.Status = append(problems, "unknown status"), "", ""
	}
	if span, ok := ranges[f.Range]; ok {
		q.CreatedAfter = d.now().Add(-span)
	} else {
		f.Range = ""
	}
	liveFrom, err := d.tasks.LastTenantEvent(c.Request().Context(), tenantID) // before the list: see view.LiveFrom
	if err != nil {
		return err
	}
	page, err := d.tasks.List(c.Request().Context(), tenantID, q)
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
	v := view{Title: "Tasks", Nav: "tasks", Data: data, LiveFrom: liveFrom}
	if len(problems) > 0 {
		v.Error = "Ignored: " + strings.Join(problems, ", ") + "."
	}
	return d.render(c, http.StatusOK, "tasks", v)
}

// TaskRow handles GET /tasks/:id/row: one row of the list, for live updates.
func (d *Dashboard) TaskRow(c echo.Context) error {
	task, err := api.LoadTask(c, d.tasks)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := d.pages["tasks"].ExecuteTemplate(&buf, "task-row", rowData{Task: task, Now: d.now()}); err != nil {
		return err
	}
	return c.HTMLBlob(http.StatusOK, buf.Bytes())
}

type rowData struct {
	Task *broker.Task
	Now  time.Time
}
