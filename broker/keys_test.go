package broker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/boomerang-dev/boomerang/internal/natsembed"
	"github.com/boomerang-dev/boomerang/internal/projector"
	"github.com/boomerang-dev/boomerang/internal/testenv"
)

// keyTarget records the calls it gets in order, counts those running at
// once per path, fails a task's first calls when told, and holds a task's
// call until it is let go.
type keyTarget struct {
	*httptest.Server
	mu         sync.Mutex
	calls      map[string][]string // path -> task ids, in call order
	nodes      map[string][]string // task -> the node of each call
	running    map[string]int
	maxRunning map[string]int
	fail       map[string]int           // task -> calls left to fail
	hold       map[string]chan struct{} // task -> closed to let its call go
}

func newKeyTarget(t *testing.T) *keyTarget {
	tg := &keyTarget{calls: map[string][]string{}, nodes: map[string][]string{}, running: map[string]int{},
		maxRunning: map[string]int{}, fail: map[string]int{}, hold: map[string]chan struct{}{}}
	tg.Server = httptest.NewServer(http.HandlerFunc(tg.serve))
	t.Cleanup(tg.Close)
	return tg
}

func (tg *keyTarget) serve(w http.ResponseWriter, r *http.Request) {
	task, path := r.Header.Get("Boomerang-Task-Id"), r.URL.Path
	tg.mu.Lock()
	tg.calls[path] = append(tg.calls[path], task)
	tg.nodes[task] = append(tg.nodes[task], r.Header.Get("X-Node"))
	tg.running[path]++
	tg.maxRunning[path] = max(tg.maxRunning[path], tg.running[path])
	hold := tg.hold[task]
	failing := tg.fail[task] > 0
	if failing {
		tg.fail[task]--
	}
	tg.mu.Unlock()
	defer func() {
		tg.mu.Lock()
		tg.running[path]--
		tg.mu.Unlock()
	}()
	if hold != nil {
		select {
		case <-hold:
		case <-r.Context().Done():
			return
		}
	}
	if failing {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
}

// holdTask makes the task's calls wait until the returned func is called.
func (tg *keyTarget) holdTask(task string) (letGo func()) {
	ch := make(chan struct{})
	tg.mu.Lock()
	tg.hold[task] = ch
	tg.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { close(ch) }) }
}

func (tg *keyTarget) snapshot(path string) (calls []string, running, maxRunning int) {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return slices.Clone(tg.calls[path]), tg.running[path], tg.maxRunning[path]
}

func (tg *keyTarget) nodesOf(task string) []string {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return slices.Clone(tg.nodes[task])
}

// statusCaller calls over HTTP: 2xx succeeds, 5xx is retried, the node's
// name goes in X-Node.
type statusCaller struct{ node string }

func (c statusCaller) Call(ctx context.Context, req CallRequest) CallResult {
	started := time.Now()
	r, err := http.NewRequestWithContext(ctx, req.Spec.Method, req.Spec.TargetURL, nil)
	if err != nil {
		return CallResult{Outcome: OutcomeFailed, Error: err.Error(), StartedAt: started}
	}
	r.Header.Set("Boomerang-Task-Id", req.TaskID)
	r.Header.Set("X-Node", c.node)
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		return CallResult{Outcome: OutcomeRetry, Error: err.Error(), StartedAt: started, Duration: time.Since(started)}
	}
	resp.Body.Close()
	out := OutcomeSucceeded
	if resp.StatusCode >= 500 {
		out = OutcomeRetry
	}
	return CallResult{Outcome: out, Response: Response{StatusCode: resp.StatusCode}, StartedAt: started, Duration: time.Since(started)}
}

// quickPolicy retries after 100 ms.
type quickPolicy struct{}

func (quickPolicy) TaskBackoff(int, time.Duration) time.Duration { return 100 * time.Millisecond }

func (quickPolicy) WebhookBackoff(int) (time.Duration, bool) { return time.Second, true }

// keyNode is one node: its own connection, view, projector, dispatcher.
type keyNode struct {
	name  string
	b     *bundle
	p     *projector.Projector
	tasks *Tasks
	keys  *Keys
	nc    *nats.Conn
	stop  func() // stops the dispatcher, aborting what runs
}

