package main

import (
	"fmt"
	"time"

	"github.com/boomerang-dev/boomerang/delivery"
	"github.com/boomerang-dev/boomerang/tenant"
	"github.com/boomerang-dev/boomerang/web"
)

// The bounds of a tenant's retention of finished tasks, from the flags.
//
// A finished task leaves the view by a prune event from the stream; a
// rebuilt view equals the live one only if the task stream (whose MaxAge is
// --task-retention) still holds every event of every task the live view
// holds. A task is created at most its life before it finishes (the
// longest delay, every retry and timeout), may be redelivered until its
// retention has passed (one more webhook round), and is pruned within a
// prune interval after that. So:
//
//	--task-retention > life + retention + webhook round + prune interval + margin
//
// and the retention is at least a day, the idempotency window (a key's
// retry must find its task, not a pruned one) and a webhook round.

const (
	day = 24 * time.Hour
	// retentionMargin covers clock skew between the nodes and the NATS
	// servers and a janitor outage.
	retentionMargin = day
	// foreverDays is the most a tenant may choose when task events are
	// kept for ever: ten years.
	foreverDays = 3650
)

// taskLife is how long a task can live from its creation to the end of its
// first webhook round, and how long a webhook round can take, with the
// server's limits and these flags.
func (c *ServeConfig) taskLife(p delivery.RetryPolicy) (life, round time.Duration) {
	limits := web.Limits{}.WithDefaults()
	d := delivery.DefaultRetryPolicy()
	if p.RetryAfterCap > 0 {
		d.RetryAfterCap = p.RetryAfterCap
	}
	if p.MaxBackoff > 0 {
		d.MaxBackoff = p.MaxBackoff
	}
	if len(p.WebhookSchedule) > 0 {
		d.WebhookSchedule = p.WebhookSchedule
	}
	wait := max(scale(d.MaxBackoff, 1+d.Jitter), d.RetryAfterCap)
	retries := time.Duration(limits.MaxRetries)*wait + time.Duration(limits.MaxRetries+1)*limits.MaxTimeout
	for _, w := range d.WebhookSchedule {
		round += scale(w, 1+d.Jitter) + c.WebhookTimeout
	}
	return limits.MaxDelay + retries + round, round
}

func scale(d time.Duration, f float64) time.Duration { return time.Duration(float64(d) * f) }

// retentionBounds checks --retention and --prune-interval against
// --task-retention and returns the bounds a tenant's retention must keep.
func (c *ServeConfig) retentionBounds(p delivery.RetryPolicy) (tenant.RetentionBounds, error) {
	if c.PruneInterval < time.Second {
		return tenant.RetentionBounds{}, fmt.Errorf("--prune-interval %s: must be at least 1s", c.PruneInterval)
	}
	life, round := c.taskLife(p)
	minimum := ceilDays(max(day, c.IdemWindow, round))
	maximum := time.Duration(foreverDays) * day
	if c.TaskRetention > 0 {
		maximum = (c.TaskRetention - life - round - c.PruneInterval - retentionMargin) / day * day
	}
	b := tenant.RetentionBounds{Default: c.Retention, Min: minimum, Max: maximum}
	switch {
	case maximum < minimum:
		return b, fmt.Errorf("--task-retention %s is too short: the task stream must keep a task's events for its whole life (up to %s: --retention needs at least %s more, plus a webhook round, --prune-interval and a day's margin)",
			c.TaskRetention, life.Round(time.Hour), minimum)
	case c.Retention%day != 0:
		return b, fmt.Errorf("--retention %s: must be whole days, like 720h for 30 days", c.Retention)
	case !b.Allows(c.Retention):
		return b, fmt.Errorf("--retention %s: must be between %s and %s (--task-retention %s minus the longest a task can live, %s, a webhook round, --prune-interval and a day's margin)",
			c.Retention, minimum, maximum, c.TaskRetention, life.Round(time.Hour))
	}
	return b, nil
}

func ceilDays(d time.Duration) time.Duration { return (d + day - 1) / day * day }
