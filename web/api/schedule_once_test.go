package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/boomerang-dev/boomerang/internal/testenv"
	"github.com/boomerang-dev/boomerang/web/webtest"
)

// TestScheduleIdempotencyKey: POST /v1/schedules honours Idempotency-Key
// as POST /v1/tasks does: a repeat answers the first schedule (200,
// Idempotent-Replayed), another request under the key is a 422, creates
// racing on two nodes make one schedule, a schedule deleted since is not
// made again, and keys are per tenant.
func TestScheduleIdempotencyKey(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{})
	c, creds := env.Tenant(t, "acme")
	peer := env.Peer(t, webtest.Options{})
	peer.TenantsCaughtUp(t)
	pc := peer.Client(t, creds.APIKey)
	body := `{"every": "1h", "task": {"targetUrl": "https://example.com/x", "payload": {"a": 1, "b": [1, 2]}}}`
	same := `{ "task": {"payload": {"b": [1,2], "a": 1}, "targetUrl": "https://example.com/x"}, "every": "1h" }`

	var first, again scheduleJSON
	r := c.Do(t, http.MethodPost, "/v1/schedules", body, "Idempotency-Key", "report-1")
	r.JSON(t, &first)
	if r.Status != http.StatusCreated || r.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("create: got %d %v %s", r.Status, r.Header, r.Body)
	}
	for _, client := range []*testenv.Client{c, pc} {
		r = client.Do(t, http.MethodPost, "/v1/schedules", same, "Idempotency-Key", "report-1")
		r.JSON(t, &again)
		if r.Status != http.StatusOK || r.Header.Get("Idempotent-Replayed") != "true" || again.ID != first.ID ||
			r.Header.Get("Location") != "/v1/schedules/"+first.ID {
			t.Errorf("repeat: got %d %v %s, want 200 replaying %s", r.Status, r.Header, r.Body, first.ID)
		}
	}
	r = c.Do(t, http.MethodPost, "/v1/schedules", strings.Replace(body, `"1h"`, `"2h"`, 1), "Idempotency-Key", "report-1")
	var p problemBody
	r.JSON(t, &p)
	if r.Status != http.StatusUnprocessableEntity || !strings.HasSuffix(p.Type, "/idempotency-key-reused") {
		t.Errorf("another request under the key: got %d %s, want 422 idempotency-key-reused", r.Status, r.Body)
	}

	// Creates racing on two nodes: one schedule, one 201.
	var wg sync.WaitGroup
	results := make([]scheduleJSON, 8)
	statuses := make([]int, 8)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := c
			if i%2 == 1 {
				client = pc
			}
			r := client.Do(t, http.MethodPost, "/v1/schedules", body, "Idempotency-Key", "report-2")
			statuses[i] = r.Status
			if r.Status < 300 {
				_ = json.Unmarshal(r.Body, &results[i])
			}
		}()
	}
	wg.Wait()
	created := 0
	for i, st := range statuses {
		if st == http.StatusCreated {
			created++
		}
		if (st != http.StatusCreated && st != http.StatusOK) || results[i].ID != results[0].ID || results[i].ID == "" {
			t.Errorf("racing create %d: got %d %s, want the one schedule %s", i, st, results[i].ID, results[0].ID)
		}
	}
	if created != 1 {
		t.Errorf("racing creates: %d answered 201, want 1 (statuses %v)", created, statuses)
	}
	if n := len(listSchedules(t, c)); n != 2 {
		t.Fatalf("the tenant has %d schedules, want 2 (one per key)", n)
	}

	// Deleted since: the repeat answers it as created and makes nothing.
	if r := c.Do(t, http.MethodDelete, "/v1/schedules/"+first.ID, nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete: got %d %s", r.Status, r.Body)
	}
	r = c.Do(t, http.MethodPost, "/v1/schedules", body, "Idempotency-Key", "report-1")
	r.JSON(t, &again)
	if r.Status != http.StatusOK || again.ID != first.ID {
		t.Errorf("repeat after delete: got %d %s, want 200 with %s", r.Status, r.Body, first.ID)
	}
	if r := c.Do(t, http.MethodGet, "/v1/schedules/"+first.ID, nil); r.Status != http.StatusNotFound {
		t.Errorf("the deleted schedule: got %d, want 404 (a repeat does not make it again)", r.Status)
	}
	if n := len(listSchedules(t, c)); n != 1 {
		t.Errorf("after delete and repeat: %d schedules, want 1", n)
	}

	other, _ := env.Tenant(t, "other")
	if r := other.Do(t, http.MethodPost, "/v1/schedules", body, "Idempotency-Key", "report-2"); r.Status != http.StatusCreated {
		t.Errorf("another tenant's key: got %d %s, want 201", r.Status, r.Body)
	}
	for _, key := range []string{strings.Repeat("k", 256), "tab\there"} {
		fields := fieldErrors(t, c.Do(t, http.MethodPost, "/v1/schedules", body, "Idempotency-Key", key))
		if len(fields) != 1 || !strings.HasPrefix(fields[0], "Idempotency-Key ") {
			t.Errorf("key %q: got %q, want a 400 naming Idempotency-Key", key, fields)
		}
	}
}

// listSchedules returns the tenant's schedules.
func listSchedules(t *testing.T, c *testenv.Client) []scheduleJSON {
	t.Helper()
	var list struct{ Items []scheduleJSON }
	c.Do(t, http.MethodGet, "/v1/schedules", nil).JSON(t, &list)
	return list.Items
}
