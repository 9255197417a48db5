package api

import (
	"fmt"
	"math"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/boomerang-dev/boomerang/internal/ratelimit"
	"github.com/boomerang-dev/boomerang/web/problem"
)

// Default limits on creating tasks, per tenant: per node or across the
// cluster, as the create limiter keeps them (see docs/security.md).
const (
	DefaultCreateRate  = 200
	DefaultCreateBurst = 400
)

// createBucket is the size of the tenant's create bucket: the server's
// limits with the tenant's overrides.
func (a *API) createBucket(tenantID string) ratelimit.Limit {
	l := ratelimit.Limit{Rate: a.limits.CreateRate, Burst: a.limits.CreateBurst}
	if a.tenants != nil {
		o := a.tenants.Limits(tenantID)
		if o.CreateRate > 0 {
			l.Rate = o.CreateRate
		}
		if o.CreateBurst > 0 {
			l.Burst = o.CreateBurst
		}
	}
	return l
}

// setRateHeaders describes the bucket in the RateLimit-Policy and RateLimit
// headers (IETF httpapi draft): quota and window, remaining and reset.
func setRateHeaders(h http.Header, l ratelimit.Limit, d ratelimit.Decision) {
	window := math.Ceil(float64(l.Burst) / l.Rate)
	tokens := math.Max(0, math.Floor(d.Remaining))
	reset := math.Ceil((float64(l.Burst) - tokens) / l.Rate)
	h.Set("RateLimit-Policy", fmt.Sprintf(`"create";q=%d;w=%d`, l.Burst, int(window)))
	h.Set("RateLimit", fmt.Sprintf(`"create";r=%d;t=%d`, int(tokens), int(reset)))
}

// LimitCreates answers 429 when the tenant has spent its create budget,
// before the body is read, so a flood costs as little as possible. The
// budget is read on the API's clock.
func (a *API) LimitCreates(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		now := a.now()
		tenantID := Principal(c).TenantID
		l := a.createBucket(tenantID)
		d := a.createLimit.Take(c.Request().Context(), "create."+tenantID, l, now)
		setRateHeaders(c.Response().Header(), l, d)
		if !d.Allowed {
			a.rateLimited(tenantID)
			secs := int(math.Ceil(d.Wait.Seconds()))
			return problem.RateLimited.New(
				fmt.Sprintf("This tenant may create %g tasks a second (bursts of %d); retry in %d s.", l.Rate, l.Burst, secs)).
				WithHeader("Retry-After", strconv.Itoa(secs))
		}
		return next(c)
	}
}
