package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/delivery"
	"github.com/boomerang-dev/boomerang/tenant"
	"github.com/boomerang-dev/boomerang/web"
)

// ServeConfig is everything `boomerang serve` can be told.
type ServeConfig struct {
	Addr          string
	DataDir       string
	NatsURL       string
	NatsPort      int
	NatsHost      string
	NatsUser      string
	NatsPassword  string
	NatsNkey      string
	NatsCreds     string
	NatsTLSCA     string
	NatsTLSCert   string
	NatsTLSKey    string
	SecretKey     string
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
	Retention     time.Duration
	PruneInterval time.Duration
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
	RateLimitScope  string
	TenantInFlight  int
	HostInFlight    int
	Adaptive        bool
	MonthlyQuota    int64

	TLSCert       string
	TLSKey        string
	PublicURL     string
	SessionMaxAge time.Duration

	MaxStreams          int
	MaxStreamsPerTenant int
	MaxSchedules        int
	MaxStreamsPerTask   int
	MaxTenantStreams    int

	MetricsTenants    string
	ConfigFile        string // --config: a YAML file of these flags (configfile.go)
	NatsServerName    string
	NatsClusterName   string
	NatsClusterListen string
	NatsRoutes        string
	NatsClusterSecret string
	StartTimeout      time.Duration
}

// ParseFlags reads the configuration from args and the environment
// (BOOMERANG_<FLAG> for every flag not on the command line). Everything that
// can be wrong in the configuration is found here, before Run starts NATS
// and opens the view.
func (m *Main) ParseFlags(args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	m.Config.register(fs)
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if c := m.Config; c.Sync != "always" && c.Sync != "server" && c.Sync != "interval" {
		return fmt.Errorf("--sync must be always, server or interval")
	}
	if err := m.checkSecretFlags(); err != nil {
		return err
	}
	if err := m.checkTopology(); err != nil {
		return err
	}
	if m.Config.StartTimeout <= 0 {
		return fmt.Errorf("--start-timeout must be positive")
	}
	var err error
	if m.guard, err = m.Config.outboundGuard(); err != nil {
		return err
	}
	if m.policy, err = m.Config.retryPolicy(); err != nil {
		return err
	}
	if s := m.Config.RateLimitScope; s != "cluster" && s != "node" {
		return fmt.Errorf("--rate-limit-scope must be cluster or node")
	}
	if m.Config.SessionMaxAge < time.Minute {
		return fmt.Errorf("--session-max-age must be at least 1m")
	}
	if m.retention, err = m.Config.retentionBounds(m.policy); err != nil {
		return err
	}
	m.tlsConfig, m.publicURL, err = m.Config.https()
	return err
}

