package broker

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/internal/natsembed"
	"github.com/boomerang-dev/boomerang/internal/testenv"
)

// capacityTarget serves capacity calls at once (each held for hold) and
// answers 429 at once beyond; it counts each task's successes. A task
// named in block is held until its channel is closed, then answered with
// the status in blockCode (with a Retry-After when retryAfter is set).
type capacityTarget struct {
	*httptest.Server
	capacity   int
	hold       time.Duration
	mu         sync.Mutex
	running    int
	calls      int
	succeeded  map[string]int
	called     map[string]int
	block      map[string]chan struct{} // path -> closed to answer
	answer     map[string]int           // path -> status answered at once
	blockCode  int
	retryAfter string
}

func newCapacityTarget(t *testing.T, capacity int, hold time.Duration) *capacityTarget {
	tg := &capacityTarget{capacity: capacity, hold: hold, succeeded: map[string]int{}, called: map[string]int{},
		block: map[string]chan struct{}{}, answer: map[string]int{}, blockCode: http.StatusOK}
	tg.Server = httptest.NewServer(http.HandlerFunc(tg.serve))
	t.Cleanup(tg.Close)
	return tg
}

func (tg *capacityTarget) serve(w http.ResponseWriter, r *http.Request) {
	id := r.Header.Get("Boomerang-Task-Id")
	tg.mu.Lock()
	tg.calls++
	tg.called[id]++
	block, blocked := tg.block[r.URL.Path]
	code, answered := tg.answer[r.URL.Path]
	tg.running++
	over := tg.running > tg.capacity
	tg.mu.Unlock()
	defer func() { tg.mu.Lock(); tg.running--; tg.mu.Unlock() }()
	switch {
	case answered:
		w.WriteHeader(code)
		return
	case blocked:
		<-block
		tg.mu.Lock()
		code, ra := tg.blockCode, tg.retryAfter
		tg.mu.Unlock()
		if ra != "" {
			w.Header().Set("Retry-After", ra)
		}
		w.WriteHeader(code)
		return
	case over:
		w.WriteHeader(http.StatusTooManyRequests)
		return
	}
	select {
	case <-time.After(tg.hold):
	case <-r.Context().Done():
		return
	}
	tg.mu.Lock()
	tg.succeeded[id]++
	tg.mu.Unlock()
}

func (tg *capacityTarget) state() (calls int, succeeded map[string]int, called map[string]int) {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	s, c := map[string]int{}, map[string]int{}
	for k, v := range tg.succeeded {
		s[k] = v
	}
	for k, v := range tg.called {
		c[k] = v
	}
	return tg.calls, s, c
}

// statusCodeCaller calls over HTTP like httpCaller, and reports the
// status code, a 429 or 503 as to be retried, with its Retry-After.
type statusCodeCaller struct{}

func (statusCodeCaller) Call(ctx context.Context, req CallRequest) CallResult {
	started := time.Now()
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, req.Spec.TargetURL, nil)
	if err != nil {
		return CallResult{Outcome: OutcomeFailed, Error: err.Error(), StartedAt: started}
	}
	r.Header.Set("Boomerang-Task-Id", req.TaskID)
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		return CallResult{Outcome: OutcomeRetry, Error: err.Error(), StartedAt: started, Duration: time.Since(started)}
	}
	resp.Body.Close()
	res := CallResult{Outcome: OutcomeSucceeded, Response: Response{StatusCode: resp.StatusCode}, StartedAt: started, Duration: time.Since(started)}
	if resp.StatusCode >= 400 {
		res.Outcome = OutcomeRetry
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
			res.RetryAfter = time.Duration(s) * time.Second
		}
	}
	return res
}

// waitNode is a node of the waiting-room tests: its own connection, view,
// projector and dispatcher on a shared embedded server.
type waitNode struct {
	b     *bundle
	tasks *Tasks
	d     *Dispatcher
	stop  func() // stops the dispatcher gracefully
}

// startWaitNodes starts n nodes sharing one embedded server, with the
// given ack wait and dispatcher config.
func startWaitNodes(t *testing.T, n int, ackWait time.Duration, cfg WorkerConfig) []*waitNode {
	t.Helper()
	srv := startTestServer(t)
	var nodes []*waitNode
	for range n {
		nodes = append(nodes, startWaitNode(t, srv, ackWait, cfg))
	}
	return nodes
}

