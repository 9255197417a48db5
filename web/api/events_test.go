package api_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/boomerang-dev/boomerang/web/problem"
	"github.com/boomerang-dev/boomerang/web/webtest"
)

// TestLastEventIDMustBeInTheStream: on every event stream, a Last-Event-ID
// (header or ?lastEventId=) that is not a number, or is beyond the stream's
// last event, is a 400 naming the field; the last event itself resumes.
func TestLastEventIDMustBeInTheStream(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{})
	client, creds := env.Tenant(t, "acme")
	var created struct{ ID, StatusToken string }
	r := client.Do(t, http.MethodPost, "/v1/tasks", map[string]any{"targetUrl": "http://127.0.0.1:1/", "delay": 3600})
	r.JSON(t, &created)
	version := func(id string) uint64 {
		etag := client.Do(t, http.MethodGet, "/v1/tasks/"+id, nil).Header.Get("ETag")
		n, err := strconv.ParseUint(strings.Trim(strings.TrimPrefix(etag, "W/"), `"`), 10, 64)
		if err != nil {
			t.Fatalf("ETag %q", etag)
		}
		return n
	}
	taskLast := version(created.ID)
	later := webtest.CreateTask(t, client, map[string]any{"targetUrl": "http://127.0.0.1:1/", "delay": 3600})
	tenantLast := version(later.ID)
	session, _ := env.SignIn(t, creds.APIKey)

	streams := []struct {
		name, path string
		headers    []string
		client     *http.Client
		last       uint64
	}{
		{"task events, key", "/v1/tasks/" + created.ID + "/events", []string{"Authorization", "Bearer " + client.Key}, nil, taskLast},
		{"task events, token", "/v1/tasks/" + created.ID + "/events?token=" + created.StatusToken, nil, nil, taskLast},
		{"tenant events", "/v1/events", []string{"Authorization", "Bearer " + client.Key}, nil, tenantLast},
		{"live", "/live", []string{"Accept", "text/event-stream"}, session, tenantLast},
	}
	for _, s := range streams {
		for _, field := range []string{"Last-Event-ID", "lastEventId"} {
			for _, v := range []string{"abc", "-1", "1.5", "", "99999999999999999999999", strconv.FormatUint(s.last+1, 10), strconv.FormatUint(s.last, 10)} {
				url, headers := env.URL+s.path, s.headers
				if field == "lastEventId" {
					url += sep(s.path) + "lastEventId=" + v
				} else {
					headers = append(append([]string(nil), headers...), field, v)
				}
				open := openSSE(t, s.client, url, headers...)
				if v == "" || v == strconv.FormatUint(s.last, 10) {
					if open.resp.StatusCode != http.StatusOK {
						t.Errorf("%s, %s %q: got %d %s, want the stream", s.name, field, v, open.resp.StatusCode, open.body())
					}
					open.close()
					continue
				}
				body := open.body()
				var p problem.Problem
				_ = json.Unmarshal(body, &p)
				if open.resp.StatusCode != http.StatusBadRequest || len(p.Errors) != 1 || p.Errors[0].Field != field {
					t.Errorf("%s, %s %q: got %d %s, want a 400 naming %s", s.name, field, v, open.resp.StatusCode, body, field)
				}
			}
		}
	}
	// The task's stream ends at the task's last event, not the tenant's.
	r = client.Do(t, http.MethodGet, "/v1/tasks/"+created.ID+"/events", nil, "Last-Event-ID", strconv.FormatUint(tenantLast, 10))
	if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "beyond") {
		t.Errorf("a later event of another task as the task's Last-Event-ID: got %d %s, want 400", r.Status, r.Body)
	}
	waitFor(t, "every stream closes", func() bool { return env.Server.OpenStreams() == 0 })
}
