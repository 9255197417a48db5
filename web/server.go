// Package web serves Boomerang over HTTP. It is the only package that
// knows echo. It holds the server's core: every route (routes.go), the
// middleware every response passes through (gzip among them), health,
// readiness, metrics, the API description and its reference at /docs.
// The parts it serves live below it: package api (/v1 and /admin/v1),
// package dashboard (the pages), package reference (the reference's
// page), and package problem, the one place where errors become problems.
// Each part renders its own errors.
package web

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/propagation"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/internal/ratelimit"
	"github.com/boomerang-dev/boomerang/tenant"
	"github.com/boomerang-dev/boomerang/web/api"
	"github.com/boomerang-dev/boomerang/web/dashboard"
	"github.com/boomerang-dev/boomerang/web/problem"
	"github.com/boomerang-dev/boomerang/web/reference"
)

// Defaults the flags of `boomerang serve` show.
const (
	DefaultCreateRate  = api.DefaultCreateRate
	DefaultCreateBurst = api.DefaultCreateBurst
	DefaultHeartbeat   = api.DefaultHeartbeat

	DefaultMaxStreams          = api.DefaultMaxStreams
	DefaultMaxStreamsPerTenant = api.DefaultMaxStreamsPerTenant
	DefaultMaxStreamsPerTask   = api.DefaultMaxStreamsPerTask
	DefaultMaxTenantStreams    = api.DefaultMaxTenantStreams
)

// Limits bound what a request may ask for: see api.Limits.
type Limits = api.Limits

// Inbox is the webhook inbox of `serve --dev`, as the dashboard reads it.
type Inbox = dashboard.Inbox

// Config holds the server's dependencies.
type Config struct {
	Tasks *broker.Tasks
	// Schedules keeps the tenants' schedules (/v1/schedules).
	Schedules   *broker.Schedules
	Hub         *broker.Hub
	Tenants     *tenant.Store
	TenantAdmin *tenant.Service
	AdminToken  tenant.AdminToken
	// Tokens issues and checks status tokens and the dashboard's sessions;
	// nil disables status tokens.
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
	// CreateLimiter keeps the tenants' create buckets: across the cluster
	// (ratelimit.Shared) or, when nil, in this process.
	CreateLimiter ratelimit.Limiter
	// Ready reports whether this node can serve: nil when it can.
	Ready func() error
	// Retention is how long task events are kept, shown in the settings.
	Retention time.Duration
	// TenantRetention bounds how long a tenant's finished tasks stay in
	// the view, and is the default (tenant.DefaultRetentionBounds() when
	// zero).
	TenantRetention tenant.RetentionBounds
	// OpenAPI is the API description served at /openapi.yaml.
	OpenAPI []byte
	// Registry collects the metrics served at /metrics.
	Registry *prometheus.Registry
	// DevTools is mounted under /dev/ (the echo target and webhook inbox
	// of `serve --dev`); nil mounts nothing.
	DevTools http.Handler
	// Inbox is what the DevTools' webhook inbox received, shown on the
	// dashboard's inbox page; nil: no inbox page.
	Inbox  Inbox
	Logger *slog.Logger
	// Destinations lists a tenant's target hosts whose concurrency this
	// node has lowered, for the dashboard's overview (nil: not shown).
	Destinations dashboard.Destinations
	// Now is the clock (time.Now when nil): validation, the create rate
	// limit and the pages read it.
	Now func() time.Time
	// PublicURL is the node's base URL as users reach it, behind a TLS
	// proxy say; nil when users reach the node itself. An https URL makes
	// the session cookie Secure and turns HSTS on.
	PublicURL *url.URL
	// ServesTLS says the node serves HTTPS itself: the session cookie is
	// Secure and every response carries HSTS.
	ServesTLS bool
	// Propagator reads a request's trace context (its traceparent) into
	// the request's context, where the spans of the work it starts find
	// their parent; nil reads none (tracing off).
	Propagator propagation.TextMapPropagator
	// RateLimited, when set, hears of each create refused by the tenant's
	// create rate (for metrics).
	RateLimited func(tenantID string)
	// DefaultMonthlyQuota is the tasks a tenant may create per UTC month
	// unless the operator set its own; zero is unlimited.
	DefaultMonthlyQuota int64

	// Keys shows, pauses and resumes ordering and flow-control keys.
	Keys *broker.Keys
}

// hstsValue is the Strict-Transport-Security of an HTTPS node: a year,
// this host only (the operator's other subdomains are theirs to decide).
const hstsValue = "max-age=31536000"

// Server is the HTTP face of a node.
type Server struct {
	echo     *echo.Echo
	api      *api.API
	dash     *dashboard.Dashboard
	problems *problem.Mapper
	routing  *routing
	tasks    *broker.Tasks
	ready    func() error
	openAPI  []byte
	// reference is the API reference rendered from openAPI; nil without.
	reference *reference.Reference
	registry  *prometheus.Registry
	metrics   *httpMetrics
	logger    *slog.Logger
	// propagator reads requests' trace context; nil: tracing is off.
	propagator propagation.TextMapPropagator
}

