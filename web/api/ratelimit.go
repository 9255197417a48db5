package api

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"

	"github.com/boomerang-dev/boomerang/tenant"
	"github.com/boomerang-dev/boomerang/web/problem"
)

// Default limits on creating tasks, per tenant and node.
const (
	DefaultCreateRate  = 200
	DefaultCreateBurst = 400
)

// createLimiter is a token bucket per tenant for POST /v1/tasks, with the
// tenant's overrides from its limits. It is per node: see docs/security.md.
type createLimiter struct {
	rate    float64
	burst   int
	tenants *tenant.Store

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	lim   *rate.Limiter
	rate  float64
	burst int
}

func newCreateLimiter(r float64, burst int, tenants *tenant.Store) *createLimiter {
	return &createLimiter{rate: r, burst: burst, tenants: tenants, buckets: map[string]*bucket{}}
}

// take spends a token of the tenant's bucket. When none is left it reports
// how long until one is.
func (l *createLimiter) take(tenantID string, now time.Time) (ok bool, wait time.Duration, b *bucket) {
	r, burst := l.rate, l.burst
	if l.tenants != nil {
		o := l.tenants.Limits(tenantID)
		if o.CreateRate > 0 {
			r = o.CreateRate
		}
		if o.CreateBurst > 0 {
			burst = o.CreateBurst
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b = l.buckets[tenantID]
	if b == nil || b.rate != r || b.burst != burst {
		b = &bucket{lim: rate.NewLimiter(rate.Limit(r), burst), rate: r, burst: burst}
		l.buckets[tenantID] = b
	}
	res := b.lim.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return false, d, b
	}
	return true, 0, b
}

// setHeaders describes the bucket in the RateLimit-Policy and RateLimit
// headers (IETF httpapi draft): quota and window, remaining and reset.
func (b *bucket) setHeaders(h http.Header, now time.Time) {
	window := math.Ceil(float64(b.burst) / b.rate)
	tokens := math.Max(0, b.lim.TokensAt(now))
	reset := math.Ceil((float64(b.burst) - tokens) / b.rate)
	h.Set("RateLimit-Policy", fmt.Sprintf(`"create";q=%d;w=%d`, b.burst, int(window)))
	h.Set("RateLimit", fmt.Sprintf(`"create";r=%d;t=%d`, int(tokens), int(reset)))
}

// LimitCreates answers 429 when the tenant has spent its create budget,
// before the body is read, so a flood costs as little as possible. The
// budget is read on the API's clock.
func (a *API) LimitCreates(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		now := a.now()
		ok, wait, b := a.createLimit.take(Principal(c).TenantID, now)
		b.setHeaders(c.Response().Header(), now)
		if !ok {
			a.rateLimited(Principal(c).TenantID)
			secs := int(math.Ceil(wait.Seconds()))
			return problem.RateLimited.New(
				fmt.Sprintf("This tenant may create %g tasks a second (bursts of %d) on this node; retry in %d s.", b.rate, b.burst, secs)).
				WithHeader("Retry-After", strconv.Itoa(secs))
		}
		return next(c)
	}
}
