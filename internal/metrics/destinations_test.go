package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/boomerang-dev/boomerang/broker"
)

// TestDestinationGaugesOnlyForLimitedHosts: the limited hosts the
// dispatcher reports become series; tenants without a label of their own
// share "other", with their limits and calls added up; no
// limited host, no series.
func TestDestinationGaugesOnlyForLimitedHosts(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m := New(reg, []string{"ten_big"})
	until := time.Date(2026, 12, 1, 13, 0, 0, 0, time.UTC)
	var limited []broker.DestinationLimit
	m.RegisterState(reg, Sources{Destinations: func() []broker.DestinationLimit { return limited }})
	names := []string{"boomerang_destination_concurrency_limit", "boomerang_destination_in_flight", "boomerang_destination_waiting", "boomerang_destination_paused_until_seconds"}
	if n, err := testutil.GatherAndCount(reg, names...); err != nil || n != 0 {
		t.Fatalf("no host limited: got %d series (%v), want 0", n, err)
	}
	limited = []broker.DestinationLimit{
		{TenantID: "ten_big", Host: "api.example", Limit: 50, Cap: 200, InFlight: 49, Waiting: 196},
		{TenantID: "ten_a", Host: "api.example", Limit: 12, Cap: 200, InFlight: 3, Waiting: 5},
		{TenantID: "ten_b", Host: "api.example", Limit: 100, Cap: 200, InFlight: 4, Waiting: 2, PausedUntil: until},
	}
	want := `
# HELP boomerang_destination_concurrency_limit Calls to one target host a tenant may make at once on this node now, where adaptive concurrency has lowered it below --max-in-flight-per-host or a Retry-After paused the host (hosts at their cap are not reported).
# TYPE boomerang_destination_concurrency_limit gauge
boomerang_destination_concurrency_limit{host="api.example",tenant="other"} 112
boomerang_destination_concurrency_limit{host="api.example",tenant="ten_big"} 50
# HELP boomerang_destination_in_flight Calls running now to a host reported by boomerang_destination_concurrency_limit.
# TYPE boomerang_destination_in_flight gauge
boomerang_destination_in_flight{host="api.example",tenant="other"} 7
boomerang_destination_in_flight{host="api.example",tenant="ten_big"} 49
# HELP boomerang_destination_waiting Messages waiting on this node for a place towards a host reported by boomerang_destination_concurrency_limit.
# TYPE boomerang_destination_waiting gauge
boomerang_destination_waiting{host="api.example",tenant="other"} 7
boomerang_destination_waiting{host="api.example",tenant="ten_big"} 196
# HELP boomerang_destination_paused_until_seconds When the pause a host's Retry-After asked for ends (Unix time), for the hosts paused now.
# TYPE boomerang_destination_paused_until_seconds gauge
boomerang_destination_paused_until_seconds{host="api.example",tenant="other"} 1.79613e+09
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
}
