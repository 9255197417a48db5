package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/boomerang-dev/boomerang/broker"
)

func TestStatusClass(t *testing.T) {
	t.Parallel()
	for code, want := range map[int]string{0: "none", 200: "2xx", 204: "2xx", 302: "3xx", 404: "4xx", 503: "5xx", 99: "other", 600: "other"} {
		if got := StatusClass(code); got != want {
			t.Errorf("StatusClass(%d) = %q, want %q", code, got, want)
		}
	}
}

// TestOnlyNamedTenantsGetALabel: the named tenant's work counts under its
// id, every other tenant's under "other".
func TestOnlyNamedTenantsGetALabel(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m := New(reg, []string{"ten_big"})
	m.TaskCreated("ten_big")
	m.TaskCreated("ten_a")
	m.TaskCreated("ten_b")
	m.AttemptMade("ten_a", broker.OutcomeRetry, 503, time.Second)
	m.DeliveryMade("ten_big", "dead", 0, time.Second)
	m.RateLimited("ten_b")
	for _, c := range []struct {
		got  prometheus.Collector
		want float64
	}{
		{m.created.WithLabelValues("ten_big"), 1},
		{m.created.WithLabelValues(OtherTenants), 2},
		{m.attempts.WithLabelValues(OtherTenants, "retry", "5xx"), 1},
		{m.deliveries.WithLabelValues("ten_big", "dead"), 1},
		{m.deliveryStatuses.WithLabelValues("ten_big", "none"), 1},
		{m.rateLimited.WithLabelValues(OtherTenants), 1},
	} {
		if got := testutil.ToFloat64(c.got); got != c.want {
			t.Errorf("got %v, want %v", got, c.want)
		}
	}
	if got := testutil.CollectAndCount(m.attemptSeconds); got != 1 {
		t.Errorf("attempt histogram: got %d series, want 1", got)
	}
}

// TestStateSumsTheViewsCounts: the waiting and dead-lettered gauges add up
// the tenants' counts by tenant label, zero included; sources left out
// report nothing.
func TestStateSumsTheViewsCounts(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m := New(reg, []string{"ten_big"})
	counts := map[string]broker.Counts{
		"ten_a": {Status: map[broker.Status]int{broker.StatusPending: 2, broker.StatusRetrying: 1, broker.StatusRunning: 5},
			Webhook: map[broker.WebhookStatus]int{broker.WebhookDead: 3}},
		"ten_b": {Status: map[broker.Status]int{broker.StatusPending: 4}, Webhook: map[broker.WebhookStatus]int{}},
	}
	m.RegisterState(reg, Sources{
		Counts:   func() (map[string]broker.Counts, error) { return counts, nil },
		Attempts: func() int { return 7 },
	})
	want := `
# HELP boomerang_attempts_in_flight Calls to targets running on this node now.
# TYPE boomerang_attempts_in_flight gauge
boomerang_attempts_in_flight 7
# HELP boomerang_dead_letters Tasks whose webhook is dead-lettered (every delivery failed), as this node's view has them.
# TYPE boomerang_dead_letters gauge
boomerang_dead_letters{tenant="other"} 3
boomerang_dead_letters{tenant="ten_big"} 0
# HELP boomerang_tasks_waiting Tasks waiting for an attempt (pending: first attempt, or a delay; retrying: a backoff), as this node's view has them.
# TYPE boomerang_tasks_waiting gauge
boomerang_tasks_waiting{tenant="other"} 7
boomerang_tasks_waiting{tenant="ten_big"} 0
`
	names := []string{"boomerang_attempts_in_flight", "boomerang_dead_letters", "boomerang_tasks_waiting",
		"boomerang_webhook_deliveries_in_flight", "boomerang_consumer_pending", "boomerang_projector_lag_events"}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
}
