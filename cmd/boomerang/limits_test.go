package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/internal/testenv"
)

// TestSlowTenantCannotTakeEverySlot floods a node with one tenant's tasks to
// a target that does not answer: the tenant gets its cap of slots, not
// more, and another tenant's task goes through meanwhile.
func TestSlowTenantCannotTakeEverySlot(t *testing.T) {
	t.Parallel()
	node := MustRunMain(t, "--max-in-flight", "8", "--max-in-flight-per-tenant", "3", "--max-in-flight-per-host", "2")
	alice, _ := node.tenantClient(t, "alice")
	bob, _ := node.tenantClient(t, "bob")
	release := make(chan struct{})
	var inFlight, peak atomic.Int64
	var once sync.Once
	slow := testenv.NewTarget(t, func(w http.ResponseWriter, r *http.Request, n int) {
		now := inFlight.Add(1)
		for {
			p := peak.Load()
			if now <= p || peak.CompareAndSwap(p, now) {
				break
			}
		}
		<-release
		inFlight.Add(-1)
		w.WriteHeader(http.StatusOK)
	})
	other := testenv.NewTarget(t, answer(200))
	defer once.Do(func() { close(release) })
	var ids []string
	for range 10 {
		ids = append(ids, createTask(t, alice, map[string]any{"targetUrl": slow.URL}).ID)
	}
	slow.WaitCalls(t, 2, 10*time.Second)
	// Every other task of alice's has been offered to the node, refused and
	// offered again (or, were the cap broken, one of them runs).
	node.waitTaskConsumers(t, "alice's 8 other tasks held back", func(_, redelivered int) bool { return redelivered >= 8 || peak.Load() > 2 })
	// Bob's task runs while alice's wait.
	fast := createTask(t, bob, map[string]any{"targetUrl": other.URL})
	if task := waitTask(t, bob, fast.ID, 10*time.Second, finished); task.Status != broker.StatusSucceeded {
		t.Fatalf("bob's task: %s", task.Status)
	}
	if p := peak.Load(); p > 2 {
		t.Fatalf("alice had %d calls to one host in flight, over the cap of 2", p)
	}
	once.Do(func() { close(release) })
	for _, id := range ids {
		if task := waitTask(t, alice, id, 30*time.Second, finished); task.Status != broker.StatusSucceeded {
			t.Fatalf("alice's task %s: %s", id, task.Status)
		}
	}
	if p := peak.Load(); p > 2 {
		t.Fatalf("alice peaked at %d calls to one host, over the cap of 2", p)
	}
}

// TestTenantCapHoldsAcrossHosts spreads one tenant's slow tasks over two
// hosts, so that the per-host cap (2 each) would allow 4: the per-tenant
// cap (3) holds them to 3. An operator's per-tenant override then lowers
// it to 1 for the tasks that follow.
func TestTenantCapHoldsAcrossHosts(t *testing.T) {
	t.Parallel()
	node := MustRunMain(t, "--max-in-flight", "8", "--max-in-flight-per-tenant", "3", "--max-in-flight-per-host", "2")
	alice, creds := node.tenantClient(t, "alice")
	var gate atomic.Pointer[chan struct{}] // closed to let the calls answer
	newGate := func() { ch := make(chan struct{}); gate.Store(&ch) }
	newGate()
	var inFlight, peak atomic.Int64
	ended := make(chan struct{}) // closed before the target closes, which waits for its calls
	slow := testenv.NewTarget(t, func(w http.ResponseWriter, r *http.Request, n int) {
		now := inFlight.Add(1)
		for p := peak.Load(); now > p && !peak.CompareAndSwap(p, now); p = peak.Load() {
		}
		select {
		case <-*gate.Load():
		case <-ended: // the test ended early
		}
		inFlight.Add(-1)
		w.WriteHeader(http.StatusOK)
	})
	t.Cleanup(func() { close(ended) })
	hosts := []string{slow.URL, strings.Replace(slow.URL, "127.0.0.1", "localhost", 1)}
	create := func(n int) []string {
		var ids []string
		for i := range n {
			ids = append(ids, createTask(t, alice, map[string]any{"targetUrl": hosts[i%2]}).ID)
		}
		return ids
	}
	finishAll := func(ids []string) {
		for _, id := range ids {
			if task := waitTask(t, alice, id, 30*time.Second, finished); task.Status != broker.StatusSucceeded {
				t.Fatalf("task %s: %s", id, task.Status)
			}
		}
	}

	ids := create(8)
	slow.WaitCalls(t, 3, 10*time.Second)
	// The 5 others have each been refused and offered again (or, were the
	// cap broken, a fourth runs).
	node.waitTaskConsumers(t, "the 5 tasks over the cap held back", func(_, redelivered int) bool { return redelivered >= 5 || peak.Load() > 3 })
	if p := peak.Load(); p != 3 {
		t.Fatalf("alice had %d calls in flight over two hosts, want her tenant cap of 3", p)
	}
	close(*gate.Load())
	finishAll(ids)
	// Every task acknowledged, so that the count of tasks offered again
	// starts from zero.
	node.waitTaskConsumers(t, "every task acknowledged", func(ackPending, _ int) bool { return ackPending == 0 })

	r := node.Admin.Do(t, http.MethodPut, "/admin/v1/tenants/"+creds.TenantID+"/limits", map[string]any{"maxInFlight": 1})
	if r.Status != http.StatusOK {
		t.Fatalf("set limits: %d %s", r.Status, r.Body)
	}
	newGate()
	peak.Store(0)
	calls := len(slow.Calls())
	ids = create(4)
	slow.WaitCalls(t, calls+1, 10*time.Second)
	node.waitTaskConsumers(t, "the 3 tasks over the new cap held back", func(_, redelivered int) bool { return redelivered >= 3 || peak.Load() > 1 })
	if p := peak.Load(); p != 1 {
		t.Fatalf("after the override alice had %d calls in flight, want 1", p)
	}
	close(*gate.Load())
	finishAll(ids)
}

// waitTaskConsumers waits until cond holds for the task stream's consumers,
// given the messages they wait to have acknowledged and how many of those
// were offered more than once (work the node gave back, e.g. refused by a
// concurrency cap, and received again). It fails after testenv.GiveUpAfter.
func (n *testNode) waitTaskConsumers(tb testing.TB, what string, cond func(ackPending, redelivered int) bool) {
	tb.Helper()
	ctx := context.Background()
	stream, err := n.js.Stream(ctx, broker.StreamTasks)
	if err != nil {
		tb.Fatal(err)
	}
	testenv.WaitUntil(tb, what, func() (bool, string) {
		ackPending, redelivered := 0, 0
		list := stream.ListConsumers(ctx)
		for info := range list.Info() {
			ackPending += info.NumAckPending
			redelivered += info.NumRedelivered
		}
		if err := list.Err(); err != nil {
			tb.Fatal(err)
		}
		return cond(ackPending, redelivered), fmt.Sprintf("the task consumers have %d messages pending, %d offered again", ackPending, redelivered)
	})
}
