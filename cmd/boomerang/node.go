package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
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
	"github.com/boomerang-dev/boomerang/internal/groupcommit"
	"github.com/boomerang-dev/boomerang/internal/jsensure"
	"github.com/boomerang-dev/boomerang/internal/natsembed"
	"github.com/boomerang-dev/boomerang/internal/projector"
	"github.com/boomerang-dev/boomerang/internal/ratelimit"
	"github.com/boomerang-dev/boomerang/internal/viewfile"
	"github.com/boomerang-dev/boomerang/signing"
	"github.com/boomerang-dev/boomerang/tenant"
	"github.com/boomerang-dev/boomerang/web"
)

// This file builds the node's parts from the configuration; run.go starts
// and stops them.

// openStore opens the view file, starts the embedded NATS server (or
// connects to --nats-url), waits for JetStream (a cluster's meta leader)
// and makes sure the streams exist and have leaders.
func (m *Main) openStore(ctx context.Context) error {
	c := m.Config
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	var err error
	if m.viewFile, err = viewfile.Open(filepath.Join(c.DataDir, "view.db"), m.Logger); err != nil {
		return err
	}
	if err := m.loadSecretKeys(); err != nil {
		return err
	}
	if err := m.startNATS(); err != nil {
		return err
	}
	// Separate connections keep the API's publishes and acknowledgements
	// from queueing behind the workers' and projectors' traffic.
	for i, js := range []*jetstream.JetStream{&m.js, &m.workerJS, &m.projectJS} {
		if *js, err = m.connectJetStream([]string{"api", "workers", "projectors"}[i]); err != nil {
			return err
		}
	}
	if err := jsensure.MetaLeader(ctx, m.js, m.Logger); err != nil {
		return err
	}
	m.replicas = m.streamReplicas()
	m.logDurability()
	opts := broker.StreamOptions{Replicas: m.replicas, TaskRetention: c.TaskRetention, AckWait: c.AckWait, Logger: m.Logger}
	if err := broker.EnsureStreams(ctx, m.js, opts); err != nil {
		return err
	}
	if _, err := jsensure.Stream(ctx, m.js, tenant.StreamConfig(m.replicas), m.Logger); err != nil {
		return fmt.Errorf("tenant stream: %w", err)
	}
	if m.commit != nil {
		// The streams' files and the directories that find them go to disk
		// before anything is accepted: a stream made by this start, and
		// writes a killed process left unsynced.
		if err := m.commit.Sync(ctx, broker.StreamTasks, broker.StreamSchedules, tenant.Stream); err != nil {
			return fmt.Errorf("group commit: %w", err)
		}
	}
	return nil
}

// startNATS starts the embedded nats-server unless --nats-url names one.
func (m *Main) startNATS() error {
	c := m.Config
	if c.NatsURL != "" {
		return nil
	}
	cfg := natsembed.Config{
		Dir: filepath.Join(c.DataDir, "nats"), Port: c.NatsPort, Host: c.NatsHost,
		User: c.NatsUser, Password: c.NatsPassword, Cluster: m.cluster,
	}
	seedFile, err := m.clientPortUser(&cfg)
	if err != nil {
		return err
	}
	if cfg.SyncAlways, err = m.startGroupCommit(cfg.Dir); err != nil {
		return err
	}
	if m.embedded, err = natsembed.Start(cfg, m.Logger); err != nil {
		return err
	}
	if c.NatsPort != 0 {
		m.Logger.Info("the embedded NATS client port admits only its users, and gives them everything the node stores",
			"addr", m.embedded.Addr().String(), "nkey_seed_file", seedFile, "user", c.NatsUser)
	}
	if m.cluster != nil {
		m.Logger.Info("the embedded NATS server joins its cluster", "cluster", m.cluster.Name, "server_name", m.cluster.ServerName,
			"listen", c.NatsClusterListen, "routes", m.cluster.Routes, "authenticated", m.cluster.Secret != "", "tls", m.cluster.TLS != nil)
	}
	return nil
}

