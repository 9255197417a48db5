package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/internal/projector"
	"github.com/boomerang-dev/boomerang/internal/testenv"
)

// faultyApplier wraps the node's real view and, while broken, fails every
// batch after the view has written it, as a failing disk fails the commit.
type faultyApplier struct {
	projector.Applier
	broken   atomic.Bool
	failures atomic.Int64
}

func (a *faultyApplier) Apply(tx *bolt.Tx, msgs []jetstream.Msg) (func(), error) {
	after, err := a.Applier.Apply(tx, msgs)
	if err == nil && a.broken.Load() {
		a.failures.Add(1)
		return nil, errors.New("write view.db: input/output error")
	}
	return after, err
}

// TestFailingViewWritesLoseNothing breaks the task view's writes under a
// running node while tasks run and a malformed event arrives: /readyz
// answers 503 meanwhile; once writes work again every task is in the view,
// the malformed event is skipped and counted, and the view equals one
// rebuilt from the stream. The projector used to skip events whose writes
// failed, losing them from the view for good.
func TestFailingViewWritesLoseNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	m, logBuf := newTestMain(t, dir)
	faulty := &faultyApplier{}
	m.wrapApplier = func(stream string, a projector.Applier) projector.Applier {
		if stream != broker.StreamTasks {
			return a
		}
		faulty.Applier = a
		return faulty
	}
	if err := m.Run(context.Background()); err != nil {
		t.Fatalf("run: %v", err)
	}
	node := &testNode{Main: m, Log: logBuf}
	t.Cleanup(func() {
		node.Stop()
		if t.Failed() {
			t.Logf("node log:\n%s", logBuf.String())
		}
	})
	node.waitReady(t)
	client, creds := node.tenantClient(t, "acme")
	target := testenv.NewTarget(t, answer(200))
	readyz := func() testenv.Response {
		return (&testenv.Client{Base: m.URL(), Contract: apiContract}).Do(t, http.MethodGet, "/readyz", nil)
	}
	var ids []string
	for range 3 {
		ids = append(ids, createTask(t, client, map[string]any{"targetUrl": target.URL}).ID)
	}
	for _, id := range ids {
		waitTask(t, client, id, 30*time.Second, finished)
	}

	faulty.broken.Store(true)
	for range 5 {
		ids = append(ids, createTask(t, client, map[string]any{"targetUrl": target.URL, "retries": 0}).ID)
	}
	if _, err := m.js.Publish(context.Background(), "task."+creds.TenantID+".tsk_malformed.created", []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	target.WaitCalls(t, len(ids), 30*time.Second) // the work goes on without the view
	pollUntil(t, "/readyz to answer 503", func() bool { return faulty.failures.Load() >= 2 && readyz().Status == http.StatusServiceUnavailable })
	if r := readyz(); !strings.Contains(string(r.Body), "the view cannot apply the stream") {
		t.Errorf("/readyz while the view fails: %s", r.Body)
	}

	faulty.broken.Store(false)
	pollUntil(t, "/readyz to answer 200 again", func() bool { return readyz().Status == http.StatusOK })
	for _, id := range ids {
		if task := waitTask(t, client, id, 30*time.Second, finished); task.Status != broker.StatusSucceeded || len(task.Attempts) != 1 {
			t.Errorf("task %s after the view recovered: %s with %d attempts, want succeeded with 1", id, task.Status, len(task.Attempts))
		}
	}
	if n := m.proj.taskProjector.Skipped(); n != 1 {
		t.Errorf("skipped events: got %d, want the malformed one", n)
	}
	if !strings.Contains(logBuf.String(), "skipped an event the view cannot use") {
		t.Error("the skipped event was not logged")
	}

	// Nothing was lost: the view equals one rebuilt from the stream.
	node.Stop()
	live := dumpBolt(t, filepath.Join(dir, "view.db"))
	if err := os.Remove(filepath.Join(dir, "view.db")); err != nil {
		t.Fatal(err)
	}
	rebuilt := mustRunMainIn(t, dir)
	rebuilt.Stop()
	for k, v := range dumpBolt(t, filepath.Join(dir, "view.db")) {
		if w, ok := live[k]; !ok {
			t.Errorf("the live view lacks %q", k)
		} else if !bytes.Equal(v, w) {
			t.Errorf("the live view differs at %q:\n live    %s\n rebuilt %s", k, w, v)
		}
		delete(live, k)
	}
	for k := range live {
		t.Errorf("the live view has an extra %q", k)
	}
}

// pollUntil waits until cond holds, failing the test after a generous
// deadline.
func pollUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited in vain for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
