package dashboard

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/web/api"
	"github.com/boomerang-dev/boomerang/web/problem"
)

// newTaskForm is the form on /tasks/new, as typed.
type newTaskForm struct {
	TargetURL, Method, Headers, Payload, ContentType, WebhookURL, Retries, Timeout, Delay string
	FailureWebhookURL                                                                     string
	// OrderingKey, or the flow control's key, rate, period and
	// parallelism: the form sends the ones filled in, and the API's
	// validation refuses both together.
	OrderingKey, FlowKey, FlowRate, FlowPeriod, FlowParallelism string
	Errors                                                      map[string]string
	// Schedule: the fields are a schedule's task template, which has no
	// delay (each firing starts its task).
	Schedule bool
}

// NewTaskPage handles GET /tasks/new.
func (d *Dashboard) NewTaskPage(c echo.Context) error {
	return d.render(c, http.StatusOK, "newtask", view{Title: "New task", Nav: "new",
		Data: newTaskForm{Method: "POST", Retries: "3", Timeout: "30"}})
}

// CreateTask handles POST /tasks/new: the same validation as the
// API, errors shown next to their fields.
func (d *Dashboard) CreateTask(c echo.Context) error {
	form, req := readTaskForm(c)
	spec, errs := d.validator.Task(req, "")
	form.markErrors(errs)
	if len(form.Errors) > 0 {
		return d.render(c, http.StatusBadRequest, "newtask", view{Title: "New task", Nav: "new", Data: form,
			Error: "The task was not created: see the fields marked below."})
	}
	task, _, err := d.tasks.Create(c.Request().Context(), api.Principal(c).TenantID, spec, "")
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/tasks/"+task.ID+"?created=1")
}

// readTaskForm reads the task fields of a posted form (the new-task form,
// the new-schedule form) into a request for the API's validation; what
// the form itself finds wrong (a header line, JSON, a number) is in the
// form's Errors.
func readTaskForm(c echo.Context) (newTaskForm, api.TaskRequest) {
	form := newTaskForm{
		TargetURL: c.FormValue("targetUrl"), Method: c.FormValue("method"), Headers: c.FormValue("headers"),
		Payload: c.FormValue("payload"), ContentType: strings.TrimSpace(c.FormValue("contentType")),
		WebhookURL: c.FormValue("webhookUrl"), FailureWebhookURL: c.FormValue("failureWebhookUrl"), Retries: c.FormValue("retries"),
		Timeout: c.FormValue("timeout"), Delay: c.FormValue("delay"), Errors: map[string]string{},
	}
	req := api.TaskRequest{TargetURL: &form.TargetURL, Method: &form.Method, WebhookURL: &form.WebhookURL,
		FailureWebhookURL: &form.FailureWebhookURL}
	req.Headers = form.headers()
	form.payload(&req)
	form.number("retries", form.Retries, true, &req.Retries)
	form.number("timeout", form.Timeout, false, &req.Timeout)
	form.number("delay", form.Delay, false, &req.Delay)
	form.keys(c, &req)
	return form, req
}

// number reads a number field into dst (an **int when integer, a
// **float64 otherwise); an empty field leaves dst nil, and one that is
// not a number is marked on the form.
func (f *newTaskForm) number(field, text string, integer bool, dst any) {
	if strings.TrimSpace(text) == "" {
		return
	}
	n, err := strconv.ParseFloat(strings.TrimSpace(text), 64)
	if err != nil || (integer && n != float64(int(n))) {
		f.Errors[field] = "must be a number"
		return
	}
	switch p := dst.(type) {
	case **int:
		i := int(n)
		*p = &i
	case **float64:
		*p = &n
	}
}

// keys reads the ordering key and the flow control fields: each is sent
// when filled in (flow control when any of its fields is), so that the
// API's validation says what is missing or too much.
func (f *newTaskForm) keys(c echo.Context, req *api.TaskRequest) {
	f.OrderingKey, f.FlowKey = c.FormValue("orderingKey"), c.FormValue("flowControl.key")
	f.FlowRate, f.FlowPeriod = c.FormValue("flowControl.rate"), strings.TrimSpace(c.FormValue("flowControl.period"))
	f.FlowParallelism = c.FormValue("flowControl.parallelism")
	if f.OrderingKey != "" {
		req.OrderingKey = &f.OrderingKey
	}
	if f.FlowKey == "" && strings.TrimSpace(f.FlowRate+f.FlowPeriod+f.FlowParallelism) == "" {
		return
	}
	fc := &api.FlowControlRequest{}
	if f.FlowKey != "" {
		fc.Key = &f.FlowKey
	}
	if f.FlowPeriod != "" {
		fc.Period = &f.FlowPeriod
	}
	f.number("flowControl.rate", f.FlowRate, true, &fc.Rate)
	f.number("flowControl.parallelism", f.FlowParallelism, true, &fc.Parallelism)
	req.FlowControl = fc
}

// markErrors marks the validation's field errors on the form, each on its
// top-level field (a flow control's on its own), unless the form marked
// that field already.
func (f *newTaskForm) markErrors(errs []problem.FieldError) {
	for _, e := range errs {
		field, _, _ := strings.Cut(e.Field, ".")
		if strings.HasPrefix(e.Field, "flowControl.") {
			field = e.Field // key, rate, period, parallelism: each has its input
		}
		if _, taken := f.Errors[field]; !taken {
			f.Errors[field] = e.Message
		}
	}
}

// headers reads the headers field, one "Name: value" a line. A line that is
// not one, or a name given twice, is marked on the form.
func (f *newTaskForm) headers() map[string]string {
	h := map[string]string{}
	for i, line := range strings.Split(f.Headers, "\n") {
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		name = strings.TrimSpace(name)
		if _, dup := h[name]; dup && ok {
			f.Errors["headers"] = "line " + strconv.Itoa(i+1) + " repeats " + name + ": give each header once"
		}
		if !ok {
			f.Errors["headers"] = "line " + strconv.Itoa(i+1) + " is not “Name: value”"
			continue
		}
		h[name] = strings.TrimSpace(value)
	}
	return h
}

// payload reads the payload field: JSON, sent as typed; with a content
// type that is not JSON, text, sent as typed.
func (f *newTaskForm) payload(req *api.TaskRequest) {
	if f.ContentType != "" {
		req.ContentType = &f.ContentType
	}
	switch {
	case strings.TrimSpace(f.Payload) == "":
	case f.ContentType != "" && !broker.IsJSONContentType(f.ContentType):
		text, _ := json.Marshal(f.Payload) // a string always encodes; its text is the body
		req.Payload = text
	case !json.Valid([]byte(f.Payload)):
		f.Errors["payload"] = "is not valid JSON (give a content type such as text/plain to send text)"
	default:
		req.Payload = json.RawMessage(strings.TrimSpace(f.Payload))
	}
}
