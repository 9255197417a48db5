package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/web/problem"
)

// The monthly task quota. A tenant may create so many tasks per UTC month
// (the operator sets it per tenant; the server's default applies
// otherwise; zero is unlimited). The count is the tasks created this
// month as this node's view has applied them, so it is eventually
// consistent across nodes. Two things bound how far a tenant can go past
// its quota:
//   - before refusing, the node catches its view up with the task
//     stream, so it never refuses on a count that lags;
//   - once fewer than quotaSlack tasks remain by the view's count, the
//     node catches up before accepting too.
//
// What is left is the creates accepted at once, on every node, between a
// check and the projector applying them: at most the creates in flight
// at the moment the quota is reached (the tenant's create rate bounds
// them, and each node's catch-up waits for the others' published
// creates). Monthly usage counts by the time the stream stored each
// create, so a create at 23:59:59.9 UTC on the last day counts in the
// month the stream says.

// MaxMonthlyTasks is the largest monthly task quota the operator may set.
const MaxMonthlyTasks = 1_000_000_000_000

// quotaSlack is how many remaining tasks make a create catch up first:
// 1 % of the quota, at least 10.
func quotaSlack(quota int64) int64 { return max(10, quota/100) }

// Quota is the state of a tenant's monthly task quota.
type Quota struct {
	// MonthlyTasks is the quota in force: nil when unlimited.
	MonthlyTasks *int64 `json:"monthlyTasks"`
	// Default says the tenant has no quota of its own: the server's
	// applies.
	Default bool `json:"default"`
	// Used is the tasks created this month, as this node's view counts.
	Used int64 `json:"used"`
	// Remaining is what is left of the quota; absent when unlimited.
	Remaining *int64 `json:"remaining,omitempty"`
	// Month is the UTC month counted, YYYY-MM; ResetsAt its end.
	Month    string    `json:"month"`
	ResetsAt time.Time `json:"resetsAt"`
}

// quotaOf returns the tenant's quota in force (0: unlimited) and whether
// it is the server's default.
func (a *API) quotaOf(tenantID string) (int64, bool) {
	if set := a.tenants.Status(tenantID).MonthlyQuota; set != nil {
		return *set, false
	}
	return a.defaultQuota, true
}

// QuotaState returns the tenant's quota and its use this month at now.
func (a *API) QuotaState(tenantID string, now time.Time) (Quota, error) {
	limit, isDefault := a.quotaOf(tenantID)
	start := broker.MonthStart(now)
	q := Quota{Default: isDefault, Month: start.Format("2006-01"), ResetsAt: start.AddDate(0, 1, 0)}
	u, err := a.tasks.MonthUsage(tenantID, now)
	if err != nil {
		return q, err
	}
	q.Used = u.TasksCreated
	if limit > 0 {
		left := max(0, limit-q.Used)
		q.MonthlyTasks, q.Remaining = &limit, &left
	}
	return q, nil
}

// EnforceQuota refuses the creates of a suspended tenant (403
// tenant-suspended) and those beyond its monthly quota (429
// quota-exceeded), and describes the quota in the RateLimit-Policy and
// RateLimit headers (draft-ietf-httpapi-ratelimit-headers-09, policy
// "monthly"), beside the create rate's.
func (a *API) EnforceQuota(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		tenantID := Principal(c).TenantID
		if a.tenants.Suspended(tenantID) {
			return problem.TenantSuspended.New("This tenant is suspended: it cannot create tasks until the operator resumes it. Its waiting tasks hold; nothing is lost.")
		}
		q, err := a.checkedQuota(c.Request().Context(), tenantID)
		if err != nil {
			return err
		}
		if q.MonthlyTasks == nil {
			return next(c)
		}
		reset := max(1, int(q.ResetsAt.Sub(a.now()).Seconds()))
		h := c.Response().Header()
		appendField(h, "RateLimit-Policy", fmt.Sprintf(`"monthly";q=%d;w=%d`, *q.MonthlyTasks, int(q.ResetsAt.Sub(broker.MonthStart(a.now())).Seconds())))
		appendField(h, "RateLimit", fmt.Sprintf(`"monthly";r=%d;t=%d`, *q.Remaining, reset))
		if *q.Remaining <= 0 {
			return problem.QuotaExceeded.New(fmt.Sprintf("This tenant has created its %d tasks of %s; the quota resets at %s.",
				*q.MonthlyTasks, q.Month, q.ResetsAt.Format(time.RFC3339))).WithHeader("Retry-After", strconv.Itoa(reset))
		}
		return next(c)
	}
}

