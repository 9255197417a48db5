package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/internal/testenv"
)

// capacityTarget is a target that serves limit calls at once, each held
// for hold, and answers 429 at once to any call beyond (limit 0: no
// limit). It counts the 429s.
type capacityTarget struct {
	*testenv.Target
	limit, inFlight, tooMany atomic.Int64
}

func newCapacityTarget(t *testing.T, limit int, hold time.Duration) *capacityTarget {
	c := &capacityTarget{}
	c.limit.Store(int64(limit))
	c.Target = testenv.NewTarget(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		now := c.inFlight.Add(1)
		defer c.inFlight.Add(-1)
		if l := c.limit.Load(); l > 0 && now > l {
			c.tooMany.Add(1)
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		time.Sleep(hold)
		w.WriteHeader(http.StatusOK)
	})
	return c
}

// destination returns the node's adaptive limit for the tenant's host,
// the cap when the host is not limited.
func (n *testNode) destination(tenantID, host string) broker.DestinationLimit {
	for _, d := range n.dispatcher.LimitedDestinations(tenantID) {
		if d.Host == host {
			return d
		}
	}
	return broker.DestinationLimit{TenantID: tenantID, Host: host, Limit: -1}
}

// TestAdaptiveConcurrencyFollowsTheTarget floods a target that serves 4
// calls at once and answers 429 beyond, from a node that would make 32:
// the limit falls below the cap to near 4 and the 429s are fewer than
// the tasks (without adaptation: about 6 per task); once the target serves everyone, the
// limit rises again. /metrics shows the limited host.
func TestAdaptiveConcurrencyFollowsTheTarget(t *testing.T) {
	t.Parallel()
	const capacity, hostCap, tasks = 4, 32, 120
	node := MustRunMain(t, "--max-in-flight", "32", "--max-in-flight-per-tenant", "32", "--max-in-flight-per-host", "32")
	alice, creds := node.tenantClient(t, "alice")
	target := newCapacityTarget(t, capacity, 100*time.Millisecond)
	// The tasks all fall due at once, a few seconds on, so that the node
	// meets the target with every slot it has.
	createAll := func(n int) []string {
		var ids []string
		at := time.Now().Add(4 * time.Second).UTC().Format(time.RFC3339Nano)
		for range n {
			ids = append(ids, createTask(t, alice, map[string]any{"targetUrl": target.URL, "retries": 25, "notBefore": at}).ID)
		}
		return ids
	}
	succeedAll := func(ids []string) {
		for _, id := range ids {
			if task := waitTask(t, alice, id, 60*time.Second, finished); task.Status != broker.StatusSucceeded {
				t.Fatalf("task %s: %s after %d attempts", id, task.Status, task.AttemptCount)
			}
		}
	}
	succeedAll(createAll(tasks))

	// The limit bounds the calls at once; it stays near what the target
	// serves (the calls on their way to and from it count too: on a busy
	// machine, they may be as many again), well below the cap.
	dest := broker.DestinationOf(target.URL) // 127.0.0.1 and its port
	limited := node.destination(creds.TenantID, dest)
	if limited.Limit < 1 || limited.Limit > 4*capacity {
		t.Errorf("after the flood the host's limit is %d, want between 1 and %d (the cap is %d)", limited.Limit, 4*capacity, hostCap)
	}
	if got := target.tooMany.Load(); got >= tasks {
		t.Errorf("%d calls answered 429 for %d tasks, want fewer than the tasks", got, tasks)
	}
	t.Logf("%d tasks: %d calls answered 429; the limit is %d", tasks, target.tooMany.Load(), limited.Limit)
	s := node.scrapeMetrics(t)
	s.want(t, float64(limited.Limit), "boomerang_destination_concurrency_limit", "tenant=other", "host="+dest)

	// The target recovers: the limit rises with the successes.
	target.limit.Store(0)
	succeedAll(createAll(40))
	if got := node.destination(creds.TenantID, dest); got.Limit != -1 && got.Limit <= limited.Limit {
		t.Fatalf("after 40 successes the limit is %d, want above %d", got.Limit, limited.Limit)
	}
}

