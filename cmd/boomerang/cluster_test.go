package main

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/internal/testenv"
)

// TestTwoNodesShareTheWork runs two nodes on one NATS server, as a cluster
// does: keys, tasks, events and idempotency hold across them, and each task
// is dispatched once.
func TestTwoNodesShareTheWork(t *testing.T) {
	t.Parallel()
	natsAddr := freeAddr(t)
	_, port, _ := strings.Cut(natsAddr, ":")
	// Every node has the cluster's secret key; node B connects to node A's
	// port as the user node A made.
	secretKey := newSecretKey(t)
	dirA := t.TempDir()
	a := mustRunMainIn(t, dirA, "--nats-port", port, "--secret-key", secretKey)
	b := MustRunMain(t, "--nats-url", "nats://"+natsAddr, "--nats-nkey", filepath.Join(dirA, clientNkeyFile), "--secret-key", secretKey)
	clientA, creds := a.tenantClient(t, "acme")
	clientB := &testenv.Client{Base: b.URL(), Key: creds.APIKey}
	target := testenv.NewTarget(t, answer(503, 200))
	receiver := testenv.NewReceiver(t, creds.SigningSecret)

	// Node B knows the key node A created, at once.
	if r := clientB.Do(t, http.MethodGet, "/v1/tasks", nil); r.Status != http.StatusOK {
		t.Fatalf("node B with node A's key: got %d", r.Status)
	}
	var ids []string
	for i := range 20 {
		c := clientA
		if i%2 == 1 {
			c = clientB
		}
		ids = append(ids, createTask(t, c, map[string]any{"targetUrl": target.URL, "webhookUrl": receiver.URL}).ID)
	}
	for _, id := range ids {
		task := waitTask(t, clientB, id, 20*time.Second, webhookSettled)
		if task.Status != broker.StatusSucceeded || len(target.CallsFor(id)) != 2 || len(receiver.For(id)) != 1 {
			t.Fatalf("task %s: %s, %d calls, %d webhooks; want succeeded, 2, 1", id, task.Status, len(target.CallsFor(id)), len(receiver.For(id)))
		}
	}

	// Events read on node A resume on node B.
	auth := map[string]string{"Authorization": "Bearer " + creds.APIKey}
	onA := readSSE(t, a.URL(), "/v1/tasks/"+ids[0]+"/events", auth, nil)
	auth["Last-Event-ID"] = strconv.FormatUint(onA.events[1].ID, 10)
	onB := readSSE(t, b.URL(), "/v1/tasks/"+ids[0]+"/events", auth, nil)
	jb, _ := json.Marshal(onB.events)
	ja, _ := json.Marshal(onA.events[2:])
	if string(jb) != string(ja) {
		t.Fatalf("resumed on node B: got %s, want %s", kinds(onB.events), kinds(onA.events[2:]))
	}

	// One idempotency key used on both nodes at once makes one task.
	var wg sync.WaitGroup
	got := make([]string, 10)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := clientA
			if i%2 == 1 {
				c = clientB
			}
			gt := testenv.InGoroutine(t)
			var task struct{ ID string }
			c.Do(gt, http.MethodPost, "/v1/tasks", map[string]any{"targetUrl": target.URL}, "Idempotency-Key", "k-1").JSON(gt, &task)
			got[i] = task.ID
		}()
	}
	wg.Wait()
	for i := range got {
		if got[i] == "" || got[i] != got[0] {
			t.Fatalf("idempotent creates across nodes: %v", got)
		}
	}
}