// register defines the serve flags on fs, with their defaults.
func (c *ServeConfig) register(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "addr", ":8080", "HTTP listen address")
	fs.StringVar(&c.DataDir, "data-dir", "./data", "directory for the embedded JetStream store and the view (view.db)")
	fs.StringVar(&c.NatsURL, "nats-url", "", "NATS servers to use instead of the embedded one (comma-separated)")
	fs.IntVar(&c.NatsPort, "nats-port", 0, "client port of the embedded nats-server (0: none); it admits only the --nats-nkey user (default: the seed in <data-dir>/nats-client.nk, made on first start) or --nats-user, and gives them everything the node stores")
	fs.StringVar(&c.NatsHost, "nats-host", "127.0.0.1", "interface of --nats-port; another one exposes the whole store to the network, guarded only by the port's credentials (and sends a --nats-password in clear)")
	fs.StringVar(&c.NatsUser, "nats-user", "", "NATS user (with --nats-password): the one --nats-url connects as, or one --nats-port admits, in place of the made nkey user")
	fs.StringVar(&c.NatsPassword, "nats-password", "", "password of --nats-user (prefer BOOMERANG_NATS_PASSWORD: a command line is visible to other users)")
	fs.StringVar(&c.NatsNkey, "nats-nkey", "", "file with a NATS user's nkey seed: the one --nats-url connects as, or the one --nats-port admits")
	fs.StringVar(&c.NatsCreds, "nats-creds", "", "NATS credentials file (JWT and seed) --nats-url connects with")
	fs.StringVar(&c.SecretKey, "secret-key", "", "keys sealing the signing secrets and the token key in the stream: base64 of 32 bytes, comma-separated, the sealing one first (NEW,OLD to rotate); the same on every node; empty: the key in <data-dir>/secret-key, made on first start (prefer BOOMERANG_SECRET_KEY: a command line is visible to other users)")
	fs.StringVar(&c.NatsTLSCA, "nats-tls-ca", "", "PEM file of the CAs that NATS servers' certificates chain to: those of --nats-url, or the other nodes' of an embedded cluster (its routes)")
	fs.StringVar(&c.NatsTLSCert, "nats-tls-cert", "", "PEM certificate file this node presents to the NATS servers of --nats-url, or to the other nodes of an embedded cluster (routes then use TLS, verified both ways); needs --nats-tls-key")
	fs.StringVar(&c.NatsTLSKey, "nats-tls-key", "", "the PEM private key of --nats-tls-cert")
	fs.StringVar(&c.NatsServerName, "nats-server-name", "", "name of this node's embedded NATS server in its cluster, unique in it (n1, n2, ...); needed with --nats-cluster-listen")
	fs.StringVar(&c.NatsClusterName, "nats-cluster-name", "boomerang", "name of the embedded cluster, the same on every node")
	fs.StringVar(&c.NatsClusterListen, "nats-cluster-listen", "", "host:port where the embedded NATS server listens for the other nodes' routes: with it the node's server joins those of --nats-routes as one JetStream cluster")
	fs.StringVar(&c.NatsRoutes, "nats-routes", "", "cluster addresses of the other nodes' embedded servers (nats://host:port, comma-separated; this node's own may be listed too)")
	fs.StringVar(&c.NatsClusterSecret, "nats-cluster-secret", "", "secret the embedded cluster's routes authenticate with, the same on every node; needed unless --nats-cluster-listen is on loopback (prefer BOOMERANG_NATS_CLUSTER_SECRET: a command line is visible to other users)")
	fs.DurationVar(&c.StartTimeout, "start-timeout", 2*time.Minute, "how long the start may wait for NATS (a cluster's leaders and peers) and for the views to catch up before it gives up")
	fs.IntVar(&c.Replicas, "replicas", 0, "JetStream replicas of the streams, 1 to 5 (0: 3 in a cluster, an embedded one or a NATS server that reports one, else 1)")
	fs.BoolVar(&c.Dev, "dev", false, "development mode: create a dev tenant, allow private-network URLs, mount /dev/echo and /dev/inbox")
	fs.StringVar(&c.AdminToken, "admin-token", "", "token for the admin API (/admin/v1); empty disables it")
	fs.BoolVar(&c.AllowPrivate, "allow-private-networks", false, "allow targets and webhooks on loopback, private and link-local networks")
	fs.StringVar(&c.AllowCIDRs, "allow-cidr", "", "internal networks outbound calls may reach anyway (comma-separated CIDRs)")
	fs.StringVar(&c.Sync, "sync", "always", "durability of the embedded server's writes: always (a 202, and every outcome recorded, is on disk first, one fsync shared by all that wait: survives a power loss; with --nats-port, as server), server (the same, the server fsyncing each message on its own: slower) or interval (the server's periodic fsync: survives a process crash only)")
	fs.StringVar(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", "text", "text or json")
	fs.IntVar(&c.MaxInFlight, "max-in-flight", 1000, "attempts running at once on this node")
	fs.IntVar(&c.MaxDeliveries, "max-deliveries-in-flight", 1000, "webhook deliveries running at once on this node")
	fs.DurationVar(&c.ShutdownGrace, "shutdown-grace", 25*time.Second, "how long attempts in flight may finish at shutdown")
	fs.DurationVar(&c.TaskRetention, "task-retention", 90*24*time.Hour, "how long task events stay in the stream (0: forever)")
	fs.DurationVar(&c.Retention, "retention", 30*24*time.Hour, "how long a tenant's finished tasks stay in the view unless it chose otherwise (whole days, less than --task-retention allows)")
	fs.DurationVar(&c.PruneInterval, "prune-interval", broker.DefaultPruneInterval, "how often finished tasks past their tenant's retention leave the view (on one node of all)")
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
	fs.Float64Var(&c.CreateRate, "create-rate", web.DefaultCreateRate, "task creates per second per tenant (overridable per tenant), across the cluster or per node: see --rate-limit-scope")
	fs.IntVar(&c.CreateBurst, "create-burst", web.DefaultCreateBurst, "task creates a tenant may make at once above --create-rate")
	fs.StringVar(&c.RateLimitScope, "rate-limit-scope", "cluster", "where --create-rate and --create-burst hold: cluster (for the sum of every node's creates, through a JetStream key-value bucket) or node (on each node by itself)")
	fs.Int64Var(&c.MonthlyQuota, "monthly-task-quota", 0, "tasks a tenant may create per UTC month unless the admin API sets its own quota (0: unlimited)")
	fs.IntVar(&c.TenantInFlight, "max-in-flight-per-tenant", 500, "attempts (and deliveries) of one tenant running at once on this node")
	fs.IntVar(&c.HostInFlight, "max-in-flight-per-host", 200, "attempts (and deliveries) of one tenant to one host (and port) running at once on this node")
	fs.BoolVar(&c.Adaptive, "adaptive-concurrency", true, "lower a tenant's attempts to a host at once (from --max-in-flight-per-host) when it answers 429 or 503, refuses connections or slows down, raise them as it recovers, and pause it for its Retry-After; false: the static caps only")
	fs.DurationVar(&c.RunningAfter, "running-after", 100*time.Millisecond, "show an attempt as running once it has run this long (0: always); quicker ones go straight to their outcome")
	fs.StringVar(&c.PprofAddr, "pprof-addr", "", "serve Go's pprof profiles on this address (e.g. 127.0.0.1:6060); empty: off")
	fs.DurationVar(&c.IdemWindow, "idempotency-window", broker.DefaultIdempotencyWindow, "how long an Idempotency-Key returns the task (or schedule) it created")
	fs.DurationVar(&c.Heartbeat, "sse-heartbeat", web.DefaultHeartbeat, "how often an idle event stream sends a heartbeat (an SSE comment, a WebSocket ping)")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "serve HTTPS with this PEM certificate (chain) file; needs --tls-key")
	fs.StringVar(&c.TLSKey, "tls-key", "", "the PEM private key of --tls-cert")
	fs.StringVar(&c.PublicURL, "public-url", "", "the URL users reach this node at, e.g. https://boomerang.example.com behind a TLS proxy: https makes session cookies Secure and turns HSTS on; printed links use it")
	fs.DurationVar(&c.SessionMaxAge, "session-max-age", tenant.DefaultSessionMaxAge, "how long a dashboard session lasts after sign-in, however active")
	fs.IntVar(&c.MaxStreams, "max-streams", web.DefaultMaxStreams, "long-polls and event streams open at once on this node (keep it well under the open-file limit); more answer 429")
	fs.IntVar(&c.MaxSchedules, "max-schedules", broker.DefaultMaxSchedules, "schedules one tenant may keep (0: no cap)")
	fs.IntVar(&c.MaxStreamsPerTenant, "max-streams-per-tenant", web.DefaultMaxStreamsPerTenant, "long-polls and event streams of one tenant open at once on this node")
	fs.IntVar(&c.MaxTenantStreams, "max-tenant-streams", web.DefaultMaxTenantStreams, "streams of all a tenant's events (/v1/events, the dashboard's live updates) one tenant may hold open at once on this node, within --max-streams-per-tenant")
	fs.StringVar(&c.MetricsTenants, "metrics-tenants", "", "tenant ids whose metrics get a tenant label of their own (comma-separated); every other tenant counts under tenant=\"other\"")
	fs.StringVar(&c.ConfigFile, configFlag, "", "YAML file setting any of these flags by name (see docs/boomerang.example.yaml); the command line and BOOMERANG_* variables win over it")
	fs.IntVar(&c.MaxStreamsPerTask, "max-streams-per-task", web.DefaultMaxStreamsPerTask, "long-polls and event streams one task's status token may hold open at once on this node")
}

