package metrics

import "github.com/prometheus/client_golang/prometheus"

// The adaptive concurrency gauges: reported only for the hosts whose
// limit is below their cap or that a Retry-After paused, so that the
// series come and go with the overload and a host at its cap costs none.
var (
	descDestLimit = prometheus.NewDesc("boomerang_destination_concurrency_limit",
		"Calls to one target host a tenant may make at once on this node now, where adaptive concurrency has lowered it below --max-in-flight-per-host or a Retry-After paused the host (hosts at their cap are not reported).", []string{"tenant", "host"}, nil)
	descDestInFlight = prometheus.NewDesc("boomerang_destination_in_flight",
		"Calls running now to a host reported by boomerang_destination_concurrency_limit.", []string{"tenant", "host"}, nil)
	descDestWaiting = prometheus.NewDesc("boomerang_destination_waiting",
		"Messages waiting on this node for a place towards a host reported by boomerang_destination_concurrency_limit.", []string{"tenant", "host"}, nil)
	descDestPaused = prometheus.NewDesc("boomerang_destination_paused_until_seconds",
		"When the pause a host's Retry-After asked for ends (Unix time), for the hosts paused now.", []string{"tenant", "host"}, nil)
)

// destSeries is one (tenant label, host)'s gauges: tenants without a label
// of their own share tenant="other", where the limits, the calls in
// flight and the messages waiting of those held back are added up (so
// they compare: a lowest limit beside a sum of calls read as a limit
// broken), and the latest pause is reported.
type destSeries struct {
	limit, inFlight, waiting int
	pausedUntil              float64
}

// collectDestinations sends the limited destinations' gauges.
func (s *state) collectDestinations(ch chan<- prometheus.Metric) {
	if s.src.Destinations == nil {
		return
	}
	type key struct{ tenant, host string }
	series := map[key]*destSeries{}
	for _, d := range s.src.Destinations() {
		k := key{s.tenants(d.TenantID), d.Host}
		e := series[k]
		if e == nil {
			e = &destSeries{}
			series[k] = e
		}
		e.limit += d.Limit
		e.inFlight += d.InFlight
		e.waiting += d.Waiting
		if !d.PausedUntil.IsZero() {
			e.pausedUntil = max(e.pausedUntil, float64(d.PausedUntil.UnixMilli())/1000)
		}
	}
	for k, e := range series {
		ch <- prometheus.MustNewConstMetric(descDestLimit, prometheus.GaugeValue, float64(e.limit), k.tenant, k.host)
		ch <- prometheus.MustNewConstMetric(descDestInFlight, prometheus.GaugeValue, float64(e.inFlight), k.tenant, k.host)
		ch <- prometheus.MustNewConstMetric(descDestWaiting, prometheus.GaugeValue, float64(e.waiting), k.tenant, k.host)
		if e.pausedUntil > 0 {
			ch <- prometheus.MustNewConstMetric(descDestPaused, prometheus.GaugeValue, e.pausedUntil, k.tenant, k.host)
		}
	}
}