// checkedQuota returns the tenant's quota, its use counted on a view caught
// up with the stream when the count is near the quota or past it; a tenant
// without a quota gets MonthlyTasks nil and no count, read on every create
// otherwise.
func (a *API) checkedQuota(ctx context.Context, tenantID string) (Quota, error) {
	if limit, _ := a.quotaOf(tenantID); limit <= 0 {
		return Quota{}, nil // unlimited: no need to read the month's use on every create
	}
	q, err := a.QuotaState(tenantID, a.now())
	if err != nil || q.MonthlyTasks == nil || *q.Remaining > quotaSlack(*q.MonthlyTasks) {
		return q, err
	}
	if err := a.tasks.CatchUp(ctx); err != nil {
		return q, problem.Unavailable.New("This node's view is catching up with the event log; try again in a moment.")
	}
	return a.QuotaState(tenantID, a.now())
}

// appendField adds a member to a structured-field list header.
func appendField(h http.Header, name, member string) {
	if cur := h.Get(name); cur != "" {
		member = cur + ", " + member
	}
	h.Set(name, member)
}

// usagePeriod is a tenant's usage in one day or month.
type usagePeriod struct {
	Start time.Time `json:"start"`
	broker.Usage
}

// usageBody is the answer of the usage routes.
type usageBody struct {
	Period string        `json:"period"`
	Items  []usagePeriod `json:"items"`
	Quota  Quota         `json:"quota"`
}

// usageOf returns the tenant's usage from the query: period=day (the
// default) or month, from and to (YYYY-MM-DD, UTC; default the last 31
// days, or this month).
func (a *API) usageOf(c echo.Context, tenantID string) (usageBody, error) {
	if err := checkQuery(c, "period", "from", "to"); err != nil {
		return usageBody{}, err
	}
	a.tasks.AwaitOwnWrites(c.Request().Context()) // count the tasks just accepted here
	now := a.now().UTC()
	body := usageBody{Period: c.QueryParam("period"), Items: []usagePeriod{}}
	if body.Period == "" {
		body.Period = "day"
	}
	if body.Period != "day" && body.Period != "month" {
		return body, problem.Invalid(problem.FieldError{Field: "period", Message: "must be day or month"})
	}
	from, to := now.AddDate(0, 0, -30), now
	if body.Period == "month" {
		from = broker.MonthStart(now)
	}
	var errs []problem.FieldError
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"from", &from}, {"to", &to}} {
		if v := c.QueryParam(p.name); v != "" {
			t, err := time.Parse(time.DateOnly, v)
			if err != nil {
				errs = append(errs, problem.FieldError{Field: p.name, Message: "must be a date, YYYY-MM-DD"})
			}
			*p.dst = t
		}
	}
	if len(errs) == 0 && (to.Before(from) || to.Sub(from) > 800*day) {
		errs = append(errs, problem.FieldError{Field: "to", Message: "must be on or after from, at most 800 days later"})
	}
	if len(errs) > 0 {
		return body, problem.Invalid(errs...)
	}
	if body.Period == "month" {
		from, to = broker.MonthStart(from), broker.MonthStart(to).AddDate(0, 1, -1)
	}
	days, err := a.tasks.Usage(tenantID, from, to)
	if err != nil {
		return body, err
	}
	body.Items = groupUsage(days, body.Period)
	body.Quota, err = a.QuotaState(tenantID, now)
	return body, err
}

// groupUsage sums days into periods: each day, or each month.
func groupUsage(days []broker.DayUsage, period string) []usagePeriod {
	out := []usagePeriod{}
	for _, d := range days {
		start := d.Day
		if period == "month" {
			start = broker.MonthStart(d.Day)
		}
		if n := len(out); n > 0 && out[n-1].Start.Equal(start) {
			out[n-1].Add(d.Usage)
			continue
		}
		out = append(out, usagePeriod{Start: start, Usage: d.Usage})
	}
	return out
}

// TenantUsage handles GET /v1/usage: the tenant's own usage and quota.
func (a *API) TenantUsage(c echo.Context) error {
	body, err := a.usageOf(c, Principal(c).TenantID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, body)
}
