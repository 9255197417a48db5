package api

import (
	"context"
	"fmt"
	"time"

	"github.com/boomerang-dev/boomerang/broker"
)

// AdmitFiring applies the tenant's limits on creating tasks to a
// schedule's firing, as a create through the API meets them: past its
// monthly quota the firing makes no task (the schedule goes on); past its
// create rate the firing waits for the bucket to refill. The quota is
// asked first, so a skipped firing spends none of the rate.
func (a *API) AdmitFiring(ctx context.Context, tenantID string) (broker.FiringDecision, error) {
	q, err := a.checkedQuota(ctx, tenantID)
	if err != nil {
		return broker.FiringDecision{}, err
	}
	if q.MonthlyTasks != nil && *q.Remaining <= 0 {
		return broker.FiringDecision{Skip: fmt.Sprintf("the tenant's monthly task quota (%d) is spent until %s",
			*q.MonthlyTasks, q.ResetsAt.Format(time.RFC3339))}, nil
	}
	d := a.createLimit.Take(ctx, "create."+tenantID, a.createBucket(tenantID), a.now())
	if !d.Allowed {
		a.rateLimited(tenantID)
		// Asked again within a minute at most, so a limit raised meanwhile
		// applies soon.
		return broker.FiringDecision{Wait: min(max(d.Wait, time.Second), time.Minute)}, nil
	}
	return broker.FiringDecision{}, nil
}
