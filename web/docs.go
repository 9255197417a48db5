package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/boomerang-dev/boomerang/web/problem"
	"github.com/boomerang-dev/boomerang/web/reference"
)

// apiReference serves GET /docs: the API reference, rendered from the
// OpenAPI description when the server started.
func (s *Server) apiReference(c echo.Context) error {
	if s.reference == nil {
		return problem.NotFound.New("This server has no API description.")
	}
	h := c.Response().Header()
	h.Set("Content-Security-Policy", reference.ContentSecurityPolicy)
	h.Set("Cache-Control", "public, max-age=300")
	return c.HTMLBlob(http.StatusOK, s.reference.Page())
}

// referenceAsset serves the reference's stylesheet, by its fingerprinted
// name, cacheable for a year.
func (s *Server) referenceAsset(c echo.Context) error {
	var data []byte
	ok := false
	if s.reference != nil {
		data, ok = s.reference.Asset(c.Param("asset"))
	}
	if !ok {
		return problem.NotFound.New("No such asset.")
	}
	c.Response().Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	return c.Blob(http.StatusOK, "text/css; charset=utf-8", data)
}