// startWaitNode starts a node on srv.
func startWaitNode(t *testing.T, srv *natsembed.Server, ackWait time.Duration, cfg WorkerConfig) *waitNode {
	t.Helper()
	b, p, _ := startNodeBundle(t, srv, ackWait)
	cfg.AckWait = ackWait
	node := &waitNode{b: b, tasks: NewTasks(b.pub, b.view, p, quiet, nil)}
	node.d = NewDispatcher(b.js, b.pub, b.view, p, statusCodeCaller{}, quickPolicy{}, quiet, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = node.d.Run(ctx) }()
	var once sync.Once
	node.stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(func() { node.d.Abort(); node.stop() })
	return node
}

// dueDeliveries is how many times the dispatch-due consumer has handed
// out a message.
func dueDeliveries(t *testing.T, b *bundle) uint64 {
	t.Helper()
	cons, err := b.js.Consumer(context.Background(), StreamSchedules, consumerDispatchDue)
	if err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.Delivered.Consumer
}

// TestWaitingRoomEndsTheRedeliveryLoop: a few hundred tasks due at once,
// on two dispatchers, to a target that serves 8 at once and answers 429
// beyond. Every task succeeds once, with the waiting room and without;
// with it the dispatch-due consumer hands out few messages beyond the
// dues (one per call made), without it the work over the limit comes back
// again and again.
func TestWaitingRoomEndsTheRedeliveryLoop(t *testing.T) {
	t.Parallel()
	const tasks = 300
	extra := map[bool]int{}
	for _, room := range []bool{true, false} {
		cfg := WorkerConfig{MaxInFlight: 64, Adaptive: AdaptiveConfig{WaitingPerLimit: 100}}
		if !room {
			cfg.Adaptive.WaitingMax = -1
		}
		nodes := startWaitNodes(t, 2, 30*time.Second, cfg)
		tg := newCapacityTarget(t, 8, 50*time.Millisecond)
		due := time.Now().Add(5 * time.Second).UTC()
		for i := range tasks {
			spec := Spec{TargetURL: tg.URL, Method: http.MethodPost, Retries: 100, Timeout: 30, NotBefore: &due}
			if _, _, err := nodes[i%2].tasks.Create(context.Background(), "ten_a", spec, ""); err != nil {
				t.Fatal(err)
			}
		}
		testenv.WaitUntil(t, "every task succeeded", func() (bool, string) {
			_, succeeded, _ := tg.state()
			return len(succeeded) == tasks, fmt.Sprintf("%d of %d succeeded", len(succeeded), tasks)
		})
		for _, n := range nodes {
			n.stop()
		}
		calls, succeeded, _ := tg.state()
		for id, n := range succeeded {
			if n != 1 {
				t.Errorf("room %v: task %s succeeded %d times", room, id, n)
			}
		}
		// Every call was made for one due; a due handed out again without
		// a call is the loop.
		extra[room] = int(dueDeliveries(t, nodes[0].b)) - calls
		t.Logf("room %v: %d calls, %d due deliveries beyond them", room, calls, extra[room])
	}
	if extra[true] > tasks/10 || extra[true] >= extra[false] {
		t.Fatalf("due deliveries beyond the calls: %d with the room, %d without", extra[true], extra[false])
	}
}

// create creates a task of the tenant ten_a to path on tg, with the
// given retries, and returns its id.
func (n *waitNode) create(t *testing.T, tg *capacityTarget, path string, retries int) string {
	t.Helper()
	task, _, err := n.tasks.Create(context.Background(), "ten_a", Spec{TargetURL: tg.URL + path, Method: http.MethodPost, Retries: retries, Timeout: 600}, "")
	if err != nil {
		t.Fatal(err)
	}
	return task.ID
}

// destination returns the node's limited destination of ten_a towards
// tg, Limit -1 when it has none.
func (n *waitNode) destination(tg *capacityTarget) DestinationLimit {
	for _, l := range n.d.LimitedDestinations("ten_a") {
		if l.Host == DestinationOf(tg.URL) {
			return l
		}
	}
	return DestinationLimit{Limit: -1}
}

