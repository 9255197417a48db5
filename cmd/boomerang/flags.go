package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
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

	MaxStreams          int
	MaxStreamsPerTenant int
	MaxStreamsPerTask   int
	MaxTenantStreams    int
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
	if c := m.Config; c.Sync != "interval" && c.Sync != "always" {
		return fmt.Errorf("--sync must be interval or always")
	}
	var err error
	if m.guard, err = m.Config.outboundGuard(); err != nil {
		return err
	}
	m.policy, err = m.Config.retryPolicy()
	return err
}

// register defines the serve flags on fs, with their defaults.
func (c *ServeConfig) register(fs *flag.FlagSet) {
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
	fs.IntVar(&c.MaxStreams, "max-streams", web.DefaultMaxStreams, "long-polls and event streams open at once on this node (keep it well under the open-file limit); more answer 429")
	fs.IntVar(&c.MaxStreamsPerTenant, "max-streams-per-tenant", web.DefaultMaxStreamsPerTenant, "long-polls and event streams of one tenant open at once on this node")
	fs.IntVar(&c.MaxTenantStreams, "max-tenant-streams", web.DefaultMaxTenantStreams, "streams of all a tenant's events (/v1/events, the dashboard's live updates) one tenant may hold open at once on this node, within --max-streams-per-tenant")
	fs.IntVar(&c.MaxStreamsPerTask, "max-streams-per-task", web.DefaultMaxStreamsPerTask, "long-polls and event streams one task's status token may hold open at once on this node")
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
// takes its value from BOOMERANG_<NAME> (dashes as underscores) when set.
// It returns flag.ErrHelp after printing the help that -h asked for, and
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
			if serr := fs.Set(f.Name, v); serr != nil {
				err = fmt.Errorf("%s: %w", name, serr)
			}
		}
	})
	return err
}

func envName(flagName string) string {
	return "BOOMERANG_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}
