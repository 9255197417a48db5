package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/delivery"
	"github.com/boomerang-dev/boomerang/internal/groupcommit"
	"github.com/boomerang-dev/boomerang/internal/natsembed"
	"github.com/boomerang-dev/boomerang/internal/projector"
	"github.com/boomerang-dev/boomerang/internal/secretbox"
	"github.com/boomerang-dev/boomerang/internal/viewfile"
	"github.com/boomerang-dev/boomerang/tenant"
	"github.com/boomerang-dev/boomerang/web"
)

// Main is a running node: `serve` builds one from flags, and end-to-end
// tests run the same thing with MustRunMain. Its parts (the HTTP servers,
// the projectors, the dispatcher and the deliverer) run as workers of one
// group, in three stages that Close stops in order.
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
	// commit makes the embedded store's writes durable in shared rounds
	// (--sync always); nil otherwise.
	commit *groupcommit.Committer

	proj       projections
	listener   net.Listener
	webServer  *web.Server
	tokens     *tenant.Tokens
	dispatcher *broker.Dispatcher
	deliverer  *broker.Deliverer
	outbound   *http.Client // the workers' client for targets and webhooks
	tenants    *tenant.Store

	parts      *group
	serving    *stage // the HTTP servers: stopped first
	working    *stage // the dispatcher and the deliverer: softly, then hard
	projecting *stage // the projectors: once the workers' publishes are flushed

	closeOnce sync.Once
	closeErr  error

	guard  delivery.Guard       // from the flags, checked by ParseFlags
	policy delivery.RetryPolicy // from the flags, checked by ParseFlags

	tlsConfig *tls.Config // --tls-cert and --tls-key, loaded by ParseFlags; nil: plain HTTP
	publicURL *url.URL    // --public-url, checked by ParseFlags; nil: none

	secretKeys *secretbox.Keyring // --secret-key, or the data dir's key (secrets.go)
	natsAuth   []nats.Option      // how --nats-url connects: credentials (secrets.go), TLS (topology.go)
	cluster    *natsembed.Cluster // the embedded cluster (topology.go); nil: none
	replicas   int                // the streams' replicas: --replicas, or its default for the topology

	probe *jsProbe // whether JetStream can serve, probed in a cluster (jsprobe.go)

	telemetry *telemetry // metrics and traces (telemetry.go)

	retention tenant.RetentionBounds // --retention and its bounds, checked by ParseFlags
	janitor   *broker.Janitor
	schedules *broker.ScheduleFirer // turns schedules' firings into tasks
	now       func() time.Time      // the janitor's clock; nil: time.Now (tests move it)

	// wrapApplier, when set (by tests), wraps each stream's applier: a
	// way to inject faults into the real view.
	wrapApplier func(stream string, a projector.Applier) projector.Applier
}

// NewMain returns a Main with the default configuration.
func NewMain() *Main {
	return &Main{Stdout: os.Stdout}
}

// Run starts the node and returns once it serves HTTP; its parts run until
// Close. ctx bounds the start only. On an error Run has closed what it
// started.
func (m *Main) Run(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			_ = m.Close()
		}
	}()
	m.parts = newGroup(m.Logger)
	// Made before the connections, whose handlers tell it of reconnections;
	// it runs only in a cluster.
	m.probe = newJSProbe([]string{broker.StreamTasks, broker.StreamSchedules, tenant.Stream}, m.Logger)
	m.serving, m.working, m.projecting = m.parts.stage(), m.parts.stage(), m.parts.stage()
	setup, cancel := context.WithTimeout(ctx, m.Config.StartTimeout)
	defer cancel()
	if err := m.openStore(setup); err != nil {
		return err
	}
	if err := m.sealSecrets(setup); err != nil {
		return err
	}
	if err := m.newTelemetry(setup); err != nil {
		return err
	}
	m.proj = m.newProjections()
	m.projecting.start("task projector", m.proj.taskProjector)
	m.projecting.start("tenant projector", m.proj.tenantProjector)
	select {
	case <-m.proj.tenantProjector.Ready():
	case <-m.parts.Died():
		return m.parts.failure()
	case <-setup.Done():
		return errors.New("tenant view did not catch up in time")
	}
	m.newWorkers(m.proj)
	m.registerState(m.proj)
	ready := m.proj.taskProjector.Ready()
	m.working.start("dispatcher", afterReady{worker: m.dispatcher, ready: ready})
	m.working.start("deliverer", afterReady{worker: m.deliverer, ready: ready})
	m.working.start("janitor", afterReady{worker: m.janitor, ready: ready})
	devCreds, err := m.newWeb(setup, m.proj)
	if err != nil {
		return err
	}
	// The schedule firer asks the web server's limits (Admit): it starts
	// once the server is built.
	m.working.start("schedules", afterReady{worker: m.schedules, ready: ready})
	if m.clustered() {
		m.probe.js = m.js
		m.serving.start("JetStream probe", m.probe)
	}
	if err := m.listen(); err != nil {
		return err
	}
	m.Logger.Info("boomerang serving", "addr", m.listener.Addr().String(), "data_dir", m.Config.DataDir, "embedded_nats", m.embedded != nil,
		"tls", m.tlsConfig != nil)
	if m.Config.Dev {
		link, _, err := m.tokens.IssueSignInLink(devCreds.TenantID)
		if err != nil {
			return err
		}
		m.printDevBanner(devCreds, link)
	}
	return nil
}

