package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/internal/testenv"
)

// trickyPayload is JSON that a re-encoding would change.
const trickyPayload = "{ \"q\" : \"<a&b>\",\n\t\"e\":\"\\u00e9\\u003c\", \"n\": 1.0e2, \"q\": [ ], \"s\": \"\u2028\" }"

// TestPayloadBytesSurviveRestartAndRebuild cuts a task's first attempt off
// by stopping the node, deletes the view and starts the node again: the
// attempt is made again from the created event in the stream, the view is
// rebuilt from it, and the target gets the payload byte for byte both
// times.
func TestPayloadBytesSurviveRestartAndRebuild(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	node := mustRunMainIn(t, dir, "--shutdown-grace", "100ms")
	client, _ := node.tenantClient(t, "acme")
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	target := testenv.NewTarget(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 { // hang until the node stops and aborts the attempt
			select {
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	r := client.Do(t, http.MethodPost, "/v1/tasks", `{"targetUrl": "`+target.URL+`", "timeout": 900, "payload": `+trickyPayload+`}`)
	if r.Status != http.StatusAccepted {
		t.Fatalf("create: got %d %s", r.Status, r.Body)
	}
	var task broker.Task
	r.JSON(t, &task)
	target.WaitCalls(t, 1, 20*time.Second)
	node.Stop()
	if err := os.Remove(filepath.Join(dir, "view.db")); err != nil {
		t.Fatal(err)
	}

	node = mustRunMainIn(t, dir)
	client.Base = node.URL()
	// The abandoned attempt comes back when its ack wait (30 s) runs out:
	// the Nak sent at shutdown does not reach the server in time.
	got := waitTask(t, client, task.ID, 90*time.Second, finished)
	calls := target.CallsFor(task.ID)
	if got.Status != broker.StatusSucceeded || len(calls) != 2 {
		t.Fatalf("task %s after %d calls, want succeeded after 2", got.Status, len(calls))
	}
	for i, call := range calls {
		if string(call.Body) != trickyPayload {
			t.Errorf("call %d: got %q, want %q", i+1, call.Body, trickyPayload)
		}
	}
	var a, b any
	if json.Unmarshal(got.Payload, &a) != nil || json.Unmarshal([]byte(trickyPayload), &b) != nil || !reflect.DeepEqual(a, b) {
		t.Fatalf("the rebuilt view shows the payload as %s", got.Payload)
	}
}
