package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/internal/projector"
	"github.com/boomerang-dev/boomerang/internal/testenv"
	"github.com/boomerang-dev/boomerang/tenant"
)

// Tests that nothing assumes one node: what one node writes, another
// reads at once; what races on two nodes happens once; what one node
// starts, another stops; and what is per node stays per node.

// gatedPair is two nodes on one NATS server, node B's task view behind a
// gate the test can hold, and a tenant made on node A with a client of it
// on each node.
type gatedPair struct {
	natsURL  string
	a, b     *testNode
	gate     *testenv.ViewGate
	onA, onB *testenv.Client
	apiKey   string
}

func newGatedPair(t *testing.T) gatedPair {
	t.Helper()
	p := gatedPair{natsURL: startExternalNATS(t), gate: testenv.NewViewGate()}
	secretKey := newSecretKey(t)
	p.a = MustRunMain(t, "--nats-url", p.natsURL, "--secret-key", secretKey)
	p.b = mustRunMainWith(t, t.TempDir(), func(m *Main) {
		m.wrapApplier = func(stream string, a projector.Applier) projector.Applier {
			if stream != broker.StreamTasks {
				return a
			}
			return p.gate.Wrap(a)
		}
	}, "--nats-url", p.natsURL, "--secret-key", secretKey)
	t.Cleanup(p.gate.Release) // before the node stops: cleanups run last first
	var creds tenant.Credentials
	p.onA, creds = p.a.tenantClient(t, "acme")
	p.apiKey = creds.APIKey
	p.onB = &testenv.Client{Base: p.b.URL(), Key: creds.APIKey, Contract: apiContract}
	return p
}