// https returns the TLS configuration of --tls-cert and --tls-key (nil
// without them) and the --public-url (nil without it), refusing a
// half-configured or unreadable pair and a URL that is not a base URL.
func (c *ServeConfig) https() (*tls.Config, *url.URL, error) {
	var cfg *tls.Config
	switch {
	case (c.TLSCert == "") != (c.TLSKey == ""):
		return nil, nil, errors.New("--tls-cert and --tls-key go together: give both or neither")
	case c.TLSCert != "":
		pair, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
		if err != nil {
			return nil, nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		cfg = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}}
	}
	if c.PublicURL == "" {
		return cfg, nil, nil
	}
	u, err := url.Parse(c.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return nil, nil, fmt.Errorf("--public-url %q: want an http or https URL with a host and nothing after it, like https://boomerang.example.com", c.PublicURL)
	}
	if cfg != nil && u.Scheme != "https" {
		return nil, nil, fmt.Errorf("--public-url %q: the node serves HTTPS (--tls-cert), so its public URL is https", c.PublicURL)
	}
	u.Path = ""
	return cfg, u, nil
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

// errUsage is returned after a flag error has been printed.
var errUsage = errors.New("usage")

// parseFlags parses args into fs; every flag not given on the command line
// takes its value from BOOMERANG_<NAME> (dashes as underscores) when set,
// and then, where fs has --config, from the config file it names. It
// returns flag.ErrHelp after printing the help that -h asked for, and
// errUsage after printing a flag error.
func parseFlags(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return flag.ErrHelp
		}
		return errUsage
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || err != nil {
			return
		}
		name := envName(f.Name)
		if v := getenv(name); v != "" {
			given[f.Name] = true
			if serr := fs.Set(f.Name, v); serr != nil {
				err = fmt.Errorf("%s: %w", name, serr)
			}
		}
	})
	if err != nil {
		return err
	}
	return applyConfigFile(fs, given)
}

func envName(flagName string) string {
	return "BOOMERANG_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}