// fillHost brings the node's limit towards tg down to 1 (a 429 at a cap
// of 2), holds one call (to /block, until release is called) and has the
// tasks it returns (to /wait) wait for a place in the room.
func fillHost(t *testing.T, n *waitNode, tg *capacityTarget, waiting int) (release func(), waiters []string) {
	t.Helper()
	ch := make(chan struct{})
	tg.mu.Lock()
	tg.answer["/warm"] = http.StatusTooManyRequests
	tg.block["/block"] = ch
	tg.mu.Unlock()
	n.create(t, tg, "/warm", 0)
	testenv.WaitUntil(t, "the limit lowered to 1", func() (bool, string) {
		l := n.destination(tg)
		return l.Limit == 1 && l.InFlight == 0, fmt.Sprintf("%+v", l)
	})
	n.create(t, tg, "/block", 0)
	testenv.WaitUntil(t, "the blocker in flight", func() (bool, string) {
		l := n.destination(tg)
		return l.InFlight == 1, fmt.Sprintf("%+v", l)
	})
	for range waiting {
		waiters = append(waiters, n.create(t, tg, "/wait", 0))
	}
	testenv.WaitUntil(t, "the tasks waiting", func() (bool, string) {
		l := n.destination(tg)
		return l.Waiting == waiting, fmt.Sprintf("%+v", l)
	})
	var once sync.Once
	release = func() { once.Do(func() { close(ch) }) }
	t.Cleanup(release)
	return release, waiters
}

// waitCfg is the dispatchers' config of the scenario tests: a cap of 2
// calls at once per host.
var waitCfg = WorkerConfig{MaxInFlight: 16, MaxPerHost: 2}

// TestCanceledWhileWaiting: a task canceled while it waits in the room
// leaves it at once, settled as canceled, and is never called.
func TestCanceledWhileWaiting(t *testing.T) {
	t.Parallel()
	n := startWaitNodes(t, 1, 30*time.Second, waitCfg)[0]
	tg := newCapacityTarget(t, 100, 0)
	release, waiters := fillHost(t, n, tg, 2)
	if _, err := n.tasks.Cancel(context.Background(), "ten_a", waiters[0]); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, n.tasks, "ten_a", waiters[0], StatusCanceled)
	testenv.WaitUntil(t, "the canceled task out of the room", func() (bool, string) {
		l := n.destination(tg)
		return l.Waiting == 1, fmt.Sprintf("%+v", l)
	})
	release()
	waitStatus(t, n.tasks, "ten_a", waiters[1], StatusSucceeded)
	if _, _, called := tg.state(); called[waiters[0]] != 0 {
		t.Fatalf("the canceled task was called %d times", called[waiters[0]])
	}
}

// TestRetryAfterWhileWaiting: a Retry-After that pauses the host sends
// the work waiting for it to the end of the pause: it leaves the room and
// the consumer, uncalled.
func TestRetryAfterWhileWaiting(t *testing.T) {
	t.Parallel()
	n := startWaitNodes(t, 1, 30*time.Second, waitCfg)[0]
	tg := newCapacityTarget(t, 100, 0)
	release, waiters := fillHost(t, n, tg, 3)
	tg.mu.Lock()
	tg.blockCode, tg.retryAfter = http.StatusTooManyRequests, "3600"
	tg.mu.Unlock()
	release()
	testenv.WaitUntil(t, "the waiting work scheduled for the pause's end", func() (bool, string) {
		l := n.destination(tg)
		cons, err := n.b.js.Consumer(context.Background(), StreamTasks, consumerDispatch)
		if err != nil {
			t.Fatal(err)
		}
		pending := cons.CachedInfo().NumAckPending
		return l.Waiting == 0 && !l.PausedUntil.IsZero() && pending == 0, fmt.Sprintf("%+v, %d awaiting their ack", l, pending)
	})
	_, _, called := tg.state()
	for _, id := range waiters {
		task, err := n.tasks.Get(context.Background(), "ten_a", id)
		if err != nil {
			t.Fatal(err)
		}
		if called[id] != 0 || task.Status.Finished() {
			t.Fatalf("task %s was called %d times and is %s", id, called[id], task.Status)
		}
	}
}

// TestStopGivesWaitingWorkBack: a dispatcher told to stop while work
// waits in its room gives that work back to the stream at once (the ack
// wait is 10 minutes): another node makes the attempts while the first
// still waits for its call in flight.
func TestStopGivesWaitingWorkBack(t *testing.T) {
	t.Parallel()
	srv := startTestServer(t)
	first := startWaitNode(t, srv, 10*time.Minute, waitCfg)
	tg := newCapacityTarget(t, 100, 0)
	release, waiters := fillHost(t, first, tg, 3)
	stopped := make(chan struct{})
	go func() { defer close(stopped); first.stop() }()
	second := startWaitNode(t, srv, 10*time.Minute, waitCfg)
	for _, id := range waiters {
		waitStatus(t, second.tasks, "ten_a", id, StatusSucceeded)
	}
	select {
	case <-stopped:
		t.Fatal("the first dispatcher stopped before its call in flight ended")
	default:
	}
	release()
	<-stopped
}