// connectNATS connects the test itself to a NATS server.
func connectNATS(t *testing.T, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// createdTask is the answer to a create, with its status token.
type createdTask struct {
	ID          string `json:"id"`
	StatusToken string `json:"statusToken"`
}

// TestReadsOnAnotherNodeSeeANewTask creates a task on node A and reads it
// at once on node B, whose view is held behind the stream until B asks
// the stream how far it reaches: every read — the task, its status, its
// status-token view, the list, a long-poll, its event stream, and the
// dashboard's task page, list and search — answers with the task, never a
// 404 or a list without it. The list and the search by idempotency key
// used to answer from the view as it stood.
func TestReadsOnAnotherNodeSeeANewTask(t *testing.T) {
	t.Parallel()
	p := newGatedPair(t)
	b, clientA, clientB := p.b, p.onA, p.onB
	if r := clientB.Do(t, http.MethodGet, "/v1/tasks", nil); r.Status != http.StatusOK {
		t.Fatalf("node B with node A's key: got %d", r.Status)
	}
	_, _, cookie, _ := dashboardRequest(t, b.httpClient(t), b.URL(), http.MethodPost, "/signin", "", url.Values{"apiKey": {p.apiKey}})
	if cookie == "" {
		t.Fatal("no session on node B")
	}
	asksStream := testenv.StreamInfoRequests(t, connectNATS(t, p.natsURL), broker.StreamTasks)
	page := func(path string) (int, string, string) {
		st, loc, _, body := dashboardRequest(t, b.httpClient(t), b.URL(), http.MethodGet, path, cookie, nil)
		return st, loc, body
	}
	auth := map[string]string{"Authorization": "Bearer " + p.apiKey}
	reads := []struct {
		name string
		// read reads the task on node B and says what is wrong, if anything.
		read func(task createdTask, key string) string
	}{
		{"get", func(task createdTask, _ string) string {
			return taskAnswer(clientB.Do(t, http.MethodGet, "/v1/tasks/"+task.ID, nil), task.ID)
		}},
		{"status", func(task createdTask, _ string) string {
			return taskAnswer(clientB.Do(t, http.MethodGet, "/v1/tasks/"+task.ID+"/status", nil), task.ID)
		}},
		{"status token", func(task createdTask, _ string) string {
			anonymous := &testenv.Client{Base: b.URL(), Contract: apiContract}
			return taskAnswer(anonymous.Do(t, http.MethodGet, "/v1/tasks/"+task.ID+"?token="+task.StatusToken, nil), task.ID)
		}},
		{"long-poll", func(task createdTask, _ string) string {
			return taskAnswer(clientB.Do(t, http.MethodGet, "/v1/tasks/"+task.ID+"?wait=1s", nil), task.ID)
		}},
		{"list", func(task createdTask, _ string) string {
			r := clientB.Do(t, http.MethodGet, "/v1/tasks", nil)
			var list struct{ Items []createdTask }
			r.JSON(t, &list)
			if r.Status != http.StatusOK || !slices.ContainsFunc(list.Items, func(c createdTask) bool { return c.ID == task.ID }) {
				return fmt.Sprintf("got %d without the task: %s", r.Status, r.Body)
			}
			return ""
		}},
		{"events", func(task createdTask, _ string) string {
			s := readSSE(t, b.URL(), "/v1/tasks/"+task.ID+"/events", auth, func(s *sseStream) bool { return len(s.events) > 0 })
			if len(s.events) == 0 || s.events[0].Data.TaskID != task.ID || s.events[0].Type != broker.KindCreated {
				return "first event: " + kinds(s.events)
			}
			return ""
		}},
		{"dashboard task", func(task createdTask, _ string) string {
			if st, _, body := page("/tasks/" + task.ID); st != http.StatusOK || !strings.Contains(body, task.ID) {
				return fmt.Sprintf("got %d", st)
			}
			return ""
		}},
		{"dashboard list", func(task createdTask, _ string) string {
			if st, _, body := page("/tasks"); st != http.StatusOK || !strings.Contains(body, task.ID) {
				return fmt.Sprintf("got %d without the task", st)
			}
			return ""
		}},
		{"dashboard search", func(task createdTask, key string) string {
			if st, loc, _ := page("/tasks?q=" + url.QueryEscape(key)); st != http.StatusSeeOther || loc != "/tasks/"+task.ID {
				return fmt.Sprintf("got %d to %q, want 303 to the task", st, loc)
			}
			return ""
		}},
	}
	for i, r := range reads {
		key := fmt.Sprintf("order %d", i) // not a valid id: found by the key alone
		var task createdTask
		create := func() {
			resp := clientA.Do(t, http.MethodPost, "/v1/tasks", map[string]any{"targetUrl": "http://127.0.0.1:1/", "delay": 600},
				"Idempotency-Key", key)
			if resp.Status != http.StatusAccepted {
				t.Fatalf("create on node A: got %d %s", resp.Status, resp.Body)
			}
			resp.JSON(t, &task)
		}
		var problem string
		asked := p.gate.Behind(asksStream, create, func() { problem = r.read(task, key) })
		if problem != "" {
			t.Errorf("%s on node B at once: %s", r.name, problem)
		}
		if !asked {
			t.Errorf("%s on node B answered without catching up with the stream", r.name)
		}
	}
}

// taskAnswer says what is wrong with an answer that should be task id's.
func taskAnswer(r testenv.Response, id string) string {
	var got createdTask
	if r.Status != http.StatusOK || json.Unmarshal(r.Body, &got) != nil || got.ID != id {
		return fmt.Sprintf("got %d %s", r.Status, r.Body)
	}
	return ""
}

// TestLongPollWaitsForAVersionSeenOnAnotherNode long-polls node B with
// the ETag of a version node A showed (the task canceled there) while B's
// view is still behind it: B waits for its view to apply that version and
// answers with it, instead of answering at once with the older version it
// had.
func TestLongPollWaitsForAVersionSeenOnAnotherNode(t *testing.T) {
	t.Parallel()
	p := newGatedPair(t)
	b, clientA, clientB := p.b, p.onA, p.onB
	task := createTask(t, clientA, map[string]any{"targetUrl": "http://127.0.0.1:1/", "delay": 600})
	if r := clientB.Do(t, http.MethodGet, "/v1/tasks/"+task.ID, nil); r.Status != http.StatusOK {
		t.Fatalf("the task on node B: got %d", r.Status)
	}

	// B's log says when a long-poll waits for its view (logged at debug).
	waits := make(chan struct{}, 1)
	stopWatching := make(chan struct{})
	defer close(stopWatching)
	go func() {
		for !strings.Contains(b.Log.String(), "long-poll waits for the view") {
			select {
			case <-stopWatching:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
		waits <- struct{}{}
	}()
	var seen string
	cancel := func() {
		if r := clientA.Do(t, http.MethodDelete, "/v1/tasks/"+task.ID, nil); r.Status != http.StatusOK {
			t.Fatalf("cancel on node A: got %d %s", r.Status, r.Body)
		}
		seen = clientA.Do(t, http.MethodGet, "/v1/tasks/"+task.ID, nil).Header.Get("ETag")
	}
	var r testenv.Response
	p.gate.Behind(waits, cancel, func() {
		r = clientB.Do(t, http.MethodGet, "/v1/tasks/"+task.ID+"?wait=60s", nil, "If-None-Match", seen) // the longest wait the API takes
	})
	// The client already has that version (canceled, settled): 304. Had B
	// not waited, it would have answered 200 with its older version.
	if r.Status != http.StatusNotModified || r.Header.Get("ETag") != seen || len(r.Body) != 0 {
		t.Fatalf("long-poll on node B with node A's ETag %s: got %d, ETag %s, %d bytes; want 304, %s, no body",
			seen, r.Status, r.Header.Get("ETag"), len(r.Body), seen)
	}
}

// TestIdempotentCreatesRaceOnTwoNodes sends the same Idempotency-Key to
// two nodes at the same moment, round after round, on a three-server
// cluster with three replicas, each node on another server: every round
// makes one task, created by one node and replayed by the other. The
// loser reads the winner's created event from the stream; a replica that
// had not stored it yet used to answer "no such message", and the create
// failed with a 500.
func TestIdempotentCreatesRaceOnTwoNodes(t *testing.T) {
	t.Parallel()
	cluster := testenv.StartCluster(t, 3)
	waitPlacement(t, cluster.URL(2), 3)
	secretKey := newSecretKey(t)
	a := MustRunMain(t, "--nats-url", cluster.URL(0), "--replicas", "3", "--secret-key", secretKey)
	b := MustRunMain(t, "--nats-url", cluster.URL(1), "--replicas", "3", "--secret-key", secretKey)
	clientA, creds := a.tenantClient(t, "acme")
	clientB := &testenv.Client{Base: b.URL(), Key: creds.APIKey, Contract: apiContract}
	const rounds = 40
	ids := map[string]bool{}
	for round := range rounds {
		key := fmt.Sprintf("race-%d", round)
		var wg sync.WaitGroup
		start := make(chan struct{})
		answers := make([]testenv.Response, 2)
		for i, c := range []*testenv.Client{clientA, clientB} {
			wg.Go(func() {
				<-start
				answers[i] = c.Do(testenv.InGoroutine(t), http.MethodPost, "/v1/tasks",
					map[string]any{"targetUrl": "http://127.0.0.1:1/", "delay": 600}, "Idempotency-Key", key)
			})
		}
		close(start)
		wg.Wait()
		var got [2]createdTask
		statuses := map[int]int{}
		for i, r := range answers {
			statuses[r.Status]++
			_ = json.Unmarshal(r.Body, &got[i])
		}
		if statuses[http.StatusAccepted] != 1 || statuses[http.StatusOK] != 1 || got[0].ID == "" || got[0].ID != got[1].ID {
			t.Fatalf("round %d: got %d %s and %d %s; want one 202 and one 200 with the same task",
				round, answers[0].Status, answers[0].Body, answers[1].Status, answers[1].Body)
		}
		ids[got[0].ID] = true
	}
	r := clientB.Do(t, http.MethodGet, "/v1/tasks?limit=200", nil)
	var list struct{ Items []createdTask }
	r.JSON(t, &list)
	if len(ids) != rounds || len(list.Items) != rounds {
		t.Fatalf("%d rounds made %d task ids, %d tasks in the list; want %d", rounds, len(ids), len(list.Items), rounds)
	}
}

// waitPlacement waits until the cluster at url places a stream of
// replicas: a fresh cluster has a meta leader before it knows every peer
// is up, and refuses placements ("no suitable peers") until it does.
func waitPlacement(t *testing.T, url string, replicas int) {
	t.Helper()
	js, err := jetstream.New(connectNATS(t, url))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "PLACEMENT_PROBE", Subjects: []string{"probe.placement"}, Replicas: replicas})
		if err == nil {
			err = js.DeleteStream(ctx, "PLACEMENT_PROBE")
		}
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cluster places no stream of %d replicas: %v", replicas, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestCancelOnOneNodeStopsTheAttemptOnAnother starts an attempt on node A
// (the only node then) against a target that answers only when the call
// is aborted, then cancels the task through node B, started afterwards:
// the call on A is aborted, and the attempt is recorded as canceled, with
// no other attempt after it.
func TestCancelOnOneNodeStopsTheAttemptOnAnother(t *testing.T) {
	t.Parallel()
	natsURL := startExternalNATS(t)
	secretKey := newSecretKey(t)
	a := MustRunMain(t, "--nats-url", natsURL, "--secret-key", secretKey)
	clientA, creds := a.tenantClient(t, "acme")
	aborted := make(chan string, 1)
	testOver := make(chan struct{})
	target := testenv.NewTarget(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		select {
		case <-r.Context().Done():
			aborted <- r.Header.Get("Boomerang-Task-Id")
		case <-testOver:
		}
	})
	t.Cleanup(func() { close(testOver) }) // before the target closes
	task := createTask(t, clientA, map[string]any{"targetUrl": target.URL, "timeout": 600, "retries": 5})
	target.WaitCalls(t, 1, 30*time.Second) // the attempt runs on A

	b := MustRunMain(t, "--nats-url", natsURL, "--secret-key", secretKey)
	clientB := &testenv.Client{Base: b.URL(), Key: creds.APIKey, Contract: apiContract}
	r := clientB.Do(t, http.MethodDelete, "/v1/tasks/"+task.ID, nil)
	var canceled broker.Task
	r.JSON(t, &canceled)
	if r.Status != http.StatusOK || canceled.Status != broker.StatusCanceled {
		t.Fatalf("cancel on node B: got %d %s", r.Status, r.Body)
	}
	select {
	case id := <-aborted:
		if id != task.ID {
			t.Fatalf("aborted the call of %s, want %s", id, task.ID)
		}
	case <-time.After(testenv.GiveUpAfter):
		t.Fatal("the attempt on node A was not aborted")
	}
	got := waitTask(t, clientB, task.ID, 30*time.Second, func(t broker.Task) bool { return len(t.Attempts) > 0 })
	if len(got.Attempts) != 1 || got.Attempts[0].Outcome != broker.OutcomeCanceled || got.Status != broker.StatusCanceled {
		t.Fatalf("the task after the cancel: %s with attempts %+v; want canceled with one canceled attempt", got.Status, got.Attempts)
	}
	if n := len(target.CallsFor(task.ID)); n != 1 {
		t.Fatalf("target calls: got %d, want 1", n)
	}
}

// openStream opens a task's event stream and returns its status; an open
// stream stays open until the test ends.
func openStream(t *testing.T, base, key, taskID string) int {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/tasks/"+taskID+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp.StatusCode
}

// TestStreamCapsArePerNode runs two nodes capped at two streams each and
// one per tenant: a tenant at its cap on node A still opens one on node B,
// and a node at its cap refuses a tenant that node B, below its own,
// accepts. The caps count what each node holds, not the cluster.
func TestStreamCapsArePerNode(t *testing.T) {
	t.Parallel()
	natsURL := startExternalNATS(t)
	secretKey := newSecretKey(t)
	caps := []string{"--nats-url", natsURL, "--secret-key", secretKey, "--max-streams", "2", "--max-streams-per-tenant", "1"}
	a := MustRunMain(t, caps...)
	b := MustRunMain(t, caps...)
	tenants := map[string]struct{ key, task string }{}
	for _, name := range []string{"x", "y", "z"} {
		c, creds := a.tenantClient(t, name)
		task := createTask(t, c, map[string]any{"targetUrl": "http://127.0.0.1:1/", "delay": 600})
		tenants[name] = struct{ key, task string }{creds.APIKey, task.ID}
	}
	open := func(n *testNode, tenant string) int {
		return openStream(t, n.URL(), tenants[tenant].key, tenants[tenant].task)
	}
	for _, step := range []struct {
		node   *testNode
		name   string
		tenant string
		want   int
	}{
		{a, "A", "x", http.StatusOK},
		{a, "A", "x", http.StatusTooManyRequests}, // x's cap on A
		{b, "B", "x", http.StatusOK},              // x's cap on B is its own
		{a, "A", "y", http.StatusOK},              // A holds two now
		{a, "A", "z", http.StatusTooManyRequests}, // A's cap
		{b, "B", "z", http.StatusOK},              // B holds two now
		{b, "B", "y", http.StatusTooManyRequests}, // B's cap
	} {
		if got := open(step.node, step.tenant); got != step.want {
			t.Errorf("a stream of tenant %s on node %s: got %d, want %d", step.tenant, step.name, got, step.want)
		}
	}
}

// TestCreateRateLimitScope runs two nodes that share a tenant's create
// budget (--rate-limit-scope cluster, the default) and a third that keeps
// its own (node). The budget is three creates, refilled so slowly that
// no create during the test earns another: the two cluster nodes together
// accept three, and the third node three more of its own.
func TestCreateRateLimitScope(t *testing.T) {
	t.Parallel()
	natsURL := startExternalNATS(t)
	secretKey := newSecretKey(t)
	limits := []string{"--nats-url", natsURL, "--secret-key", secretKey, "--create-rate", "0.0001", "--create-burst", "3"}
	a := MustRunMain(t, limits...)
	b := MustRunMain(t, limits...)
	c := MustRunMain(t, append(limits, "--rate-limit-scope", "node")...)
	_, creds := a.tenantClient(t, "acme")
	accepted := func(nodes ...*testNode) (n int) {
		for i := range 8 {
			client := &testenv.Client{Base: nodes[i%len(nodes)].URL(), Key: creds.APIKey, Contract: apiContract}
			r := client.Do(t, http.MethodPost, "/v1/tasks", map[string]any{"targetUrl": "http://127.0.0.1:1/", "delay": 600})
			switch {
			case r.Status == http.StatusAccepted:
				n++
			case r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "":
				t.Fatalf("create: got %d %s, want 202 or 429 with Retry-After", r.Status, r.Body)
			}
		}
		return n
	}
	if n := accepted(a, b); n != 3 {
		t.Errorf("8 creates on two nodes sharing the budget: %d accepted, want 3", n)
	}
	if n := accepted(c); n != 3 {
		t.Errorf("8 creates on a node limiting on its own: %d accepted, want 3", n)
	}
}

// TestResultOnAnotherNodeCatchesUp reads a task's result on node B right
// after it finished on node A (canceled there) while B's view still has it
// pending, as a client does that learned of the end from a webhook or from
// A: B catches up with the stream and answers with the result, not 409.
func TestResultOnAnotherNodeCatchesUp(t *testing.T) {
	t.Parallel()
	p := newGatedPair(t)
	clientA, clientB := p.onA, p.onB
	task := createTask(t, clientA, map[string]any{"targetUrl": "http://127.0.0.1:1/", "delay": 600})
	if r := clientB.Do(t, http.MethodGet, "/v1/tasks/"+task.ID, nil); r.Status != http.StatusOK {
		t.Fatalf("the task on node B: got %d", r.Status)
	}
	asksStream := testenv.StreamInfoRequests(t, connectNATS(t, p.natsURL), broker.StreamTasks)
	var r testenv.Response
	asked := p.gate.Behind(asksStream, func() {
		if r := clientA.Do(t, http.MethodDelete, "/v1/tasks/"+task.ID, nil); r.Status != http.StatusOK && r.Status != http.StatusAccepted {
			t.Fatalf("cancel on node A: got %d %s", r.Status, r.Body)
		}
	}, func() {
		r = clientB.Do(t, http.MethodGet, "/v1/tasks/"+task.ID+"/result", nil)
	})
	var res struct{ Status broker.Status }
	r.JSON(t, &res)
	if r.Status != http.StatusOK || res.Status != broker.StatusCanceled {
		t.Fatalf("result on node B at once: got %d %s, want 200 canceled", r.Status, r.Body)
	}
	if !asked {
		t.Fatal("node B answered the result without catching up with the stream")
	}
}
