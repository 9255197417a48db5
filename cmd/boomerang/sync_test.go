package main

import (
	"net/http"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/internal/testenv"
)

// TestSyncModesRunTheNode: each --sync runs the whole pipeline; always
// with the group commit, the others without.
func TestSyncModesRunTheNode(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"always", "server", "interval"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			n := MustRunMain(t, "--sync", mode)
			if got, want := n.commit != nil, mode == "always"; got != want {
				t.Fatalf("--sync %s: group commit running %v, want %v", mode, got, want)
			}
			client, _ := n.tenantClient(t, "acme")
			target := testenv.NewTarget(t, func(w http.ResponseWriter, _ *http.Request, _ int) { w.WriteHeader(http.StatusOK) })
			task := createTask(t, client, map[string]any{"targetUrl": target.URL, "payload": map[string]int{"n": 1}})
			if got := waitTask(t, client, task.ID, 30*time.Second, finished); got.Status != broker.StatusSucceeded {
				t.Fatalf("task: got %s, want succeeded", got.Status)
			}
		})
	}
}
