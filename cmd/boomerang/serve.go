package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/delivery"
	"github.com/boomerang-dev/boomerang/docs"
	"github.com/boomerang-dev/boomerang/internal/devtools"
	"github.com/boomerang-dev/boomerang/internal/natsembed"
	"github.com/boomerang-dev/boomerang/internal/viewfile"
	"github.com/boomerang-dev/boomerang/signing"
	"github.com/boomerang-dev/boomerang/tenant"
	"github.com/boomerang-dev/boomerang/web"
)

// ServeConfig is everything `boomerang serve` can be told.
type ServeConfig struct {
	Addr          string
	DataDir       string
	NatsURL       string
	NatsPort      int
	Replicas      int
	Dev           bool
	AdminToken    string
	AllowPrivate  bool
	AllowCIDRs    string
	Sync          string
	LogLevel      string
	LogFormat     string
	MaxInFlight   int
	MaxDeliveries int
	ShutdownGrace time.Duration
	TaskRetention time.Duration
	AckWait       time.Duration

	RetryInitial    time.Duration
	RetryMax        time.Duration
	RetryAfterCap   time.Duration
	WebhookSchedule string
	WebhookTimeout  time.Duration
	MaxResponseBody int
	MaxRequestBody  int64
	CORSOrigins     string
	StatusTokenTTL  time.Duration
	Heartbeat       time.Duration
	IdemWindow      time.Duration
	PprofAddr       string
	RunningAfter    time.Duration
	CreateRate      float64
	CreateBurst     int
	TenantInFlight  int
	HostInFlight    int
}

// Main is a running node: `serve` builds one from flags, and end-to-end
// tests run the same thing with MustRunMain.
type Main struct {
	Config ServeConfig
	Stdout io.Writer
	Logger *slog.Logger

	viewFile  *viewfile.View
	embedded  *natsembed.Server
	conns     []*nats.Conn        // every NATS connection, closed last
	js        jetstream.JetStream // the API's connection
	workerJS  jetstream.JetStream // the dispatcher's and deliverer's
	projectJS jetstream.JetStream // the projectors'

	listener    net.Listener
	httpServer  *http.Server
	webServer   *web.Server
	pprofServer *http.Server
	tokens      *tenant.Tokens
	dispatcher  *broker.Dispatcher
	deliverer   *broker.Deliverer
	tenants     *tenant.Store

	projectorsCancel context.CancelFunc
	workersCancel    context.CancelFunc
	projectorsDone   sync.WaitGroup
	workersDone      sync.WaitGroup
	failed           chan error

	guard  delivery.Guard       // from the flags, checked by ParseFlags
	policy delivery.RetryPolicy // from the flags, checked by ParseFlags
}

// NewMain returns a Main with the default configuration.
func NewMain() *Main {
	return &Main{Stdout: os.Stdout, failed: make(chan error, 4)}
}

