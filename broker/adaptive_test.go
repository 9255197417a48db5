package broker

import (
	"math/rand/v2"
	"net/http"
	"slices"
	"testing"
	"time"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time      { return c.t }
func (c *fakeClock) add(d time.Duration) { c.t = c.t.Add(d) }
func newFakeClock() *fakeClock           { return &fakeClock{t: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)} }
func answered(code int) CallResult {
	return CallResult{Response: Response{StatusCode: code}, Outcome: outcomeOf(code)}
}
func took(d time.Duration) CallResult {
	return CallResult{Response: Response{StatusCode: 200}, Outcome: OutcomeSucceeded, Duration: d}
}
func retryAfter(code int, d time.Duration) CallResult {
	r := answered(code)
	r.RetryAfter = d
	return r
}

func outcomeOf(code int) Outcome {
	if code >= 200 && code < 300 {
		return OutcomeSucceeded
	}
	return OutcomeRetry
}

// mustAcquire takes a place or fails the test.
func mustAcquire(t *testing.T, a *adaptive, tenantID, host string, ceiling int) permit {
	t.Helper()
	p, until, ok := a.acquire(tenantID, host, ceiling)
	if !ok {
		t.Fatalf("acquire %s/%s: refused (paused until %v)", tenantID, host, until)
	}
	return p
}

// releaseBusy makes one call come to res while half the limit is in use:
// the others taken for it are released as aborted, which tells nothing.
func releaseBusy(t *testing.T, a *adaptive, tenantID, host string, ceiling int, res CallResult) {
	t.Helper()
	limit := ceiling // a new destination's
	a.mu.Lock()
	if d := a.dests[destKey{tenantID, host}]; d != nil {
		limit = int(d.limit)
	}
	a.mu.Unlock()
	n := max(1, (limit+1)/2)
	var held []permit
	for range n {
		held = append(held, mustAcquire(t, a, tenantID, host, ceiling))
	}
	a.release(held[0], res, true)
	for _, p := range held[1:] {
		a.release(p, CallResult{}, false)
	}
}

// succeedBusy makes one call succeed while half the limit is in use.
func succeedBusy(t *testing.T, a *adaptive, tenantID, host string, ceiling int) {
	t.Helper()
	releaseBusy(t, a, tenantID, host, ceiling, took(time.Millisecond))
}

func limitOf(t *testing.T, a *adaptive, tenantID, host string) float64 {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	d := a.dests[destKey{tenantID, host}]
	if d == nil {
		t.Fatalf("no destination %s/%s", tenantID, host)
	}
	return d.limit
}

// TestOverloadHalvesTheLimitOncePerEpoch: the first 429 of a burst halves
// the limit; the others, admitted under the old limit, do not halve it
// again; a call admitted after the decrease that meets overload halves it
// once more, down to a floor of one.
func TestOverloadHalvesTheLimitOncePerEpoch(t *testing.T) {
	t.Parallel()
	for _, code := range []int{http.StatusTooManyRequests, http.StatusServiceUnavailable} {
		clock := newFakeClock()
		a := newAdaptive(AdaptiveConfig{}, clock.now)
		var burst []permit
		for range 8 {
			burst = append(burst, mustAcquire(t, a, "ten_a", "h", 8))
		}
		if _, _, ok := a.acquire("ten_a", "h", 8); ok {
			t.Fatalf("%d: a ninth call was admitted over the limit of 8", code)
		}
		for _, p := range burst {
			a.release(p, answered(code), true)
		}
		if got := limitOf(t, a, "ten_a", "h"); got != 4 {
			t.Fatalf("%d: after a burst of overloads the limit is %v, want 4", code, got)
		}
		for _, want := range []float64{2, 1, 1} {
			releaseBusy(t, a, "ten_a", "h", 8, answered(code))
			if got := limitOf(t, a, "ten_a", "h"); got != want {
				t.Fatalf("%d: limit %v, want %v", code, got, want)
			}
		}
		// At the floor one call still goes through, and only one.
		p := mustAcquire(t, a, "ten_a", "h", 8)
		if _, _, ok := a.acquire("ten_a", "h", 8); ok {
			t.Fatalf("%d: two calls admitted at a limit of 1", code)
		}
		a.release(p, answered(200), true)
	}
}

