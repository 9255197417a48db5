package delivery

import (
	"math/rand/v2"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// DefaultWebhookSchedule returns the wait before each webhook delivery of a
// round, like Svix's: immediately, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h,
// 10 h. Each call returns a new slice, which the caller may change.
func DefaultWebhookSchedule() []time.Duration {
	return []time.Duration{
		0, 5 * time.Second, 5 * time.Minute, 30 * time.Minute,
		2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour,
	}
}

// RetryPolicy implements broker.RetryPolicy.
type RetryPolicy struct {
	// InitialBackoff is the wait after the first failed attempt (default 1 s);
	// it doubles after each, up to MaxBackoff (default 1 h).
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	// Jitter is the randomization factor applied to every wait (default 0.2,
	// ±20 %).
	Jitter float64
	// RetryAfterCap bounds a target's Retry-After (default 24 h).
	RetryAfterCap time.Duration
	// WebhookSchedule is the wait before each delivery of a round (default
	// DefaultWebhookSchedule()); its length is the number of deliveries.
	WebhookSchedule []time.Duration
}

// DefaultRetryPolicy returns the policy with every default filled in.
func DefaultRetryPolicy() RetryPolicy { return RetryPolicy{}.withDefaults() }

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.InitialBackoff <= 0 {
		p.InitialBackoff = time.Second
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = time.Hour
	}
	if p.Jitter <= 0 {
		p.Jitter = 0.2
	}
	if p.RetryAfterCap <= 0 {
		p.RetryAfterCap = 24 * time.Hour
	}
	if len(p.WebhookSchedule) == 0 {
		p.WebhookSchedule = DefaultWebhookSchedule()
	}
	return p
}

// TaskBackoff returns the wait after failed attempt number attempt: the
// target's Retry-After when it gave one (capped), otherwise exponential
// backoff with jitter.
func (p RetryPolicy) TaskBackoff(attempt int, retryAfter time.Duration) time.Duration {
	p = p.withDefaults()
	if retryAfter > 0 {
		return min(retryAfter, p.RetryAfterCap)
	}
	b := &backoff.ExponentialBackOff{
		InitialInterval:     p.InitialBackoff,
		RandomizationFactor: p.Jitter,
		Multiplier:          2,
		MaxInterval:         p.MaxBackoff,
		Stop:                backoff.Stop,
		Clock:               backoff.SystemClock,
	}
	b.Reset()
	wait := p.InitialBackoff
	for range max(attempt, 1) {
		wait = b.NextBackOff()
	}
	return wait
}

// WebhookBackoff returns the jittered wait before delivery index of a round
// and whether the schedule has such a delivery.
func (p RetryPolicy) WebhookBackoff(index int) (time.Duration, bool) {
	p = p.withDefaults()
	if index < 0 || index >= len(p.WebhookSchedule) {
		return 0, false
	}
	base := p.WebhookSchedule[index]
	return time.Duration(float64(base) * (1 + p.Jitter*(2*rand.Float64()-1))), true
}
