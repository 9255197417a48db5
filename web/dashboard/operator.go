package dashboard

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/tenant"
	"github.com/boomerang-dev/boomerang/web/api"
)

// The operator's pages: find tenants, and on a tenant's page its status,
// usage and quota, with the forms that set the quota, suspend, resume and
// delete it. They call the same services as the admin API
// (/admin/v1/tenants), not the API itself.

// operatorPageSize is how many tenants the list shows at a time.
const operatorPageSize = 50

// recentDays is how many days of usage a tenant's page shows.
const recentDays = 14

type opTenantsData struct {
	Query string
	// ByID says the list matched the query as an id prefix: no name
	// began with it.
	ByID     bool
	Items    []tenant.Summary
	NextURL  string
	FirstURL string
	Paged    bool
}

// OperatorHome handles GET /operator: the tenants list.
func (d *Dashboard) OperatorHome(c echo.Context) error {
	return c.Redirect(http.StatusSeeOther, "/operator/tenants")
}

// OperatorTenants handles GET /operator/tenants: tenants in the order of
// their ids, a page at a time; ?q= finds a tenant by its id, or lists
// those whose name begins with it (any case) or, when none does, whose id
// does.
func (d *Dashboard) OperatorTenants(c echo.Context) error {
	data := opTenantsData{Query: strings.TrimSpace(c.QueryParam("q")), ByID: c.QueryParam("by") == "id"}
	cursor := c.QueryParam("cursor")
	if data.Query != "" && cursor == "" && broker.ValidToken(data.Query) {
		if _, err := d.tenants.Get(data.Query); err == nil {
			return c.Redirect(http.StatusSeeOther, tenantPage(data.Query))
		}
	}
	items, next, err := d.listTenants(data.Query, data.ByID, cursor)
	if err != nil {
		return err
	}
	if data.Query != "" && !data.ByID && cursor == "" && len(items) == 0 {
		data.ByID = true
		if items, next, err = d.listTenants(data.Query, true, ""); err != nil {
			return err
		}
	}
	data.Items, data.Paged = items, cursor != ""
	data.FirstURL = "/operator/tenants?" + data.values("").Encode()
	if next != "" {
		data.NextURL = "/operator/tenants?" + data.values(next).Encode()
	}
	v := view{Title: "Tenants", Nav: "op-tenants", Data: data}
	if id := c.QueryParam("deleted"); broker.ValidToken(id) && d.tenants.Deleted(id) {
		v.Flash = "Tenant " + id + " and all its data were deleted."
	}
	return d.render(c, http.StatusOK, "operator-tenants", v)
}

func (d *Dashboard) listTenants(q string, byID bool, after string) ([]tenant.Summary, string, error) {
	lq := tenant.ListQuery{NamePrefix: q, After: after, Limit: operatorPageSize}
	if byID {
		lq.NamePrefix, lq.IDPrefix = "", q
	}
	return d.tenants.List(lq)
}

// values is the list's query, from cursor.
func (t opTenantsData) values(cursor string) url.Values {
	v := url.Values{}
	if t.Query != "" {
		v.Set("q", t.Query)
	}
	if t.ByID {
		v.Set("by", "id")
	}
	if cursor != "" {
		v.Set("cursor", cursor)
	}
	return v
}

func tenantPage(id string) string { return "/operator/tenants/" + url.PathEscape(id) }

type opTenantData struct {
	Tenant      *tenant.Tenant
	SuspendedAt *time.Time
	Month       broker.Usage
	Quota       api.Quota
	// QuotaValue is the quota form's value: the quota the operator set,
	// empty for the server's default.
	QuotaValue string
	// Days is the usage of the recent days, newest first; days without
	// use are left out.
	Days       []broker.DayUsage
	RecentDays int
	MaxQuota   int64
}

// doneFlash is what a change's redirect (?done=) says on the tenant page.
var doneFlash = map[string]string{
	"quota":     "Quota saved.",
	"suspended": "Tenant suspended: its creates get 403 and its waiting tasks hold until it is resumed. Nothing is lost.",
	"resumed":   "Tenant resumed: it creates tasks again, and its waiting tasks run.",
}

// OperatorTenant handles GET /operator/tenants/:tenant.
func (d *Dashboard) OperatorTenant(c echo.Context) error {
	return d.renderTenant(c, http.StatusOK, doneFlash[c.QueryParam("done")], "")
}