// TestLatencyDropsDoNotMaskOverload: a call admitted before a (small)
// drop for latency still halves the limit when it meets a 429.
func TestLatencyDropsDoNotMaskOverload(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	a := newAdaptive(AdaptiveConfig{}, clock.now)
	var held []permit
	for range 8 {
		held = append(held, mustAcquire(t, a, "ten_a", "h", 16))
	}
	a.mu.Lock()
	d := a.dests[destKey{"ten_a", "h"}]
	d.decrease(byLatency, d.epochs, 0.9) // 16 -> 14.4
	a.mu.Unlock()
	a.release(held[0], answered(429), true)
	if got := limitOf(t, a, "ten_a", "h"); got != 7.2 {
		t.Fatalf("limit %v after a latency drop then a 429, want 7.2", got)
	}
	// The halving ends the latency epoch too: the others admitted before
	// it lower nothing more.
	a.mu.Lock()
	stale := held[1].epochs
	d.decrease(byLatency, stale, 0.9)
	a.mu.Unlock()
	for _, p := range held[1:] {
		a.release(p, answered(429), true)
	}
	if got := limitOf(t, a, "ten_a", "h"); got != 7.2 {
		t.Fatalf("limit %v after stale signals, want still 7.2", got)
	}
}

// TestSuccessesRaiseTheLimitByOnePerWindow: from 4, the limit is 5 after
// 5 successes with half the limit in use (not after 4: each adds
// 1/limit), and it never passes the cap. Successes with less in use
// raise nothing.
func TestSuccessesRaiseTheLimitByOnePerWindow(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	a := newAdaptive(AdaptiveConfig{LatencyTolerance: -1}, clock.now)
	for range 3 { // 32 -> 16 -> 8 -> 4
		releaseBusy(t, a, "ten_a", "h", 32, answered(429))
	}
	if got := limitOf(t, a, "ten_a", "h"); got != 4 {
		t.Fatalf("limit %v, want 4", got)
	}
	for range 10 { // one at a time: under half of 4
		a.release(mustAcquire(t, a, "ten_a", "h", 32), took(time.Millisecond), true)
	}
	if got := limitOf(t, a, "ten_a", "h"); got != 4 {
		t.Fatalf("after successes one at a time the limit is %v, want still 4", got)
	}
	for i := range 5 {
		if got := int(limitOf(t, a, "ten_a", "h")); got != 4 {
			t.Fatalf("after %d successes the limit is %d, want still 4", i, got)
		}
		succeedBusy(t, a, "ten_a", "h", 32)
	}
	if got := int(limitOf(t, a, "ten_a", "h")); got != 5 {
		t.Fatalf("after 5 successes the limit is %d, want 5", got)
	}
	for range 2000 {
		succeedBusy(t, a, "ten_a", "h", 32)
	}
	if got := limitOf(t, a, "ten_a", "h"); got != 32 {
		t.Fatalf("after many successes the limit is %v, want the cap 32", got)
	}
	if l := a.limited("ten_a", false); len(l) != 0 {
		t.Fatalf("recovered host still listed as limited: %+v", l)
	}
}

