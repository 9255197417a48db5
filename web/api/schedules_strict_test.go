package api_test

import (
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/internal/testenv"
	"github.com/boomerang-dev/boomerang/web/webtest"
)

// TestScheduleEveryShownCompactly: every is shown without zero units,
// in a form that reads back as the same interval.
func TestScheduleEveryShownCompactly(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{})
	c, _ := env.Tenant(t, "acme")
	for given, want := range map[string]string{"60m": "1h", "90s": "1m30s", "15m": "15m", "90m": "1h30m", "3600s": "1h"} {
		var sc scheduleJSON
		r := c.Do(t, http.MethodPost, "/v1/schedules", map[string]any{"every": given, "task": map[string]any{"targetUrl": "https://example.com/x"}})
		r.JSON(t, &sc)
		if r.Status != http.StatusCreated || sc.Every != want {
			t.Errorf("every %q: got %d %s, want every %q", given, r.Status, r.Body, want)
			continue
		}
		var got scheduleJSON
		c.Do(t, http.MethodGet, "/v1/schedules/"+sc.ID, nil).JSON(t, &got)
		if got.Every != want {
			t.Errorf("every %q: GET shows %q, want %q", given, got.Every, want)
		}
	}
}

// TestScheduleTemplateIsReadAsATask: the task template is decoded and
// checked as POST /v1/tasks decodes and checks a task, with the same
// errors, their fields prefixed task.; the schedule body's own members
// are held to exact names too.
func TestScheduleTemplateIsReadAsATask(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{})
	c, _ := env.Tenant(t, "acme")
	ok := `"targetUrl": "https://example.com/x"`
	for _, task := range []string{
		`{` + ok + `, "retires": 5, "webhookURL": "https://example.com/hook"}`,
		`{"TARGETURL": "https://example.com/x"}`,
		`{` + ok + `, "retries": 1, "retries": 2}`,
		`{` + ok + `, "headers": {"X-A": "1", "X-A": "2"}}`,
		`{` + ok + `, "flowControl": "p"}`,
		`{` + ok + `, "retries": "2"}`,
		`{` + ok + `, "payload": {"a": 1}, "payloadBase64": "YQ=="}`,
		`{` + ok + `, "flowControl": {"key": "a", "Rate": 1}}`,
		`{"targetUrl": "ftp://example.com/x", "timeout": -1}`,
	} {
		want := fieldErrors(t, c.Do(t, http.MethodPost, "/v1/tasks", task))
		got := fieldErrors(t, c.Do(t, http.MethodPost, "/v1/schedules", `{"every": "1h", "task": `+task+`}`))
		for i := range want {
			want[i] = "task." + want[i]
		}
		if len(want) == 0 || !slices.Equal(got, want) {
			t.Errorf("task %s: the schedule got %q, want %q (the task's)", task, got, want)
		}
	}
	for body, field := range map[string]string{
		`{"every": "1h", "Every": "2h", "task": {` + ok + `}}`:               "Every",
		`{"evry": "1h", "task": {` + ok + `}}`:                               "evry",
		`{"every": "1h", "task": {` + ok + `}, "task": {` + ok + `}}`:        "task",
		`{"every": "1h", "Task": {` + ok + `}}`:                              "Task",
		`{"every": "1h", "task": "https://example.com/x"}`:                   "task",
		`{"every": "1h", "task": {` + ok + `, "delay": 5}}`:                  "task",
		`{"every": "1h", "task": {` + ok + `, "payload": {"a": 1}, "x": 1}}`: "task.x",
	} {
		if got := fieldErrors(t, c.Do(t, http.MethodPost, "/v1/schedules", body)); len(got) == 0 || !strings.HasPrefix(got[0], field+" ") {
			t.Errorf("%s: got %q, want a 400 naming %s", body, got, field)
		}
	}
	var list struct{ Items []scheduleJSON }
	c.Do(t, http.MethodGet, "/v1/schedules", nil).JSON(t, &list)
	if len(list.Items) != 0 {
		t.Errorf("bad input made %d schedules", len(list.Items))
	}
}

// fieldErrors returns the "field: message" of a 400's errors, sorted; it
// fails the test for another status.
func fieldErrors(t *testing.T, r testenv.Response) []string {
	t.Helper()
	if r.Status != http.StatusBadRequest {
		t.Errorf("got %d %s, want 400", r.Status, r.Body)
		return nil
	}
	var p problemBody
	r.JSON(t, &p)
	var out []string
	for _, e := range p.Errors {
		out = append(out, e.Field+" "+e.Message)
	}
	slices.Sort(out)
	return out
}