// renderTenant renders the tenant's page with a flash or an error.
func (d *Dashboard) renderTenant(c echo.Context, status int, flash, problemText string) error {
	id := c.Param("tenant")
	t, err := d.tenants.Get(id)
	if err != nil {
		return err
	}
	now := d.now()
	data := opTenantData{Tenant: t, SuspendedAt: d.tenants.Status(id).SuspendedAt, RecentDays: recentDays, MaxQuota: api.MaxMonthlyTasks}
	u, err := d.usage(c.Request().Context(), id)
	if err != nil {
		return err
	}
	data.Month, data.Quota = u.Month, u.Quota
	if set := d.tenants.Status(id).MonthlyQuota; set != nil {
		data.QuotaValue = strconv.FormatInt(*set, 10)
	}
	days, err := d.tasks.Usage(id, now.AddDate(0, 0, 1-recentDays), now)
	if err != nil {
		return err
	}
	for i := len(days) - 1; i >= 0; i-- {
		data.Days = append(data.Days, days[i])
	}
	return d.render(c, status, "operator-tenant", view{Title: "Tenant " + t.Name, Nav: "op-tenants", Data: data,
		Flash: flash, Error: problemText})
}

// OperatorSetQuota handles POST /operator/tenants/:tenant/quota: a whole
// number of tasks per UTC month (0: unlimited), or empty for the server's
// default.
func (d *Dashboard) OperatorSetQuota(c echo.Context) error {
	var quota *int64
	if v := strings.TrimSpace(c.FormValue("monthlyTasks")); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 || n > api.MaxMonthlyTasks {
			return d.renderTenant(c, http.StatusBadRequest, "", "Give the quota as a whole number of tasks per month from 0 (unlimited) to "+
				strconv.FormatInt(api.MaxMonthlyTasks, 10)+", or leave it empty for the server's default.")
		}
		quota = &n
	}
	id := c.Param("tenant")
	if err := d.tenantAdmin.SetQuota(c.Request().Context(), id, quota); err != nil {
		return err
	}
	d.logger.Info("operator set the monthly quota", "tenant_id", id, "monthly_tasks", quotaText(quota))
	return c.Redirect(http.StatusSeeOther, tenantPage(id)+"?done=quota")
}

func quotaText(q *int64) string {
	if q == nil {
		return "default"
	}
	return strconv.FormatInt(*q, 10)
}

// OperatorSuspend handles POST /operator/tenants/:tenant/suspend.
func (d *Dashboard) OperatorSuspend(c echo.Context) error {
	return d.changeTenant(c, d.tenantAdmin.Suspend, "suspended")
}

// OperatorResume handles POST /operator/tenants/:tenant/resume.
func (d *Dashboard) OperatorResume(c echo.Context) error {
	return d.changeTenant(c, d.tenantAdmin.Resume, "resumed")
}

func (d *Dashboard) changeTenant(c echo.Context, change func(ctx context.Context, tenantID string) error, done string) error {
	id := c.Param("tenant")
	if err := change(c.Request().Context(), id); err != nil {
		return err
	}
	d.logger.Info("operator changed a tenant", "tenant_id", id, "change", done)
	return c.Redirect(http.StatusSeeOther, tenantPage(id)+"?done="+done)
}

// OperatorDelete handles POST /operator/tenants/:tenant/delete: the
// confirmation field must hold the tenant's id or its name. The tenant
// and all its data go, from the streams and every node's view, as with
// DELETE /admin/v1/tenants/{tenant}.
func (d *Dashboard) OperatorDelete(c echo.Context) error {
	id := c.Param("tenant")
	t, err := d.tenants.Get(id)
	if err != nil {
		return err
	}
	if confirm := strings.TrimSpace(c.FormValue("confirm")); confirm == "" || (confirm != t.ID && confirm != t.Name) {
		return d.renderTenant(c, http.StatusUnprocessableEntity, "",
			"Not deleted: type the tenant's id or its name exactly to confirm.")
	}
	ctx := c.Request().Context()
	if err := d.tenantAdmin.Delete(ctx, id); err != nil {
		return err
	}
	rep, err := d.tasks.EraseTenant(ctx, id)
	if err != nil {
		return err
	}
	d.logger.Info("operator deleted a tenant", "tenant_id", id, "task_events", rep.TaskEvents, "schedules", rep.Schedules)
	return c.Redirect(http.StatusSeeOther, "/operator/tenants?deleted="+url.QueryEscape(id))
}
