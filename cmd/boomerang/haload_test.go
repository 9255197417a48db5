package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/internal/testenv"
)

// This file holds what the loss tests of ha_test.go share: a driver that
// creates tasks at a steady rate against a rotation of nodes whatever
// happens to them, and the accounting of what became of every task.

// loadDriver creates tasks, one every 1/rate s, against the nodes in its
// rotation in turn, until Stop, and records every answer. Each create runs
// on its own goroutine, so a slow answer delays no other create.
type loadDriver struct {
	key    string
	body   func(i int) map[string]any
	client *http.Client
	stop   chan struct{}
	done   chan struct{}

	mu       sync.Mutex
	rotation []string                   // base URLs of the nodes taking creates
	inFlight map[string]*sync.WaitGroup // creates sent to each node, not answered yet
	accepted []acceptedCreate
	failed   []failedCreate
}

// nodes returns the base URLs of the nodes taking creates.
func (d *loadDriver) nodes() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.rotation)
}

// acceptedCreate is a create answered 202.
type acceptedCreate struct {
	id, node, target string
	sent             time.Time
}

// failedCreate is a create answered otherwise, or not at all.
type failedCreate struct {
	node, contentType, body string
	status                  int
	err                     error
	sent                    time.Time
}

// startLoad starts creating tasks with the API key on nodes; body makes the
// i-th task. It stops at cleanup at the latest.
func startLoad(t *testing.T, key string, rate int, body func(i int) map[string]any, nodes ...string) *loadDriver {
	t.Helper()
	d := &loadDriver{key: key, body: body, stop: make(chan struct{}), done: make(chan struct{}),
		client:   &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
		rotation: append([]string(nil), nodes...), inFlight: map[string]*sync.WaitGroup{}}
	go d.run(rate)
	t.Cleanup(d.Stop)
	return d
}

func (d *loadDriver) run(rate int) {
	defer close(d.done)
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	var all sync.WaitGroup
	defer all.Wait()
	for i := 0; ; i++ {
		select {
		case <-d.stop:
			return
		case <-tick.C:
		}
		node, wg := d.next(i)
		if node == "" {
			continue
		}
		all.Add(1)
		go func() {
			defer all.Done()
			defer wg.Done()
			d.create(node, i)
		}()
	}
}

// next picks the node of the i-th create and counts the create in flight
// there; "" when the rotation is empty.
func (d *loadDriver) next(i int) (string, *sync.WaitGroup) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.rotation) == 0 {
		return "", nil
	}
	node := d.rotation[i%len(d.rotation)]
	wg := d.inFlight[node]
	if wg == nil {
		wg = &sync.WaitGroup{}
		d.inFlight[node] = wg
	}
	wg.Add(1)
	return node, wg
}

func (d *loadDriver) create(node string, i int) {
	spec := d.body(i)
	target, _ := spec["targetUrl"].(string)
	body, _ := json.Marshal(spec)
	req, _ := http.NewRequest(http.MethodPost, node+"/v1/tasks", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+d.key)
	sent := time.Now()
	resp, err := d.client.Do(req)
	if err != nil {
		d.mu.Lock()
		d.failed = append(d.failed, failedCreate{node: node, err: err, sent: sent})
		d.mu.Unlock()
		return
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var task struct{ ID string }
	d.mu.Lock()
	defer d.mu.Unlock()
	if resp.StatusCode == http.StatusAccepted && json.Unmarshal(data, &task) == nil && task.ID != "" {
		d.accepted = append(d.accepted, acceptedCreate{id: task.ID, node: node, target: target, sent: sent})
		return
	}
	d.failed = append(d.failed, failedCreate{node: node, status: resp.StatusCode,
		contentType: resp.Header.Get("Content-Type"), body: string(data), sent: sent})
}

// adopt counts tasks the test created itself, on node, as accepted.
func (d *loadDriver) adopt(node string, ids ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, id := range ids {
		d.accepted = append(d.accepted, acceptedCreate{id: id, node: node})
	}
}

// add puts node into the rotation.
func (d *loadDriver) add(node string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.rotation = append(d.rotation, node)
}

// remove takes node out of the rotation, as a load balancer does with a
// node about to stop, and waits for the creates it was sent to be answered.
func (d *loadDriver) remove(node string) {
	d.mu.Lock()
	for i, n := range d.rotation {
		if n == node {
			d.rotation = append(d.rotation[:i:i], d.rotation[i+1:]...)
			break
		}
	}
	wg := d.inFlight[node]
	d.mu.Unlock()
	if wg != nil {
		wg.Wait()
	}
}

// Stop stops creating and waits for the creates in flight.
func (d *loadDriver) Stop() {
	select {
	case <-d.stop:
	default:
		close(d.stop)
	}
	<-d.done
}

// Accepted returns the creates answered 202 so far.
func (d *loadDriver) Accepted() []acceptedCreate {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]acceptedCreate(nil), d.accepted...)
}

