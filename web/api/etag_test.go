package api_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/boomerang-dev/boomerang/internal/testenv"
	"github.com/boomerang-dev/boomerang/web/webtest"
)

// TestTaskReadAnswers304ToItsVersion: a task read whose If-None-Match names
// the task's current version (weakly: with or without W/, in a list, or *)
// answers 304 with the ETag and no body, to an API key and to a status
// token alike, at once or at a long-poll's end; any other version answers
// 200 with the task.
func TestTaskReadAnswers304ToItsVersion(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{})
	client, _ := env.Tenant(t, "acme")
	var created struct{ ID, StatusToken string }
	r := client.Do(t, http.MethodPost, "/v1/tasks", map[string]any{"targetUrl": "http://127.0.0.1:1/", "delay": 3600})
	r.JSON(t, &created)
	path := "/v1/tasks/" + created.ID
	r = client.Do(t, http.MethodGet, path, nil)
	tag := r.Header.Get("ETag")
	if r.Status != http.StatusOK || !strings.HasPrefix(tag, `W/"`) {
		t.Fatalf("GET %s: got %d with ETag %q, want 200 with a weak ETag", path, r.Status, tag)
	}
	strong := strings.TrimPrefix(tag, "W/")
	token := env.Client(t, created.StatusToken)
	anon := env.Client(t, "")
	byToken := path + "?token=" + url.QueryEscape(created.StatusToken)
	for _, c := range []struct {
		name, path, ifNoneMatch string
		get                     func(path string, headers ...string) int
		want                    int
	}{
		{"its ETag", path, tag, nil, http.StatusNotModified},
		{"the strong form", path, strong, nil, http.StatusNotModified},
		{"in a list", path, `W/"0", ` + tag, nil, http.StatusNotModified},
		{"any", path, "*", nil, http.StatusNotModified},
		{"an older version", path, `W/"0"`, nil, http.StatusOK},
		{"a long-poll's end", path + "?wait=1s", tag, nil, http.StatusNotModified},
		{"a status token", path, tag, do(t, token), http.StatusNotModified},
		{"a status token in the query", byToken, tag, do(t, anon), http.StatusNotModified},
		{"a status token, an older version", path, `"0"`, do(t, token), http.StatusOK},
	} {
		get := c.get
		if get == nil {
			get = do(t, client)
		}
		if got := get(c.path, "If-None-Match", c.ifNoneMatch); got != c.want {
			t.Errorf("%s: got %d, want %d", c.name, got, c.want)
		}
	}
	r = client.Do(t, http.MethodGet, path, nil, "If-None-Match", tag)
	if len(r.Body) != 0 || r.Header.Get("ETag") != tag {
		t.Errorf("304: got body %q and ETag %q, want no body and ETag %s", r.Body, r.Header.Get("ETag"), tag)
	}
	// Once the task changes, the old tag reads the new version.
	if r := client.Do(t, http.MethodDelete, path, nil); r.Status != http.StatusOK {
		t.Fatalf("cancel: %d %s", r.Status, r.Body)
	}
	r = client.Do(t, http.MethodGet, path, nil, "If-None-Match", tag)
	if r.Status != http.StatusOK || r.Header.Get("ETag") == tag || !strings.Contains(string(r.Body), `"canceled"`) {
		t.Errorf("after a change: got %d with ETag %q, want 200 with the canceled task and a new ETag", r.Status, r.Header.Get("ETag"))
	}
}

// do returns a GET through client that reports the status.
func do(t *testing.T, client *testenv.Client) func(string, ...string) int {
	return func(path string, headers ...string) int {
		return client.Do(t, http.MethodGet, path, nil, headers...).Status
	}
}
