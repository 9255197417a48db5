// Package api serves Boomerang's HTTP API: the tenant API under /v1 (tasks,
// their status, result and Server-Sent Events), the operator API under
// /admin/v1, and what they share with the dashboard: the principal of a
// request, the create rate limit and the validation of a new task. Every
// error it returns becomes application/problem+json through package
// problem. The routes themselves are listed in package web.
package api

import (
	"context"
	"log/slog"
	"net/url"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/internal/ratelimit"
	"github.com/boomerang-dev/boomerang/tenant"
	"github.com/boomerang-dev/boomerang/web/problem"
)

// DefaultHeartbeat is how often an idle event stream sends a comment (a
// ping on a WebSocket), so that proxies and clients know it is alive.
const DefaultHeartbeat = 15 * time.Second

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
	// CreateRate and CreateBurst limit each tenant's creates (defaults
	// DefaultCreateRate and DefaultCreateBurst), per node or across the
	// cluster as Config.CreateLimiter keeps them.
	CreateRate  float64
	CreateBurst int
	// MaxStreams bounds the long-polls and event streams open on the node
	// at once, MaxStreamsPerTenant those of one tenant, and
	// MaxStreamsPerTask those opened with one task's status token
	// (defaults DefaultMaxStreams, DefaultMaxStreamsPerTenant and
	// DefaultMaxStreamsPerTask).
	MaxStreams          int
	MaxStreamsPerTenant int
	MaxStreamsPerTask   int
	// MaxTenantStreams bounds, within MaxStreamsPerTenant, a tenant's
	// streams of all its events (/v1/events, the dashboard's /live):
	// default DefaultMaxTenantStreams.
	MaxTenantStreams int
}

// WithDefaults returns l with every unset limit at its default.
func (l Limits) WithDefaults() Limits {
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
	if l.CreateRate <= 0 {
		l.CreateRate = DefaultCreateRate
	}
	if l.CreateBurst <= 0 {
		l.CreateBurst = DefaultCreateBurst
	}
	if l.MaxStreams <= 0 {
		l.MaxStreams = DefaultMaxStreams
	}
	if l.MaxStreamsPerTenant <= 0 {
		l.MaxStreamsPerTenant = DefaultMaxStreamsPerTenant
	}
	if l.MaxStreamsPerTask <= 0 {
		l.MaxStreamsPerTask = DefaultMaxStreamsPerTask
	}
	if l.MaxTenantStreams <= 0 {
		l.MaxTenantStreams = DefaultMaxTenantStreams
	}
	return l
}

// Config holds the API's dependencies.
type Config struct {
	Tasks *broker.Tasks
	// Schedules keeps the tenants' schedules (/v1/schedules).
	Schedules   *broker.Schedules
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
	// CheckURL vets a target or webhook URL when a task is created (nil
	// accepts any).
	CheckURL func(*url.URL) error
	Limits   Limits
	// CreateLimiter keeps the tenants' create buckets: a
	// ratelimit.Shared to limit across the cluster; nil keeps them in this
	// process (ratelimit.Local), per node.
	CreateLimiter ratelimit.Limiter
	// Retention is how long task events are kept: no task may be scheduled
	// so far ahead that its history would be dropped first.
	Retention time.Duration
	// TenantRetention bounds a tenant's retention of finished tasks, which
	// the admin API sets.
	TenantRetention tenant.RetentionBounds
	// Problems turns errors into problems (a mapper that logs to Logger
	// when nil).
	Problems *problem.Mapper
	Logger   *slog.Logger
	// Now is the clock (time.Now when nil): validation, rate limits and
	// Retry-After read it.
	Now func() time.Time
	// RateLimited, when set, hears of each create refused by the tenant's
	// create rate (for metrics).
	RateLimited func(tenantID string)
	// DefaultMonthlyQuota is the tasks a tenant may create per UTC month
	// unless the operator set its own quota; zero is unlimited.
	DefaultMonthlyQuota int64

	// Keys shows, pauses and resumes ordering and flow-control keys.
	Keys *broker.Keys
}

// API holds the handlers of the HTTP API.
type API struct {
	tasks       *broker.Tasks
	schedules   *broker.Schedules
	keys        *broker.Keys
	hub         *broker.Hub
	tenants     *tenant.Store
	tenantAdmin *tenant.Service
	adminToken  tenant.AdminToken
	tokens      *tenant.Tokens
	corsOrigins []string
	heartbeat   time.Duration
	limits      Limits
	retention   tenant.RetentionBounds
	validator   *Validator
	createLimit ratelimit.Limiter
	streams     *streamSlots
	decoder     *decoder
	problems    *problem.Mapper
	logger      *slog.Logger
	now         func() time.Time
	rateLimited func(tenantID string)
	// defaultQuota is the monthly task quota of tenants without their own.
	defaultQuota int64

	// closed ends with Close; closing is its Done channel.
	closed   context.Context
	closeAll context.CancelFunc
	closing  <-chan struct{}
}

// New returns the API's handlers.
func New(cfg Config) *API {
	a := &API{
		tasks: cfg.Tasks, schedules: cfg.Schedules, hub: cfg.Hub, tenants: cfg.Tenants, tenantAdmin: cfg.TenantAdmin,
		adminToken: cfg.AdminToken, tokens: cfg.Tokens, corsOrigins: cfg.CORSOrigins, heartbeat: cfg.Heartbeat,
		limits: cfg.Limits.WithDefaults(), retention: cfg.TenantRetention, problems: cfg.Problems, logger: cfg.Logger, now: cfg.Now,
		rateLimited: cfg.RateLimited, defaultQuota: cfg.DefaultMonthlyQuota,
		keys: cfg.Keys,
	}
	a.closed, a.closeAll = context.WithCancel(context.Background())
	a.closing = a.closed.Done()
	if a.rateLimited == nil {
		a.rateLimited = func(string) {}
	}
	if a.logger == nil {
		a.logger = slog.New(slog.DiscardHandler)
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.heartbeat <= 0 {
		a.heartbeat = DefaultHeartbeat
	}
	if a.problems == nil {
		a.problems = problem.NewMapper(a.logger, a.limits.MaxBody)
	}
	a.limits.MaxDelay = delayLimit(a.limits.MaxDelay, cfg.Retention)
	a.validator = &Validator{limits: a.limits, checkURL: cfg.CheckURL, now: a.now}
	if a.validator.checkURL == nil {
		a.validator.checkURL = func(*url.URL) error { return nil }
	}
	a.createLimit = cfg.CreateLimiter
	if a.createLimit == nil {
		a.createLimit = ratelimit.NewLocal()
	}
	a.decoder = &decoder{maxBody: a.limits.MaxBody}
	a.streams = newStreamSlots(a.limits)
	return a
}

// Close ends the long-lived responses (event streams, WebSockets,
// long-polls) so that a graceful HTTP shutdown need not wait for them.
func (a *API) Close() { a.closeAll() }

// Validator returns the validation of new tasks, which the dashboard's
// form shares.
func (a *API) Validator() *Validator { return a.validator }

// WriteError answers with the problem of err: the API's errors are always
// application/problem+json.
func (a *API) WriteError(c echo.Context, err error) { a.problems.WriteError(c, err) }
