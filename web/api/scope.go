package api

import (
	"github.com/labstack/echo/v4"

	"github.com/boomerang-dev/boomerang/tenant"
	"github.com/boomerang-dev/boomerang/web/problem"
)

// RequireScope lets through a request whose API key carries scope, after
// RequireAPIKey or RequireTaskReader; others get 403 insufficient-scope
// naming it. A status token passes: RequireTaskReader has confined it to
// reading its own task.
func (a *API) RequireScope(scope tenant.Scope) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			p := Principal(c)
			if !isStatusToken(p) && !p.Allows(scope) {
				return problemLacksScope(scope)
			}
			return next(c)
		}
	}
}

// problemLacksScope is the 403 for a key without scope; the problem names
// it in its scope member.
func problemLacksScope(scope tenant.Scope) *problem.Problem {
	p := problem.InsufficientScope.New("This API key lacks the scope " + string(scope) + "; use a key that has it, or make one (POST /v1/keys).")
	p.Scope = string(scope)
	return p
}
