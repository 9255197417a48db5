package broker

import (
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Adaptive concurrency per destination. The dispatcher keeps, per tenant
// and target host, a limit on the calls it makes at once on this node, and
// moves it by AIMD: each sign of overload (a 429 or 503, a refused
// connection, or a latency rise, see destination.latencyFactor) met while at
// least half the limit is in use multiplies it by AdaptiveConfig.Decrease
// (floor 1); each success then adds 1/limit (one per window of limit
// successes) up to the static per-host cap it started at.
// A Retry-After on a 429 or 503 pauses the (tenant, host) until then
// (capped at MaxPause): its work is scheduled again for the end of the
// pause rather than attempted. It is kept per tenant, so that one tenant's
// overload of a host never throttles another tenant's calls to it, and
// per node (nodes share no limits).

// DefaultMaxHostPause caps the pause a Retry-After puts on a host.
const DefaultMaxHostPause = time.Hour

// AdaptiveConfig configures adaptive concurrency towards target hosts.
// The zero value adapts, with the defaults below.
type AdaptiveConfig struct {
	// Off turns adaptation off: only the static caps apply, and a
	// Retry-After delays only the task that got it.
	Off bool
	// Decrease multiplies the limit on a sign of overload (default 0.5).
	Decrease float64
	// LatencyTolerance: the recent latency of a host's successful calls
	// above its long-run baseline by this factor (and by latencyFloor)
	// is a sign of overload (default 2; negative: latency is no sign).
	LatencyTolerance float64
	// MaxPause caps a Retry-After's pause of a host (default
	// DefaultMaxHostPause).
	MaxPause time.Duration
	// WaitingMax, WaitingBytes and WaitingPerLimit bound the waiting
	// room (hostwait.go), where work over a host's limit waits on the
	// node: in messages (default DefaultWaitingMax; negative: no room,
	// such work is given back to the stream for a moment), in bytes of
	// message data (default DefaultWaitingBytes), and per host in
	// multiples of its limit (default DefaultWaitingPerLimit).
	WaitingMax, WaitingBytes, WaitingPerLimit int
}

func (c AdaptiveConfig) withDefaults() AdaptiveConfig {
	if c.Decrease <= 0 || c.Decrease >= 1 {
		c.Decrease = 0.5
	}
	if c.LatencyTolerance == 0 {
		c.LatencyTolerance = 2
	}
	if c.MaxPause <= 0 {
		c.MaxPause = DefaultMaxHostPause
	}
	if c.WaitingMax == 0 {
		c.WaitingMax = DefaultWaitingMax
	}
	if c.WaitingBytes <= 0 {
		c.WaitingBytes = DefaultWaitingBytes
	}
	if c.WaitingPerLimit <= 0 {
		c.WaitingPerLimit = DefaultWaitingPerLimit
	}
	return c
}

// Latency signal: exponentially weighted averages of the logarithms of
// the durations of a host's successful calls (geometric means), a fast
// one (recent) and a slow one (baseline). Logarithms, not the durations:
// a host whose paths differ widely (a path in ten taking 8 s, the rest a
// millisecond) has an arithmetic mean that one slow call lifts by a
// tenth of 8 s, over twice the baseline of 0.8 s with two or three in a
// row; under load that cut the limit again and again, below the slow
// calls already running, until only they ran. Their geometric mean moves
// by a factor, and each call counts at most 4 × the baseline, so that
// only a run of slow calls — a host that slows as a whole — lifts it
// past the tolerance; the baseline takes every call as it is, so a host
// that stays slow raises it in a few hundred calls.
const (
	latencyFast   = 0.1
	latencySlow   = 0.005
	latencyWarmup = 20                    // samples before latency counts
	latencyFloor  = 50 * time.Millisecond // smaller rises are noise
	minLatency    = 1e-6                  // seconds: the log of a zero duration
	// latencyClip bounds what one call adds to the recent average: at
	// most 4 × the baseline (in logs).
	latencyClip   = 1.3862943611198906 // ln 4
	forgetAfter   = 10 * time.Minute   // an idle destination is forgotten
	sweepEvery    = time.Minute
	maxHoldJitter = time.Second // spreads the work a pause held
)

// DestinationLimit is the adaptive concurrency towards one host of a
// tenant on this node.
type DestinationLimit struct {
	TenantID string
	Host     string
	// Limit is how many calls may run at once now; Cap is the static
	// per-host cap it rises back to.
	Limit, Cap int
	// InFlight is how many calls run now.
	InFlight int
	// PausedUntil is when a Retry-After's pause ends; zero when none.
	PausedUntil time.Time
	// Waiting is how many messages wait on this node for a place
	// towards the host (the waiting room, hostwait.go).
	Waiting int
}

// destination is what the dispatcher knows of one tenant's host.
type destination struct {
	limit    float64
	ceiling  int
	inFlight int
	// epochs count the decreases: [0] on overload, [1] on latency (see
	// decrease).
	epochs [2]uint64
	// fast and slow are the latency averages, of log seconds.
	fast, slow float64
	samples    int
	// overloads is the recent share of heard calls that met overload
	// (an exponential average; see clamp).
	overloads float64
	// served and refused count the answers of calls admitted since the
	// last decrease on overload (this overload epoch): the vote that
	// decides whether an overload under load halves the limit.
	served, refused int
	pausedUntil     time.Time
	lastUsed        time.Time
}

// limited reports whether the destination is below its cap or paused.
func (d *destination) limited(now time.Time) bool {
	return int(d.limit) < d.ceiling || d.pausedUntil.After(now)
}

// Kinds of decrease, indexes of destination.epochs.
const (
	byOverload = 0
	byLatency  = 1
)

// decrease lowers the limit once per epoch of its kind: calls that began
// before the last decrease were admitted under the older limit, and their
// overload has been answered already. A decrease on overload starts a new
// epoch of both kinds; one on latency (small, and frequent while a host
// slows) only its own, so that it never masks the halving a 429 calls for.
func (d *destination) decrease(kind int, epochs [2]uint64, factor float64) {
	if epochs[kind] != d.epochs[kind] {
		return
	}
	d.limit = max(1, d.limit*factor)
	d.epochs[byLatency]++
	if kind == byOverload {
		d.newOverloadEpoch()
	}
}

// newOverloadEpoch starts a round of the overload vote.
func (d *destination) newOverloadEpoch() {
	d.epochs[byOverload]++
	d.served, d.refused = 0, 0
}

// refusedShare is the share of overload answers among the answers heard
// in this overload epoch (from calls admitted in it), past which an
// overload under load halves the limit. The first overload of a round
// halves at once (1 refused, counted with one served of prior: a half),
// as does a burst; a steady minority does not: a host whose one path in
// ten answers 503 (a flaky endpoint, not an overload) while its slow
// paths keep half the limit busy halved at every such 503 with plain
// AIMD, from 200 to 26 in two hundred calls, below the slow calls
// already running, which then held every place (an HA test saw a node's
// work for a host stall for minutes).
const refusedShare = 0.4

// vote counts a heard answer of a call admitted in this overload epoch,
// and reports whether overloads are past refusedShare of them.
func (d *destination) vote(epochs [2]uint64, over bool) bool {
	if epochs[byOverload] != d.epochs[byOverload] {
		return false
	}
	if over {
		d.refused++
	} else {
		d.served++
	}
	return float64(d.refused) >= refusedShare*float64(d.served+d.refused+1)
}

// clamp lowers the limit to to, once per overload epoch, when it is above.
// It is for a host that turns most calls away while they run far below
// the limit — one that answers 429 quickly, so that few calls are ever in
// flight, would otherwise never see the limit move, and its tasks spend
// their retries. release clamps only while most recent calls met overload
// (over clampShare of them: a lone flaky 503 among successes moves
// nothing), and not for an answer with Retry-After (the pause is the
// answer). Twice the calls in flight, not fewer: the overload may not come
// from how many calls run at once, and at twice them the next overload
// counts as busy and halves the limit as usual.
func (d *destination) clamp(epochs [2]uint64, to int) {
	if epochs[byOverload] != d.epochs[byOverload] || float64(to) >= d.limit {
		return
	}
	d.limit = max(1, float64(to))
	d.epochs[byLatency]++
	d.newOverloadEpoch()
}

// increase adds one call per window of limit successes, up to the cap.
// Both move the limit only for calls made while at least half of it was
// in use (release): calls well under the limit prove nothing of what the
// host can take, and an overload met then (a flaky endpoint's 503, a
// host that rate-limits by the second) need not be caused by how many
// calls are made at once — it only clamps the limit to twice those
// calls (clamp).
func (d *destination) increase() {
	d.limit = min(float64(d.ceiling), d.limit+1/d.limit)
}

// latencyFactor takes the duration of a successful call and returns what
// to multiply the limit by: 1 while the host's recent latency (fast
// average) stays within tolerance of its baseline (slow average), else
// the gradient tolerance × baseline / recent, at least floor. One slow
// call moves the fast average by a tenth of its excess: a lone outlier
// lowers nothing; a host that stays slow does, in proportion.
func (d *destination) latencyFactor(took time.Duration, tolerance, floor float64) float64 {
	x := math.Log(max(took.Seconds(), minLatency))
	if d.samples == 0 {
		d.fast, d.slow = x, x
	} else {
		d.fast += latencyFast * (min(x, d.slow+latencyClip) - d.fast)
		d.slow += latencySlow * (x - d.slow)
	}
	d.samples++
	recent, baseline := math.Exp(d.fast), math.Exp(d.slow)
	if tolerance <= 0 || d.samples < latencyWarmup || recent <= tolerance*baseline || recent-baseline <= latencyFloor.Seconds() {
		return 1
	}
	return max(floor, tolerance*baseline/recent)
}

// overloadWeight is the weight of one call in destination.overloads, and
// clampShare the share of overloads past which release clamps the limit:
// thirteen overloads in a row from none, or a host that turns away four
// calls in five. An endpoint that fails each task's first call (half the
// calls) stays below it, as do bursts of a few such calls in a row.
const (
	overloadWeight = 0.1
	clampShare     = 0.75
)

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

type destKey struct{ tenantID, host string }

// adaptive holds the destinations of one dispatcher. A nil *adaptive
// adapts nothing.
type adaptive struct {
	cfg AdaptiveConfig
	now func() time.Time

	mu    sync.Mutex
	dests map[destKey]*destination
	swept time.Time
}

func newAdaptive(cfg AdaptiveConfig, now func() time.Time) *adaptive {
	if cfg.Off {
		return nil
	}
	return &adaptive{cfg: cfg.withDefaults(), now: now, dests: map[destKey]*destination{}, swept: now()}
}

// permit is a call's place in its destination's limit.
type permit struct {
	dest   *destination
	epochs [2]uint64
}

// acquire takes a place towards host for the tenant, whose static cap is
// ceiling. When it cannot, pausedUntil is the end of the host's pause, or
// zero when the host is only full.
func (a *adaptive) acquire(tenantID, host string, ceiling int) (p permit, pausedUntil time.Time, ok bool) {
	if a == nil {
		return permit{}, time.Time{}, true
	}
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.sweep(now)
	key := destKey{tenantID, host}
	d := a.dests[key]
	if d == nil {
		d = &destination{limit: float64(ceiling)}
		a.dests[key] = d
	}
	d.ceiling, d.lastUsed = ceiling, now
	d.limit = min(d.limit, float64(ceiling))
	if d.pausedUntil.After(now) {
		return permit{}, d.pausedUntil, false
	}
	if d.inFlight >= max(1, int(d.limit)) {
		return permit{}, time.Time{}, false
	}
	d.inFlight++
	return permit{dest: d, epochs: d.epochs}, time.Time{}, true
}

// release gives p's place back and moves the limit by what the call
// came to; heard is false for a call that was aborted (shutdown, cancel),
// which tells nothing of the host.
func (a *adaptive) release(p permit, res CallResult, heard bool) {
	if a == nil || p.dest == nil {
		return
	}
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	d := p.dest
	concurrency := d.inFlight // this call included
	busy := 2*concurrency >= int(d.limit)
	d.inFlight--
	d.lastUsed = now
	if !heard {
		return
	}
	over := overloaded(res)
	d.overloads += overloadWeight * (b2f(over) - d.overloads)
	outvoted := false
	if over || res.Outcome == OutcomeSucceeded {
		outvoted = d.vote(p.epochs, over)
	}
	switch {
	case over:
		if res.RetryAfter > 0 && res.StatusCode != 0 {
			until := now.Add(min(res.RetryAfter, a.cfg.MaxPause))
			if until.After(d.pausedUntil) {
				d.pausedUntil = until
			}
		}
		switch {
		case busy && outvoted:
			d.decrease(byOverload, p.epochs, a.cfg.Decrease)
		case busy:
		case res.RetryAfter == 0 && d.overloads > clampShare:
			d.clamp(p.epochs, 2*concurrency)
		}
	case res.Outcome == OutcomeSucceeded:
		f := d.latencyFactor(res.Duration, a.cfg.LatencyTolerance, a.cfg.Decrease)
		switch {
		case !busy:
		case f < 1:
			d.decrease(byLatency, p.epochs, f)
		default:
			d.increase()
		}
	}
}

// places returns k's free places, its limit and the end of its pause
// (zero when none); an unknown destination has none of them.
func (a *adaptive) places(k destKey) (free, limit int, pausedUntil time.Time) {
	if a == nil {
		return 0, 0, time.Time{}
	}
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	d := a.dests[k]
	if d == nil {
		return 0, 0, time.Time{}
	}
	limit = max(1, int(d.limit))
	if d.pausedUntil.After(now) {
		return 0, limit, d.pausedUntil
	}
	return max(0, limit-d.inFlight), limit, time.Time{}
}

// overloaded reports whether a call's result is a sign that its host is
// overloaded: a 429 or 503, or a refused connection.
func overloaded(res CallResult) bool {
	return res.StatusCode == http.StatusTooManyRequests || res.StatusCode == http.StatusServiceUnavailable || res.Refused
}

// sweep forgets, once a minute, the destinations idle for forgetAfter
// and not paused: what the dispatcher knew of them is stale.
func (a *adaptive) sweep(now time.Time) {
	if now.Sub(a.swept) < sweepEvery {
		return
	}
	a.swept = now
	for k, d := range a.dests {
		if d.inFlight == 0 && !d.pausedUntil.After(now) && now.Sub(d.lastUsed) >= forgetAfter {
			delete(a.dests, k)
		}
	}
}

// limited lists the destinations below their cap or paused, of one tenant
// (all tenants when all is true), by tenant and host.
func (a *adaptive) limited(tenantID string, all bool) []DestinationLimit {
	if a == nil {
		return nil
	}
	now := a.now()
	a.mu.Lock()
	var out []DestinationLimit
	for k, d := range a.dests {
		if (!all && k.tenantID != tenantID) || !d.limited(now) {
			continue
		}
		l := DestinationLimit{TenantID: k.tenantID, Host: k.host, Limit: max(1, int(d.limit)), Cap: d.ceiling, InFlight: d.inFlight}
		if d.pausedUntil.After(now) {
			l.PausedUntil = d.pausedUntil
		}
		out = append(out, l)
	}
	a.mu.Unlock()
	slices.SortFunc(out, func(x, y DestinationLimit) int {
		if c := strings.Compare(x.TenantID, y.TenantID); c != 0 {
			return c
		}
		return strings.Compare(x.Host, y.Host)
	})
	return out
}

// LimitedDestinations returns the tenant's hosts whose concurrency this
// node's dispatcher has lowered below their cap, or paused, by host.
func (d *Dispatcher) LimitedDestinations(tenantID string) []DestinationLimit {
	return d.withWaiting(d.adaptive.limited(tenantID, false))
}

// AllLimitedDestinations returns every tenant's limited hosts (see
// LimitedDestinations), for metrics.
func (d *Dispatcher) AllLimitedDestinations() []DestinationLimit {
	return d.withWaiting(d.adaptive.limited("", true))
}

// withWaiting fills in how many messages wait for each destination.
func (d *Dispatcher) withWaiting(ls []DestinationLimit) []DestinationLimit {
	waiting := d.room.waiting()
	for i, l := range ls {
		ls[i].Waiting = waiting[destKey{l.TenantID, l.Host}]
	}
	return ls
}

// enterDestination takes the places a call to host needs: the gate's (the
// static caps) and one in the destination's adaptive limit. When it
// cannot, it settles or keeps w's message and reports false: work over a
// static cap is given back to the stream for a moment; work over the
// adaptive limit waits in the room (or, when the room is full, is given
// back too); work towards a paused host is scheduled again for the end of
// the pause, spread over a second, with all that waits for it.
func (d *Dispatcher) enterDestination(w *waiter, host string) (permit, bool) {
	due := w.due
	if !d.enterGate(w.msg, due.TenantID, host) {
		return permit{}, false
	}
	_, perHost := d.gate.caps(due.TenantID)
	if perHost <= 0 {
		perHost = d.cfg.MaxInFlight
	}
	p, until, ok := d.adaptive.acquire(due.TenantID, host, perHost)
	if ok {
		return p, true
	}
	d.gate.leave(due.TenantID, host)
	k := destKey{due.TenantID, host}
	if until.IsZero() {
		_, limit, _ := d.adaptive.places(k)
		d.wait(k, w, limit)
		return permit{}, false
	}
	d.holdPaused(k, w, until)
	return permit{}, false
}
