package web

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/propagation"
)

type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "boomerang_http_requests_total", Help: "HTTP requests by route, method and status.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "boomerang_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5, 30, 60},
		}, []string{"route", "method"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

// observe records metrics and a debug log line for every request. It logs
// the route pattern, never the query string or headers, which may carry
// secrets. With tracing on it reads the request's trace context first, so
// that the spans of the work the request starts are its children.
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		if r := c.Request(); s.propagator != nil && r.Header.Get("Traceparent") != "" {
			c.SetRequest(r.WithContext(s.propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))))
		}
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		route := s.routing.route(c)
		if route == "" {
			route = "unmatched"
		}
		status := c.Response().Status
		elapsed := time.Since(start)
		s.metrics.requests.WithLabelValues(route, c.Request().Method, strconv.Itoa(status)).Inc()
		s.metrics.duration.WithLabelValues(route, c.Request().Method).Observe(elapsed.Seconds())
		s.logger.Debug("request", "method", c.Request().Method, "route", route, "status", status, "duration_ms", float64(elapsed.Microseconds())/1000)
		return nil
	}
}

// securityHeaders are set on every response; with https also
// Strict-Transport-Security.
func securityHeaders(https bool) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			h := c.Response().Header()
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("Referrer-Policy", "same-origin") // no-referrer would make browsers send "Origin: null" on our own form posts
			h.Set("X-Frame-Options", "DENY")
			if https {
				h.Set("Strict-Transport-Security", hstsValue)
			}
			return next(c)
		}
	}
}

// errorWriter answers a request with an error, in the way of one part of
// the server: a problem from the API, a page from the dashboard.
type errorWriter func(c echo.Context, err error)

// renderErrors is the outermost middleware of every route: write answers
// whatever the route's middleware and handler return, and a panic in them
// as a 500, so that each part renders its own errors.
func (s *Server) renderErrors(write errorWriter) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if err := s.recoverPanics(next, c); err != nil {
				write(c, err)
			}
			return nil
		}
	}
}

// recoverPanics runs next, turning a panic into an error that answers 500.
func (s *Server) recoverPanics(next echo.HandlerFunc, c echo.Context) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if r == http.ErrAbortHandler {
				panic(r)
			}
			s.logger.Error("panic in handler", "method", c.Request().Method, "route", c.Path(), "panic", fmt.Sprint(r))
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return next(c)
}