// startGroupCommit starts the group commit for the embedded store in dir
// if --sync always asks for it, and reports whether the server must fsync
// every message itself instead: --sync server, or always where the group
// commit cannot run or cannot cover every publish (--nats-port: other
// nodes' publishes are acknowledged to them, not to this node). In an
// embedded cluster there is no group commit: the streams are replicated,
// and a write is acknowledged once a quorum of the servers has it.
func (m *Main) startGroupCommit(dir string) (serverSyncs bool, err error) {
	switch m.Config.Sync {
	case "server":
		return true, nil
	case "interval":
		return false, nil
	}
	if m.cluster != nil {
		return false, nil
	}
	if m.Config.NatsPort != 0 {
		m.Logger.Info("--nats-port: the embedded server fsyncs every message itself (as with --sync server), so that publishes through the port are on disk too")
		return true, nil
	}
	m.commit, err = groupcommit.New(natsembed.StreamsDir(dir), m.Logger)
	if errors.Is(err, groupcommit.ErrUnsupported) {
		m.Logger.Warn("group commit is not available on this system: the embedded server fsyncs every message itself (as with --sync server)")
		return true, nil
	}
	return false, err
}

// connectJetStream opens one more connection, in-process to the embedded
// server or to --nats-url; name tells it apart in the log.
func (m *Main) connectJetStream(name string) (jetstream.JetStream, error) {
	var nc *nats.Conn
	var err error
	if m.embedded != nil {
		nc, err = m.embedded.Connect()
	} else {
		opts := append([]nats.Option{nats.Name("boomerang"), nats.MaxReconnects(-1)}, m.connectionEvents(name)...)
		nc, err = nats.Connect(m.Config.NatsURL, append(opts, m.natsAuth...)...)
	}
	if err != nil {
		return nil, fmt.Errorf("connect to NATS: %w", err)
	}
	m.conns = append(m.conns, nc)
	// An acknowledgement lost with a stream leader that died, or behind a
	// partition, never comes: the timeout frees its place in the pending
	// window, which would otherwise fill for good. It is longer than any
	// publish is waited for.
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(8192), jetstream.WithPublishAsyncTimeout(time.Minute))
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	if m.commit != nil {
		// Its acknowledgements now mean "on disk", as with --sync server.
		js = m.commit.JetStream(js)
	}
	return js, nil
}

// projections are the node's views of the streams and the projectors that
// keep them.
type projections struct {
	hub                            *broker.Hub
	view                           *broker.View
	taskProjector, tenantProjector *projector.Projector
}

// newProjections builds the task view and the tenant store on the view
// file, and their projectors.
func (m *Main) newProjections() projections {
	db := m.viewFile.DB
	p := projections{hub: broker.NewHub()}
	p.view = broker.NewView(db, p.hub)
	m.tenants = tenant.NewStore(db, m.secretKeys, nil)
	appliers := map[string]projector.Applier{broker.StreamTasks: p.view, tenant.Stream: m.tenants}
	if m.wrapApplier != nil {
		for stream, a := range appliers {
			appliers[stream] = m.wrapApplier(stream, a)
		}
	}
	p.taskProjector = projector.New(m.projectJS, db, broker.StreamTasks, appliers[broker.StreamTasks], m.Logger)
	p.tenantProjector = projector.New(m.projectJS, db, tenant.Stream, appliers[tenant.Stream], m.Logger)
	m.tenants.OnMiss(p.tenantProjector.CatchUp)
	return p
}

