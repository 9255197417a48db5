// Package ratelimit decides whether a caller may do one more thing now: a
// token bucket per key (a tenant's creates, in Boomerang), filled at a rate
// up to a burst. Local keeps the buckets in this process, so each node of
// a cluster enforces the limit on its own; Shared keeps them in a
// JetStream key-value bucket, so the limit holds for the sum of every
// node's admissions. Both read the time they are given, never the clock.
package ratelimit

import (
	"context"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limit is a token bucket's size: Rate tokens a second, up to Burst held.
type Limit struct {
	Rate  float64
	Burst int
}

// Decision is a limiter's answer to one request.
type Decision struct {
	// Allowed says the request may go ahead; it has spent a token.
	Allowed bool
	// Wait is, when the request is refused, how long until a token is
	// free.
	Wait time.Duration
	// Remaining is about how many tokens are left after this request.
	Remaining float64
}

// Limiter spends a token of key's bucket, whose size is l, at time now.
type Limiter interface {
	Take(ctx context.Context, key string, l Limit, now time.Time) Decision
}

// Local is a Limiter whose buckets live in this process: in a cluster,
// each node admits up to the limit on its own. The zero value is not
// usable; call NewLocal.
type Local struct {
	mu      sync.Mutex
	buckets map[string]*localBucket
}

type localBucket struct {
	lim   *rate.Limiter
	limit Limit
}

// NewLocal returns a limiter with a bucket per key in this process.
func NewLocal() *Local { return &Local{buckets: map[string]*localBucket{}} }

// Take spends a token of key's bucket. A bucket whose size changed starts
// again full.
func (l *Local) Take(_ context.Context, key string, lim Limit, now time.Time) Decision {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil || b.limit != lim {
		b = &localBucket{lim: rate.NewLimiter(rate.Limit(lim.Rate), lim.Burst), limit: lim}
		l.buckets[key] = b
	}
	res := b.lim.ReserveN(now, 1)
	if !res.OK() { // a burst of zero never admits
		return Decision{Wait: wait(lim, 0)}
	}
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return Decision{Wait: d, Remaining: math.Max(0, b.lim.TokensAt(now))}
	}
	return Decision{Allowed: true, Remaining: math.Max(0, b.lim.TokensAt(now))}
}

// wait is how long a bucket of size l holding tokens takes to hold one.
func wait(l Limit, tokens float64) time.Duration {
	if tokens >= 1 {
		return 0
	}
	if l.Rate <= 0 {
		return time.Hour // never refills: a long wait, rather than none
	}
	return time.Duration(math.Ceil((1 - tokens) / l.Rate * float64(time.Second)))
}
