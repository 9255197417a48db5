package main

import (
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/internal/testenv"
)

// TestSyncModesRunTheNode: each --sync runs the whole pipeline; always
// with the group commit, unless the embedded server has a client port
// (what others publish there is acknowledged to them: the server syncs),
// the others without.
func TestSyncModesRunTheNode(t *testing.T) {
	t.Parallel()
	_, port, _ := net.SplitHostPort(freeAddr(t))
	for name, args := range map[string][]string{
		"always":              {"--sync", "always"},
		"always, with a port": {"--sync", "always", "--nats-port", port},
		"server":              {"--sync", "server"},
		"interval":            {"--sync", "interval"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			n := MustRunMain(t, args...)
			if got, want := n.commit != nil, name == "always"; got != want {
				t.Fatalf("%v: group commit running %v, want %v", args, got, want)
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
