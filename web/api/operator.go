package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/tenant"
	"github.com/boomerang-dev/boomerang/web/problem"
)

// The operator's routes under /admin/v1/tenants: find tenants, read one
// with its usage and quota, set the quota, suspend, resume, delete.

// tenantListBody is a page of tenants.
type tenantListBody struct {
	Items      []tenant.Summary `json:"items"`
	NextCursor string           `json:"nextCursor,omitempty"`
}

// ListTenants handles GET /admin/v1/tenants: tenants in the order of
// their ids, narrowed by ?name= (a name prefix, any case) or ?id= (an id
// prefix), a page of ?limit= (1 to 1000, default 100) from ?cursor=.
func (a *API) ListTenants(c echo.Context) error {
	if err := checkQuery(c, "name", "id", "cursor", "limit"); err != nil {
		return err
	}
	q := tenant.ListQuery{NamePrefix: c.QueryParam("name"), IDPrefix: c.QueryParam("id"), After: c.QueryParam("cursor"), Limit: 100}
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return problem.Invalid(problem.FieldError{Field: "limit", Message: "must be a whole number from 1 to 1000"})
		}
		q.Limit = n
	}
	items, next, err := a.tenants.List(q)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, tenantListBody{Items: items, NextCursor: next})
}

// tenantBody is one tenant as the operator sees it.
type tenantBody struct {
	ID          string        `json:"tenantId"`
	Name        string        `json:"name"`
	CreatedAt   time.Time     `json:"createdAt"`
	SuspendedAt *time.Time    `json:"suspendedAt,omitempty"`
	Keys        []tenant.Key  `json:"keys"`
	Limits      tenant.Limits `json:"limits"`
	Quota       Quota         `json:"quota"`
	// ThisMonth is the tenant's usage in the current UTC month.
	ThisMonth broker.Usage `json:"thisMonth"`
}

// TenantDetail returns the tenant as the operator sees it: for the admin
// API and the operator's pages.
func (a *API) TenantDetail(ctx context.Context, tenantID string) (tenantBody, error) {
	a.tasks.AwaitOwnWrites(ctx) // count the tasks just accepted here
	t, err := a.tenants.Get(tenantID)
	if err != nil {
		return tenantBody{}, err
	}
	now := a.now()
	body := tenantBody{ID: t.ID, Name: t.Name, CreatedAt: t.CreatedAt, Keys: t.Keys, Limits: t.Limits,
		SuspendedAt: a.tenants.Status(tenantID).SuspendedAt}
	if body.Quota, err = a.QuotaState(tenantID, now); err != nil {
		return body, err
	}
	body.ThisMonth, err = a.tasks.MonthUsage(tenantID, now)
	return body, err
}

// GetTenant handles GET /admin/v1/tenants/:tenant.
func (a *API) GetTenant(c echo.Context) error {
	if err := checkQuery(c); err != nil {
		return err
	}
	body, err := a.TenantDetail(c.Request().Context(), c.Param("tenant"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, body)
}

// GetTenantUsage handles GET /admin/v1/tenants/:tenant/usage.
func (a *API) GetTenantUsage(c echo.Context) error {
	if _, err := a.tenants.Get(c.Param("tenant")); err != nil {
		return err
	}
	body, err := a.usageOf(c, c.Param("tenant"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, body)
}

// GetTenantQuota handles GET /admin/v1/tenants/:tenant/quota.
func (a *API) GetTenantQuota(c echo.Context) error {
	if err := checkQuery(c); err != nil {
		return err
	}
	if _, err := a.tenants.Get(c.Param("tenant")); err != nil {
		return err
	}
	q, err := a.QuotaState(c.Param("tenant"), a.now())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, q)
}

// PutTenantQuota handles PUT /admin/v1/tenants/:tenant/quota:
// {"monthlyTasks": n} sets it (0: unlimited), null returns the tenant to
// the server's default.
func (a *API) PutTenantQuota(c echo.Context) error {
	if err := checkQuery(c); err != nil {
		return err
	}
	var req struct {
		MonthlyTasks *int64 `json:"monthlyTasks"`
	}
	if _, err := a.decoder.decodeJSON(c, &req); err != nil {
		return err
	}
	if req.MonthlyTasks != nil && (*req.MonthlyTasks < 0 || *req.MonthlyTasks > MaxMonthlyTasks) {
		return problem.Invalid(problem.FieldError{Field: "monthlyTasks", Message: "must be a whole number from 0 (unlimited) to 1000000000000, or null for the server's default"})
	}
	if err := a.tenantAdmin.SetQuota(c.Request().Context(), c.Param("tenant"), req.MonthlyTasks); err != nil {
		return err
	}
	q, err := a.QuotaState(c.Param("tenant"), a.now())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, q)
}

// SuspendTenant handles POST /admin/v1/tenants/:tenant/suspend.
func (a *API) SuspendTenant(c echo.Context) error {
	return a.changeTenant(c, a.tenantAdmin.Suspend)
}

// ResumeTenant handles POST /admin/v1/tenants/:tenant/resume.
func (a *API) ResumeTenant(c echo.Context) error {
	return a.changeTenant(c, a.tenantAdmin.Resume)
}

func (a *API) changeTenant(c echo.Context, change func(ctx context.Context, tenantID string) error) error {
	if err := checkQuery(c); err != nil {
		return err
	}
	if err := change(c.Request().Context(), c.Param("tenant")); err != nil {
		return err
	}
	return a.GetTenant(c)
}

// deletedBody says what deleting a tenant removed.
type deletedBody struct {
	TenantID string `json:"tenantId"`
	broker.EraseReport
}

// DeleteTenant handles DELETE /admin/v1/tenants/:tenant: the tenant and
// all its data go, from the streams and every node's view; its keys stop
// at once. Deleting a deleted tenant again sweeps what an attempt in
// flight at the time may have recorded since.
func (a *API) DeleteTenant(c echo.Context) error {
	if err := checkQuery(c); err != nil {
		return err
	}
	id := c.Param("tenant")
	if !broker.ValidToken(id) {
		return tenant.ErrNotFound
	}
	ctx := c.Request().Context()
	if err := a.tenantAdmin.Delete(ctx, id); err != nil {
		return err
	}
	a.logger.Info("tenant deleted", "tenant_id", id)
	rep, err := a.tasks.EraseTenant(ctx, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, deletedBody{TenantID: id, EraseReport: rep})
}