// newWorkers builds the dispatcher, which calls targets, and the
// deliverer, which delivers webhooks, on their own connection.
func (m *Main) newWorkers(p projections) {
	c := m.Config
	client := delivery.NewHTTPClient(m.guard, delivery.ClientOptions{})
	m.outbound = client
	pub := broker.NewPublisher(m.workerJS)
	cfg := broker.WorkerConfig{MaxInFlight: c.MaxInFlight, AckWait: c.AckWait,
		MaxPerTenant: c.TenantInFlight, MaxPerHost: c.HostInFlight, RunningAfter: c.RunningAfter,
		Telemetry: m.telemetry.broker(), Tenants: workStates(m.tenants),
		Paused:   func() bool { return m.probe.Err() != nil }, // cut off from the stream: leave the work to others
		Adaptive: broker.AdaptiveConfig{Off: !c.Adaptive},
		Limits: func(tenantID string) (int, int) {
			l := m.tenants.Limits(tenantID)
			return l.MaxInFlight, l.MaxPerHost
		}}
	caller := delivery.NewCaller(client, m.tenants, c.MaxResponseBody, nil)
	m.dispatcher = broker.NewDispatcher(m.workerJS, pub, p.view, p.taskProjector, caller, m.policy, m.Logger, cfg)
	cfg.MaxInFlight = c.MaxDeliveries
	notifier := delivery.NewNotifier(client, m.tenants, c.WebhookTimeout, nil)
	m.deliverer = broker.NewDeliverer(m.workerJS, pub, p.view, p.taskProjector, notifier, m.policy, m.Logger, cfg)
	m.janitor = broker.NewJanitor(m.workerJS, pub, p.view, m.Logger, broker.JanitorConfig{
		Interval: c.PruneInterval, AckWait: c.AckWait, Now: m.now, Telemetry: m.telemetry.broker(),
		Retention: func(tenantID string) time.Duration { return m.retention.Effective(m.tenants.Retention(tenantID)) },
	})
	firing := broker.NewTasks(pub, p.view, p.taskProjector, m.Logger, nil)
	firing.IdempotencyWindow, firing.Telemetry = c.IdemWindow, m.telemetry.broker()
	m.schedules = broker.NewScheduleFirer(m.workerJS, pub, firing, m.Logger, broker.ScheduleFirerConfig{
		AckWait: c.AckWait, Tenants: workStates(m.tenants),
		// The web server is built after the workers, and before they run.
		Admit: func(ctx context.Context, tenantID string) (broker.FiringDecision, error) {
			return m.webServer.AdmitFiring(ctx, tenantID)
		}})
}

// afterReady runs a worker once the task view has caught up with the
// stream, so that the worker can tell redelivered work from new work.
type afterReady struct {
	worker part
	ready  <-chan struct{}
}

func (a afterReady) Run(ctx context.Context) error {
	select {
	case <-a.ready:
		return a.worker.Run(ctx)
	case <-ctx.Done():
		return nil
	}
}

// Abort aborts the worker's work in flight, if it has a hard stop.
func (a afterReady) Abort() {
	if w, ok := a.worker.(aborter); ok {
		w.Abort()
	}
}

