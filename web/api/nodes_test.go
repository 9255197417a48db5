package api_test

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/internal/testenv"
	"github.com/boomerang-dev/boomerang/web"
	"github.com/boomerang-dev/boomerang/web/webtest"
)

// TestCreateRateLimitAcrossNodes runs two servers on one stream, as two
// nodes, on a clock that moves only when the test moves it. With a shared
// limit the tenant's budget holds for the sum of both; without, each
// server has the whole budget to itself.
func TestCreateRateLimitAcrossNodes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name                 string
		shared               bool
		burst, afterTwoSecs  int // accepted across both nodes
		secondNodeAfterTwoOK bool
	}{
		{name: "cluster", shared: true, burst: 2, afterTwoSecs: 1},
		{name: "node", shared: false, burst: 4, afterTwoSecs: 2, secondNodeAfterTwoOK: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := webtest.NewClock(time.Now())
			opts := webtest.Options{Now: clock.Now, Limits: web.Limits{CreateRate: 0.5, CreateBurst: 2}, SharedRateLimit: tc.shared}
			a := webtest.Start(t, opts)
			b := a.Peer(t, opts)
			onA, creds := a.Tenant(t, "alice")
			onB := b.Client(t, creds.APIKey)
			body := map[string]any{"targetUrl": "http://127.0.0.1:1/", "delay": 60}
			accepted := 0
			var refused testenv.Response
			for i := range 6 {
				r := []*testenv.Client{onA, onB}[i%2].Do(t, http.MethodPost, "/v1/tasks", body)
				switch r.Status {
				case http.StatusAccepted:
					accepted++
				case http.StatusTooManyRequests:
					refused = r
				default:
					t.Fatalf("create %d: got %d %s", i, r.Status, r.Body)
				}
			}
			if accepted != tc.burst || refused.Header.Get("Retry-After") != "2" {
				t.Fatalf("6 creates on two nodes: %d accepted, Retry-After %q; want %d and 2 s", accepted, refused.Header.Get("Retry-After"), tc.burst)
			}
			// Two seconds on, the tenant has earned one create: in all, or
			// on each node.
			clock.Advance(2 * time.Second)
			if r := onA.Do(t, http.MethodPost, "/v1/tasks", body); r.Status != http.StatusAccepted {
				t.Fatalf("on node A after 2 s: got %d, want 202", r.Status)
			}
			r := onB.Do(t, http.MethodPost, "/v1/tasks", body)
			if got := r.Status == http.StatusAccepted; got != tc.secondNodeAfterTwoOK {
				t.Fatalf("on node B after 2 s, after node A's: got %d", r.Status)
			}
		})
	}
}

// TestSharedRateLimitNeverAdmitsMore hammers two servers sharing a budget
// of 40 creates, at a rate high enough that each leases several tokens at
// a time, on a frozen clock: each client creates until it is refused.
// Exactly the budget is accepted: never more, and no token is left behind
// in a lease, since a node refuses only once its lease and the shared
// bucket are both empty.
func TestSharedRateLimitNeverAdmitsMore(t *testing.T) {
	t.Parallel()
	clock := webtest.NewClock(time.Now())
	opts := webtest.Options{Now: clock.Now, Limits: web.Limits{CreateRate: 1000, CreateBurst: 40}, SharedRateLimit: true}
	a := webtest.Start(t, opts)
	b := a.Peer(t, opts)
	onA, creds := a.Tenant(t, "alice")
	clients := []*testenv.Client{onA, b.Client(t, creds.APIKey)}
	var accepted atomic.Int64
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			gt := testenv.InGoroutine(t)
			for {
				r := clients[i%2].Do(gt, http.MethodPost, "/v1/tasks", map[string]any{"targetUrl": "http://127.0.0.1:1/", "delay": 60})
				if r.Status != http.StatusAccepted {
					if r.Status != http.StatusTooManyRequests {
						gt.Errorf("create: got %d %s", r.Status, r.Body)
					}
					return
				}
				accepted.Add(1)
			}
		})
	}
	wg.Wait()
	if n := accepted.Load(); n != 40 {
		t.Fatalf("creates accepted on two nodes sharing a budget of 40: %d", n)
	}
}

// TestTenantChangesReachEveryNode changes a tenant on one server and uses
// it on another, which had it cached: once the second has applied the
// change, a revoked key is refused there, the event stream it held open
// there ends, and new limits apply there.
func TestTenantChangesReachEveryNode(t *testing.T) {
	t.Parallel()
	a := webtest.Start(t, webtest.Options{})
	b := a.Peer(t, webtest.Options{Heartbeat: 20 * time.Millisecond})
	_, creds := a.Tenant(t, "acme")
	key, rec, err := a.TenantAdmin.CreateKey(context.Background(), creds.TenantID, "second")
	if err != nil {
		t.Fatal(err)
	}
	onB := b.Client(t, key)
	body := map[string]any{"targetUrl": "http://127.0.0.1:1/", "delay": 60}
	if r := onB.Do(t, http.MethodPost, "/v1/tasks", body); r.Status != http.StatusAccepted || r.Header.Get("RateLimit-Policy") != `"create";q=400;w=2` {
		t.Fatalf("create on node B: got %d, policy %q", r.Status, r.Header.Get("RateLimit-Policy"))
	}
	stream := openSSE(t, nil, b.URL+"/v1/events", "Authorization", "Bearer "+key)
	if stream.resp.StatusCode != http.StatusOK {
		t.Fatalf("event stream on node B: %d", stream.resp.StatusCode)
	}
	stream.waitHeartbeat(t)

	if r := a.Admin.Do(t, http.MethodPut, "/admin/v1/tenants/"+creds.TenantID+"/limits", map[string]any{"createRate": 100, "createBurst": 10}); r.Status != http.StatusOK {
		t.Fatalf("set limits on node A: %d %s", r.Status, r.Body)
	}
	if err := a.TenantAdmin.RevokeKey(context.Background(), creds.TenantID, rec.ID); err != nil {
		t.Fatal(err)
	}
	b.TenantsCaughtUp(t)
	stream.waitEnd(t)
	if r := onB.Do(t, http.MethodGet, "/v1/tasks", nil); r.Status != http.StatusUnauthorized {
		t.Errorf("the key revoked on node A, on node B: got %d, want 401", r.Status)
	}
	if r := b.Client(t, creds.APIKey).Do(t, http.MethodPost, "/v1/tasks", body); r.Status != http.StatusAccepted || r.Header.Get("RateLimit-Policy") != `"create";q=10;w=1` {
		t.Errorf("create on node B after new limits on node A: got %d, policy %q, want 202 and q=10", r.Status, r.Header.Get("RateLimit-Policy"))
	}
}
