package api_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/internal/testenv"
	"github.com/boomerang-dev/boomerang/web/webtest"
)

// TestFlowControlAPI: tasks of a flow-control key of parallelism 1,
// created on two nodes; GET /v1/flow-control/{key} counts them, pause
// stops admissions while the task in flight finishes, resume runs the
// rest. The task shows its flowControl.
func TestFlowControlAPI(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{Workers: true})
	c, creds := env.Tenant(t, "acme")
	peer := env.Peer(t, webtest.Options{Workers: true}).Client(t, creds.APIKey)
	release := make(chan struct{})
	target := testenv.NewTarget(t, func(w http.ResponseWriter, r *http.Request, n int) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	const key = "pay/ments é"
	path := "/v1/flow-control/" + url.PathEscape(key)
	body := map[string]any{"targetUrl": target.URL, "flowControl": map[string]any{"key": key, "parallelism": 1}}
	var ids []string
	for i := range 3 {
		ids = append(ids, webtest.CreateTask(t, []*testenv.Client{c, peer}[i%2], body).ID)
	}
	var info broker.KeyInfo
	testenv.WaitUntil(t, "one in flight, two waiting", func() (bool, string) {
		info = broker.KeyInfo{}
		r := peer.Do(t, http.MethodGet, path, nil)
		r.JSON(t, &info)
		return r.Status == http.StatusOK && info.InFlight == 1 && info.Waiting == 2, string(r.Body)
	})
	if info.Key != key || info.Kind != broker.KeyFlowControl || info.Parallelism != 1 || info.Paused || len(info.Queue) != 2 {
		t.Fatalf("key: got %+v", info)
	}
	r := c.Do(t, http.MethodPost, path+"/pause", nil)
	r.JSON(t, &info)
	if r.Status != http.StatusOK || !info.Paused {
		t.Fatalf("pause: got %d %s", r.Status, r.Body)
	}
	close(release)
	testenv.WaitUntil(t, "the running task's end", func() (bool, string) {
		info = broker.KeyInfo{}
		c.Do(t, http.MethodGet, path, nil).JSON(t, &info)
		return info.InFlight == 0, fmt.Sprint(info)
	})
	if info.Waiting != 2 || !info.Paused {
		t.Fatalf("paused key after its task ended: got %+v, want 2 waiting", info)
	}
	r = peer.Do(t, http.MethodPost, path+"/resume", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("resume: got %d %s", r.Status, r.Body)
	}
	for _, id := range ids {
		task := webtest.WaitTask(t, c, id, 30*time.Second, func(tk broker.Task) bool { return tk.Status == broker.StatusSucceeded })
		if task.FlowControl == nil || task.FlowControl.Key != key || task.FlowControl.Parallelism != 1 {
			t.Fatalf("task %s: flowControl %+v", id, task.FlowControl)
		}
	}
	if n := len(target.Calls()); n != 3 {
		t.Fatalf("target called %d times, want 3", n)
	}
}

// TestOrderingKeyAPI: an ordering key's queue is shown in order; the task
// shows its key; a key no task used is a 404.
func TestOrderingKeyAPI(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{Workers: true})
	c, _ := env.Tenant(t, "acme")
	release := make(chan struct{})
	target := testenv.NewTarget(t, func(w http.ResponseWriter, r *http.Request, n int) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	var ids []string
	for range 3 {
		ids = append(ids, webtest.CreateTask(t, c, map[string]any{"targetUrl": target.URL, "orderingKey": "acct-1"}).ID)
	}
	var info broker.KeyInfo
	testenv.WaitUntil(t, "the key's queue", func() (bool, string) {
		info = broker.KeyInfo{}
		c.Do(t, http.MethodGet, "/v1/ordering-keys/acct-1", nil).JSON(t, &info)
		return info.InFlight == 1 && info.Waiting == 2, fmt.Sprint(info)
	})
	if info.Kind != broker.KeyOrdering || info.Parallelism != 1 || info.Holding[0] != ids[0] ||
		strings.Join(info.Queue, ",") != ids[1]+","+ids[2] {
		t.Fatalf("ordering key: got %+v, want %s holding, then %v", info, ids[0], ids[1:])
	}
	var task broker.Task
	c.Do(t, http.MethodGet, "/v1/tasks/"+ids[1], nil).JSON(t, &task)
	if task.OrderingKey != "acct-1" || task.Status != broker.StatusPending {
		t.Fatalf("waiting task: got key %q, status %s", task.OrderingKey, task.Status)
	}
	for _, path := range []string{"/v1/ordering-keys/other", "/v1/flow-control/acct-1"} {
		if r := c.Do(t, http.MethodGet, path, nil); r.Status != http.StatusNotFound {
			t.Errorf("GET %s: got %d %s, want 404", path, r.Status, r.Body)
		}
	}
	if r := c.Do(t, http.MethodGet, "/v1/ordering-keys/%01", nil); r.Status != http.StatusBadRequest {
		t.Errorf("GET a key with a control character: got %d %s, want 400", r.Status, r.Body)
	}
}

// TestBadKeys: each bad orderingKey or flowControl is a 400 naming its
// field, and publishes nothing.
func TestBadKeys(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{})
	c, _ := env.Tenant(t, "acme")
	seqBefore := env.TaskLastSeq(t)
	ok := `"targetUrl": "https://example.com/x"`
	long := strings.Repeat("k", broker.MaxKeyLength+1)
	tests := []struct{ name, body, field string }{
		{"both", `"orderingKey": "a", "flowControl": {"key": "a", "rate": 1}`, "flowControl"},
		{"empty ordering key", `"orderingKey": ""`, "orderingKey"},
		{"ordering key too long", `"orderingKey": "` + long + `"`, "orderingKey"},
		{"ordering key with a control character", `"orderingKey": "a\u0001"`, "orderingKey"},
		{"no key", `"flowControl": {"rate": 1}`, "flowControl.key"},
		{"neither rate nor parallelism", `"flowControl": {"key": "a"}`, "flowControl"},
		{"rate zero", `"flowControl": {"key": "a", "rate": 0}`, "flowControl.rate"},
		{"parallelism too high", `"flowControl": {"key": "a", "parallelism": 10001}`, "flowControl.parallelism"},
		{"period not a duration", `"flowControl": {"key": "a", "rate": 1, "period": "soon"}`, "flowControl.period"},
		{"period too long", `"flowControl": {"key": "a", "rate": 1, "period": "25h"}`, "flowControl.period"},
		{"an unknown member", `"flowControl": {"key": "a", "Rate": 1, "parallelism": 1}`, "flowControl.Rate"},
		{"period without rate", `"flowControl": {"key": "a", "parallelism": 1, "period": "1s"}`, "flowControl.period"},
	}
	for _, tt := range tests {
		r := c.Do(t, http.MethodPost, "/v1/tasks", `{`+ok+`, `+tt.body+`}`)
		var p problemBody
		r.JSON(t, &p)
		if r.Status != http.StatusBadRequest || len(p.Errors) == 0 || p.Errors[0].Field != tt.field || p.Errors[0].Message == "" {
			t.Errorf("%s: got %d %s, want 400 naming %s", tt.name, r.Status, r.Body, tt.field)
		}
	}
	if got := env.TaskLastSeq(t); got != seqBefore {
		t.Fatalf("the task stream moved from %d to %d: bad input was published", seqBefore, got)
	}
}
