package web

import (
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// healthz answers 200 while the process serves HTTP.
func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 once this node's view has caught up with the stream and
// it is connected to NATS; 503 otherwise.
func (s *Server) readyz(c echo.Context) error {
	if s.ready != nil {
		if err := s.ready(); err != nil {
			return problemUnavailable(err.Error())
		}
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}

// openAPIDocument serves the API's OpenAPI description.
func (s *Server) openAPIDocument(c echo.Context) error {
	if len(s.openAPI) == 0 {
		return problemNotFound("This server has no API description.")
	}
	c.Response().Header().Set("Cache-Control", "public, max-age=300")
	return c.Blob(http.StatusOK, "application/yaml", s.openAPI)
}

func (s *Server) metricsHandler() echo.HandlerFunc {
	return echo.WrapHandler(promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{Registry: s.registry}))
}

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
// secrets.
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		route := c.Path()
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
