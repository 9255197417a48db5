package api

import (
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/boomerang-dev/boomerang/tenant"
	"github.com/boomerang-dev/boomerang/web/problem"
)

type createTenantRequest struct {
	Name *string `json:"name"`
}

// CreateTenant handles POST /admin/v1/tenants: 201 with the new tenant's
// id, API key and signing secret, shown only in this answer.
func (a *API) CreateTenant(c echo.Context) error {
	if err := checkQuery(c); err != nil {
		return err
	}
	var req createTenantRequest
	if _, err := a.decoder.decodeJSON(c, &req); err != nil {
		return err
	}
	if req.Name == nil || strings.TrimSpace(*req.Name) == "" {
		return problem.Invalid(problem.FieldError{Field: "name", Message: "is required"})
	}
	name := strings.TrimSpace(*req.Name)
	if utf8.RuneCountInString(name) > 100 {
		return problem.Invalid(problem.FieldError{Field: "name", Message: "must be at most 100 characters"})
	}
	creds, err := a.tenantAdmin.Create(c.Request().Context(), name)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusCreated, creds)
}

// limitsBody is a tenant's limits as the admin API shows and takes them;
// absent or zero fields mean the server's defaults.
type limitsBody struct {
	CreateRate  *float64 `json:"createRate"`
	CreateBurst *int     `json:"createBurst"`
	MaxInFlight *int     `json:"maxInFlight"`
	MaxPerHost  *int     `json:"maxPerHost"`
}

// GetTenantLimits handles GET /admin/v1/tenants/:tenant/limits.
func (a *API) GetTenantLimits(c echo.Context) error {
	if err := checkQuery(c); err != nil {
		return err
	}
	t, err := a.tenants.Get(c.Param("tenant"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, t.Limits)
}

// PutTenantLimits handles PUT /admin/v1/tenants/:tenant/limits.
func (a *API) PutTenantLimits(c echo.Context) error {
	if err := checkQuery(c); err != nil {
		return err
	}
	var req limitsBody
	if _, err := a.decoder.decodeJSON(c, &req); err != nil {
		return err
	}
	var l tenant.Limits
	var errs []problem.FieldError
	if req.CreateRate != nil {
		if *req.CreateRate < 0 || *req.CreateRate > 1e6 {
			errs = append(errs, problem.FieldError{Field: "createRate", Message: "must be between 0 and 1000000"})
		}
		l.CreateRate = *req.CreateRate
	}
	for _, f := range []struct {
		name string
		v    *int
		dst  *int
	}{{"createBurst", req.CreateBurst, &l.CreateBurst}, {"maxInFlight", req.MaxInFlight, &l.MaxInFlight}, {"maxPerHost", req.MaxPerHost, &l.MaxPerHost}} {
		if f.v == nil {
			continue
		}
		if *f.v < 0 || *f.v > 1_000_000 {
			errs = append(errs, problem.FieldError{Field: f.name, Message: "must be between 0 and 1000000"})
		}
		*f.dst = *f.v
	}
	if len(errs) > 0 {
		return problem.Invalid(errs...)
	}
	if err := a.tenantAdmin.SetLimits(c.Request().Context(), c.Param("tenant"), l); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, l)
}
