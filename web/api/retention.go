package api

import (
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/boomerang-dev/boomerang/tenant"
	"github.com/boomerang-dev/boomerang/web/problem"
)

const day = 24 * time.Hour

// retentionBody is a tenant's retention of finished tasks as the admin API
// shows it: whole days, whether it is the server's default, and the bounds.
type retentionBody struct {
	Days    int  `json:"days"`
	Default bool `json:"default"`
	MinDays int  `json:"minDays"`
	MaxDays int  `json:"maxDays"`
}

// retentionOf describes the retention a tenant that set set (zero: none)
// has within bounds, in whole days.
func retentionOf(set time.Duration, bounds tenant.RetentionBounds) retentionBody {
	return retentionBody{Days: int(bounds.Effective(set) / day), Default: set == 0,
		MinDays: MinRetentionDays(bounds), MaxDays: int(bounds.Max / day)}
}

// MinRetentionDays is the fewest whole days bounds allow.
func MinRetentionDays(bounds tenant.RetentionBounds) int { return int((bounds.Min + day - 1) / day) }

// CheckRetentionDays returns days as a duration, or the problem naming
// field when the bounds do not allow it.
func CheckRetentionDays(field string, days int, bounds tenant.RetentionBounds) (time.Duration, error) {
	d := time.Duration(days) * day
	if days < 1 || days > 100_000 || !bounds.Allows(d) {
		return 0, problem.Invalid(problem.FieldError{Field: field,
			Message: fmt.Sprintf("must be a whole number of days between %d and %d", MinRetentionDays(bounds), int(bounds.Max/day))})
	}
	return d, nil
}

// GetTenantRetention handles GET /admin/v1/tenants/:tenant/retention.
func (a *API) GetTenantRetention(c echo.Context) error {
	t, err := a.tenants.Get(c.Param("tenant"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, retentionOf(t.Retention, a.retention))
}

// PutTenantRetention handles PUT /admin/v1/tenants/:tenant/retention: how
// many days the tenant's finished tasks stay, within the server's bounds.
func (a *API) PutTenantRetention(c echo.Context) error {
	var req struct {
		Days *int `json:"days"`
	}
	if _, err := a.decoder.decodeJSON(c, &req); err != nil {
		return err
	}
	if req.Days == nil {
		return problem.Invalid(problem.FieldError{Field: "days", Message: "is required"})
	}
	d, err := CheckRetentionDays("days", *req.Days, a.retention)
	if err != nil {
		return err
	}
	if err := a.tenantAdmin.SetRetention(c.Request().Context(), c.Param("tenant"), d, a.retention); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, retentionOf(d, a.retention))
}