// TestScheduleTemplatePayloadByteForByte: a schedule's firings send the
// template's payload to the target exactly as the create wrote it, also
// after a PATCH that leaves it alone.
func TestScheduleTemplatePayloadByteForByte(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{Workers: true})
	c, _ := env.Tenant(t, "acme")
	target := testenv.NewTarget(t, webtest.Answer(200))
	var sc scheduleJSON
	r := c.Do(t, http.MethodPost, "/v1/schedules", `{"every": "1h", "task": {"targetUrl": "`+target.URL+`", "retries": 0,
		"headers": {"X-A": "1", "X-B": "2"}, "payload": `+trickyPayload+`}}`)
	r.JSON(t, &sc)
	if r.Status != http.StatusCreated {
		t.Fatalf("create: got %d %s", r.Status, r.Body)
	}
	r = c.Do(t, http.MethodPatch, "/v1/schedules/"+sc.ID, `{"every": "1s", "task": {"retries": 1, "headers": {"X-B": null, "X-C": "3"}}}`)
	if r.Status != http.StatusOK {
		t.Fatalf("patch: got %d %s", r.Status, r.Body)
	}
	call := target.WaitCalls(t, 1, 30*time.Second)[0]
	c.Do(t, http.MethodDelete, "/v1/schedules/"+sc.ID, nil)
	if string(call.Body) != trickyPayload {
		t.Errorf("the target got %q, want %q", call.Body, trickyPayload)
	}
	if call.Header.Get("X-A") != "1" || call.Header.Get("X-C") != "3" || call.Header.Get("X-B") != "" {
		t.Errorf("the target got headers %v, want X-A: 1 and X-C: 3, no X-B", call.Header)
	}
}

// TestSchedulePatchMergesTheTemplate: PATCH's task is a JSON merge patch
// of the template as GET shows it; the result is checked as a new one.
func TestSchedulePatchMergesTheTemplate(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{})
	c, _ := env.Tenant(t, "acme")
	var sc struct {
		ID   string
		Task map[string]any
	}
	r := c.Do(t, http.MethodPost, "/v1/schedules", `{"every": "1h", "task": {"targetUrl": "https://example.com/x", "method": "PUT",
		"retries": 5, "webhookUrl": "https://example.com/hook", "headers": {"X-A": "1"}, "payload": {"a": 1, "b": 2},
		"flowControl": {"key": "k", "rate": 5}}}`)
	r.JSON(t, &sc)
	if r.Status != http.StatusCreated {
		t.Fatalf("create: got %d %s", r.Status, r.Body)
	}
	path := "/v1/schedules/" + sc.ID
	for _, tt := range []struct {
		patch string
		want  map[string]any // members of the template after the patch (nil: absent)
	}{
		{`{"retries": 2}`, map[string]any{"retries": 2.0, "method": "PUT", "targetUrl": "https://example.com/x",
			"webhookUrl": "https://example.com/hook", "headers": map[string]any{"X-A": "1"}, "payload": map[string]any{"a": 1.0, "b": 2.0}}},
		{`{"webhookUrl": null, "method": null}`, map[string]any{"webhookUrl": nil, "method": "POST", "retries": 2.0}},
		{`{"headers": {"X-A": null, "X-B": "2"}}`, map[string]any{"headers": map[string]any{"X-B": "2"}}},
		{`{"payload": {"c": 3}}`, map[string]any{"payload": map[string]any{"c": 3.0}}},
		{`{"flowControl": {"parallelism": 2}}`, map[string]any{"flowControl": map[string]any{"key": "k", "rate": 5.0, "period": "1s", "parallelism": 2.0}}},
		{`{"payload": null, "retries": null}`, map[string]any{"payload": nil, "retries": 3.0}},
	} {
		r := c.Do(t, http.MethodPatch, path, `{"task": `+tt.patch+`}`)
		var got struct{ Task map[string]any }
		r.JSON(t, &got)
		if r.Status != http.StatusOK {
			t.Fatalf("patch %s: got %d %s", tt.patch, r.Status, r.Body)
		}
		for name, want := range tt.want {
			if v, ok := got.Task[name]; (want == nil && ok) || (want != nil && !reflect.DeepEqual(v, want)) {
				t.Errorf("patch %s: task.%s is %v, want %v", tt.patch, name, v, want)
			}
		}
	}
	for patch, want := range map[string]string{
		`{"task": {"targetUrl": null}}`:          "task.targetUrl is required",
		`{"task": {"retires": 1}}`:               "task.retires unknown field",
		`{"task": {"retries": 1, "retries": 2}}`: "task.retries is given more than once in its object: send it once",
		`{"task": {"delay": 5}}`:                 "task may not have delay or notBefore: each firing starts its task",
		`{"task": {"flowControl": {"Rate": 1}}}`: "task.flowControl.Rate unknown field",
		`{"task": null}`:                         "task must be an object: a merge patch of the template (null removes a member, members left out stay)",
		`{"Task": {"retries": 1}}`:               "Task unknown field",
	} {
		if got := fieldErrors(t, c.Do(t, http.MethodPatch, path, patch)); len(got) == 0 || got[0] != want {
			t.Errorf("patch %s: got %q, want %q", patch, got, want)
		}
	}
}
