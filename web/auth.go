package web

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/boomerang-dev/boomerang/tenant"
)

const principalKey = "principal"

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

func problemScope() *Problem {
	return problem(http.StatusForbidden, "insufficient-scope", "Insufficient scope",
		"A status token can only read the status, result and events of its own task; use an API key.")
}

// requireAPIKey authenticates the tenant API: a valid, unrevoked API key.
// Status tokens are refused here: they only read.
func (s *Server) requireAPIKey(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		token := bearer(c)
		if token == "" {
			return problemUnauthorized("Send your API key as \"Authorization: Bearer <apiKey>\".")
		}
		if isJWT(token) || c.QueryParam("token") != "" {
			return problemScope()
		}
		p, err := s.tenants.Authenticate(c.Request().Context(), token)
		if err != nil {
			return err
		}
		if s.tenantAdmin != nil {
			s.tenantAdmin.TouchKey(p.TenantID, p.KeyID)
		}
		c.Set(principalKey, p)
		return next(c)
	}
}

// requireTaskReader authenticates the read endpoints of one task: an API key,
// or a status token for that very task, sent as a Bearer token or as
// ?token= (for EventSource and links, which cannot set headers).
func (s *Server) requireTaskReader(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		token := bearer(c)
		if q := c.QueryParam("token"); q != "" && token == "" {
			token = q
		}
		if token == "" {
			return problemUnauthorized("Send an API key or the task's status token as \"Authorization: Bearer <token>\" or ?token=.")
		}
		if !isJWT(token) {
			return s.requireAPIKey(next)(c)
		}
		if s.tokens == nil {
			return problemUnauthorized("Status tokens are not enabled.")
		}
		p, err := s.tokens.ParseTaskToken(token)
		if err != nil {
			return problemUnauthorized("The status token is malformed, expired or not signed by this service.")
		}
		if p.TaskID != c.Param("id") {
			return problemScope()
		}
		c.Set(principalKey, p)
		return next(c)
	}
}

// requireAdminToken authenticates the operator API. API keys never pass.
func (s *Server) requireAdminToken(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !s.adminToken.Enabled() {
			return problem(http.StatusForbidden, "admin-disabled", "Admin API disabled",
				"Start the server with --admin-token to use the admin API.")
		}
		if !s.adminToken.Check(bearer(c)) {
			return problemUnauthorized("Send the admin token as \"Authorization: Bearer <token>\".")
		}
		return next(c)
	}
}

func principal(c echo.Context) tenant.Principal {
	p, _ := c.Get(principalKey).(tenant.Principal)
	return p
}