// ParseFlags reads the configuration from args and the environment.
func (m *Main) ParseFlags(args []string, getenv func(string) string, stderr io.Writer) error {
	c := &m.Config
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.Addr, "addr", ":8080", "HTTP listen address")
	fs.StringVar(&c.DataDir, "data-dir", "./data", "directory for the embedded JetStream store and the view (view.db)")
	fs.StringVar(&c.NatsURL, "nats-url", "", "NATS servers to use instead of the embedded one (comma-separated)")
	fs.IntVar(&c.NatsPort, "nats-port", 0, "client port for the embedded nats-server on 127.0.0.1 (0: none)")
	fs.IntVar(&c.Replicas, "replicas", 1, "JetStream replicas of the streams (3 in a cluster)")
	fs.BoolVar(&c.Dev, "dev", false, "development mode: create a dev tenant, allow private-network URLs, mount /dev/echo and /dev/inbox")
	fs.StringVar(&c.AdminToken, "admin-token", "", "token for the admin API (/admin/v1); empty disables it")
	fs.BoolVar(&c.AllowPrivate, "allow-private-networks", false, "allow targets and webhooks on loopback, private and link-local networks")
	fs.StringVar(&c.AllowCIDRs, "allow-cidr", "", "internal networks outbound calls may reach anyway (comma-separated CIDRs)")
	fs.StringVar(&c.Sync, "sync", "always", "JetStream fsync of the embedded server: always (before every acknowledgement: a 202 survives a power loss) or interval (periodic: survives a process crash only)")
	fs.StringVar(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", "text", "text or json")
	fs.IntVar(&c.MaxInFlight, "max-in-flight", 1000, "attempts running at once on this node")
	fs.IntVar(&c.MaxDeliveries, "max-deliveries-in-flight", 1000, "webhook deliveries running at once on this node")
	fs.DurationVar(&c.ShutdownGrace, "shutdown-grace", 25*time.Second, "how long attempts in flight may finish at shutdown")
	fs.DurationVar(&c.TaskRetention, "task-retention", 90*24*time.Hour, "how long task events stay in the stream (0: forever)")
	fs.DurationVar(&c.AckWait, "ack-wait", 30*time.Second, "how long before unacknowledged work is redelivered")
	retry := delivery.DefaultRetryPolicy()
	fs.DurationVar(&c.RetryInitial, "retry-initial", retry.InitialBackoff, "backoff after the first failed attempt (doubles each time)")
	fs.DurationVar(&c.RetryMax, "retry-max", retry.MaxBackoff, "longest backoff between attempts")
	fs.DurationVar(&c.RetryAfterCap, "retry-after-cap", retry.RetryAfterCap, "longest Retry-After honoured from a target")
	fs.StringVar(&c.WebhookSchedule, "webhook-schedule", "", fmt.Sprintf("wait before each webhook delivery, comma-separated (empty: %v)", retry.WebhookSchedule))
	fs.DurationVar(&c.WebhookTimeout, "webhook-timeout", delivery.DefaultWebhookTimeout, "time limit of one webhook delivery")
	fs.IntVar(&c.MaxResponseBody, "max-response-body", delivery.DefaultMaxResponseBody, "bytes of a target's response body kept per attempt")
	fs.Int64Var(&c.MaxRequestBody, "max-request-body", 1<<20, "largest API request body in bytes")
	fs.StringVar(&c.CORSOrigins, "cors-origins", "", "origins that may read a task with its status token from a browser (comma-separated, * for any)")
	fs.DurationVar(&c.StatusTokenTTL, "status-token-ttl", tenant.DefaultStatusTokenTTL, "how long a task's status token is valid")
	fs.Float64Var(&c.CreateRate, "create-rate", web.DefaultCreateRate, "task creates per second per tenant and node (overridable per tenant)")
	fs.IntVar(&c.CreateBurst, "create-burst", web.DefaultCreateBurst, "task creates a tenant may make at once above --create-rate")
	fs.IntVar(&c.TenantInFlight, "max-in-flight-per-tenant", 500, "attempts (and deliveries) of one tenant running at once on this node")
	fs.IntVar(&c.HostInFlight, "max-in-flight-per-host", 200, "attempts (and deliveries) of one tenant to one host running at once on this node")
	fs.DurationVar(&c.RunningAfter, "running-after", 100*time.Millisecond, "show an attempt as running once it has run this long (0: always); quicker ones go straight to their outcome")
	fs.StringVar(&c.PprofAddr, "pprof-addr", "", "serve Go's pprof profiles on this address (e.g. 127.0.0.1:6060); empty: off")
	fs.DurationVar(&c.IdemWindow, "idempotency-window", broker.DefaultIdempotencyWindow, "how long an Idempotency-Key returns the task it created")
	fs.DurationVar(&c.Heartbeat, "sse-heartbeat", web.DefaultHeartbeat, "how often an idle event stream sends a heartbeat")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if c.Sync != "interval" && c.Sync != "always" {
		return fmt.Errorf("--sync must be interval or always")
	}
	// Everything that can be wrong in the configuration is found here,
	// before Run starts NATS and opens the view.
	var err error
	if m.guard, err = c.outboundGuard(); err != nil {
		return err
	}
	m.policy, err = c.retryPolicy()
	return err
}

func (m *Main) newLogger(stderr io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(m.Config.LogLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	if m.Config.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(stderr, opts)), nil
	}
	return slog.New(slog.NewTextHandler(stderr, opts)), nil
}