// TestRetryAfterPausesTheHost: a 503 with Retry-After pauses the tenant's
// host until then, capped at MaxPause; other hosts and other tenants go
// on; the pause ends when the clock passes it.
func TestRetryAfterPausesTheHost(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	a := newAdaptive(AdaptiveConfig{}, clock.now)
	start := clock.now()
	a.release(mustAcquire(t, a, "ten_a", "h", 10), retryAfter(503, 5*time.Hour), true)
	_, until, ok := a.acquire("ten_a", "h", 10)
	if ok || !until.Equal(start.Add(DefaultMaxHostPause)) {
		t.Fatalf("after Retry-After 5h: admitted %v, paused until %v; want refused until %v", ok, until, start.Add(DefaultMaxHostPause))
	}
	a.release(mustAcquire(t, a, "ten_a", "other", 10), answered(200), true)
	a.release(mustAcquire(t, a, "ten_b", "h", 10), answered(200), true)
	got := a.limited("ten_a", false)
	if len(got) != 1 || got[0].Host != "h" || got[0].Limit != 10 || got[0].Cap != 10 || !got[0].PausedUntil.Equal(until) {
		t.Fatalf("ten_a limited: got %+v, want h paused until %v (at its cap: one call is no load)", got, until)
	}
	if b := a.limited("ten_b", false); len(b) != 0 {
		t.Fatalf("ten_b limited by ten_a's overload: %+v", b)
	}
	// A shorter pause does not shorten a longer one.
	clock.add(time.Minute)
	a.mu.Lock()
	a.dests[destKey{"ten_a", "h"}].pausedUntil = time.Time{}
	a.mu.Unlock()
	first, second := mustAcquire(t, a, "ten_a", "h", 10), mustAcquire(t, a, "ten_a", "h", 10)
	a.release(first, retryAfter(429, time.Hour), true)
	a.release(second, retryAfter(429, time.Second), true)
	clock.add(59 * time.Minute)
	if _, _, ok := a.acquire("ten_a", "h", 10); ok {
		t.Fatal("admitted before the pause ended")
	}
	clock.add(time.Minute)
	a.release(mustAcquire(t, a, "ten_a", "h", 10), answered(200), true)
}

// TestRefusedConnectionIsOverload, and a 500 or a timeout is not: only
// signs the host gives of too much load lower the limit, and only when
// they come with load (half the limit in use).
func TestRefusedConnectionIsOverload(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	a := newAdaptive(AdaptiveConfig{}, clock.now)
	releaseBusy(t, a, "ten_a", "h", 10, CallResult{Outcome: OutcomeRetry, Error: "timed out"})
	releaseBusy(t, a, "ten_a", "h", 10, answered(500))
	releaseBusy(t, a, "ten_a", "h", 10, answered(404))
	if got := limitOf(t, a, "ten_a", "h"); got != 10 {
		t.Fatalf("limit %v after a timeout, a 500 and a 404, want 10", got)
	}
	releaseBusy(t, a, "ten_a", "h", 10, CallResult{Outcome: OutcomeRetry, Refused: true})
	if got := limitOf(t, a, "ten_a", "h"); got != 5 {
		t.Fatalf("limit %v after a refused connection, want 5", got)
	}
	// Overload now and then, met with little in use, lowers nothing.
	for range 5 {
		a.release(mustAcquire(t, a, "ten_a", "h", 10), answered(503), true)
		for range 3 {
			a.release(mustAcquire(t, a, "ten_a", "h", 10), answered(200), true)
		}
	}
	if got := limitOf(t, a, "ten_a", "h"); got != 5 {
		t.Fatalf("limit %v after a 503 in four to one call at a time, want 5", got)
	}
	// An aborted call tells nothing.
	a.release(mustAcquire(t, a, "ten_a", "h", 10), answered(429), false)
	if got := limitOf(t, a, "ten_a", "h"); got != 5 {
		t.Fatalf("limit %v after an aborted call, want 5", got)
	}
}

