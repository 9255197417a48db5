package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/tenant"
)

// problemBase prefixes every problem type URI; docs/problems.md describes
// each type.
const problemBase = "https://boomerang.dev/problems/"

// Problem is an RFC 9457 problem detail, the body of every error response.
type Problem struct {
	Type   string       `json:"type"`
	Title  string       `json:"title"`
	Status int          `json:"status"`
	Detail string       `json:"detail,omitempty"`
	Errors []FieldError `json:"errors,omitempty"`
	// headers are set on the response (Retry-After, WWW-Authenticate).
	headers map[string]string
}

// FieldError names a request field and what is wrong with it.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (p *Problem) Error() string { return fmt.Sprintf("%d %s: %s", p.Status, p.Title, p.Detail) }

func problem(status int, slug, title, detail string) *Problem {
	return &Problem{Type: problemBase + slug, Title: title, Status: status, Detail: detail}
}

func (p *Problem) withHeader(k, v string) *Problem {
	if p.headers == nil {
		p.headers = map[string]string{}
	}
	p.headers[k] = v
	return p
}

// The problems the API answers with.
func problemValidation(errs []FieldError) *Problem {
	p := problem(http.StatusBadRequest, "validation", "Invalid request", "One or more fields are invalid.")
	p.Errors = errs
	return p
}

func problemMalformed(detail string) *Problem {
	return problem(http.StatusBadRequest, "malformed-request", "Malformed request", detail)
}

func problemUnauthorized(detail string) *Problem {
	return problem(http.StatusUnauthorized, "unauthorized", "Unauthorized", detail).withHeader("WWW-Authenticate", `Bearer realm="boomerang"`)
}

func problemNotFound(detail string) *Problem {
	return problem(http.StatusNotFound, "not-found", "Not found", detail)
}

func problemConflict(slug, title, detail string) *Problem {
	return problem(http.StatusConflict, slug, title, detail)
}

func problemTooLarge(limit int64) *Problem {
	return problem(http.StatusRequestEntityTooLarge, "request-too-large", "Request body too large",
		fmt.Sprintf("The request body exceeds %d bytes.", limit))
}

func problemUnavailable(detail string) *Problem {
	return problem(http.StatusServiceUnavailable, "unavailable", "Service unavailable", detail).withHeader("Retry-After", "1")
}

// handleError is echo's error handler: the one place that turns errors into
// responses. Internal details are logged, never shown.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	p := s.toProblem(err, c)
	if isDashboardPage(c) {
		if rerr := s.render(c, p.Status, "error", view{Title: p.Title, Error: p.Detail}); rerr == nil {
			return
		}
	}
	for k, v := range p.headers {
		c.Response().Header().Set(k, v)
	}
	body, _ := json.Marshal(p)
	c.Response().Header().Set(echo.HeaderContentType, "application/problem+json")
	c.Response().WriteHeader(p.Status)
	if c.Request().Method != http.MethodHead {
		_, _ = c.Response().Write(body)
	}
}

func (s *Server) toProblem(err error, c echo.Context) *Problem {
	var p *Problem
	var he *echo.HTTPError
	var maxErr *http.MaxBytesError
	switch {
	case errors.As(err, &p):
		return p
	case errors.As(err, &maxErr):
		return problemTooLarge(maxErr.Limit)
	case errors.Is(err, broker.ErrNotFound), errors.Is(err, tenant.ErrNotFound):
		return problemNotFound("No such resource.")
	case errors.Is(err, tenant.ErrUnauthorized):
		return problemUnauthorized("The API key is missing, malformed, unknown or revoked.")
	case errors.As(err, &he):
		switch he.Code {
		case http.StatusNotFound:
			return problemNotFound("No route for " + c.Request().Method + " " + c.Request().URL.Path + ".")
		case http.StatusMethodNotAllowed:
			return problem(http.StatusMethodNotAllowed, "method-not-allowed", "Method not allowed",
				c.Request().Method+" is not allowed here.")
		case http.StatusRequestEntityTooLarge:
			return problemTooLarge(s.limits.MaxBody)
		}
		if he.Code < 500 {
			return problem(he.Code, "http-"+strconv.Itoa(he.Code), http.StatusText(he.Code), fmt.Sprint(he.Message))
		}
	}
	s.logger.Error("request failed", "method", c.Request().Method, "route", c.Path(), "err", err)
	return problem(http.StatusInternalServerError, "internal", "Internal error",
		"Something went wrong on our side; nothing you sent was changed by it. Try again.")
}

// recoverPanics turns a panic in a handler into a 500 problem.
func (s *Server) recoverPanics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				s.logger.Error("panic in handler", "route", c.Path(), "panic", fmt.Sprint(r), slog.String("method", c.Request().Method))
				err = fmt.Errorf("panic: %v", r)
			}
		}()
		return next(c)
	}
}

// isDashboardPage tells a browser's page request from an API call: the
// dashboard answers errors with a page, the API with a problem.
func isDashboardPage(c echo.Context) bool {
	p := c.Request().URL.Path
	for _, prefix := range []string{"/v1/", "/admin/", "/healthz", "/readyz", "/metrics", "/openapi.yaml", "/static/", "/dev/", "/live"} {
		if strings.HasPrefix(p, prefix) {
			return false
		}
	}
	return strings.Contains(c.Request().Header.Get("Accept"), "text/html")
}