// Run starts the node and returns once it serves HTTP. Close stops it.
func (m *Main) Run(ctx context.Context) (err error) {
	c := m.Config
	log := m.Logger
	defer func() {
		if err != nil {
			m.Close()
		}
	}()
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	m.viewFile, err = viewfile.Open(filepath.Join(c.DataDir, "view.db"), log)
	if err != nil {
		return err
	}
	if err := m.startNATS(log); err != nil {
		return err
	}
	// Separate connections keep the API's publishes and acknowledgements
	// from queueing behind the workers' and projectors' traffic.
	for _, js := range []*jetstream.JetStream{&m.js, &m.workerJS, &m.projectJS} {
		if *js, err = m.connectJetStream(); err != nil {
			return err
		}
	}
	setup, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := broker.EnsureStreams(setup, m.js, broker.StreamOptions{Replicas: c.Replicas, TaskRetention: c.TaskRetention, AckWait: c.AckWait}); err != nil {
		return err
	}
	if _, err := m.js.CreateOrUpdateStream(setup, tenant.StreamConfig(c.Replicas)); err != nil {
		return fmt.Errorf("tenant stream: %w", err)
	}

	// The views and their projectors.
	hub := broker.NewHub()
	db := m.viewFile.DB
	view := broker.NewView(db, hub)
	m.tenants = tenant.NewStore(db, nil)
	taskProjector := broker.NewProjector(m.projectJS, db, broker.StreamTasks, view, log)
	tenantProjector := broker.NewProjector(m.projectJS, db, tenant.Stream, m.tenants, log)
	m.tenants.OnMiss(tenantProjector.CatchUp)
	projCtx, projCancel := context.WithCancel(context.Background())
	m.projectorsCancel = projCancel
	for _, p := range []*broker.Projector{taskProjector, tenantProjector} {
		m.projectorsDone.Add(1)
		go func() {
			defer m.projectorsDone.Done()
			if err := p.Run(projCtx); err != nil {
				log.Error("projector stopped", "err", err)
				m.failed <- err
			}
		}()
	}
	select {
	case <-tenantProjector.Ready():
	case err := <-m.failed:
		return err
	case <-setup.Done():
		return errors.New("tenant view did not catch up in time")
	}

	// Outbound calls and the workers.
	guard, policy := m.guard, m.policy
	client := delivery.NewHTTPClient(guard, delivery.ClientOptions{})
	workerPub := broker.NewPublisher(m.workerJS)
	workerCfg := broker.WorkerConfig{MaxInFlight: c.MaxInFlight, AckWait: c.AckWait,
		MaxPerTenant: c.TenantInFlight, MaxPerHost: c.HostInFlight, RunningAfter: c.RunningAfter,
		Limits: func(tenantID string) (int, int) {
			l := m.tenants.Limits(tenantID)
			return l.MaxInFlight, l.MaxPerHost
		}}
	m.dispatcher = broker.NewDispatcher(m.workerJS, workerPub, view, delivery.NewCaller(client, m.tenants, c.MaxResponseBody, nil), policy, log, workerCfg)
	workerCfg.MaxInFlight = c.MaxDeliveries
	m.deliverer = broker.NewDeliverer(m.workerJS, workerPub, view, taskProjector, delivery.NewNotifier(client, m.tenants, c.WebhookTimeout, nil), policy, log, workerCfg)
	workCtx, workCancel := context.WithCancel(context.Background())
	m.workersCancel = workCancel
	m.workersDone.Add(1)
	go func() {
		defer m.workersDone.Done()
		// Workers start once the view has caught up, so that they can tell
		// redelivered work from new work.
		select {
		case <-taskProjector.Ready():
		case <-workCtx.Done():
			return
		}
		var wg sync.WaitGroup
		for _, w := range []interface{ Run(context.Context) error }{m.dispatcher, m.deliverer} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := w.Run(workCtx); err != nil {
					log.Error("worker stopped", "err", err)
				}
			}()
		}
		wg.Wait()
	}()

	tenantAdmin := tenant.NewService(m.js, m.tenants, tenantProjector, nil)
	tokenKey, err := tenant.LoadTokenKey(setup, m.js, c.Replicas)
	if err != nil {
		return err
	}
	var dev http.Handler
	var devCreds tenant.Credentials
	if c.Dev {
		if devCreds, err = m.devTenant(setup, tenantAdmin); err != nil {
			return err
		}
		dev = devtools.New(func() ([]signing.Secret, error) { return m.tenants.SigningSecrets(devCreds.TenantID) }, time.Now)
	}

	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "boomerang_process_peak_rss_bytes", Help: "Peak resident set size of the process."},
			func() float64 {
				var ru syscall.Rusage
				_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
				return float64(ru.Maxrss) * 1024 // Linux reports KiB
			}))
	tokens := tenant.NewTokens(tokenKey, c.StatusTokenTTL, nil)
	m.tokens = tokens
	tasks := broker.NewTasks(broker.NewPublisher(m.js), view, taskProjector, log, nil)
	tasks.IdempotencyWindow = c.IdemWindow
	m.webServer, err = web.New(web.Config{
		Tasks:       tasks,
		Hub:         hub,
		Tenants:     m.tenants,
		TenantAdmin: tenantAdmin,
		AdminToken:  tenant.NewAdminToken(c.AdminToken),
		Tokens:      tokens,
		Retention:   c.TaskRetention,
		CORSOrigins: splitList(c.CORSOrigins),
		Heartbeat:   c.Heartbeat,
		CheckURL:    guard.CheckURL,
		Limits:      web.Limits{MaxBody: c.MaxRequestBody, CreateRate: c.CreateRate, CreateBurst: c.CreateBurst},
		Ready:       readiness(m.conns, taskProjector, tenantProjector),
		Registry:    registry,
		OpenAPI:     docs.OpenAPI,
		DevTools:    dev,
		Logger:      log,
	})
	if err != nil {
		return err
	}
	m.listener, err = net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	m.httpServer = &http.Server{
		Handler:           m.webServer.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	go func() {
		if err := m.httpServer.Serve(m.listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server stopped", "err", err)
		}
	}()
	if c.PprofAddr != "" {
		if err := m.servePprof(c.PprofAddr); err != nil {
			return err
		}
	}
	log.Info("boomerang serving", "addr", m.listener.Addr().String(), "data_dir", c.DataDir, "embedded_nats", m.embedded != nil)
	if c.Dev {
		link, _, err := tokens.IssueSignInLink(devCreds.TenantID)
		if err != nil {
			return err
		}
		m.printDevBanner(devCreds, link)
	}
	return nil
}

