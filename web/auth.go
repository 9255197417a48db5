package web

import (
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

// requireAPIKey authenticates the tenant API: a valid, unrevoked API key.
func (s *Server) requireAPIKey(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		token := bearer(c)
		if token == "" {
			return problemUnauthorized("Send your API key as \"Authorization: Bearer <apiKey>\".")
		}
		p, err := s.tenants.Authenticate(token)
		if err != nil {
			return err
		}
		c.Set(principalKey, p)
		return next(c)
	}
}

// requireAdminToken authenticates the operator API. API keys never pass.
func (s *Server) requireAdminToken(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !s.adminToken.Enabled() {
			return problem(403, "admin-disabled", "Admin API disabled",
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