// New returns a server with its routes. It fails only when the dashboard's
// templates do not parse or the API description does not render: defects
// of the build.
func New(cfg Config) (*Server, error) {
	s := &Server{tasks: cfg.Tasks, ready: cfg.Ready, openAPI: cfg.OpenAPI, registry: cfg.Registry, logger: cfg.Logger,
		propagator: cfg.Propagator}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.registry == nil {
		s.registry = prometheus.NewRegistry()
	}
	limits := cfg.Limits.WithDefaults()
	https := cfg.ServesTLS || (cfg.PublicURL != nil && cfg.PublicURL.Scheme == "https")
	s.problems = problem.NewMapper(s.logger, limits.MaxBody)
	if cfg.TenantRetention == (tenant.RetentionBounds{}) {
		cfg.TenantRetention = tenant.DefaultRetentionBounds()
	}
	s.api = api.New(api.Config{
		Tasks: cfg.Tasks, Schedules: cfg.Schedules, Hub: cfg.Hub, Tenants: cfg.Tenants, TenantAdmin: cfg.TenantAdmin,
		AdminToken: cfg.AdminToken, Tokens: cfg.Tokens, CORSOrigins: cfg.CORSOrigins, Heartbeat: cfg.Heartbeat,
		CheckURL: cfg.CheckURL, Limits: limits, CreateLimiter: cfg.CreateLimiter, Retention: cfg.Retention, Problems: s.problems, Logger: s.logger, Now: cfg.Now,
		TenantRetention: cfg.TenantRetention, RateLimited: cfg.RateLimited, DefaultMonthlyQuota: cfg.DefaultMonthlyQuota,
		Keys: cfg.Keys,
	})
	dash, err := dashboard.New(dashboard.Config{
		Tasks: cfg.Tasks, Schedules: cfg.Schedules, Tenants: cfg.Tenants, TenantAdmin: cfg.TenantAdmin, Tokens: cfg.Tokens,
		Validator: s.api.Validator(), Retention: cfg.Retention, Problems: s.problems, Now: cfg.Now,
		PublicURL: cfg.PublicURL, SecureCookies: https, TenantRetention: cfg.TenantRetention, Inbox: cfg.Inbox,
		Quota: s.api.QuotaState, AdminToken: cfg.AdminToken, Logger: s.logger,
		Keys:         cfg.Keys,
		Destinations: cfg.Destinations,
	})
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	s.dash = dash
	if len(cfg.OpenAPI) > 0 {
		if s.reference, err = reference.New(cfg.OpenAPI, "/docs"); err != nil {
			return nil, fmt.Errorf("web: %w", err)
		}
	}
	s.metrics = newHTTPMetrics(s.registry)
	s.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "boomerang_open_streams", Help: "Long-polls and event streams open on this node.",
	}, func() float64 { return float64(s.api.OpenStreams()) }))
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	// Each route renders its own errors (see routes.go); what reaches echo's
	// handler failed outside every route.
	e.HTTPErrorHandler = func(err error, c echo.Context) { s.problems.WriteError(c, err) }
	// observe is outermost so that it counts and logs every answer. CORS
	// runs on every request: a preflight names no route. compress is
	// innermost: what it writes is the answer as the client receives it.
	e.Use(s.observe, securityHeaders(https), s.api.CORS, compress())
	s.echo = e
	s.routing = newRouting(e)
	s.routes(cfg.DevTools)
	return s, nil
}

// Close ends the long-lived responses (event streams, long-polls) so that a
// graceful HTTP shutdown need not wait for them.
func (s *Server) Close() {
	s.api.Close()
	s.dash.Close()
}

// Handler returns the server's http.Handler.
func (s *Server) Handler() http.Handler { return s.echo }

// Routes lists the method and path of every route, for tests that compare
// the router with the API description.
func (s *Server) Routes() [][2]string {
	var out [][2]string
	for _, r := range s.echo.Routes() {
		if r.Method != echo.RouteNotFound {
			out = append(out, [2]string{r.Method, r.Path})
		}
	}
	return out
}

// OpenStreams returns how many long-polls and event streams are open.
func (s *Server) OpenStreams() int { return s.api.OpenStreams() }

// Tasks returns the task operations the server uses, for tools and tests.
func (s *Server) Tasks() *broker.Tasks { return s.tasks }

// AdmitFiring applies a tenant's create limits (monthly quota, create
// rate) to a schedule's firing: give it to the schedule firer
// (broker.ScheduleFirerConfig.Admit).
func (s *Server) AdmitFiring(ctx context.Context, tenantID string) (broker.FiringDecision, error) {
	return s.api.AdmitFiring(ctx, tenantID)
}
