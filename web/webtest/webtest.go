// Package webtest runs the HTTP server for handler tests on the real parts
// of a node, without the node: an embedded JetStream in a temp dir, the
// streams, a bbolt view file, the task and tenant projectors, tenants,
// tokens and, on request, the dispatcher and the deliverer. The server
// listens on an httptest server; clients check every exchange against
// docs/openapi.yaml. Everything it starts stops at the test's cleanup.
package webtest

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/delivery"
	"github.com/boomerang-dev/boomerang/docs"
	"github.com/boomerang-dev/boomerang/internal/devtools"
	"github.com/boomerang-dev/boomerang/internal/projector"
	"github.com/boomerang-dev/boomerang/internal/ratelimit"
	"github.com/boomerang-dev/boomerang/internal/secretbox"
	"github.com/boomerang-dev/boomerang/internal/testenv"
	"github.com/boomerang-dev/boomerang/internal/viewfile"
	"github.com/boomerang-dev/boomerang/tenant"
	"github.com/boomerang-dev/boomerang/web"
)

// AdminToken is the admin token of every test server.
const AdminToken = "test-admin-token-0123456789"

// setupTimeout bounds starting the parts and the helpers' calls to them:
// only a hang, as testenv.GiveUpAfter does; never a busy machine.
const setupTimeout = testenv.GiveUpAfter

// Options change the server a test gets.
type Options struct {
	// Now is the web server's clock (time.Now when nil): the create rate
	// limit, validation and the pages read it.
	Now func() time.Time
	// Limits are the server's limits (the defaults of web.Limits).
	Limits web.Limits
	// MaxSchedules caps each tenant's schedules (0: no cap).
	MaxSchedules int
	// CORSOrigins may read a task with its status token from a browser.
	CORSOrigins []string
	// Workers runs the dispatcher and the deliverer, so that tasks run.
	// Without them tasks stay pending.
	Workers bool
	// DevTools are mounted under /dev/, and their inbox shown on the
	// dashboard, as with serve --dev; none when nil.
	DevTools *devtools.Handler
	// PublicURL is the server's public URL (none when nil).
	PublicURL *url.URL
	// TokensNow is the clock of status tokens and sessions (Now when nil,
	// then time.Now): a clock of their own expires tokens in a test.
	TokensNow func() time.Time
	// Heartbeat is how often idle event streams send a comment (and check
	// their credential); the server's default when zero.
	Heartbeat time.Duration
	// SharedRateLimit keeps the create rate limits in the JetStream
	// key-value bucket that every server of the stream shares (a peer
	// with it too shares the budgets), as --rate-limit-scope cluster
	// does; without it each server limits on its own.
	SharedRateLimit bool
	// NoAdminToken starts the server without an admin token, as serve
	// without --admin-token: no admin API, no operator pages.
	NoAdminToken bool
}

// Env is a running server and the parts behind it.
type Env struct {
	// URL is the server's base URL.
	URL     string
	Server  *web.Server
	Tasks   *broker.Tasks
	Tenants *tenant.Store
	Tokens  *tenant.Tokens
	// TenantAdmin changes tenants: keys, secrets, limits.
	TenantAdmin *tenant.Service
	// Admin calls the API with the admin token.
	Admin *testenv.Client
	// Log holds the server's log; it is printed when the test fails.
	Log *Log

	js              jetstream.JetStream
	keys            *secretbox.Keyring // the operator's key: peers share it, as a cluster's nodes do
	tenantProjector *projector.Projector
	db              *bolt.DB // the view file
}

// parts is what Start wires together, before the server.
type parts struct {
	js              jetstream.JetStream
	hub             *broker.Hub
	view            *broker.View
	tenants         *tenant.Store
	taskProjector   *projector.Projector
	tenantProjector *projector.Projector
	keys            *secretbox.Keyring // seal the signing secrets and the token key
	db              *bolt.DB           // the view file
}

// Start starts a server on the real parts and stops it all at cleanup.
func Start(tb testing.TB, opts Options) *Env {
	tb.Helper()
	js, _ := testenv.StartJetStream(tb)
	return startOn(tb, js, testenv.SecretKeys(tb), opts)
}

// Peer starts another server on e's JetStream, with a view file and
// projectors of its own: a second node, or this node after a restart,
// which rebuilds its view from the streams. It stops at cleanup.
func (e *Env) Peer(tb testing.TB, opts Options) *Env {
	tb.Helper()
	return startOn(tb, e.js, e.keys, opts)
}

