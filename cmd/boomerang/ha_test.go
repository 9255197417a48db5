package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/internal/testenv"
	"github.com/boomerang-dev/boomerang/tenant"
)

// The loss tests: Boomerang nodes on a three-server JetStream cluster on
// loopback (testenv.StartCluster), under a steady load of creates through
// every disturbance, each counting what became of the load
// (checkNothingLost in haload_test.go). They print the counts.

// haRate is the creates per second of every loss test: a tenth under the
// race detector (haLoadShare).
const haRate = 50 / haLoadShare

// Each test picks its nodes' --ack-wait and how long the slow tenth of its
// tasks takes. Where it waits for a dead node's work to come back, the ack
// wait is short and slow attempts outlast it, so that only in-progress
// acknowledgements keep them from being redelivered while they run.
// Elsewhere the ack wait is long enough that a machine starved of CPU
// does not make an acknowledgement miss it: the redelivery, and the
// repeated call, would be counted against the product. Under the race
// detector every wait is twice as long (haStretch).
const (
	haShortAckWait = haStretch * 5 * time.Second
	haOutlasting   = haStretch * 8 * time.Second // slow attempts, longer than haShortAckWait
	haAckWait      = haStretch * 10 * time.Second
	haSlow         = haStretch * 6 * time.Second
)

// pastAckWait is how many creates of the load take longer than ackWait.
func pastAckWait(ackWait time.Duration) int { return int(haRate * ackWait.Seconds() * 6 / 5) }

// scaled is n creates of the load, fewer under the race detector, where
// the load is lighter: the same stretch of time.
func scaled(n int) int { return max(1, n/haLoadShare) }

// haEnv is what every loss test starts from: the NATS cluster, the secret
// key every node shares, a target, and once a node runs, a tenant and its
// webhook receiver.
type haEnv struct {
	nats     *testenv.Cluster
	ackWait  time.Duration
	secret   string
	target   *testenv.Target
	released chan struct{} // closed at the end: held calls end
	receiver *testenv.Receiver
	creds    tenant.Credentials
	logs     []func() string // every node's log
}

// newHAEnv starts the NATS cluster and the target (see newHATarget).
func newHAEnv(t *testing.T, ackWait, slow time.Duration) *haEnv {
	t.Helper()
	h := newHATarget(t, ackWait, slow)
	h.nats = testenv.StartCluster(t, 3)
	return h
}