// startKeyNodes starts n nodes sharing one embedded server, with the
// given ack wait; configure, if given, adjusts each node's publisher
// before it starts.
func startKeyNodes(t *testing.T, n int, ackWait time.Duration, configure ...func(*Publisher)) []*keyNode {
	t.Helper()
	srv := startTestServer(t)
	var nodes []*keyNode
	for i := range n {
		b, p, nc := startNodeBundle(t, srv, ackWait, configure...)
		node := &keyNode{name: fmt.Sprintf("n%d", i), b: b, p: p, tasks: NewTasks(b.pub, b.view, p, quiet, nil), keys: NewKeys(b.pub), nc: nc}
		d := NewDispatcher(b.js, b.pub, b.view, p, statusCaller{node: node.name}, quickPolicy{}, quiet, WorkerConfig{MaxInFlight: 16, AckWait: ackWait})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = d.Run(ctx) }()
		var once sync.Once
		node.stop = func() { once.Do(func() { d.Abort(); cancel(); <-done }) }
		t.Cleanup(node.stop)
		nodes = append(nodes, node)
	}
	return nodes
}

// startTestServer starts an embedded server with JetStream for the test.
func startTestServer(t *testing.T) *natsembed.Server {
	t.Helper()
	srv, err := natsembed.Start(natsembed.Config{Dir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	return srv
}

// startNodeBundle connects one node to srv: its own connection, the
// streams with ackWait, a view file and a running projector; configure
// adjusts its publisher first.
func startNodeBundle(t *testing.T, srv *natsembed.Server, ackWait time.Duration, configure ...func(*Publisher)) (*bundle, *projector.Projector, *nats.Conn) {
	t.Helper()
	nc, err := srv.Connect()
	if err != nil {
		t.Fatal(err)
	}
	b, p := startBundleOn(t, nc, StreamOptions{AckWait: ackWait}, configure...)
	return b, p, nc
}

// startBundleOn makes a node of nc, closed when the test ends: the
// streams with opts, a view file and a running projector; configure
// adjusts its publisher first.
func startBundleOn(t *testing.T, nc *nats.Conn, opts StreamOptions, configure ...func(*Publisher)) (*bundle, *projector.Projector) {
	t.Helper()
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := EnsureStreams(context.Background(), js, opts); err != nil {
		t.Fatal(err)
	}
	b := &bundle{js: js, db: newBundleDB(t), pub: NewPublisher(js)}
	for _, c := range configure {
		c(b.pub)
	}
	b.view = NewView(b.db, NewHub())
	p, _ := b.runProjector(t)
	return b, p
}

// createKeyed creates n tasks of spec one after the other, on the nodes in
// turn, and returns their ids in creation order.
func createKeyed(t *testing.T, nodes []*keyNode, n int, spec Spec) []string {
	t.Helper()
	var ids []string
	for i := range n {
		task, _, err := nodes[i%len(nodes)].tasks.Create(context.Background(), "ten_a", spec, "")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, task.ID)
	}
	return ids
}

// createHeld creates a task of spec whose calls the target holds until
// letGo is called.
func createHeld(t *testing.T, tg *keyTarget, node *keyNode, spec Spec) (ids []string, letGo func()) {
	t.Helper()
	id := NewTaskID()
	letGo = tg.holdTask(id)
	if _, err := node.tasks.publishCreated(context.Background(), "ten_a", id, createdEvent{Spec: spec}); err != nil {
		t.Fatal(err)
	}
	return []string{id}, letGo
}

func waitSucceeded(t *testing.T, node *keyNode, ids []string) {
	t.Helper()
	testenv.WaitUntil(t, "tasks to succeed", func() (bool, string) {
		for _, id := range ids {
			task, err := node.b.view.Get("ten_a", id)
			if err != nil || task.Status != StatusSucceeded {
				return false, fmt.Sprintf("%s: %v %v", id, task, err)
			}
		}
		return true, ""
	})
}

// consumerIdle waits until a shared consumer has nothing pending or
// awaiting its ack.
func consumerIdle(t *testing.T, b *bundle, stream, name string) {
	t.Helper()
	waitConsumer(t, b, stream, name, func(info *jetstream.ConsumerInfo) bool {
		return info.NumPending == 0 && info.NumAckPending == 0
	})
}

// TestOrderingKeyAcrossTwoNodes: 20 tasks of one ordering key, created
// through two nodes and dispatched by both, run one at a time in creation
// order; the 3rd fails twice and keeps the key through its retries. A
// task of another key runs meanwhile. Tasks waiting on their key hold
// nothing in the dispatch consumers.
func TestOrderingKeyAcrossTwoNodes(t *testing.T) {
	t.Parallel()
	nodes := startKeyNodes(t, 2, 30*time.Second)
	tg := newKeyTarget(t)
	ordered := Spec{TargetURL: tg.URL + "/k1", Method: http.MethodPost, Retries: 3, Timeout: 30, OrderingKey: "k1"}
	// The first task's call is held, to see the rest wait at no cost.
	first, letGo := createHeld(t, tg, nodes[0], ordered)
	defer letGo()
	testenv.WaitUntil(t, "the first task's call", func() (bool, string) {
		calls, _, _ := tg.snapshot("/k1")
		return len(calls) == 1, fmt.Sprint(calls)
	})
	rest := createKeyed(t, nodes, 19, ordered)
	tg.mu.Lock()
	tg.fail[rest[1]] = 2 // the 3rd task
	tg.mu.Unlock()
	ids := append(first, rest...)

	other := createKeyed(t, nodes, 3, Spec{TargetURL: tg.URL + "/k2", Method: http.MethodPost, Retries: 3, Timeout: 30, OrderingKey: "k2"})
	waitSucceeded(t, nodes[0], other)

	// Waiting at no cost: every created event is consumed, and only the
	// running attempt holds a due.
	b := nodes[0].b
	consumerIdle(t, b, StreamTasks, consumerDispatch)
	waitConsumer(t, b, StreamSchedules, consumerDispatchDue, func(info *jetstream.ConsumerInfo) bool {
		return info.NumPending == 0 && info.NumAckPending == 1
	})
	info, err := nodes[1].keys.Get(context.Background(), "ten_a", KeyOrdering, "k1")
	if err != nil {
		t.Fatal(err)
	}
	if info.InFlight != 1 || info.Waiting != 19 || !slices.Equal(info.Queue, rest) || !slices.Equal(info.Holding, first) {
		t.Fatalf("key: got %+v; want 1 in flight (%s), 19 waiting in creation order", info, first[0])
	}
	if calls, _, _ := tg.snapshot("/k1"); len(calls) != 1 {
		t.Fatalf("calls of k1 while its first task runs: got %v, want only %s", calls, first[0])
	}

	letGo()
	waitSucceeded(t, nodes[1], ids)
	calls, _, maxRunning := tg.snapshot("/k1")
	want := slices.Concat(ids[:3], []string{ids[2], ids[2]}, ids[3:])
	if !slices.Equal(calls, want) {
		t.Fatalf("calls of k1:\n got %v\nwant %v", calls, want)
	}
	if maxRunning != 1 {
		t.Fatalf("k1 ran %d calls at once; want 1", maxRunning)
	}
	testenv.WaitUntil(t, "the key to empty", func() (bool, string) {
		info, err := nodes[0].keys.Get(context.Background(), "ten_a", KeyOrdering, "k1")
		return err == nil && info.InFlight == 0 && info.Waiting == 0, fmt.Sprint(info, err)
	})
}

// TestFlowControlParallelismPauseResume: parallelism 2 across two nodes;
// the key's counts match what runs; a paused key admits nothing new while
// its running tasks finish; resumed, it runs the rest.
func TestFlowControlParallelismPauseResume(t *testing.T) {
	t.Parallel()
	nodes := startKeyNodes(t, 2, 30*time.Second)
	tg := newKeyTarget(t)
	spec := Spec{TargetURL: tg.URL + "/fc", Method: http.MethodPost, Retries: 3, Timeout: 30,
		FlowControl: &FlowControl{Key: "fc", Parallelism: 2}}
	var letGo []func()
	var ids []string
	for i := range 6 {
		id, f := createHeld(t, tg, nodes[i%2], spec)
		ids, letGo = append(ids, id[0]), append(letGo, f)
	}
	ctx := context.Background()
	testenv.WaitUntil(t, "two calls running and four waiting", func() (bool, string) {
		_, running, _ := tg.snapshot("/fc")
		info, err := nodes[0].keys.Get(ctx, "ten_a", KeyFlowControl, "fc")
		return running == 2 && err == nil && info.InFlight == 2 && info.Waiting == 4, fmt.Sprint(running, info, err)
	})
	b := nodes[1].b
	consumerIdle(t, b, StreamTasks, consumerDispatch)
	waitConsumer(t, b, StreamSchedules, consumerDispatchDue, func(info *jetstream.ConsumerInfo) bool {
		return info.NumPending == 0 && info.NumAckPending == 2
	})
	if _, err := nodes[1].keys.Pause(ctx, "ten_a", KeyFlowControl, "fc"); err != nil {
		t.Fatal(err)
	}
	running, _, _ := tg.snapshot("/fc")
	for _, id := range running {
		letGo[slices.Index(ids, id)]()
	}
	waitSucceeded(t, nodes[0], running)
	testenv.WaitUntil(t, "the releases", func() (bool, string) {
		info, err := nodes[0].keys.Get(ctx, "ten_a", KeyFlowControl, "fc")
		return err == nil && info.InFlight == 0, fmt.Sprint(info, err)
	})
	consumerIdle(t, b, StreamSchedules, consumerKeyAdmit)
	info, err := nodes[0].keys.Get(ctx, "ten_a", KeyFlowControl, "fc")
	if calls, _, _ := tg.snapshot("/fc"); err != nil || len(calls) != 2 || !info.Paused || info.Waiting != 4 {
		t.Fatalf("paused: got %d calls, key %+v (%v); want 2 calls, paused, 4 waiting", len(calls), info, err)
	}

	for _, f := range letGo {
		f()
	}
	if _, err := nodes[0].keys.Resume(ctx, "ten_a", KeyFlowControl, "fc"); err != nil {
		t.Fatal(err)
	}
	waitSucceeded(t, nodes[1], ids)
	if _, _, maxRunning := tg.snapshot("/fc"); maxRunning > 2 {
		t.Fatalf("%d calls ran at once; want at most 2", maxRunning)
	}
}

// TestFlowControlRate: at 1 per hour, one task of three is admitted and
// the others wait (counted, not timed), with the key's timer armed.
func TestFlowControlRate(t *testing.T) {
	t.Parallel()
	nodes := startKeyNodes(t, 2, 30*time.Second)
	tg := newKeyTarget(t)
	ids := createKeyed(t, nodes, 3, Spec{TargetURL: tg.URL + "/rate", Method: http.MethodPost, Retries: 3, Timeout: 30,
		FlowControl: &FlowControl{Key: "slow", Rate: 1, Period: "1h"}})
	var calls []string
	testenv.WaitUntil(t, "one call", func() (bool, string) {
		calls, _, _ = tg.snapshot("/rate")
		return len(calls) == 1, fmt.Sprint(calls)
	})
	if !slices.Contains(ids, calls[0]) {
		t.Fatalf("called %s, not one of %v", calls[0], ids)
	}
	waitSucceeded(t, nodes[0], calls) // flow control keeps no order
	b := nodes[0].b
	consumerIdle(t, b, StreamTasks, consumerDispatch)
	consumerIdle(t, b, StreamSchedules, consumerKeyAdmit)
	ctx := context.Background()
	info, err := nodes[1].keys.Get(ctx, "ten_a", KeyFlowControl, "slow")
	if calls, _, _ := tg.snapshot("/rate"); err != nil || len(calls) != 1 || info.Waiting != 2 || info.Rate != 1 || info.Period != "1h" {
		t.Fatalf("got calls %v, key %+v (%v); want 1 call, 2 waiting, rate 1 per 1h", calls, info, err)
	}
	st, err := b.js.Stream(ctx, StreamSchedules)
	if err != nil {
		t.Fatal(err)
	}
	k := keyRef{TenantID: "ten_a", Kind: KeyFlowControl, Key: "slow"}
	si, err := st.Info(ctx, jetstream.WithSubjectFilter(k.timerSubject()))
	if err != nil || si.State.Subjects[k.timerSubject()] != 1 {
		t.Fatalf("the key's timer: got %v (%v); want one pending schedule", si.State.Subjects, err)
	}
}

// TestFlowControlRateTimer: at 1 per second, the key's timer admits the
// tasks the rate held back, one after the other, until all have run.
func TestFlowControlRateTimer(t *testing.T) {
	t.Parallel()
	nodes := startKeyNodes(t, 2, 30*time.Second)
	tg := newKeyTarget(t)
	ids := createKeyed(t, nodes, 3, Spec{TargetURL: tg.URL + "/timer", Method: http.MethodPost, Retries: 0, Timeout: 30,
		FlowControl: &FlowControl{Key: "second", Rate: 1, Period: "1s"}})
	waitSucceeded(t, nodes[1], ids)
	if calls, _, _ := tg.snapshot("/timer"); len(calls) != 3 {
		t.Fatalf("calls: got %v, want one per task", calls)
	}
}

// TestOrderingKeyCancels: a task canceled while it waits is never run
// and does not block its key; one canceled while it runs gives the key
// to the next once its aborted attempt is recorded. (Whether the target
// saw the aborted call end before the next began is the HTTP server's
// timing, not ours: only the order is checked.)
func TestOrderingKeyCancels(t *testing.T) {
	t.Parallel()
	nodes := startKeyNodes(t, 2, 30*time.Second)
	tg := newKeyTarget(t)
	spec := Spec{TargetURL: tg.URL + "/c", Method: http.MethodPost, Retries: 3, Timeout: 30, OrderingKey: "c"}
	a, letA := createHeld(t, tg, nodes[0], spec)
	defer letA()
	b, letB := createHeld(t, tg, nodes[1], spec)
	defer letB()
	c := createKeyed(t, nodes, 1, spec)
	testenv.WaitUntil(t, "a's call", func() (bool, string) {
		calls, _, _ := tg.snapshot("/c")
		return len(calls) == 1, fmt.Sprint(calls)
	})
	ctx := context.Background()
	for _, id := range []string{c[0], a[0]} {
		if _, err := nodes[1].tasks.Cancel(ctx, "ten_a", id); err != nil {
			t.Fatalf("cancel %s: %v", id, err)
		}
	}
	testenv.WaitUntil(t, "b's call", func() (bool, string) {
		calls, _, _ := tg.snapshot("/c")
		return len(calls) == 2, fmt.Sprint(calls)
	})
	letB()
	waitSucceeded(t, nodes[0], b)
	testenv.WaitUntil(t, "the key to empty", func() (bool, string) {
		info, err := nodes[0].keys.Get(ctx, "ten_a", KeyOrdering, "c")
		return err == nil && info.InFlight == 0 && info.Waiting == 0, fmt.Sprint(info, err)
	})
	consumerIdle(t, nodes[0].b, StreamSchedules, consumerKeyAdmit)
	if calls, _, _ := tg.snapshot("/c"); !slices.Equal(calls, []string{a[0], b[0]}) {
		t.Fatalf("calls: got %v, want %s then %s", calls, a[0], b[0])
	}
}

// TestOrderingKeySurvivesAKilledNode: the node running the key's first
// task dies (its connection gone, its attempt abandoned unrecorded); the
// other node gets the attempt after the ack wait and the key goes on.
func TestOrderingKeySurvivesAKilledNode(t *testing.T) {
	t.Parallel()
	nodes := startKeyNodes(t, 2, 2*time.Second)
	tg := newKeyTarget(t)
	spec := Spec{TargetURL: tg.URL + "/k", Method: http.MethodPost, Retries: 3, Timeout: 30, OrderingKey: "k"}
	first, letGo := createHeld(t, tg, nodes[1], spec)
	defer letGo()
	var runner []string
	testenv.WaitUntil(t, "the first task's call", func() (bool, string) {
		runner = tg.nodesOf(first[0])
		return len(runner) == 1, fmt.Sprint(runner)
	})
	ids := append(first, createKeyed(t, nodes, 4, spec)...)
	dead, alive := nodes[0], nodes[1]
	if runner[0] == alive.name {
		dead, alive = alive, dead
	}
	dead.nc.Close()
	dead.stop()
	letGo()
	waitSucceeded(t, alive, ids)
	calls, _, maxRunning := tg.snapshot("/k")
	want := slices.Concat([]string{ids[0]}, ids)
	if !slices.Equal(calls, want) || maxRunning != 1 {
		t.Fatalf("calls: got %v (%d at once), want %v one at a time", calls, maxRunning, want)
	}
}

// TestIdleKeyIsForgotten: a key's state lives as long as a task holds it
// or it is paused; idle, it expires after the key TTL (1 s here), and the
// key's next tasks find a fresh key and run in order, none of the old
// ones again.
func TestIdleKeyIsForgotten(t *testing.T) {
	t.Parallel()
	nodes := startKeyNodes(t, 2, 30*time.Second, func(p *Publisher) { p.keyIdleTTL = time.Second })
	tg := newKeyTarget(t)
	ctx := context.Background()
	spec := Spec{TargetURL: tg.URL + "/idle", Method: http.MethodPost, Retries: 3, Timeout: 30, OrderingKey: "idle"}
	k := keyRef{TenantID: "ten_a", Kind: KeyOrdering, Key: "idle"}
	stateTTL := func() string {
		t.Helper()
		st, err := nodes[0].b.js.Stream(ctx, StreamSchedules)
		if err != nil {
			t.Fatal(err)
		}
		msg, err := st.GetLastMsgForSubject(ctx, k.stateSubject())
		if err != nil {
			t.Fatalf("the key's state: %v", err)
		}
		return msg.Header.Get(jetstream.MsgTTLHeader)
	}

	first, letGo := createHeld(t, tg, nodes[0], spec)
	defer letGo()
	second := createKeyed(t, nodes[1:], 1, spec)
	testenv.WaitUntil(t, "the first task's call", func() (bool, string) {
		calls, _, _ := tg.snapshot("/idle")
		return len(calls) == 1, fmt.Sprint(calls)
	})
	if ttl := stateTTL(); ttl != "" {
		t.Fatalf("a key a task holds has a state with TTL %q; want none", ttl)
	}
	letGo()
	waitSucceeded(t, nodes[0], append(first, second...))
	testenv.WaitUntil(t, "the idle key to be forgotten", func() (bool, string) {
		info, err := nodes[1].keys.Get(ctx, "ten_a", KeyOrdering, "idle")
		return errors.Is(err, ErrKeyNotFound), fmt.Sprint(info, err)
	})

	more := createKeyed(t, nodes, 3, spec)
	waitSucceeded(t, nodes[1], more)
	consumerIdle(t, nodes[0].b, StreamSchedules, consumerKeyAdmit)
	if calls, _, _ := tg.snapshot("/idle"); !slices.Equal(calls, slices.Concat(first, second, more)) {
		t.Fatalf("calls: got %v, want each task once, in creation order", calls)
	}

	// Paused, a key is kept however long it waits; resumed, it is idle.
	if _, err := nodes[0].keys.Pause(ctx, "ten_a", KeyOrdering, "idle"); err != nil {
		t.Fatal(err)
	}
	if ttl := stateTTL(); ttl != "" {
		t.Fatalf("a paused key has a state with TTL %q; want none", ttl)
	}
	if _, err := nodes[0].keys.Resume(ctx, "ten_a", KeyOrdering, "idle"); err != nil {
		t.Fatal(err)
	}
	if ttl := stateTTL(); ttl != "1s" {
		t.Fatalf("a resumed idle key has a state with TTL %q; want 1s", ttl)
	}
	// An ordering key paused before any task used it is still one of
	// parallelism 1.
	if info, err := nodes[1].keys.Pause(ctx, "ten_a", KeyOrdering, "fresh"); err != nil || info.Parallelism != 1 || !info.Paused {
		t.Fatalf("pausing a new ordering key: got %+v, %v; want paused, parallelism 1", info, err)
	}
}

func TestKeyStateTTL(t *testing.T) {
	p := &Publisher{keyIdleTTL: time.Hour}
	for _, c := range []struct {
		name string
		s    keyState
		want time.Duration
	}{
		{"held", keyState{Holding: []keyHolder{{TaskID: "t"}}}, 0},
		{"paused", keyState{Paused: true}, 0},
		{"idle ordering key", keyState{Kind: KeyOrdering, Parallelism: 1}, time.Hour},
		{"idle rate key", keyState{Kind: KeyFlowControl, Rate: 5, Period: "90m"}, 150 * time.Minute},
		{"default period", keyState{Kind: KeyFlowControl, Rate: 5}, time.Hour + time.Second},
		{"sub-second period", keyState{Kind: KeyFlowControl, Rate: 5, Period: "1500ms"}, time.Hour + 2*time.Second},
	} {
		if got := p.stateTTL(&c.s); got != c.want {
			t.Errorf("%s: TTL %v, want %v", c.name, got, c.want)
		}
	}
}