// startOn starts a server on js.
func startOn(tb testing.TB, js jetstream.JetStream, keys *secretbox.Keyring, opts Options) *Env {
	tb.Helper()
	logBuf := &Log{}
	logger := slog.New(slog.NewTextHandler(logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("server log:\n%s", logBuf.String())
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	p := startParts(ctx, tb, js, keys, logger)
	tenantAdmin := tenant.NewService(p.js, p.tenants, p.tenantProjector, opts.Now)
	tokenKey, err := tenant.LoadTokenKey(ctx, p.js, 1, p.keys)
	if err != nil {
		tb.Fatalf("token key: %v", err)
	}
	tokensNow := opts.TokensNow
	if tokensNow == nil {
		tokensNow = opts.Now
	}
	tokens := tenant.NewTokens(tokenKey, tenant.DefaultStatusTokenTTL, tokensNow)
	tasks := broker.NewTasks(broker.NewPublisher(p.js), p.view, p.taskProjector, logger, nil)
	guard := delivery.Guard{AllowPrivate: true} // targets listen on 127.0.0.1
	var srv *web.Server
	built := make(chan struct{}) // closed once srv is set
	if opts.Workers {
		// The firer asks the server's limits, as serve's does; the server is
		// built below.
		runWorkers(tb, p, guard, logger, func(ctx context.Context, tenantID string) (broker.FiringDecision, error) {
			select {
			case <-built:
				return srv.AdmitFiring(ctx, tenantID)
			case <-ctx.Done():
				return broker.FiringDecision{}, ctx.Err()
			}
		})
	}
	var limiter ratelimit.Limiter
	if opts.SharedRateLimit {
		if limiter, err = ratelimit.OpenShared(ctx, p.js, 1, logger); err != nil {
			tb.Fatalf("shared rate limit: %v", err)
		}
	}
	srv, err = web.New(web.Config{
		DevTools: opts.devTools(), Inbox: opts.inbox(),
		Tasks: tasks, Schedules: opts.schedules(p.js, logger), Hub: p.hub, Tenants: p.tenants, TenantAdmin: tenantAdmin,
		AdminToken: opts.adminToken(), Tokens: tokens, CORSOrigins: opts.CORSOrigins,
		CheckURL: guard.CheckURL, Limits: opts.Limits, Logger: logger, Now: opts.Now, Heartbeat: opts.Heartbeat,
		Ready: func() error { return nil }, OpenAPI: docs.OpenAPI, PublicURL: opts.PublicURL, CreateLimiter: limiter,
		Keys: broker.NewKeys(broker.NewPublisher(p.js)),
	})
	if err != nil {
		tb.Fatalf("web.New: %v", err)
	}
	close(built)
	ts := httptest.NewUnstartedServer(srv.Handler())
	ts.Config.ReadHeaderTimeout, ts.Config.MaxHeaderBytes = 10*time.Second, 64<<10 // as serve's
	ts.Start()
	tb.Cleanup(func() {
		srv.Close() // end event streams and long-polls first
		ts.Close()
	})
	return &Env{URL: ts.URL, Server: srv, Tasks: tasks, Tenants: p.tenants, Tokens: tokens, TenantAdmin: tenantAdmin, Log: logBuf, js: p.js, keys: keys,
		tenantProjector: p.tenantProjector, db: p.db, Admin: &testenv.Client{Base: ts.URL, Key: AdminToken, Contract: Contract(tb)}}
}

// startParts starts JetStream, the streams, the view and both projectors,
// and returns once the projectors have caught up.
func startParts(ctx context.Context, tb testing.TB, js jetstream.JetStream, keys *secretbox.Keyring, logger *slog.Logger) parts {
	tb.Helper()
	if err := broker.EnsureStreams(ctx, js, broker.StreamOptions{}); err != nil {
		tb.Fatalf("streams: %v", err)
	}
	if _, err := js.CreateOrUpdateStream(ctx, tenant.StreamConfig(1)); err != nil {
		tb.Fatalf("tenant stream: %v", err)
	}
	vf, err := viewfile.Open(filepath.Join(tb.TempDir(), "view.db"), logger)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = vf.Close() })
	p := parts{js: js, hub: broker.NewHub(), keys: keys, db: vf.DB}
	p.view = broker.NewView(vf.DB, p.hub)
	p.tenants = tenant.NewStore(vf.DB, p.keys, nil)
	p.taskProjector = projector.New(js, vf.DB, broker.StreamTasks, p.view, logger)
	p.tenantProjector = projector.New(js, vf.DB, tenant.Stream, p.tenants, logger)
	p.tenants.OnMiss(p.tenantProjector.CatchUp)
	run(tb, "projector", []runner{p.taskProjector, p.tenantProjector}, nil)
	for _, pr := range []*projector.Projector{p.taskProjector, p.tenantProjector} {
		select {
		case <-pr.Ready():
		case <-ctx.Done():
			tb.Fatal("a projector did not catch up in time")
		}
	}
	return p
}

