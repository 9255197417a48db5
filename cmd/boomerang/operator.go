package main

import (
	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/tenant"
)

// workStates tells the workers, from the tenant view, whether a tenant's
// work runs, holds (suspended) or is dropped (deleted).
func workStates(tenants *tenant.Store) broker.TenantStates {
	return func(tenantID string) broker.TenantState {
		return broker.TenantStateOf(tenants.WorkState(tenantID))
	}
}
