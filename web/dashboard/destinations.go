package dashboard

import (
	"time"

	"github.com/boomerang-dev/boomerang/broker"
)

// Destinations gives the tenant's target hosts whose concurrency this
// node has lowered below their cap, or paused for a Retry-After
// (broker.Dispatcher.LimitedDestinations). It must name only that
// tenant's hosts.
type Destinations func(tenantID string) []broker.DestinationLimit

// destinationRow is a limited host as the overview shows it.
type destinationRow struct {
	broker.DestinationLimit
	// Paused says how long the host's pause has to run, empty when none.
	Paused string
}

// limitedDestinations returns the rows of the tenant's limited hosts,
// none when the dashboard has no source.
func (d *Dashboard) limitedDestinations(tenantID string, now time.Time) []destinationRow {
	if d.destinations == nil {
		return nil
	}
	var rows []destinationRow
	for _, l := range d.destinations(tenantID) {
		r := destinationRow{DestinationLimit: l}
		if !l.PausedUntil.IsZero() {
			r.Paused = humanDuration(l.PausedUntil.Sub(now))
		}
		rows = append(rows, r)
	}
	return rows
}
