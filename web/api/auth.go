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

// authenticate returns who the request's credential acts for: the Bearer
// token, or else ?token= (for EventSource and links, which cannot set
// headers), as an API key (never in the URL) or a status token. Anything
// that is not a valid credential of this tenant API — missing, malformed,
// unknown, revoked, forged, expired, of another audience, or the admin
// token — is a 401: a 403 says that a valid credential may not do this,
// which would tell a forger that a token is good.
func (a *API) authenticate(c echo.Context) (tenant.Principal, error) {
	token, inURL := bearer(c), false
	if token == "" {
		token, inURL = c.QueryParam("token"), true
	}
	switch {
	case token == "":
		return tenant.Principal{}, problem.Unauthorized.New("Send your API key, or a task's status token, as \"Authorization: Bearer <token>\".")
	case inURL && !isJWT(token):
		// URLs end up in logs and browser histories: only a status token,
		// which reads one task's public view, may travel in one.
		return tenant.Principal{}, problem.Unauthorized.New("?token= takes a status token; send an API key as \"Authorization: Bearer <apiKey>\".")
	case !isJWT(token):
		p, err := a.tenants.Authenticate(c.Request().Context(), token)
		if err != nil {
			return p, err
		}
		if a.tenantAdmin != nil {
			a.tenantAdmin.TouchKey(p.TenantID, p.KeyID)
		}
		return p, nil
	case a.tokens == nil:
		return tenant.Principal{}, problem.Unauthorized.New("Status tokens are not enabled.")
	}
	p, err := a.tokens.ParseTaskToken(token)
	if err != nil {
		return p, problem.Unauthorized.New("The status token is malformed, expired or not signed by this service.")
	}
	return p, nil
}

// RequireAPIKey authenticates the tenant API: a valid, unrevoked API key.
// A valid status token is refused with 403: it only reads its task.
func (a *API) RequireAPIKey(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		p, err := a.authenticate(c)
		if err != nil {
			return err
		}
		if isStatusToken(p) {
			return problemScope()
		}
		SetPrincipal(c, p)
		return next(c)
	}
}

// RequireTaskReader authenticates the read endpoints of one task: an API
// key, or a status token for that very task (another task's is a 403).
func (a *API) RequireTaskReader(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		p, err := a.authenticate(c)
		if err != nil {
			return err
		}
		if isStatusToken(p) && p.TaskID != c.Param("id") {
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
