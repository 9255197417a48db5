package dashboard

import (
	"context"
	"time"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/web/api"
)

// usageData is the tenant's usage this month and its quota, for the
// settings page.
type usageData struct {
	Month     broker.Usage
	Quota     api.Quota
	Suspended bool
}

// usage returns the tenant's usage and quota now, counting every task
// this node has accepted; without a quota source (Config.Quota) only the
// usage.
func (d *Dashboard) usage(ctx context.Context, tenantID string) (usageData, error) {
	d.tasks.AwaitOwnWrites(ctx)
	now := d.now()
	var u usageData
	var err error
	if u.Month, err = d.tasks.MonthUsage(tenantID, now); err != nil {
		return u, err
	}
	u.Suspended = d.tenants.Suspended(tenantID)
	if d.quota == nil {
		u.Quota = api.Quota{Used: u.Month.TasksCreated, Month: broker.MonthStart(now).Format("2006-01"),
			ResetsAt: broker.MonthStart(now).AddDate(0, 1, 0)}
		return u, nil
	}
	u.Quota, err = d.quota(tenantID, now)
	return u, err
}

// QuotaSource gives a tenant's monthly task quota and its use at a time
// (the API's QuotaState).
type QuotaSource func(tenantID string, now time.Time) (api.Quota, error)
