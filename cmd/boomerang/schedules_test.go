package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/internal/testenv"
	"github.com/boomerang-dev/boomerang/web/webtest"
)

// scheduleEvery is the interval of the end-to-end schedule: long enough
// that a firing is handled before the next one is due on a busy machine.
const scheduleEvery = 2 * time.Second

// TestScheduleTwoNodesAndRestarts runs an `every` schedule through serve
// on two nodes sharing a NATS server: each firing time makes exactly one
// task, the firings go on while one node stops and comes back, and after
// both nodes were down across several firing times the one firing the
// server made meanwhile is handled late, once, and the times missed after
// it are not made up (docs/architecture.md, "Restarts and node loss").
// Nothing waits on the clock to decide: the test waits for N tasks (or
// for the server's firing) and checks the firing times.
//
// Not parallel: it runs before the parallel tests, whose HA tests count a
// webhook delivered twice just after a disturbance as a failure, and did so
// more often with three more nodes and a browser busy beside them.
func TestScheduleTwoNodesAndRestarts(t *testing.T) {
	natsURL := startExternalNATS(t)
	secretKey := newSecretKey(t)
	args := []string{"--nats-url", natsURL, "--secret-key", secretKey, "--ack-wait", "3s"}
	dirA := t.TempDir()
	a := mustRunMainIn(t, dirA, args...)
	b := MustRunMain(t, args...)
	onA, creds := a.tenantClient(t, "acme")
	onB := &testenv.Client{Base: b.URL(), Key: creds.APIKey, Contract: apiContract}
	target := testenv.NewTarget(t, answer(200))
	var sc struct{ ID string }
	r := onA.Do(t, http.MethodPost, "/v1/schedules", map[string]any{"every": scheduleEvery.String(),
		"task": map[string]any{"targetUrl": target.URL + "/tick"}})
	if r.Status != http.StatusCreated {
		t.Fatalf("create schedule: got %d %s", r.Status, r.Body)
	}
	r.JSON(t, &sc)

	// Both nodes up: consecutive firings, one task each.
	firings := waitFirings(t, onB, sc.ID, 3)
	checkFirings(t, firings, true)

	// Node A stops: node B goes on alone. Node A comes back on its data
	// dir: the two share the firings again. A firing node A had fetched
	// when it stopped comes again after --ack-wait, late; so across a stop
	// the times stay distinct and in phase, but may skip.
	a.Stop()
	firings = waitFirings(t, onB, sc.ID, len(firings)+3)
	checkFirings(t, firings, false)
	a = mustRunMainIn(t, dirA, args...)
	onA.Base = a.URL()
	firings = waitFirings(t, onA, sc.ID, len(firings)+3)
	checkFirings(t, firings, false)

	// Both down across several firing times: the NATS server fires the
	// pending firing into the work queue, where it waits; nobody arms the
	// next one.
	a.Stop()
	b.Stop()
	late := waitServerFiring(t, natsURL, *firings[len(firings)-1].FiringAt)
	// Let a firing time or two pass unseen: only what is made up after the
	// restart is checked, so a slow machine that lets more pass changes
	// nothing.
	time.Sleep(time.Until(late.Add(2 * scheduleEvery)))
	restart := time.Now()
	a = mustRunMainIn(t, dirA, args...)
	onA.Base = a.URL()
	firings = waitFirings(t, onA, sc.ID, len(firings)+3)
	checkFirings(t, firings, false)
	var made *broker.Task
	var skipped, after []broker.Task
	for _, task := range firings {
		switch at := *task.FiringAt; {
		case at.Equal(late):
			made = &task
		case at.After(late) && at.Before(restart):
			skipped = append(skipped, task)
		case !at.Before(restart):
			after = append(after, task)
		}
	}
	if made == nil || made.CreatedAt.Before(restart) {
		t.Fatalf("the firing at %s the server made while both nodes were down: got %+v, want its task, made after the restart",
			late.Format(time.RFC3339Nano), made)
	}
	if len(skipped) > 0 {
		t.Fatalf("firing times missed while both nodes were down were made up: %s", firingTimes(skipped))
	}
	if len(after) < 2 {
		t.Fatalf("firings after the restart: got %s, want at least 2", firingTimes(after))
	}
	// One node, steady: consecutive again. Not asserted: that they keep
	// the old phase. They do not: the restarted node's ScheduleFirer.rearm
	// finds no pending firing (the server's firing waits in the work
	// queue) and arms now+interval before its consumer handles the late
	// firing, whose own arm of the in-phase time then loses.
	checkFirings(t, after, true)
	t.Logf("both nodes down from before %s to %s: the firing of %s came %s late; all firings %s",
		late.Format(time.TimeOnly), restart.Format(time.TimeOnly), late.Format(time.RFC3339Nano),
		made.CreatedAt.Sub(late).Round(time.Millisecond), firingTimes(firings))
	logLateness(t, firings, made.ID)
}

