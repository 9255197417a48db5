package api_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/web/webtest"
)

// TestTaskTiming: GET /v1/tasks/{id} gives every attempt and webhook
// delivery its timing, which the contract describes (the test client
// checks every exchange against it): phases that exist, follow each other
// within the call, and show the target's wait before its first byte.
func TestTaskTiming(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{Workers: true})
	client, creds := env.Tenant(t, "acme")
	const wait = 50 * time.Millisecond
	done := webtest.SlowTaskDelivered(t, client, creds, wait)
	if len(done.Attempts) != 2 || len(done.Webhook.Deliveries) != 1 {
		t.Fatalf("got %d attempts and %+v, want 2 and one delivery", len(done.Attempts), done.Webhook)
	}
	for _, a := range done.Attempts {
		tm := a.Timing
		switch {
		case tm == nil:
			t.Errorf("attempt %d: no timing", a.Number)
		case tm.TTFBMs < float64(wait.Milliseconds()):
			t.Errorf("attempt %d: TTFB %v ms, want at least the target's %s", a.Number, tm.TTFBMs, wait)
		case tm.TLSMs != 0:
			t.Errorf("attempt %d: TLS %v ms on plain HTTP", a.Number, tm.TLSMs)
		case tm.TotalMs() > a.DurationMs+0.01:
			t.Errorf("attempt %d: phases %+v add up to more than its %v ms", a.Number, *tm, a.DurationMs)
		case !tm.Reused && tm.ConnectMs <= 0:
			t.Errorf("attempt %d: a new connection without connect time: %+v", a.Number, *tm)
		}
	}
	if d := done.Webhook.Deliveries[0]; d.Timing == nil || d.Timing.TotalMs() > d.DurationMs+0.01 {
		t.Errorf("delivery: got timing %+v in %v ms", d.Timing, d.DurationMs)
	}

	// The JSON names the phases as the contract does.
	r := client.Do(t, http.MethodGet, "/v1/tasks/"+done.ID, nil)
	var raw struct {
		Attempts []struct {
			Timing map[string]any `json:"timing"`
		} `json:"attempts"`
	}
	if err := json.Unmarshal(r.Body, &raw); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"dnsMs", "connectMs", "tlsMs", "sendMs", "ttfbMs", "bodyMs", "reused"} {
		if _, ok := raw.Attempts[0].Timing[name]; !ok {
			t.Errorf("attempts[0].timing: no %s in %v", name, raw.Attempts[0].Timing)
		}
	}
}
