// Package web serves Boomerang over HTTP: the tenant API under /v1, the
// operator API under /admin/v1, health and metrics. It is the only package
// that knows echo, and the one place where errors become problem+json.
package web

import (
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/tenant"
)

// Limits bound what a request may ask for.
type Limits struct {
	// MaxBody is the largest request body, in bytes (default 1 MiB).
	MaxBody int64
	// MaxRetries bounds a task's retries (default 25).
	MaxRetries int
	// MaxTimeout bounds a task's per-attempt timeout (default 900 s).
	MaxTimeout time.Duration
	// MaxDelay bounds how far ahead a task may be scheduled (default 30 days).
	MaxDelay time.Duration
	// MaxLongPoll bounds ?wait= (default 60 s).
	MaxLongPoll time.Duration
	// CreateRate and CreateBurst limit each tenant's creates per node
	// (defaults DefaultCreateRate and DefaultCreateBurst).
	CreateRate  float64
	CreateBurst int
}

func (l Limits) withDefaults() Limits {
	if l.MaxBody <= 0 {
		l.MaxBody = 1 << 20
	}
	if l.MaxRetries <= 0 {
		l.MaxRetries = 25
	}
	if l.MaxTimeout <= 0 {
		l.MaxTimeout = 900 * time.Second
	}
	if l.MaxDelay <= 0 {
		l.MaxDelay = 30 * 24 * time.Hour
	}
	if l.MaxLongPoll <= 0 {
		l.MaxLongPoll = 60 * time.Second
	}
	return l
}

// Config holds the server's dependencies.
type Config struct {
	Tasks       *broker.Tasks
	Hub         *broker.Hub
	Tenants     *tenant.Store
	TenantAdmin *tenant.Service
	AdminToken  tenant.AdminToken
	// Tokens issues and checks status tokens; nil disables them.
	Tokens *tenant.Tokens
	// CORSOrigins may read a task with its status token from a browser on
	// another origin; "*" allows any.
	CORSOrigins []string
	// Heartbeat is how often idle event streams send a comment
	// (DefaultHeartbeat when zero).
	Heartbeat time.Duration
	// CheckURL vets a target or webhook URL when a task is created.
	CheckURL func(*url.URL) error
	Limits   Limits
	// Ready reports whether this node can serve: nil when it can.
	Ready func() error
	// Retention is how long task events are kept, shown in the settings.
	Retention time.Duration
	// OpenAPI is the API description served at /openapi.yaml.
	OpenAPI []byte
	// Registry collects the metrics served at /metrics.
	Registry *prometheus.Registry
	// Dev mounts DevTools under /dev/ (the echo target and webhook inbox
	// of `serve --dev`); nil mounts nothing.
	DevTools http.Handler
	Logger   *slog.Logger
	Now      func() time.Time
}

// Server is the HTTP face of a node.
type Server struct {
	tasks       *broker.Tasks
	hub         *broker.Hub
	tenants     *tenant.Store
	tenantAdmin *tenant.Service
	adminToken  tenant.AdminToken
	tokens      *tenant.Tokens
	corsOrigins []string
	heartbeat   time.Duration
	closing     chan struct{}
	closeOnce   sync.Once
	knownFields sync.Map // reflect.Type -> map[string]bool: see fieldNames
	checkURL    func(*url.URL) error
	limits      Limits
	ready       func() error
	registry    *prometheus.Registry
	openAPI     []byte
	retention   time.Duration
	dash        *dashboard
	createLimit *createLimiter
	logger      *slog.Logger
	now         func() time.Time
	metrics     *httpMetrics
	echo        *echo.Echo
}

// New returns a server with its routes.
func New(cfg Config) *Server {
	s := &Server{
		tasks: cfg.Tasks, hub: cfg.Hub, tenants: cfg.Tenants, tenantAdmin: cfg.TenantAdmin,
		adminToken: cfg.AdminToken, tokens: cfg.Tokens, corsOrigins: cfg.CORSOrigins, heartbeat: cfg.Heartbeat,
		closing:  make(chan struct{}),
		checkURL: cfg.CheckURL, limits: cfg.Limits.withDefaults(),
		ready: cfg.Ready, registry: cfg.Registry, openAPI: cfg.OpenAPI, retention: cfg.Retention, logger: cfg.Logger, now: cfg.Now,
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.heartbeat <= 0 {
		s.heartbeat = DefaultHeartbeat
	}
	if s.registry == nil {
		s.registry = prometheus.NewRegistry()
	}
	s.limits.MaxDelay = delayLimit(s.limits.MaxDelay, s.retention)
	if s.checkURL == nil {
		s.checkURL = func(*url.URL) error { return nil }
	}
	s.metrics = newHTTPMetrics(s.registry)
	s.createLimit = newCreateLimiter(s.limits.CreateRate, s.limits.CreateBurst, s.tenants)
	dash, err := newDashboard(templateFuncs())
	if err != nil {
		panic("web: dashboard templates: " + err.Error()) // a build defect, caught by every test
	}
	s.dash = dash
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	// observe is outermost so that it counts and logs every answer,
	// including the 500 that recoverPanics makes of a panic.
	e.Use(s.observe, s.recoverPanics, securityHeaders, s.cors)
	s.echo = e
	s.routes(cfg.DevTools)
	return s
}

// Close ends the long-lived responses (event streams) so that a graceful
// HTTP shutdown need not wait for them.
func (s *Server) Close() { s.closeOnce.Do(func() { close(s.closing) }) }

// Handler returns the server's http.Handler.
func (s *Server) Handler() http.Handler { return s.echo }

// Routes lists the method and path of every route, for tests that compare
// the router with the API description.
func (s *Server) Routes() [][2]string {
	var out [][2]string
	for _, r := range s.echo.Routes() {
		out = append(out, [2]string{r.Method, r.Path})
	}
	return out
}

func securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin") // no-referrer would make browsers send "Origin: null" on our own form posts
		h.Set("X-Frame-Options", "DENY")
		return next(c)
	}
}

// Tasks returns the task operations the server uses, for tools and tests.
func (s *Server) Tasks() *broker.Tasks { return s.tasks }