// startNATS starts the embedded nats-server unless --nats-url names one.
func (m *Main) startNATS(log *slog.Logger) error {
	c := m.Config
	if c.NatsURL != "" {
		return nil
	}
	var err error
	m.embedded, err = natsembed.Start(natsembed.Config{
		Dir: filepath.Join(c.DataDir, "nats"), Port: c.NatsPort, SyncAlways: c.Sync == "always",
	}, log)
	return err
}

// connectJetStream opens one more connection, in-process to the embedded
// server or to --nats-url.
func (m *Main) connectJetStream() (jetstream.JetStream, error) {
	var nc *nats.Conn
	var err error
	if m.embedded != nil {
		nc, err = m.embedded.Connect()
	} else {
		nc, err = nats.Connect(m.Config.NatsURL, nats.Name("boomerang"), nats.MaxReconnects(-1))
	}
	if err != nil {
		return nil, fmt.Errorf("connect to NATS: %w", err)
	}
	m.conns = append(m.conns, nc)
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(8192))
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	return js, nil
}

// outboundGuard is the network guard the flags ask for.
func (c *ServeConfig) outboundGuard() (delivery.Guard, error) {
	g := delivery.Guard{AllowPrivate: c.Dev || c.AllowPrivate}
	for _, s := range splitList(c.AllowCIDRs) {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return g, fmt.Errorf("--allow-cidr %q: %w", s, err)
		}
		g.Allow = append(g.Allow, p.Masked())
	}
	return g, nil
}

// retryPolicy is the retry policy the flags ask for.
func (c *ServeConfig) retryPolicy() (delivery.RetryPolicy, error) {
	p := delivery.RetryPolicy{InitialBackoff: c.RetryInitial, MaxBackoff: c.RetryMax, RetryAfterCap: c.RetryAfterCap}
	for _, s := range splitList(c.WebhookSchedule) {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil || d < 0 {
			return p, fmt.Errorf("--webhook-schedule: %q is not a duration", s)
		}
		p.WebhookSchedule = append(p.WebhookSchedule, d)
	}
	return p, nil
}

func readiness(conns []*nats.Conn, projectors ...*broker.Projector) func() error {
	return func() error {
		for _, nc := range conns {
			if !nc.IsConnected() {
				return errors.New("not connected to NATS")
			}
		}
		for _, p := range projectors {
			select {
			case <-p.Ready():
			default:
				return errors.New("the view is still catching up with the stream")
			}
		}
		return nil
	}
}

const devTenantID = "ten_dev"