// Died is closed when a part of the running node has stopped on its own:
// the node is then unready and should be closed (Close returns why).
func (m *Main) Died() <-chan struct{} { return m.parts.Died() }

// ready reports whether this node can serve: every part running, every
// NATS connection up, the task stream taking writes from here (a partition
// keeps the connection up: see jsProbe) and both views caught up with
// their streams and able to apply them.
func (m *Main) ready() error {
	if m.parts.failure() != nil {
		return errors.New("a part of this node has stopped")
	}
	if m.commit != nil && m.commit.Err() != nil {
		return errors.New("writes cannot be made durable (see the log)")
	}
	for _, p := range []*projector.Projector{m.proj.taskProjector, m.proj.tenantProjector} {
		if p.Err() != nil {
			return errors.New("the view cannot apply the stream (see the log); retrying")
		}
	}
	for _, nc := range m.conns {
		if !nc.IsConnected() {
			return errors.New("not connected to NATS")
		}
	}
	if err := m.probe.Err(); err != nil {
		return err
	}
	for _, caughtUp := range []<-chan struct{}{m.proj.taskProjector.Ready(), m.proj.tenantProjector.Ready()} {
		select {
		case <-caughtUp:
		default:
			return errors.New("the view is still catching up with the stream")
		}
	}
	return nil
}

// Close stops the node gracefully, in this order: the HTTP servers (event
// streams and long-polls end first), the workers (attempts in flight may
// finish within --shutdown-grace, then are abandoned to redelivery; their
// idle outbound connections close), the workers' and the API's async
// publishes are flushed, then the projectors
// stop, and the NATS connections, the embedded server and the view file
// close. It returns why a part died, if one did; later calls return the
// same.
func (m *Main) Close() error {
	m.closeOnce.Do(func() {
		if m.parts != nil {
			m.closeErr = m.stopParts()
		}
		m.closeErr = errors.Join(m.closeErr, m.telemetry.shutdown())
		for _, nc := range m.conns {
			nc.Close()
		}
		if m.embedded != nil {
			m.embedded.Shutdown()
		}
		if m.commit != nil {
			m.closeErr = errors.Join(m.closeErr, m.commit.Close())
		}
		if m.viewFile != nil {
			m.closeErr = errors.Join(m.closeErr, m.viewFile.Close())
		}
	})
	return m.closeErr
}

// stopParts stops the stages in order and returns the first error a part
// returned.
func (m *Main) stopParts() error {
	m.serving.stop()
	m.working.stopWithin(m.Config.ShutdownGrace)
	if m.outbound != nil {
		m.outbound.CloseIdleConnections() // their goroutines end with them
	}
	for _, js := range []jetstream.JetStream{m.js, m.workerJS} {
		if js != nil {
			select {
			case <-js.PublishAsyncComplete():
			case <-time.After(5 * time.Second):
			}
		}
	}
	m.projecting.stop()
	return m.parts.wait()
}

// URL is the node's base URL, for tests.
func (m *Main) URL() string {
	scheme := "http://"
	if m.tlsConfig != nil {
		scheme = "https://"
	}
	return scheme + hostPort(m.listener.Addr().String())
}

// publicBase is the base URL of the links the node prints: the public URL
// when there is one.
func (m *Main) publicBase() string {
	if m.publicURL != nil {
		return m.publicURL.String()
	}
	return m.URL()
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

// httpPart serves srv on ln until ctx ends. It then calls closing, if set,
// and lets the requests in flight finish within drain before it closes
// the connections.
type httpPart struct {
	srv     *http.Server
	ln      net.Listener
	closing func()
	drain   time.Duration
}

func (p httpPart) Run(ctx context.Context) error {
	served := make(chan error, 1)
	go func() {
		if p.srv.TLSConfig != nil {
			served <- p.srv.ServeTLS(p.ln, "", "") // the certificate is in TLSConfig
			return
		}
		served <- p.srv.Serve(p.ln)
	}()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	if p.closing != nil {
		p.closing()
	}
	shutdown, cancel := context.WithTimeout(context.Background(), p.drain)
	defer cancel()
	if err := p.srv.Shutdown(shutdown); err != nil {
		_ = p.srv.Close()
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