// TestLatencyRiseLowersTheLimit: calls that slow down well beyond their
// baseline lower the limit; steady latency, however slow, does not; with
// the latency signal off nothing does.
func TestLatencyRiseLowersTheLimit(t *testing.T) {
	t.Parallel()
	slow := func(d time.Duration, n int) []time.Duration { return slices.Repeat([]time.Duration{d}, n) }
	for _, tt := range []struct {
		name      string
		tolerance float64
		later     []time.Duration
		want      bool
	}{
		{"rise", 0, slow(2*time.Second, 10), true},
		{"steady", 0, slow(400*time.Millisecond, 10), false},
		{"small rise", 0, slow(420*time.Millisecond, 10), false},
		{"lone outlier", 0, append(slow(4*time.Second, 1), slow(400*time.Millisecond, 10)...), false},
		{"signal off", -1, slow(2*time.Second, 10), false},
	} {
		clock := newFakeClock()
		a := newAdaptive(AdaptiveConfig{LatencyTolerance: tt.tolerance}, clock.now)
		for range 2 * latencyWarmup {
			releaseBusy(t, a, "ten_a", "h", 10, took(400*time.Millisecond))
		}
		for _, d := range tt.later {
			releaseBusy(t, a, "ten_a", "h", 10, took(d))
		}
		if got := limitOf(t, a, "ten_a", "h") < 10; got != tt.want {
			t.Errorf("%s: limit %v, lowered %v, want %v", tt.name, limitOf(t, a, "ten_a", "h"), got, tt.want)
		}
	}
	// The drop is in proportion to the rise, at most by Decrease, and goes
	// on while the host stays slow.
	clock := newFakeClock()
	a := newAdaptive(AdaptiveConfig{}, clock.now)
	for range 2 * latencyWarmup {
		releaseBusy(t, a, "ten_a", "h", 100, took(400*time.Millisecond))
	}
	for i := 0; limitOf(t, a, "ten_a", "h") == 100; i++ {
		if i == 100 {
			t.Fatal("a threefold rise for 100 calls lowered nothing")
		}
		releaseBusy(t, a, "ten_a", "h", 100, took(1200*time.Millisecond))
	}
	first := limitOf(t, a, "ten_a", "h")
	if first < 50 {
		t.Errorf("the first drop took the limit to %v, want at least half of 100", first)
	}
	for range 30 {
		releaseBusy(t, a, "ten_a", "h", 100, took(1200*time.Millisecond))
	}
	if got := limitOf(t, a, "ten_a", "h"); got >= first {
		t.Errorf("a host that stays slow: limit %v, want below %v", got, first)
	}
}

// TestIdleDestinationsAreForgotten after forgetAfter, unless paused or busy.
func TestIdleDestinationsAreForgotten(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	a := newAdaptive(AdaptiveConfig{}, clock.now)
	a.release(mustAcquire(t, a, "ten_a", "idle", 10), answered(429), true)
	a.release(mustAcquire(t, a, "ten_a", "paused", 10), retryAfter(429, time.Hour), true)
	busy := mustAcquire(t, a, "ten_a", "busy", 10)
	clock.add(forgetAfter)
	a.release(mustAcquire(t, a, "ten_b", "x", 10), answered(200), true) // sweeps
	a.mu.Lock()
	_, idle := a.dests[destKey{"ten_a", "idle"}]
	_, paused := a.dests[destKey{"ten_a", "paused"}]
	_, stillBusy := a.dests[destKey{"ten_a", "busy"}]
	a.mu.Unlock()
	if idle || !paused || !stillBusy {
		t.Fatalf("after %v: idle kept %v, paused kept %v, busy kept %v; want false, true, true", forgetAfter, idle, paused, stillBusy)
	}
	a.release(busy, answered(200), true)
}

// TestAdaptationOff admits whatever the static caps admit.
func TestAdaptationOff(t *testing.T) {
	t.Parallel()
	a := newAdaptive(AdaptiveConfig{Off: true}, time.Now)
	for range 3 {
		p, _, ok := a.acquire("ten_a", "h", 1)
		if !ok {
			t.Fatal("refused with adaptation off")
		}
		a.release(p, retryAfter(429, time.Hour), true)
	}
	if l := a.limited("", true); l != nil {
		t.Fatalf("limited with adaptation off: %+v", l)
	}
}