// newHATarget starts the target, without a NATS cluster; nodes will run
// with ackWait. The target answers /ok at once, /flaky with 503 on its
// first call, /slow after slow, and holds the first call of /held until
// the caller goes away.
func newHATarget(t *testing.T, ackWait, slow time.Duration) *haEnv {
	t.Helper()
	h := &haEnv{ackWait: ackWait, secret: newSecretKey(t), released: make(chan struct{})}
	h.target = testenv.NewTarget(t, func(w http.ResponseWriter, r *http.Request, n int) {
		switch {
		case r.URL.Path == "/flaky" && n == 1:
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		case r.URL.Path == "/slow" && !h.hold(r, time.After(slow)):
			return
		case r.URL.Path == "/held" && n == 1:
			h.hold(r, nil)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	})
	t.Cleanup(func() { close(h.released) }) // before the target closes
	return h
}

// hold waits until until fires, the caller goes away or the test ends,
// and reports whether until fired.
func (h *haEnv) hold(r *http.Request, until <-chan time.Time) bool {
	select {
	case <-until:
		return true
	case <-r.Context().Done():
	case <-h.released:
	}
	return false
}

// args are the flags of a node on natsURL, then extra.
func (h *haEnv) args(natsURL string, extra ...string) []string {
	return append([]string{"--nats-url", natsURL, "--replicas", "3", "--secret-key", h.secret,
		"--ack-wait", h.ackWait.String(), "--webhook-schedule", patientWebhookSchedule, "--log-level", "info"}, extra...)
}

// startNode runs a node in this process on natsURL with its data in dir.
func (h *haEnv) startNode(t *testing.T, dir, natsURL string, extra ...string) *testNode {
	t.Helper()
	n := mustRunMainIn(t, dir, h.args(natsURL, extra...)...)
	h.logs = append(h.logs, n.Log.String)
	return n
}

// binaryLog adds the log of the binary serving from dir to the logs.
func (h *haEnv) binaryLog(dir string) {
	h.logs = append(h.logs, func() string {
		data, _ := os.ReadFile(filepath.Join(dir, "serve.log"))
		return string(data)
	})
}

// check is what checkNothingLost looks at: the load's tasks as a client
// of the node at reader sees them, and repeats the windows allow.
func (h *haEnv) check(reader string, windows ...window) lossCheck {
	return lossCheck{reader: h.client(reader), target: h.target, receiver: h.receiver, windows: windows, logs: h.logs}
}

// newTenant creates the tenant through the node at base and starts its
// webhook receiver.
func (h *haEnv) newTenant(t *testing.T, base string) {
	t.Helper()
	_, h.creds = newTenant(t, base, "acme")
	h.receiver = testenv.NewReceiver(t, h.creds.SigningSecret)
}

// client is a client of the node at base with the tenant's key.
func (h *haEnv) client(base string) *testenv.Client {
	return &testenv.Client{Base: base, Key: h.creds.APIKey, Contract: apiContract}
}

// task is the i-th task of the load: a tenth slow, a tenth failing once,
// the rest quick, every one with a webhook.
func (h *haEnv) task(i int) map[string]any {
	path := "/ok"
	switch i % 10 {
	case 0:
		path = "/slow"
	case 5:
		path = "/flaky"
	}
	return map[string]any{"targetUrl": h.target.URL + path, "webhookUrl": h.receiver.URL, "payload": map[string]int{"i": i}}
}

// disturb does act to the cluster under load and returns the window from
// just before it until the cluster has settled: every one of nodes has
// accepted creates sent after it, and tasks created after it have gone
// all the way through (settled).
func (h *haEnv) disturb(t *testing.T, d *loadDriver, name string, act func(), nodes ...string) window {
	t.Helper()
	from := time.Now()
	act()
	after := time.Now()
	taking := d.waitAccepted(t, after, scaled(20), nodes...)
	to := h.settled(t, d, after)
	if floor := from.Add(raftSettle); to.Before(floor) {
		to = floor
	}
	t.Logf("%s: taking creates again %v later, tasks created after it done %v later", name,
		taking.Sub(from).Round(time.Millisecond), to.Sub(from).Round(time.Millisecond))
	return window{name: name, from: from, to: to}
}

// raftSettle is how long after a disturbance work may still be done
// twice although tasks go through again. Every stream and every consumer
// is a Raft group of its own that elects a new leader 4–9 s (at random,
// nats-server's election timeout) after it lost one, and a split vote
// starts again: a consumer that elects late, or twice, loses the
// acknowledgements sent to the leader it had, and hands that work out
// again one ack wait later. The tasks settled shows going through used
// some of the groups; the others may still be electing (seen: webhooks
// first made 0.05–0.65 s after the tasks went through, 7 s after the
// kill, repeated one ack wait later, all at one instant).
const raftSettle = haStretch * 2 * 9 * time.Second

// settled waits until tasks created from since on have gone all the way
// through, and returns when: the webhooks of the first ten quick ones, and
// of the first that failed once (its retry went through the schedules
// stream). Streams and consumers whose leader a disturbance took elect a
// new one each in its own time: work still in flight until then may be
// done again.
func (h *haEnv) settled(t *testing.T, d *loadDriver, since time.Time) time.Time {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second) // only for giving up
	for {
		var ids []string
		flaky := ""
		for _, c := range d.Accepted() {
			if c.sent.Before(since) || strings.HasSuffix(c.target, "/slow") {
				continue // slow ones would only widen the window
			}
			if len(ids) < 10 {
				ids = append(ids, c.id)
			}
			if flaky == "" && strings.HasSuffix(c.target, "/flaky") {
				flaky = c.id
			}
		}
		done := len(ids) == 10 && flaky != ""
		for _, id := range append(ids, flaky) {
			done = done && len(h.receiver.For(id)) > 0
		}
		if done {
			return time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("tasks created since %s never went through", since.Format(time.StampMilli))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestHAKillNATSServersLosesNothing kills, under load, a NATS server that
// leads as few streams as any (none when there is one), restarts it, then
// kills the task stream's leader: every accepted task finishes and is
// delivered, creates that fail meanwhile get a 503, and work goes on.
func TestHAKillNATSServersLosesNothing(t *testing.T) {
	t.Parallel()
	h := newHAEnv(t, haAckWait, haSlow)
	a := h.startNode(t, t.TempDir(), h.nats.URLs())
	b := h.startNode(t, t.TempDir(), h.nats.URLs())
	h.newTenant(t, a.URL())
	d := startLoad(t, h.creds.APIKey, haRate, h.task, a.URL(), b.URL())
	d.waitAccepted(t, time.Now(), scaled(150))

	quiet := leastLeading(t, h.nats)
	w1 := h.disturb(t, d, "kill "+h.nats.Name(quiet)+" (a follower)", func() { h.nats.Kill(quiet) }, a.URL(), b.URL())
	d.waitAccepted(t, w1.to, scaled(100))
	h.nats.Start(quiet)
	for _, s := range haStreams {
		h.nats.WaitStreamCurrent(s)
	}
	leader := h.nats.Index(h.nats.StreamLeader(broker.StreamTasks))
	w2 := h.disturb(t, d, "kill "+h.nats.Name(leader)+" (the task stream's leader)", func() { h.nats.Kill(leader) }, a.URL(), b.URL())
	d.waitAccepted(t, w2.to, scaled(150))

	r := checkNothingLost(t, d, h.check(b.URL(), w1, w2))
	t.Logf("kill a NATS server leading no stream, then the task stream's leader: %s", r)
}

// haStreams are the streams a node keeps.
var haStreams = []string{broker.StreamTasks, broker.StreamSchedules, tenant.Stream}

// leastLeading returns the server that leads the fewest of the node's
// streams and the meta group, and never the task stream.
func leastLeading(t *testing.T, c *testenv.Cluster) int {
	t.Helper()
	leads := map[string]int{c.WaitMetaLeader(): 1}
	for _, s := range haStreams {
		leads[c.StreamLeader(s)]++
	}
	leads[c.StreamLeader(broker.StreamTasks)] += 100
	best := 0
	for i := range 3 {
		if leads[c.Name(i)] < leads[c.Name(best)] {
			best = i
		}
	}
	t.Logf("leaderships (meta and streams; the task stream's counts 100): %v", leads)
	return best
}

// TestHAKillBoomerangNodeFinishesItsWorkElsewhere kills a node (the real
// binary, SIGKILL) under load while attempts run on it: a few held
// attempts that only it took, and slow ones. Until then in-progress
// acknowledgements keep them from being redelivered, although they run
// longer than the ack wait; after it the other nodes get them within the
// ack wait, call their targets again (the only repeats allowed: work in
// flight on the dead node) and finish them.
func TestHAKillBoomerangNodeFinishesItsWorkElsewhere(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	h := newHAEnv(t, haShortAckWait, haOutlasting)
	dirC, addrC := t.TempDir(), freeAddr(t)
	cmd := startBinary(t, dirC, addrC, h.args(h.nats.URLs())...)
	h.binaryLog(dirC)
	defer func() {
		if t.Failed() {
			dumpLog(t, dirC)
		}
	}()
	c := "http://" + addrC
	h.newTenant(t, c)
	// Node C, alone, takes every held attempt.
	var held []string
	for range 8 {
		held = append(held, createTask(t, h.client(c), map[string]any{"targetUrl": h.target.URL + "/held", "webhookUrl": h.receiver.URL}).ID)
	}
	for _, id := range held {
		h.target.WaitCallsFor(t, id, 1)
	}
	a := h.startNode(t, t.TempDir(), h.nats.URLs())
	b := h.startNode(t, t.TempDir(), h.nats.URLs())
	d := startLoad(t, h.creds.APIKey, haRate, h.task, a.URL(), b.URL(), c)
	d.adopt(c, held...)
	d.waitAccepted(t, time.Now(), pastAckWait(haShortAckWait)) // the held attempts live on in-progress acks

	d.remove(c) // as a load balancer would: no create is cut off
	kill := window{name: "SIGKILL of node C", from: time.Now()}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	kill.to = time.Now() // calls that reached the target until then may be node C's last
	for _, id := range held {
		h.target.WaitCallsFor(t, id, 2)
	}
	d.waitAccepted(t, kill.to, scaled(150), a.URL(), b.URL())

	r := checkNothingLost(t, d, h.check(a.URL(), kill))
	t.Logf("kill a Boomerang node mid-attempt (%d held attempts on it): %s", len(held), r)
	for _, id := range held {
		if calls := h.target.CallsFor(id); len(calls) != 2 || calls[0].Ended.Before(kill.from) {
			t.Errorf("held task %s: %d calls, the first ended %s; want 2, the first cut off by the kill at %s",
				id, len(calls), calls[0].Ended.Format(time.StampMilli), kill.from.Format(time.StampMilli))
		}
	}
}

// TestHARollingRestartLosesNothing stops every node in turn under load
// (gracefully: out of the load balancer, then Close) and starts it again
// on its data dir: nothing is lost, and since each stop lets its attempts
// finish, nothing is done twice.
func TestHARollingRestartLosesNothing(t *testing.T) {
	t.Parallel()
	h := newHAEnv(t, haAckWait, 2*time.Second) // attempts end well within the shutdown grace
	grace := []string{"--shutdown-grace", "20s"}
	var dirs []string
	var nodes []*testNode
	var urls []string
	for range 3 {
		dirs = append(dirs, t.TempDir())
		nodes = append(nodes, h.startNode(t, dirs[len(dirs)-1], h.nats.URLs(), grace...))
		urls = append(urls, nodes[len(nodes)-1].URL())
	}
	h.newTenant(t, urls[0])
	d := startLoad(t, h.creds.APIKey, haRate, h.task, urls...)
	d.waitAccepted(t, time.Now(), scaled(100))
	for i := range nodes {
		d.remove(nodes[i].URL())
		nodes[i].Stop()
		nodes[i] = h.startNode(t, dirs[i], h.nats.URLs(), grace...)
		d.add(nodes[i].URL())
		d.waitAccepted(t, time.Now(), scaled(30), nodes[i].URL())
	}
	r := checkNothingLost(t, d, h.check(nodes[0].URL()))
	t.Logf("rolling restart of 3 nodes: %s", r)
}

// TestHAPartitionedNodeStopsAndCatchesUp cuts the routes of the NATS
// server that leads the task stream, under load. Node P, connected to that
// server alone, becomes unready and refuses creates (503); node M, on the
// other two servers, keeps working. After the heal P is ready again, takes
// creates, and its view has caught up with everything M did meanwhile.
func TestHAPartitionedNodeStopsAndCatchesUp(t *testing.T) {
	t.Parallel()
	h := newHAEnv(t, haAckWait, haSlow)
	const cut = 0
	p := h.startNode(t, t.TempDir(), h.nats.URL(cut))
	m := h.startNode(t, t.TempDir(), h.nats.URL(1)+","+h.nats.URL(2))
	h.nats.MoveStreamLeader(broker.StreamTasks, cut)
	h.newTenant(t, m.URL())
	d := startLoad(t, h.creds.APIKey, haRate, h.task, p.URL(), m.URL())
	d.waitAccepted(t, time.Now(), scaled(50), p.URL(), m.URL())

	from := time.Now()
	h.nats.Partition(cut)
	unready := waitReadyz(t, p, http.StatusServiceUnavailable)
	t.Logf("node P unready %v after the partition", unready.Sub(from).Round(time.Millisecond))
	d.waitAccepted(t, unready, scaled(100), m.URL())
	heal := time.Now()
	for _, c := range d.Accepted() {
		if c.node == p.URL() && !c.sent.Before(unready) {
			t.Errorf("node P accepted a create sent at %s, while unready and cut off", c.sent.Format(time.StampMilli))
		}
	}
	h.nats.Heal(cut)
	ready := waitReadyz(t, p, http.StatusOK)
	t.Logf("node P ready %v after the heal", ready.Sub(heal).Round(time.Millisecond))
	d.waitAccepted(t, ready, scaled(100), p.URL(), m.URL())
	// The heal disturbs the cluster too: the server that was cut off
	// comes back with higher raft terms, and the groups it belongs to
	// (meta, streams, consumers) elect their leaders again, for seconds,
	// at times NATS decides, and work in flight then can be done again.
	// No end of the disturbance can be observed, so the window runs to the
	// end: repeats are counted and reported; none may come before it.
	w := window{name: "partition of " + h.nats.Name(cut) + " and its heal", from: from}

	// Node P's view has everything, the work of the partition included.
	r := checkNothingLost(t, d, h.check(p.URL(), w))
	t.Logf("partition of the task stream leader's server: %s", r)
}

// waitReadyz waits until the node's /readyz answers status, and returns
// when it did.
func waitReadyz(t *testing.T, n *testNode, status int) time.Time {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	deadline := time.Now().Add(90 * time.Second) // only for giving up
	for {
		resp, err := client.Get(n.URL() + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == status {
				return time.Now()
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz of %s never answered %d", n.URL(), status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