// TestRetryAfterPausesTheHost: a 503 with Retry-After: 3600 pauses the
// tenant's host. The tasks for it that follow are not called: each is
// held in a wait parked for the end of the pause; tasks to another host
// go through meanwhile, and another tenant's tasks to the paused host too.
func TestRetryAfterPausesTheHost(t *testing.T) {
	t.Parallel()
	node := MustRunMain(t)
	alice, creds := node.tenantClient(t, "alice")
	bob, _ := node.tenantClient(t, "bob")
	var paused atomic.Bool
	paused.Store(true)
	busy := testenv.NewTarget(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		if paused.Load() && r.Header.Get("X-Who") == "alice" {
			w.Header().Set("Retry-After", "3600")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	other := testenv.NewTarget(t, answer(200))
	otherURL := strings.Replace(other.URL, "127.0.0.1", "localhost", 1)
	aliceTask := func(url string) string {
		return createTask(t, alice, map[string]any{"targetUrl": url, "headers": map[string]string{"X-Who": "alice"}}).ID
	}

	first := aliceTask(busy.URL)
	waitTask(t, alice, first, 30*time.Second, func(task broker.Task) bool { return task.AttemptCount >= 1 })
	start := time.Now()
	var held, passed []string
	for range 5 {
		held = append(held, aliceTask(busy.URL))
		passed = append(passed, aliceTask(otherURL))
	}
	bobs := createTask(t, bob, map[string]any{"targetUrl": busy.URL, "headers": map[string]string{"X-Who": "bob"}}).ID
	for _, id := range passed {
		if task := waitTask(t, alice, id, 30*time.Second, finished); task.Status != broker.StatusSucceeded {
			t.Fatalf("task %s to another host: %s", id, task.Status)
		}
	}
	if task := waitTask(t, bob, bobs, 30*time.Second, finished); task.Status != broker.StatusSucceeded {
		t.Fatalf("bob's task to the host alice's 503 paused: %s", task.Status)
	}
	waits := node.waitParked(t, held)
	for _, id := range held {
		if at := waits[id]; at.Before(start.Add(59 * time.Minute)) {
			t.Errorf("task %s waits until %v, want the pause's end, an hour on", id, at)
		}
	}
	if calls := len(busy.CallsFor(first)); calls != 1 {
		t.Errorf("the first task was called %d times, want 1", calls)
	}
	for _, id := range held {
		if calls := len(busy.CallsFor(id)); calls != 0 {
			t.Errorf("task %s was called %d times during the pause, want 0", id, calls)
		}
	}
	d := node.destination(creds.TenantID, broker.DestinationOf(busy.URL))
	if d.PausedUntil.Before(start.Add(59 * time.Minute)) {
		t.Errorf("the host is paused until %v, want an hour on", d.PausedUntil)
	}

	// Alice's overview shows the host held back; Bob's, nothing.
	for who, c := range map[string]*testenv.Client{"alice": alice, "bob": bob} {
		page := overviewPage(t, node.URL(), c.Key)
		shown := strings.Contains(page, "Hosts held back") && strings.Contains(page, `class="host">`+broker.DestinationOf(busy.URL)+`</td>`) &&
			strings.Contains(page, " of 200</td>") && strings.Contains(page, "more (until ")
		if want := who == "alice"; shown != want {
			t.Errorf("%s's overview shows the paused host: %v, want %v", who, shown, want)
		}
	}
}

// overviewPage signs in to the dashboard with apiKey and returns the
// overview's HTML.
func overviewPage(t *testing.T, base, apiKey string) string {
	t.Helper()
	c, _ := dashboardSession(t, base, apiKey)
	resp, err := c.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /: got %d, want 200", resp.StatusCode)
	}
	return string(body)
}

// waitParked waits until every one of the tasks has a wait parked in the
// schedules stream (work held far ahead is parked by the minute) and
// returns when each fires. It fails after a generous deadline.
func (n *testNode) waitParked(tb testing.TB, ids []string) map[string]time.Time {
	tb.Helper()
	ctx := context.Background()
	stream, err := n.js.Stream(ctx, broker.StreamSchedules)
	if err != nil {
		tb.Fatal(err)
	}
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	found := map[string]time.Time{}
	var next uint64 = 1
	testenv.WaitUntil(tb, "the held tasks' parked waits", func() (bool, string) {
		info, err := stream.Info(ctx)
		if err != nil {
			tb.Fatal(err)
		}
		for ; next <= info.State.LastSeq; next++ {
			msg, err := stream.GetMsg(ctx, next)
			if err != nil || !strings.HasPrefix(msg.Subject, "sched.park.") {
				continue // removed (a work queue), or not a parked wait
			}
			schedule := msg.Header.Get("Boomerang-Schedule")
			if id := schedule[strings.LastIndexByte(schedule, '.')+1:]; want[id] {
				found[id], _ = time.Parse(time.RFC3339Nano, msg.Header.Get("Boomerang-At"))
			}
		}
		return len(found) >= len(want), fmt.Sprintf("found %d of %d", len(found), len(want))
	})
	return found
}