// newWeb builds the HTTP API and the dashboard; with --dev also the dev
// tenant and the dev tools, and it returns the dev tenant's credentials.
func (m *Main) newWeb(ctx context.Context, p projections) (devCreds tenant.Credentials, err error) {
	c := m.Config
	admin := tenant.NewService(m.js, m.tenants, p.tenantProjector, nil)
	tokenKey, err := tenant.LoadTokenKey(ctx, m.js, m.replicas, m.secretKeys)
	if err != nil {
		return devCreds, err
	}
	m.tokens = tenant.NewTokens(tokenKey, c.StatusTokenTTL, nil, tenant.WithSessionMaxAge(c.SessionMaxAge))
	var dev http.Handler
	var inbox web.Inbox
	if c.Dev {
		if devCreds, err = m.devTenant(ctx, admin); err != nil {
			return devCreds, err
		}
		secrets := func() ([]signing.Secret, error) { return m.tenants.SigningSecrets(devCreds.TenantID) }
		tools := devtools.New(secrets, time.Now)
		dev, inbox = tools, tools.Inbox()
	}
	createLimiter, err := m.createLimiter(ctx)
	if err != nil {
		return devCreds, err
	}
	tasks := broker.NewTasks(broker.NewPublisher(m.js), p.view, p.taskProjector, m.Logger, nil)
	tasks.IdempotencyWindow = c.IdemWindow
	tasks.Telemetry = m.telemetry.broker()
	tasks.Writable = m.probe.Err // cut off from the stream: refuse at once
	tasks.Retention = func(tenantID string) time.Duration { return m.retention.Effective(m.tenants.Retention(tenantID)) }
	m.webServer, err = web.New(web.Config{
		Tasks:           tasks,
		Schedules:       m.newSchedules(),
		Hub:             p.hub,
		Tenants:         m.tenants,
		TenantAdmin:     admin,
		AdminToken:      tenant.NewAdminToken(c.AdminToken),
		Tokens:          m.tokens,
		Retention:       c.TaskRetention,
		TenantRetention: m.retention,
		CreateLimiter:   createLimiter,
		CORSOrigins:     splitList(c.CORSOrigins),
		Heartbeat:       c.Heartbeat,
		CheckURL:        m.guard.CheckURL,
		Limits: web.Limits{MaxBody: c.MaxRequestBody, CreateRate: c.CreateRate, CreateBurst: c.CreateBurst,
			MaxStreams: c.MaxStreams, MaxStreamsPerTenant: c.MaxStreamsPerTenant, MaxStreamsPerTask: c.MaxStreamsPerTask,
			MaxTenantStreams: c.MaxTenantStreams},
		Ready:     m.ready,
		Registry:  m.telemetry.registry,
		OpenAPI:   docs.OpenAPI,
		DevTools:  dev,
		Inbox:     inbox,
		Logger:    m.Logger,
		PublicURL: m.publicURL,
		ServesTLS: m.tlsConfig != nil,

		Propagator:  m.telemetry.tracing.Propagator(),
		RateLimited: m.telemetry.metrics.RateLimited,

		DefaultMonthlyQuota: c.MonthlyQuota,

		Keys:         broker.NewKeys(broker.NewPublisher(m.js)),
		Destinations: m.dispatcher.LimitedDestinations,
	})
	return devCreds, err
}

// createLimiter keeps the tenants' create buckets where --rate-limit-scope
// says: in a key-value bucket every node shares, or (nil) in this process.
func (m *Main) createLimiter(ctx context.Context) (ratelimit.Limiter, error) {
	if m.Config.RateLimitScope != "cluster" {
		return nil, nil
	}
	return ratelimit.OpenShared(ctx, m.js, m.replicas, m.Logger)
}

// newRegistry returns the metrics registry with the Go runtime's and the
// process's metrics; the web server adds its own.
func newRegistry() *prometheus.Registry {
	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "boomerang_process_peak_rss_bytes", Help: "Peak resident set size of the process."},
			func() float64 {
				var ru syscall.Rusage
				_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
				return float64(ru.Maxrss) * 1024 // Linux reports KiB
			}))
	return registry
}

// listen opens the API's listener and, with --pprof-addr, the profiles',
// and starts their servers.
func (m *Main) listen() error {
	ln, err := net.Listen("tcp", m.Config.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	m.listener = ln
	api := &http.Server{
		Handler:           m.webServer.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(m.Logger.Handler(), slog.LevelWarn),
		TLSConfig:         m.tlsConfig,
	}
	// Event streams and long-polls end first, so that the requests in
	// flight can finish within the drain time.
	m.serving.start("http server", httpPart{srv: api, ln: ln, closing: m.webServer.Close, drain: 5 * time.Second})
	if m.Config.PprofAddr == "" {
		return nil
	}
	if ln, err = net.Listen("tcp", m.Config.PprofAddr); err != nil {
		return fmt.Errorf("--pprof-addr: %w", err)
	}
	m.serving.start("pprof server", httpPart{srv: newPprofServer(), ln: ln})
	return nil
}

// newPprofServer serves net/http/pprof, apart from the API, for profiling
// a running node.
func newPprofServer() *http.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	return &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
}

// newSchedules returns the schedule operations the API uses, with the
// cap on schedules per tenant.
func (m *Main) newSchedules() *broker.Schedules {
	s := broker.NewSchedules(broker.NewPublisher(m.js), m.Logger, nil)
	s.MaxPerTenant = m.Config.MaxSchedules
	return s
}