// devTenant creates the dev tenant on first start and returns its
// credentials, which are kept in the data dir so later starts can print them.
func (m *Main) devTenant(ctx context.Context, admin *tenant.Service) (tenant.Credentials, error) {
	path := filepath.Join(m.Config.DataDir, "dev-credentials.json")
	creds, err := admin.CreateWithID(ctx, devTenantID, "dev")
	switch {
	case err == nil:
	case errors.Is(err, tenant.ErrExists):
		if data, rerr := os.ReadFile(path); rerr == nil && json.Unmarshal(data, &creds) == nil {
			return creds, nil
		}
		// The file is gone: issue a fresh key for the existing tenant.
		key, _, kerr := admin.CreateKey(ctx, devTenantID, "dev")
		if kerr != nil {
			return creds, kerr
		}
		secrets, serr := m.tenants.SigningSecrets(devTenantID)
		if serr != nil || len(secrets) == 0 {
			return creds, fmt.Errorf("dev tenant secret: %v", serr)
		}
		creds = tenant.Credentials{TenantID: devTenantID, APIKey: key, SigningSecret: secrets[0].String()}
	default:
		return creds, err
	}
	data, _ := json.MarshalIndent(creds, "", "  ")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return creds, fmt.Errorf("save dev credentials: %w", err)
	}
	return creds, nil
}

func (m *Main) printDevBanner(creds tenant.Credentials, signInToken string) {
	base := m.URL()
	fmt.Fprintf(m.Stdout, `
Boomerang is running in development mode on %[1]s

  tenant id       %[2]s
  API key         %[3]s
  signing secret  %[4]s

  dashboard       %[1]s/signin?token=%[5]s
                  (a one-time sign-in link, valid for 15 minutes)
  echo target     %[1]s/dev/echo      (?fail=2 fails twice, ?status=500, ?delay=2s)
  webhook inbox   %[1]s/dev/inbox     (GET it to see what arrived)

  export BOOMERANG_API_KEY=%[3]s

`, base, creds.TenantID, creds.APIKey, creds.SigningSecret, signInToken)
}

func hostPort(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if host == "" || host == "::" || host == "0.0.0.0" {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

// URL is the node's base URL, for tests.
func (m *Main) URL() string { return "http://" + hostPort(m.listener.Addr().String()) }

// Close stops the node gracefully: it stops accepting requests, lets the
// attempts in flight finish within the grace period (then abandons them to
// redelivery), flushes what it published and closes the store.
func (m *Main) Close() error {
	log := m.Logger
	if m.pprofServer != nil {
		_ = m.pprofServer.Close()
	}
	if m.httpServer != nil {
		m.webServer.Close() // end event streams and long-polls first
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := m.httpServer.Shutdown(ctx); err != nil {
			_ = m.httpServer.Close()
		}
		cancel()
	}
	if m.workersCancel != nil {
		m.workersCancel()
		done := make(chan struct{})
		go func() { m.workersDone.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(m.Config.ShutdownGrace):
			log.Warn("grace period over; abandoning attempts in flight to redelivery")
			m.dispatcher.Abort()
			m.deliverer.Abort()
			<-done
		}
	}
	for _, js := range []jetstream.JetStream{m.js, m.workerJS} {
		if js != nil {
			select {
			case <-js.PublishAsyncComplete():
			case <-time.After(5 * time.Second):
			}
		}
	}
	if m.projectorsCancel != nil {
		m.projectorsCancel()
		m.projectorsDone.Wait()
	}
	for _, nc := range m.conns {
		nc.Close()
	}
	if m.embedded != nil {
		m.embedded.Shutdown()
	}
	if m.viewFile != nil {
		return m.viewFile.Close()
	}
	return nil
}

// runServe is `boomerang serve`: run until interrupted, then stop gracefully.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	m := NewMain()
	m.Stdout = stdout
	if err := m.ParseFlags(args, os.Getenv, stderr); err != nil {
		return err
	}
	logger, err := m.newLogger(stderr)
	if err != nil {
		return err
	}
	m.Logger = logger
	if err := m.Run(ctx); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		logger.Info("shutting down")
	case err = <-m.failed:
		logger.Error("stopping after a fatal error", "err", err)
	}
	if cerr := m.Close(); cerr != nil && err == nil {
		err = cerr
	}
	return err
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// servePprof serves net/http/pprof on its own listener, apart from the API,
// for profiling a running node.
func (m *Main) servePprof(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--pprof-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	m.pprofServer = srv
	go func() { _ = srv.Serve(ln) }()
	return nil
}
