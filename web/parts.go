package web

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// routing tells a wrong method from an unknown path for the not-found
// routes. Echo's router prefers a not-found route (RouteNotFound) above a
// path to its own 405, so every real route is also kept in a router of its
// own, without the not-found ones, which answers as echo would have; and
// each route's path names the part that renders its errors.
type routing struct {
	echo     *echo.Echo
	shadow   *echo.Router
	owner    map[string]errorWriter // route path -> the part that owns it
	notFound map[string]bool        // the paths of the not-found routes
}

func newRouting(e *echo.Echo) *routing {
	return &routing{echo: e, shadow: echo.NewRouter(e), owner: map[string]errorWriter{}, notFound: map[string]bool{}}
}

// add records a real route.
func (r *routing) add(method, path string, write errorWriter) {
	r.shadow.Add(method, path, echo.NotFoundHandler) // never run: only found
	r.owner[path] = write
}

// resolve finds what echo would have routed the request to without the
// not-found routes: the path of the route whose other methods it names,
// and their Allow header; "" and "" when no route has its path.
func (r *routing) resolve(req *http.Request) (path, allow string) {
	probe := r.echo.NewContext(req, nil)
	r.shadow.Find(req.Method, echo.GetPath(req), probe)
	allow, _ = probe.Get(echo.ContextKeyHeaderAllow).(string)
	if allow == "" {
		return "", ""
	}
	return probe.Path(), allow
}

// route names the route of a request for metrics and logs: its path
// pattern, the pattern of the route whose method was wrong, or "" when no
// route has its path. It differs from c.Path() only for the requests of the
// not-found routes that middleware answered before the route's handler
// (CORS preflights).
func (r *routing) route(c echo.Context) string {
	if !r.notFound[c.Path()] {
		return c.Path()
	}
	path, _ := r.resolve(c.Request())
	return path
}

// unmatched handles the requests no route takes under a not-found route: a
// path with routes for other methods answers 405 with Allow (204 with Allow
// to OPTIONS), rendered by the part that owns those routes; any other path
// is a 404 of the part that owns the not-found route.
func (r *routing) unmatched(c echo.Context) error {
	req := c.Request()
	path, allow := r.resolve(req)
	write := r.owner[path]
	if allow == "" || write == nil {
		c.SetPath("") // counted as unmatched, as echo's own 404 is
		return echo.ErrNotFound
	}
	c.SetPath(path)
	if req.Method == http.MethodOptions {
		c.Response().Header().Add(echo.HeaderAllow, allow)
		return c.NoContent(http.StatusNoContent)
	}
	c.Response().Header().Set(echo.HeaderAllow, allow)
	write(c, echo.ErrMethodNotAllowed)
	return nil
}

// part adds the routes of one part of the server, each with the part's
// error writer as its outermost middleware.
type part struct {
	s     *Server
	write errorWriter
}

func (s *Server) part(write errorWriter) part { return part{s: s, write: write} }

func (p part) add(method, path string, h echo.HandlerFunc, mw ...echo.MiddlewareFunc) {
	p.s.echo.Add(method, path, h, append([]echo.MiddlewareFunc{p.s.renderErrors(p.write)}, mw...)...)
	p.s.routing.add(method, path, p.write)
}

// GET adds a route of the part.
func (p part) GET(path string, h echo.HandlerFunc, mw ...echo.MiddlewareFunc) {
	p.add(http.MethodGet, path, h, mw...)
}

// POST adds a route of the part.
func (p part) POST(path string, h echo.HandlerFunc, mw ...echo.MiddlewareFunc) {
	p.add(http.MethodPost, path, h, mw...)
}

// PUT adds a route of the part.
func (p part) PUT(path string, h echo.HandlerFunc, mw ...echo.MiddlewareFunc) {
	p.add(http.MethodPut, path, h, mw...)
}

// PATCH adds a route of the part.
func (p part) PATCH(path string, h echo.HandlerFunc, mw ...echo.MiddlewareFunc) {
	p.add(http.MethodPatch, path, h, mw...)
}

// DELETE adds a route of the part.
func (p part) DELETE(path string, h echo.HandlerFunc, mw ...echo.MiddlewareFunc) {
	p.add(http.MethodDelete, path, h, mw...)
}

// Any adds a route of the part for every method.
func (p part) Any(path string, h echo.HandlerFunc) {
	for _, r := range p.s.echo.Any(path, h, p.s.renderErrors(p.write)) {
		p.s.routing.add(r.Method, r.Path, p.write)
	}
}

// NotFound makes the part answer the requests no route takes under path
// (a pattern ending in *).
func (p part) NotFound(path string) {
	p.s.echo.RouteNotFound(path, p.s.routing.unmatched, p.s.renderErrors(p.write))
	p.s.routing.notFound[path] = true
}