// TestMostlyOverloadedClampsTheLimit: a host that turns most calls away
// while few run (it answers 429 at once, so the calls in flight never
// reach half the limit) clamps the limit to twice the calls in flight;
// from there overload halves it as usual.
func TestMostlyOverloadedClampsTheLimit(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	a := newAdaptive(AdaptiveConfig{}, clock.now)
	const ceiling = 200
	for i := range 12 {
		var held []permit
		for range 10 { // as many as the limit lets through, up to 10
			if p, _, ok := a.acquire("ten_a", "h", ceiling); ok {
				held = append(held, p)
			}
		}
		for j, p := range held {
			res := answered(429)
			if (i+j)%5 == 0 {
				res = answered(200) // a fifth get through
			}
			a.release(p, res, true)
		}
	}
	if got := limitOf(t, a, "ten_a", "h"); got > 20 {
		t.Fatalf("limit %v after most of 120 calls, 10 at a time, met 429; want at most 20", got)
	}
}

// TestDestinationOf: a destination is a host and its port, unless the
// port is the scheme's default: two services on one host are limited and
// paused apart.
func TestDestinationOf(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"https://API.example.com/x":     "api.example.com",
		"https://api.example.com:443/x": "api.example.com",
		"http://api.example.com:80/x":   "api.example.com",
		"http://api.example.com:443/x":  "api.example.com:443",
		"http://127.0.0.1:19202/cap":    "127.0.0.1:19202",
		"http://127.0.0.1:19203/fast":   "127.0.0.1:19203",
		"https://[2001:db8::1]:8443/":   "[2001:db8::1]:8443",
		"https://[2001:db8::1]/":        "2001:db8::1",
		"http://%zz":                    "",
	} {
		if got := DestinationOf(in); got != want {
			t.Errorf("DestinationOf(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestMixedHostKeepsItsLimit plays, on the fake clock, a host of the HA
// tests under load: one task in ten calls a path that takes 8 s, one in
// ten a path that answers 503 to its first call, the rest a path that
// answers in a millisecond; 50 tasks a second for 30 s, after a burst of
// 250 (a node resuming after a pause). The host is never overloaded: its
// 503s are a steady minority, its slow calls a steady share. Plain AIMD
// halved the limit at each 503 and the arithmetic latency average at
// each few slow calls in a row, down to a handful of places that the slow
// calls held, and a node's work for the host stalled for minutes (CI).
// Here the limit stays well above the calls the host runs, and every
// task is done within the minute.
func TestMixedHostKeepsItsLimit(t *testing.T) {
	t.Parallel()
	const (
		slowPath, flakyPath, quickPath = 0, 5, -1
		step                           = 10 * time.Millisecond
	)
	for seed := uint64(1); seed <= 3; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		clock := newFakeClock()
		a := newAdaptive(AdaptiveConfig{}, clock.now)
		type call struct {
			p    permit
			ends int // step
			path int
		}
		var queue []int // paths of the tasks waiting for a place
		var running []call
		for range 250 {
			queue = append(queue, rng.IntN(10))
		}
		total, done, lowest := 250, 0, 200.0
		for now := range 6000 { // a minute
			clock.add(step)
			if now%2 == 0 && now < 3000 {
				queue, total = append(queue, rng.IntN(10)), total+1
			}
			still := running[:0]
			for _, c := range running {
				switch {
				case c.ends > now:
					still = append(still, c)
				case c.path == slowPath:
					a.release(c.p, took(8*time.Second), true)
					done++
				case c.path == flakyPath:
					a.release(c.p, answered(http.StatusServiceUnavailable), true)
					queue = append(queue, quickPath) // its retry answers
				default:
					a.release(c.p, took(time.Millisecond), true)
					done++
				}
			}
			running = still
			for len(queue) > 0 {
				p, _, ok := a.acquire("ten_a", "h", 200)
				if !ok {
					break
				}
				c := call{p: p, ends: now + 1, path: queue[0]}
				if c.path == slowPath {
					c.ends = now + 800
				}
				queue, running = queue[1:], append(running, c)
			}
			lowest = min(lowest, limitOf(t, a, "ten_a", "h"))
		}
		if done != total || lowest < 50 {
			t.Errorf("seed %d: %d of %d tasks done in the minute, the limit as low as %.1f; want all, and never below 50", seed, done, total, lowest)
		}
	}
}