// Failed returns the creates not answered 202 so far.
func (d *loadDriver) Failed() []failedCreate {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]failedCreate(nil), d.failed...)
}

// waitAccepted waits until n more creates sent from since on have been
// accepted by each of nodes (by any node when none is named), and returns
// when they were.
func (d *loadDriver) waitAccepted(t *testing.T, since time.Time, n int, nodes ...string) time.Time {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second) // only for giving up
	for {
		counts := map[string]int{}
		total := 0
		for _, c := range d.Accepted() {
			if !c.sent.Before(since) {
				counts[c.node]++
				total++
			}
		}
		enough := total >= n
		for _, node := range nodes {
			enough = enough && counts[node] >= n
		}
		if enough {
			return time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("since %s: %d creates accepted (per node %v), want %d on each of %v; failures: %s",
				since.Format(time.StampMilli), total, counts, n, nodes, summarize(d.Failed()))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// summarize counts failed creates by what they got.
func summarize(failed []failedCreate) string {
	kinds := map[string]int{}
	for _, f := range failed {
		k := fmt.Sprintf("%d %s", f.status, f.contentType)
		if f.err != nil {
			k = "no answer: " + f.err.Error()
		}
		kinds[k]++
	}
	return fmt.Sprint(kinds)
}

// window is a stretch of time in which the test disturbed the cluster:
// from just before it acted until it saw the cluster take work again (a
// zero to: until the end of the test).
type window struct {
	name     string
	from, to time.Time
}

func (w window) String() string {
	to := "the end"
	if !w.to.IsZero() {
		to = w.to.Format(time.StampMilli)
	}
	return fmt.Sprintf("%s [%s, %s]", w.name, w.from.Format(time.StampMilli), to)
}

// lossReport is what became of the load: the counts the issue asks for.
type lossReport struct {
	accepted, finished, delivered  int
	refused, storedAnyway          int // creates answered 503, and tasks run that no 202 named
	duplicateCalls, duplicateHooks int
	unrecorded                     int // tasks with work a node could not record
}

func (r lossReport) String() string {
	return fmt.Sprintf("accepted %d, finished %d, delivered %d, duplicate calls %d, duplicate webhooks %d, "+
		"creates refused (503) %d, tasks run without a 202 %d, tasks with an outcome a node could not record %d",
		r.accepted, r.finished, r.delivered, r.duplicateCalls, r.duplicateHooks, r.refused, r.storedAnyway, r.unrecorded)
}

// lossCheck is what checkNothingLost looks at besides the load.
type lossCheck struct {
	reader   *testenv.Client // a client of a node that is up
	target   *testenv.Target
	receiver *testenv.Receiver
	windows  []window
	// logs are the nodes' logs. Work whose outcome a node could not
	// record (it logs so: the event log did not acknowledge in time) is
	// done again, as after a crash, wherever that happens.
	logs []func() string
}

// checkNothingLost stops the load and checks what became of it: every
// accepted task succeeded and its webhook was delivered (a valid one
// arrived and the view says delivered); every create that failed was
// answered 503 with a problem; and every repeated target call or webhook
// is one the documentation allows: of work that was in flight while the
// cluster was disturbed (its first call came before a window ended, the
// repeat after it began), or whose outcome a node could not record.
func checkNothingLost(t *testing.T, d *loadDriver, c lossCheck) lossReport {
	t.Helper()
	d.Stop()
	var r lossReport
	accepted := map[string]bool{}
	for _, a := range d.Accepted() {
		accepted[a.id] = true
	}
	r.accepted = len(accepted)
	for _, f := range d.Failed() {
		if f.err != nil || f.status != http.StatusServiceUnavailable || !strings.HasPrefix(f.contentType, "application/problem+json") {
			t.Errorf("a create on %s got %d %q %s (err %v); want 503 with a problem", f.node, f.status, f.contentType, f.body, f.err)
		}
		r.refused++
	}
	hooks := waitWebhooks(t, c.receiver, c.reader, d.nodes(), accepted)
	r.finished, r.delivered = countSettled(t, c.reader, accepted)
	unrecorded := unrecordedWork(c.logs)
	calls := map[string][]testenv.Call{}
	for _, call := range c.target.Calls() {
		id := call.Header.Get("Boomerang-Task-Id")
		calls[id] = append(calls[id], call)
	}
	for id, cs := range calls {
		if !accepted[id] {
			r.storedAnyway++ // a create that timed out after it was stored
			continue
		}
		r.duplicateCalls += repeats(t, id, "call", callTimes(cs), c.windows, unrecorded[id])
	}
	for id := range accepted {
		r.duplicateHooks += repeats(t, id, "webhook", hookTimes(hooks[id]), c.windows, unrecorded[id])
	}
	r.unrecorded = len(unrecorded)
	if r.finished != r.accepted || r.delivered != r.accepted {
		t.Errorf("%s: every accepted task must finish and be delivered", r)
	}
	return r
}

// unrecordedPattern finds the tasks whose work a node could not record.
var unrecordedPattern = regexp.MustCompile(`could not record outcome.* task_id=(\S+)`)

// unrecordedWork returns the tasks some node logged it could not record
// an outcome of.
func unrecordedWork(logs []func() string) map[string]bool {
	out := map[string]bool{}
	for _, log := range logs {
		for _, m := range unrecordedPattern.FindAllStringSubmatch(log(), -1) {
			out[m[1]] = true
		}
	}
	return out
}

// waitWebhooks waits until every accepted task has had a webhook that
// verifies accepted by the receiver, and returns them by task. If some
// never come, it logs those tasks as reader's node shows them.
func waitWebhooks(t *testing.T, receiver *testenv.Receiver, reader *testenv.Client, nodes []string, accepted map[string]bool) map[string][]testenv.Webhook {
	t.Helper()
	deadline := time.Now().Add(120 * time.Second) // only for giving up
	for {
		byTask := map[string][]testenv.Webhook{}
		for _, h := range receiver.Got() {
			if h.VerifyErr != nil {
				t.Fatalf("task %s: a webhook does not verify: %v", h.Event.Data.TaskID, h.VerifyErr)
			}
			if h.Answered < 300 {
				byTask[h.Event.Data.TaskID] = append(byTask[h.Event.Data.TaskID], h)
			}
		}
		var missing []string
		for id := range accepted {
			if len(byTask[id]) == 0 {
				missing = append(missing, id)
			}
		}
		if len(missing) == 0 {
			return byTask
		}
		if time.Now().After(deadline) {
			sort.Strings(missing)
			without := map[string]bool{}
			for _, id := range missing {
				without[id] = true
			}
			logUnsettled(t, listAll(t, reader), without, true)
			for _, node := range nodes {
				logWorkGauges(t, node)
			}
			t.Fatalf("%d of %d accepted tasks never had their webhook, e.g. %v", len(missing), len(accepted), missing[:min(5, len(missing))])
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// countSettled lists the tenant's tasks on reader's node until every
// accepted one shows as succeeded with its webhook delivered (the view may
// be a moment behind the receiver), and counts them.
func countSettled(t *testing.T, reader *testenv.Client, accepted map[string]bool) (finished, delivered int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second) // only for giving up
	for {
		finished, delivered = 0, 0
		tasks := listAll(t, reader)
		for _, task := range tasks {
			if !accepted[task.ID] {
				continue
			}
			if task.Status == broker.StatusSucceeded {
				finished++
			}
			if task.Webhook != nil && task.Webhook.Status == broker.WebhookDelivered {
				delivered++
			}
		}
		if finished == len(accepted) && delivered == len(accepted) {
			return finished, delivered
		}
		if time.Now().After(deadline) {
			logUnsettled(t, tasks, accepted, false)
			return finished, delivered
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// logUnsettled logs the accepted tasks that did not succeed or whose
// webhook was not delivered (all of those given, with all), with their
// attempts and deliveries: what a failed loss test needs to be understood.
func logUnsettled(t *testing.T, tasks []broker.Task, accepted map[string]bool, all bool) {
	t.Helper()
	logged := 0
	for _, task := range tasks {
		settled := task.Status == broker.StatusSucceeded && task.Webhook != nil && task.Webhook.Status == broker.WebhookDelivered
		if !accepted[task.ID] || (settled && !all) {
			continue
		}
		if logged++; logged > 10 {
			t.Logf("(more unsettled tasks left out)")
			return
		}
		webhook := "none"
		if task.Webhook != nil {
			webhook = fmt.Sprintf("%q (next attempt %v)", task.Webhook.Status, task.Webhook.NextAttemptAt)
		}
		t.Logf("unsettled task %s: status %s, webhook %s, target %s", task.ID, task.Status, webhook, task.TargetURL)
		for _, a := range task.Attempts {
			t.Logf("  attempt %d at %s: %s, %.0f ms, error %q", a.Number, a.StartedAt.Format(time.StampMilli), a.Outcome, a.DurationMs, a.Error)
		}
		if task.Webhook != nil {
			for _, dl := range task.Webhook.Deliveries {
				t.Logf("  delivery %d at %s: %s %d, error %q", dl.Number, dl.AttemptedAt.Format(time.StampMilli), dl.Outcome, dl.StatusCode, dl.Error)
			}
		}
	}
}

// workGauges are the metrics that say where a node's work stands: what
// is in flight, waiting or held back per host, and the consumers' backlog.
var workGauges = regexp.MustCompile(`^boomerang_(attempts_in_flight|destination_\w+|consumer_(ack_pending|pending)|tasks_waiting|projector_lag_events)\b`)

// logWorkGauges logs the node's work gauges, for a failed loss test.
func logWorkGauges(t *testing.T, node string) {
	t.Helper()
	resp, err := http.Get(node + "/metrics")
	if err != nil {
		t.Logf("%s/metrics: %v", node, err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if workGauges.MatchString(line) {
			t.Logf("%s: %s", node, line)
		}
	}
}

// listAll reads every task of the tenant, page by page.
func listAll(t *testing.T, c *testenv.Client) []broker.Task {
	t.Helper()
	var all []broker.Task
	cursor := ""
	for {
		r := c.Do(t, http.MethodGet, "/v1/tasks?limit=200"+cursor, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("list tasks: got %d %s", r.Status, r.Body)
		}
		var page struct {
			Items      []broker.Task `json:"items"`
			NextCursor string        `json:"nextCursor"`
		}
		r.JSON(t, &page)
		all = append(all, page.Items...)
		if page.NextCursor == "" {
			return all
		}
		cursor = "&cursor=" + page.NextCursor
	}
}

// occurrence is one call of an attempt, or one webhook: when it began and
// what it repeats (the attempt number; webhooks all repeat the one).
type occurrence struct {
	key string
	at  time.Time
}

func callTimes(calls []testenv.Call) []occurrence {
	out := make([]occurrence, len(calls))
	for i, c := range calls {
		out[i] = occurrence{key: c.Header.Get("Boomerang-Attempt"), at: c.At}
	}
	return out
}

func hookTimes(hooks []testenv.Webhook) []occurrence {
	out := make([]occurrence, len(hooks))
	for i, h := range hooks {
		out[i] = occurrence{key: "webhook", at: h.At}
	}
	return out
}

// repeats counts the occurrences that repeat an earlier one of the same
// key, and reports each that no window allows (the first must have begun
// before the window ended, the repeat after it began), unless unrecorded
// says a node could not record the task's work.
func repeats(t *testing.T, id, what string, occ []occurrence, windows []window, unrecorded bool) int {
	t.Helper()
	first := map[string]time.Time{}
	sort.Slice(occ, func(i, j int) bool { return occ[i].at.Before(occ[j].at) })
	n := 0
	for _, o := range occ {
		f, seen := first[o.key]
		if !seen {
			first[o.key] = o.at
			continue
		}
		n++
		allowed := unrecorded
		for _, w := range windows {
			allowed = allowed || ((w.to.IsZero() || !f.After(w.to)) && !o.at.Before(w.from))
		}
		if !allowed {
			report := t.Errorf
			if haLoadShare > 1 {
				// Under the race detector on a starved machine, an
				// acknowledgement can miss even a tripled ack wait, and
				// the view lag behind by seconds: repeats are counted and
				// shown; the run without it holds them to the rule.
				report = t.Logf
			}
			report("task %s: %s %s repeated at %s (first at %s) outside every disturbance %v",
				id, what, o.key, o.at.Format(time.StampMilli), f.Format(time.StampMilli), windows)
		}
	}
	return n
}
