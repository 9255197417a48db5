package webtest

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/internal/testenv"
)

// CreateTask posts a task and returns it, failing unless the answer is a
// 202 with the status monitor as its Location.
func CreateTask(tb testing.TB, c *testenv.Client, body map[string]any) broker.Task {
	tb.Helper()
	r := c.Do(tb, http.MethodPost, "/v1/tasks", body)
	if r.Status != http.StatusAccepted {
		tb.Fatalf("create task: got %d %s, want 202", r.Status, r.Body)
	}
	var task broker.Task
	r.JSON(tb, &task)
	if want := "/v1/tasks/" + task.ID + "/status"; r.Header.Get("Location") != want {
		tb.Fatalf("Location: got %q, want %q", r.Header.Get("Location"), want)
	}
	return task
}

// WaitTask long-polls the task until cond holds, failing after
// testenv.GiveUp(timeout).
func WaitTask(tb testing.TB, c *testenv.Client, id string, timeout time.Duration, cond func(broker.Task) bool) broker.Task {
	tb.Helper()
	deadline := time.Now().Add(testenv.GiveUp(timeout))
	etag, last := "", []byte(nil)
	for {
		// The long-poll answers when the task differs from the version
		// named in If-None-Match: at once if it already does.
		path := "/v1/tasks/" + id + "?wait=2s"
		if etag == "" {
			path = "/v1/tasks/" + id // first, the task as it is now
		}
		r := c.Do(tb, http.MethodGet, path, nil, "If-None-Match", etag)
		switch {
		case r.Status == http.StatusNotModified && etag != "":
			// Unchanged at the long-poll's deadline: the last answer stands.
		case r.Status != http.StatusOK:
			tb.Fatalf("get task: got %d %s", r.Status, r.Body)
		default:
			etag, last = r.Header.Get("ETag"), r.Body
			var task broker.Task
			r.JSON(tb, &task)
			if cond(task) {
				return task
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("task %s did not reach the expected state; last: %s", id, last)
		}
	}
}

// WaitScheduleTasks waits, up to testenv.GiveUp(timeout), until the schedule has made at
// least n tasks that the list (one page of 200) shows, and returns them,
// earliest firing first. A task of the schedule without a firing time
// fails the test.
func WaitScheduleTasks(tb testing.TB, c *testenv.Client, scheduleID string, n int, timeout time.Duration) []broker.Task {
	tb.Helper()
	deadline := time.Now().Add(testenv.GiveUp(timeout))
	for {
		var page struct{ Items []broker.Task }
		c.Do(tb, http.MethodGet, "/v1/tasks?limit=200", nil).JSON(tb, &page)
		var got []broker.Task
		for _, task := range page.Items {
			if task.ScheduleID != scheduleID {
				continue
			}
			if task.FiringAt == nil {
				tb.Fatalf("task %s of schedule %s has no firing time", task.ID, scheduleID)
			}
			got = append(got, task)
		}
		if len(got) >= n {
			slices.SortFunc(got, func(x, y broker.Task) int { return x.FiringAt.Compare(*y.FiringAt) })
			return got
		}
		if time.Now().After(deadline) {
			tb.Fatalf("schedule %s made %d tasks, want %d", scheduleID, len(got), n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Finished reports whether the task has finished.
func Finished(t broker.Task) bool { return t.Status.Finished() }

// Answer is a target that answers the n-th call of a task with the n-th
// status (the last one from then on) and a small JSON body.
func Answer(statuses ...int) func(http.ResponseWriter, *http.Request, int) {
	return func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(statuses[min(n, len(statuses))-1])
		_, _ = w.Write([]byte(`{"call":` + strconv.Itoa(n) + `}`))
	}
}

// SignIn signs in to the dashboard with the form, as a browser does, and
// returns a client that keeps the session cookie (and follows redirects),
// and a way to read a page's CSRF token.
func (e *Env) SignIn(tb testing.TB, apiKey string) (*http.Client, func(page string) string) {
	tb.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.PostForm(e.URL+"/signin", url.Values{"apiKey": {apiKey}})
	if err != nil {
		tb.Fatal(err)
	}
	resp.Body.Close()
	if len(jar.Cookies(resp.Request.URL)) == 0 {
		tb.Fatalf("sign-in: no session cookie (%d)", resp.StatusCode)
	}
	csrf := func(page string) string {
		tb.Helper()
		resp, err := c.Get(e.URL + page)
		if err != nil {
			tb.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		m := csrfField.FindSubmatch(body)
		if m == nil {
			tb.Fatalf("no CSRF token on %s", page)
		}
		return string(m[1])
	}
	return c, csrf
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// Clock is a clock that moves only when told, for the server's Now.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock standing at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
