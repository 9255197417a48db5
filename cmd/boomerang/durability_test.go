package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/internal/testenv"
)

// mixedLoad creates n tasks in the states that restarts and crashes must
// carry through: finished at once, retrying (/flaky), failing (/bad),
// waiting for their time, in flight (/slow) and, when down is given, with a
// webhook receiver that is down.
func mixedLoad(t *testing.T, client *testenv.Client, target *testenv.Target, up, down *testenv.Receiver, n int) []string {
	t.Helper()
	states := 5
	if down != nil {
		states = 6
	}
	var ids []string
	for i := range n {
		body := map[string]any{"targetUrl": target.URL, "webhookUrl": up.URL, "payload": map[string]int{"i": i}}
		switch i % states {
		case 1:
			body["targetUrl"] = target.URL + "/flaky"
		case 2:
			body["targetUrl"] = target.URL + "/bad"
		case 3:
			body["delay"] = 2
		case 4:
			body["targetUrl"] = target.URL + "/slow"
		case 5:
			body["webhookUrl"] = down.URL
		}
		ids = append(ids, createTask(t, client, body).ID)
	}
	return ids
}

// mixedTarget answers mixedLoad's tasks: /flaky fails twice with 503, /bad
// answers 404, /slow takes half a second, anything else 200.
func mixedTarget(t *testing.T) *testenv.Target {
	return testenv.NewTarget(t, func(w http.ResponseWriter, r *http.Request, n int) {
		switch r.URL.Path {
		case "/flaky":
			if n < 3 {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
		case "/bad":
			w.WriteHeader(http.StatusNotFound)
			return
		case "/slow":
			select {
			case <-time.After(500 * time.Millisecond):
			case <-r.Context().Done():
				return
			}
		}
		w.WriteHeader(http.StatusOK)
	})
}

// TestRestartMidwayLosesNothing stops a node gracefully while tasks are in
// every state and starts a new one on the same data dir: every task finishes
// and every webhook is delivered.
func TestRestartMidwayLosesNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	node := mustRunMainIn(t, dir, "--webhook-schedule", patientWebhookSchedule)
	client, creds := node.tenantClient(t, "acme")
	target := mixedTarget(t)
	receiver := testenv.NewReceiver(t, creds.SigningSecret)
	ids := mixedLoad(t, client, target, receiver, nil, 30)
	target.WaitCalls(t, 10, 10*time.Second)
	if unfinished := countUnfinished(t, client); unfinished == 0 {
		t.Fatal("every task finished before the stop; the test proves nothing")
	}
	node.Stop()

	node = mustRunMainIn(t, dir, "--webhook-schedule", patientWebhookSchedule)
	client.Base = node.URL()
	for _, id := range ids {
		task := waitTask(t, client, id, 30*time.Second, webhookSettled)
		if task.Webhook.Status != broker.WebhookDelivered {
			t.Errorf("task %s: webhook %s, want delivered", id, task.Webhook.Status)
		}
		if len(receiver.For(id)) == 0 {
			t.Errorf("task %s: no webhook received", id)
		}
	}
}

// TestViewRebuildsIdentically deletes view.db and restarts: the projector
// rebuilds the view from the stream, byte for byte the same. One tenant's
// retention has pruned its finished tasks meanwhile (the janitor's clock is
// two days ahead, its retention one day): the rebuild prunes them too.
func TestViewRebuildsIdentically(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	node := mustRunMainWith(t, dir, aheadBy(49*time.Hour), "--prune-interval", "1s")
	client, creds := node.tenantClient(t, "acme")
	other, otherCreds := node.tenantClient(t, "other")
	node.setRetention(t, otherCreds.TenantID, 1)
	target := mixedTarget(t)
	receiver := testenv.NewReceiver(t, creds.SigningSecret)
	ids := mixedLoad(t, client, target, receiver, nil, 30)
	canceled := createTask(t, other, map[string]any{"targetUrl": target.URL, "delay": 60})
	other.Do(t, "DELETE", "/v1/tasks/"+canceled.ID, nil)
	otherReceiver := testenv.NewReceiver(t, otherCreds.SigningSecret)
	pruned := mixedLoad(t, other, target, otherReceiver, nil, 5)
	for _, id := range ids {
		waitTask(t, client, id, 30*time.Second, webhookSettled)
	}
	for _, id := range append(pruned, canceled.ID) {
		waitGone(t, other, id)
	}
	waiting := createTask(t, other, map[string]any{"targetUrl": target.URL, "delay": 3600})
	node.Stop()
	before := dumpBolt(t, filepath.Join(dir, "view.db"))

	if err := os.Remove(filepath.Join(dir, "view.db")); err != nil {
		t.Fatal(err)
	}
	// Rebuild, and compare before anything else happens (an API call would
	// record the key's use, a new event).
	node = mustRunMainIn(t, dir)
	node.Stop()
	after := dumpBolt(t, filepath.Join(dir, "view.db"))
	node = mustRunMainIn(t, dir)
	client.Base = node.URL()
	if r := client.Do(t, "GET", "/v1/tasks/"+ids[0], nil); r.Status != http.StatusOK {
		t.Fatalf("after rebuild: got %d", r.Status)
	}
	other.Base = node.URL()
	if r := other.Do(t, "GET", "/v1/tasks/"+waiting.ID, nil); r.Status != http.StatusOK {
		t.Fatalf("the unfinished task after rebuild: got %d", r.Status)
	}
	if r := other.Do(t, "GET", "/v1/tasks/"+pruned[0], nil); r.Status != http.StatusNotFound {
		t.Fatalf("a pruned task after rebuild: got %d, want 404", r.Status)
	}

	if len(before) < 100 {
		t.Fatalf("the view holds only %d entries; the test did not load it", len(before))
	}
	for k, v := range before {
		if w, ok := after[k]; !ok {
			t.Errorf("rebuilt view lacks %q", k)
		} else if !bytes.Equal(v, w) {
			t.Errorf("rebuilt view differs at %q:\n old %s\n new %s", k, v, w)
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			t.Errorf("rebuilt view has an extra %q", k)
		}
	}
}

// dumpBolt reads every key of every bucket, nested ones included.
func dumpBolt(t *testing.T, path string) map[string][]byte {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: testenv.GiveUpAfter})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	out := map[string][]byte{}
	var walk func(prefix string, b *bolt.Bucket) error
	walk = func(prefix string, b *bolt.Bucket) error {
		return b.ForEach(func(k, v []byte) error {
			key := fmt.Sprintf("%s/%q", prefix, k)
			if v == nil {
				return walk(key, b.Bucket(k))
			}
			out[key] = append([]byte(nil), v...)
			return nil
		})
	}
	err = db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error { return walk(string(name), b) })
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func countUnfinished(t *testing.T, client *testenv.Client) int {
	t.Helper()
	var list struct {
		Items []broker.Task `json:"items"`
	}
	client.Do(t, "GET", "/v1/tasks?limit=200", nil).JSON(t, &list)
	n := 0
	for _, task := range list.Items {
		if !webhookSettled(task) {
			n++
		}
	}
	return n
}
