package api

import (
	"net/http"
	"regexp"
	"strings"

	"github.com/labstack/echo/v4"
)

// corsPaths are the endpoints a browser may call from another origin: the
// reads a status token allows. Everything else is same-origin only.
var corsPaths = regexp.MustCompile(`^/v1/tasks/[^/]+(/status|/result|/events)?$`)

// CORS answers preflights and adds CORS headers on the status-token
// endpoints, for the origins the operator allows ("*" allows any). It runs
// before routing, on every request: a preflight names no route.
func (a *API) CORS(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		origin := req.Header.Get("Origin")
		if origin == "" || !corsPaths.MatchString(req.URL.Path) || !a.originAllowed(origin) {
			return next(c)
		}
		h := c.Response().Header()
		h.Add("Vary", "Origin")
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Expose-Headers", "Location, Retry-After, ETag")
		if req.Method == http.MethodOptions && req.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", "GET, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Authorization, Last-Event-ID, If-None-Match")
			h.Set("Access-Control-Max-Age", "600")
			return c.NoContent(http.StatusNoContent)
		}
		return next(c)
	}
}

func (a *API) originAllowed(origin string) bool {
	for _, o := range a.corsOrigins {
		if o == "*" || strings.EqualFold(o, origin) {
			return true
		}
	}
	return false
}
