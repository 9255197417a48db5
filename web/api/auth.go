package api

import (
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/boomerang-dev/boomerang/tenant"
	"github.com/boomerang-dev/boomerang/web/problem"
)

const principalKey = "principal"

// Principal returns who the request acts for, as the authentication
// middleware (the API's or the dashboard's session) found it.
func Principal(c echo.Context) tenant.Principal {
	p, _ := c.Get(principalKey).(tenant.Principal)
	return p
}

// SetPrincipal records who the request acts for: the dashboard's session
// does, so that the handlers it shares with the API (the live event stream,
// the create rate limit) see the signed-in tenant.
func SetPrincipal(c echo.Context, p tenant.Principal) { c.Set(principalKey, p) }

// bearer returns the token of an "Authorization: Bearer" header.
func bearer(c echo.Context) string {
	h := c.Request().Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

// isJWT tells a status token from an API key by its shape.
func isJWT(token string) bool { return strings.Count(token, ".") == 2 }

func problemScope() *problem.Problem {
	return problem.InsufficientScope.New("A status token can only read the status, result and events of its own task; use an API key.")
}

// RequireAPIKey authenticates the tenant API: a valid, unrevoked API key.
// Status tokens are refused here: they only read.
func (a *API) RequireAPIKey(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		token := bearer(c)
		if token == "" {
			return problem.Unauthorized.New("Send your API key as \"Authorization: Bearer <apiKey>\".")
		}
		if isJWT(token) || c.QueryParam("token") != "" {
			return problemScope()
		}
		p, err := a.tenants.Authenticate(c.Request().Context(), token)
		if err != nil {
			return err
		}
		if a.tenantAdmin != nil {
			a.tenantAdmin.TouchKey(p.TenantID, p.KeyID)
		}
		SetPrincipal(c, p)
		return next(c)
	}
}

// RequireTaskReader authenticates the read endpoints of one task: an API
// key, or a status token for that very task, sent as a Bearer token or as
// ?token= (for EventSource and links, which cannot set headers).
func (a *API) RequireTaskReader(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		token := bearer(c)
		if q := c.QueryParam("token"); q != "" && token == "" {
			token = q
		}
		if token == "" {
			return problem.Unauthorized.New("Send an API key or the task's status token as \"Authorization: Bearer <token>\" or ?token=.")
		}
		if !isJWT(token) {
			return a.RequireAPIKey(next)(c)
		}
		if a.tokens == nil {
			return problem.Unauthorized.New("Status tokens are not enabled.")
		}
		p, err := a.tokens.ParseTaskToken(token)
		if err != nil {
			return problem.Unauthorized.New("The status token is malformed, expired or not signed by this service.")
		}
		if p.TaskID != c.Param("id") {
			return problemScope()
		}
		SetPrincipal(c, p)
		return next(c)
	}
}

// RequireAdminToken authenticates the operator API. API keys never pass.
func (a *API) RequireAdminToken(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !a.adminToken.Enabled() {
			return problem.AdminDisabled.New("Start the server with --admin-token to use the admin API.")
		}
		if !a.adminToken.Check(bearer(c)) {
			return problem.Unauthorized.New("Send the admin token as \"Authorization: Bearer <token>\".")
		}
		return next(c)
	}
}