// runWorkers runs the dispatcher and the deliverer with fast retries.
func runWorkers(tb testing.TB, p parts, guard delivery.Guard, logger *slog.Logger, admit broker.FiringAdmission) {
	tb.Helper()
	client := delivery.NewHTTPClient(guard, delivery.ClientOptions{})
	policy := delivery.RetryPolicy{InitialBackoff: 100 * time.Millisecond, MaxBackoff: 400 * time.Millisecond,
		WebhookSchedule: []time.Duration{0, 200 * time.Millisecond, 200 * time.Millisecond}}
	pub := broker.NewPublisher(p.js)
	// Held work (of a suspended tenant) asks again soon, so that tests
	// see it run after a resume without a long wait.
	cfg := broker.WorkerConfig{MaxInFlight: 100, HoldFor: 300 * time.Millisecond,
		Tenants: func(tenantID string) broker.TenantState { return broker.TenantStateOf(p.tenants.WorkState(tenantID)) }}
	dispatcher := broker.NewDispatcher(p.js, pub, p.view, p.taskProjector, delivery.NewCaller(client, p.tenants, 0, nil), policy, logger, cfg)
	deliverer := broker.NewDeliverer(p.js, pub, p.view, p.taskProjector, delivery.NewNotifier(client, p.tenants, 0, nil), policy, logger, cfg)
	firer := broker.NewScheduleFirer(p.js, pub, broker.NewTasks(pub, p.view, p.taskProjector, logger, nil), logger,
		broker.ScheduleFirerConfig{Tenants: cfg.Tenants, Admit: admit})
	run(tb, "worker", []runner{dispatcher, deliverer, firer}, func() {
		dispatcher.Abort()
		deliverer.Abort()
	})
	tb.Cleanup(func() {
		select {
		case <-p.js.PublishAsyncComplete():
		case <-time.After(setupTimeout):
		}
	})
}

type runner interface{ Run(context.Context) error }

// run runs each part until cleanup, which cancels them and waits; abort,
// if set, ends their work in flight when they take long to stop. A part
// that fails before it fails the test.
func run(tb testing.TB, kind string, rs []runner, abort func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, r := range rs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.Run(ctx); err != nil && ctx.Err() == nil && !errors.Is(err, context.Canceled) {
				tb.Errorf("%s stopped: %v", kind, err)
			}
		}()
	}
	tb.Cleanup(func() {
		cancel()
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		if abort != nil {
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				abort()
			}
		}
		<-done
	})
}

// Tenant creates a tenant through the admin API and returns a client with
// its API key, and its credentials.
func (e *Env) Tenant(tb testing.TB, name string) (*testenv.Client, tenant.Credentials) {
	tb.Helper()
	r := e.Admin.Do(tb, http.MethodPost, "/admin/v1/tenants", map[string]string{"name": name})
	if r.Status != http.StatusCreated {
		tb.Fatalf("create tenant: got %d %s, want 201", r.Status, r.Body)
	}
	var creds tenant.Credentials
	r.JSON(tb, &creds)
	return e.Client(tb, creds.APIKey), creds
}

// Client returns a client of the server sending key as its Bearer token
// ("" sends none), checking every exchange against the contract.
func (e *Env) Client(tb testing.TB, key string) *testenv.Client {
	return &testenv.Client{Base: e.URL, Key: key, Contract: Contract(tb)}
}

// TenantsCaughtUp waits until this server's tenant view has applied
// everything in the tenant stream: changes made on a peer, say.
func (e *Env) TenantsCaughtUp(tb testing.TB) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	if err := e.tenantProjector.CatchUp(ctx); err != nil {
		tb.Fatalf("tenant view: %v", err)
	}
}

// TaskLastSeq is the task stream's last sequence: it moves on every
// publish, so a test can show that a refused request published nothing.
func (e *Env) TaskLastSeq(tb testing.TB) uint64 {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	s, err := e.js.Stream(ctx, broker.StreamTasks)
	if err != nil {
		tb.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	return info.State.LastSeq
}

// Publish publishes data on a subject of the streams as it is, for tests
// of what is already stored: events written by earlier versions.
func (e *Env) Publish(tb testing.TB, subject string, data []byte) uint64 {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	ack, err := e.js.Publish(ctx, subject, data)
	if err != nil {
		tb.Fatalf("publish %s: %v", subject, err)
	}
	return ack.Sequence
}

// loadContract parses docs/openapi.yaml once per test binary.
var loadContract = sync.OnceValues(func() (*testenv.Contract, error) { return testenv.LoadContract(docs.OpenAPI) })

// Contract is the API description every client checks its exchanges
// against.
func Contract(tb testing.TB) *testenv.Contract {
	c, err := loadContract()
	if err != nil {
		tb.Fatalf("docs/openapi.yaml: %v", err)
	}
	return c
}

// Log collects a server's log, safe for concurrent writes.
type Log struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String returns what was logged so far.
func (l *Log) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// devTools is what the server mounts under /dev/: nothing when the options
// have no dev tools (a nil interface, not a nil pointer in one).
func (o Options) adminToken() tenant.AdminToken {
	if o.NoAdminToken {
		return tenant.AdminToken{}
	}
	return tenant.NewAdminToken(AdminToken)
}

func (o Options) devTools() http.Handler {
	if o.DevTools == nil {
		return nil
	}
	return o.DevTools
}

// inbox is the dev tools' webhook inbox, or none.
func (o Options) inbox() web.Inbox {
	if o.DevTools == nil {
		return nil
	}
	return o.DevTools.Inbox()
}

// schedules returns the schedule operations, capped as opts say.
func (opts Options) schedules(js jetstream.JetStream, logger *slog.Logger) *broker.Schedules {
	s := broker.NewSchedules(broker.NewPublisher(js), logger, nil)
	s.MaxPerTenant = opts.MaxSchedules
	return s
}