// logLateness logs how late the firings made their tasks (createdAt minus
// firingAt) through serve on two nodes, leaving out the one made after the
// outage: a measurement, not a condition of the test.
func logLateness(t *testing.T, tasks []broker.Task, except string) {
	var late []time.Duration
	for _, task := range tasks {
		if task.ID != except {
			late = append(late, task.CreatedAt.Sub(*task.FiringAt))
		}
	}
	slices.Sort(late)
	pct := func(p float64) time.Duration { return late[int(p*float64(len(late)-1))].Round(100 * time.Microsecond) }
	t.Logf("firing lateness over %d firings: p50 %s, p99 %s, max %s", len(late), pct(0.5), pct(0.99), late[len(late)-1].Round(100*time.Microsecond))
}

// waitFirings waits, within a generous deadline, until the schedule has
// made at least n tasks, and returns them, earliest firing first.
func waitFirings(t *testing.T, c *testenv.Client, scheduleID string, n int) []broker.Task {
	t.Helper()
	return webtest.WaitScheduleTasks(t, c, scheduleID, n, 60*time.Second)
}

// checkFirings checks tasks sorted by firing time: each firing time made
// one task, with the firing's idempotency key; when consecutive, each
// firing follows the one before by exactly the interval.
func checkFirings(t *testing.T, tasks []broker.Task, consecutive bool) {
	t.Helper()
	for i, task := range tasks {
		if want := broker.FiringKey(task.ScheduleID, *task.FiringAt); task.IdempotencyKey != want {
			t.Errorf("task %s: idempotency key %q, want %q", task.ID, task.IdempotencyKey, want)
		}
		if i == 0 {
			continue
		}
		gap := task.FiringAt.Sub(*tasks[i-1].FiringAt)
		if gap == 0 {
			t.Fatalf("firing %s made two tasks: %s and %s", task.FiringAt, tasks[i-1].ID, task.ID)
		}
		if consecutive && gap != scheduleEvery {
			t.Fatalf("firings %s: want each %s after the one before", firingTimes(tasks), scheduleEvery)
		}
	}
}

// waitServerFiring waits until the NATS server has fired the schedule's
// pending firing into the work queue (every node being down, it stays
// there) and returns its firing time, which must be after since.
func waitServerFiring(t *testing.T, natsURL string, since time.Time) time.Time {
	t.Helper()
	js, err := jetstream.New(connectNATS(t, natsURL))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, broker.StreamSchedules)
	if err != nil {
		t.Fatal(err)
	}
	var at time.Time
	testenv.WaitUntil(t, "the server's firing in the work queue", func() (bool, string) {
		info, err := st.Info(ctx, jetstream.WithSubjectFilter("due.cron.>"))
		if err != nil {
			t.Fatalf("no firing in the work queue: %v", err)
		}
		for subject := range info.State.Subjects {
			msg, err := st.GetLastMsgForSubject(ctx, subject)
			if err != nil {
				continue
			}
			if fired, err := time.Parse(time.RFC3339Nano, msg.Header.Get("Boomerang-Fire-At")); err == nil && fired.After(since) {
				at = fired
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d firings waiting", len(info.State.Subjects))
	})
	return at
}

func firingTimes(tasks []broker.Task) string {
	var times []string
	for _, task := range tasks {
		times = append(times, task.FiringAt.UTC().Format("15:04:05.000"))
	}
	return "[" + strings.Join(times, " ") + "]"
}
