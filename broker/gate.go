package broker

import (
	"math/rand/v2"
	"sync"
	"time"
)

// ConcurrencyLimits gives a tenant's caps on work running at once on this
// node: in all, and towards one host. Zero means the gate's default.
type ConcurrencyLimits func(tenantID string) (perTenant, perHost int)

// gate keeps one tenant's slow or failing targets from taking every slot of
// a node: work over the tenant's cap, or over its cap for one host, is given
// back to the stream for a moment instead of waiting in a slot.
type gate struct {
	perTenant, perHost int
	limits             ConcurrencyLimits

	mu      sync.Mutex
	tenants map[string]int
	hosts   map[string]int // tenant + "\x00" + host
}

func newGate(perTenant, perHost int, limits ConcurrencyLimits) *gate {
	return &gate{perTenant: perTenant, perHost: perHost, limits: limits, tenants: map[string]int{}, hosts: map[string]int{}}
}

// enter takes a place for the tenant and host, or reports that either is
// full.
func (g *gate) enter(tenantID, host string) bool {
	perTenant, perHost := g.caps(tenantID)
	key := tenantID + "\x00" + host
	g.mu.Lock()
	defer g.mu.Unlock()
	if (perTenant > 0 && g.tenants[tenantID] >= perTenant) || (perHost > 0 && g.hosts[key] >= perHost) {
		return false
	}
	g.tenants[tenantID]++
	g.hosts[key]++
	return true
}

// caps returns the tenant's caps: its own where it has them, else the
// gate's. Zero means no cap.
func (g *gate) caps(tenantID string) (perTenant, perHost int) {
	perTenant, perHost = g.perTenant, g.perHost
	if g.limits != nil {
		t, h := g.limits(tenantID)
		if t > 0 {
			perTenant = t
		}
		if h > 0 {
			perHost = h
		}
	}
	return perTenant, perHost
}

func (g *gate) leave(tenantID, host string) {
	key := tenantID + "\x00" + host
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.tenants[tenantID]--; g.tenants[tenantID] <= 0 {
		delete(g.tenants, tenantID)
	}
	if g.hosts[key]--; g.hosts[key] <= 0 {
		delete(g.hosts, key)
	}
}

// gateBackoff is how long work refused by the gate waits before JetStream
// offers it again: about a second, spread so refused work does not return
// in lockstep.
func gateBackoff() time.Duration {
	return 500*time.Millisecond + time.Duration(rand.Int64N(int64(time.Second)))
}
