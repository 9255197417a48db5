// Package bench is the load generator behind `boomerang bench`: it creates
// tasks against a server (or against a bare relay, for a baseline), serves
// the target and the webhook receiver itself on loopback, verifies every
// webhook, and reports throughput and latencies.
package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/boomerang-dev/boomerang/signing"
)

// Config says what load to make.
type Config struct {
	// Server is the Boomerang base URL, or several separated by commas
	// (nodes of one cluster): creates go to each in turn, and the report
	// sums their CPU and memory. With AdminToken the bench creates a
	// tenant (on the first); otherwise APIKey and SigningSecret name an
	// existing one.
	Server        string
	AdminToken    string
	APIKey        string
	SigningSecret string

	Tasks       int           // how many tasks
	Concurrency int           // closed loop: creates in flight
	Rate        float64       // open loop: creates per second (overrides Concurrency)
	PayloadSize int           // bytes of payload per task
	TargetDelay time.Duration // the target answers after this
	FailRate    float64       // fraction of calls the target fails (permanently)
	Webhook     bool          // three hops: ask for a webhook
	// Delay makes every task wait this long before its first attempt; the
	// run then ends when all are created (for loading a server with
	// waiting tasks).
	Delay   time.Duration
	Timeout time.Duration // give up waiting after this

	// Baseline runs the same load against a bare relay in this process
	// instead of Server: no queue, no persistence.
	Baseline bool

	// Progress, when set, gets a progress bar.
	Progress io.Writer
}

// Report is what a run measured.
type Report struct {
	Mode            string    `json:"mode"`
	Sync            string    `json:"sync,omitempty"` // the spawned server's --sync
	Tasks           int       `json:"tasks"`
	Nodes           int       `json:"nodes,omitempty"` // the nodes the creates went to
	Concurrency     int       `json:"concurrency,omitempty"`
	Rate            float64   `json:"rate,omitempty"`
	PayloadSize     int       `json:"payloadSize"`
	Webhook         bool      `json:"webhook"`
	DelaySeconds    float64   `json:"delaySeconds,omitempty"`
	TargetDelayMs   float64   `json:"targetDelayMs,omitempty"`
	FailRate        float64   `json:"failRate,omitempty"`
	Seconds         float64   `json:"seconds"`
	CreatesPerSec   float64   `json:"createsPerSec"`
	CompletedPerSec float64   `json:"completedPerSec"`
	Create          Quantiles `json:"create"`
	CreateToTarget  Quantiles `json:"createToTarget"`
	TargetToWebhook Quantiles `json:"targetToWebhook,omitempty"`
	CreateToWebhook Quantiles `json:"createToWebhook,omitempty"`
	Completed       int       `json:"completed"`
	Missing         int       `json:"missing"`
	DuplicateHooks  int       `json:"duplicateWebhooks"`
	RepeatedCalls   int       `json:"repeatedTargetCalls"`
	Errors          int       `json:"errors"`
	BadSignatures   int       `json:"badSignatures"`
	ServerCPU       float64   `json:"serverCpuSeconds,omitempty"`
	ServerPeakRSSMB float64   `json:"serverPeakRssMb,omitempty"`
	// Fsync is the disk's synced-write speed, measured just before the run.
	Fsync *Fsync `json:"fsync,omitempty"`
}

// Comparison is a run against Boomerang next to the same load against the
// bare relay, measured one after the other on the same machine.
type Comparison struct {
	Baseline           Report  `json:"baseline"`
	Boomerang          Report  `json:"boomerang"`
	FractionOfBaseline float64 `json:"fractionOfBaseline"` // completed/s over the baseline's
}

// Compare puts a Boomerang run next to its baseline.
func Compare(baseline, boomerang Report) Comparison {
	c := Comparison{Baseline: baseline, Boomerang: boomerang}
	if baseline.CompletedPerSec > 0 {
		c.FractionOfBaseline = boomerang.CompletedPerSec / baseline.CompletedPerSec
	}
	return c
}

// Run makes the load and measures it.
func Run(ctx context.Context, cfg Config) (Report, error) {
	if cfg.Tasks <= 0 {
		return Report{}, errors.New("bench: tasks must be positive")
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 32
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Minute
	}
	l := newLedger(cfg.Tasks, cfg.Webhook)
	hc := &http.Client{Transport: &http.Transport{MaxIdleConns: 4096, MaxIdleConnsPerHost: 4096, IdleConnTimeout: time.Minute}}
	srv, err := openServer(ctx, hc, cfg)
	if err != nil {
		return Report{}, err
	}
	defer srv.stop()
	tgt, err := startTarget(l, cfg.TargetDelay, cfg.FailRate)
	if err != nil {
		return Report{}, err
	}
	defer tgt.Close()
	rcv, err := startReceiver(l, srv.secret)
	if err != nil {
		return Report{}, err
	}
	defer rcv.Close()
	payload := taskBody(cfg, tgt.url, rcv.url)

	metrics := metricsURLs(srv.bases, cfg.Baseline)
	cpuBefore := sumScraped(hc, metrics, "process_cpu_seconds_total")
	start := time.Now()
	stopProgress := progress(cfg.Progress, l, cfg.Tasks, start)
	var next atomic.Uint64
	failed := load(ctx, cfg, l, func() (string, error) {
		base := srv.bases[int((next.Add(1)-1)%uint64(len(srv.bases)))]
		return postTask(ctx, hc, base, srv.key, payload)
	})
	createdAt := time.Now()
	awaitTasks(ctx, cfg, l)
	end := time.Now()
	stopProgress()

	rep := newReport(cfg, failed)
	rep.Nodes = len(srv.bases)
	if len(metrics) > 0 {
		serverUsage(&rep, hc, metrics, cpuBefore)
	}
	summarize(&rep, l, start, createdAt, end)
	return rep, nil
}

// server is what a run loads: the nodes' base URLs, a tenant's key and
// its signing secret, and stop to end what openServer started.
type server struct {
	bases  []string
	key    string
	secret signing.Secret
	stop   func()
}

// openServer returns the server to load: a bare relay started here for a
// baseline, a tenant created with the admin token, or the tenant given.
func openServer(ctx context.Context, hc *http.Client, cfg Config) (server, error) {
	srv := server{key: cfg.APIKey, stop: func() {}}
	for _, base := range strings.Split(cfg.Server, ",") {
		if base = strings.TrimSpace(base); base != "" {
			srv.bases = append(srv.bases, strings.TrimSuffix(base, "/"))
		}
	}
	if len(srv.bases) == 0 && !cfg.Baseline {
		return srv, errors.New("bench: no server to load")
	}
	secretText := cfg.SigningSecret
	if cfg.Baseline {
		secret := make(signing.Secret, 32)
		_, _ = rand.Read(secret)
		url, stop, err := startRelay(hc, secret)
		if err != nil {
			return srv, err
		}
		srv.bases, srv.key, secretText, srv.stop = []string{url}, "baseline", secret.String(), stop
	} else if cfg.AdminToken != "" {
		var err error
		if srv.key, secretText, err = createTenant(ctx, hc, srv.bases[0], cfg.AdminToken); err != nil {
			return srv, err
		}
	}
	secret, err := signing.ParseSecret(secretText)
	if err != nil {
		srv.stop()
		return srv, fmt.Errorf("bench: signing secret: %w", err)
	}
	srv.secret = secret
	return srv, nil
}

// taskBody is the JSON of every task the run creates.
func taskBody(cfg Config, targetURL, receiverURL string) []byte {
	body := map[string]any{"targetUrl": targetURL, "payload": map[string]string{"data": strings.Repeat("x", max(0, cfg.PayloadSize-12))},
		"timeout": max(30, 2*cfg.TargetDelay.Seconds()), "retries": 0}
	if cfg.Webhook {
		body["webhookUrl"] = receiverURL
	}
	if cfg.Delay > 0 {
		body["delay"] = cfg.Delay.Seconds()
	}
	payload, _ := json.Marshal(body)
	return payload
}

// load creates cfg.Tasks tasks with post, in a closed or an open loop,
// records each in l, and returns how many creates failed.
func load(ctx context.Context, cfg Config, l *ledger, post func() (string, error)) int {
	var failed atomic.Int64
	create := func() {
		t0 := time.Now()
		id, err := post()
		t1 := time.Now()
		if err != nil {
			failed.Add(1)
			l.mu.Lock()
			l.settle() // nothing will arrive for it
			l.mu.Unlock()
			return
		}
		l.mu.Lock()
		r := l.get(id)
		r.createStart, r.createEnd = t0, t1
		l.created++
		l.mu.Unlock()
	}
	if cfg.Rate > 0 {
		openLoop(ctx, cfg.Tasks, cfg.Rate, create)
	} else {
		closedLoop(cfg.Tasks, cfg.Concurrency, create)
	}
	return int(failed.Load())
}

// awaitTasks waits until every task has arrived where the run measures it
// (with cfg.Delay, being created is enough), cfg.Timeout passes or ctx
// ends.
func awaitTasks(ctx context.Context, cfg Config, l *ledger) {
	if cfg.Delay > 0 {
		l.mu.Lock()
		for range cfg.Tasks - l.settled {
			l.settle() // waiting tasks: created is all this run waits for
		}
		l.mu.Unlock()
	}
	select {
	case <-l.done:
	case <-time.After(cfg.Timeout):
	case <-ctx.Done():
	}
}

// newReport is the report of a run of cfg before its measurements.
func newReport(cfg Config, failed int) Report {
	rep := Report{Mode: "boomerang", Tasks: cfg.Tasks, PayloadSize: cfg.PayloadSize, Webhook: cfg.Webhook,
		TargetDelayMs: ms(cfg.TargetDelay), FailRate: cfg.FailRate, Errors: failed, DelaySeconds: cfg.Delay.Seconds()}
	if cfg.Baseline {
		rep.Mode = "baseline"
	}
	if cfg.Rate > 0 {
		rep.Rate = cfg.Rate
	} else {
		rep.Concurrency = cfg.Concurrency
	}
	return rep
}

// serverUsage adds the CPU time the nodes used since cpuBefore and their
// peak memory, summed, to rep.
func serverUsage(rep *Report, hc *http.Client, metrics []string, cpuBefore float64) {
	rep.ServerCPU = sumScraped(hc, metrics, "process_cpu_seconds_total") - cpuBefore
	// Each node reports its high-water mark, so one read at the end is
	// enough and the run is not disturbed by scraping.
	rep.ServerPeakRSSMB = sumScraped(hc, metrics, "boomerang_process_peak_rss_bytes") / (1 << 20)
}

// sumScraped is the sum of one metric over the pages that have it.
func sumScraped(hc *http.Client, urls []string, name string) float64 {
	var sum float64
	for _, url := range urls {
		if v, err := scrape(hc, url, name); err == nil {
			sum += v
		}
	}
	return sum
}

func summarize(rep *Report, l *ledger, start, createdAt, end time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var create, toTarget, toHook, createToHook []time.Duration
	last := start
	for _, r := range l.tasks {
		if r.createStart.IsZero() {
			continue
		}
		create = append(create, r.createEnd.Sub(r.createStart))
		if !r.targetFirst.IsZero() {
			toTarget = append(toTarget, r.targetFirst.Sub(r.createStart))
		}
		if r.targetCalls > 1 {
			rep.RepeatedCalls += r.targetCalls - 1
		}
		done := r.targetDone
		if rep.Webhook {
			done = r.webhookFirst
			if !r.webhookFirst.IsZero() {
				toHook = append(toHook, r.webhookFirst.Sub(r.targetDone))
				createToHook = append(createToHook, r.webhookFirst.Sub(r.createStart))
			}
			if r.webhooks > 1 {
				rep.DuplicateHooks += r.webhooks - 1
			}
		}
		if done.IsZero() {
			rep.Missing++
			continue
		}
		rep.Completed++
		if done.After(last) {
			last = done
		}
	}
	rep.BadSignatures = l.bad
	rep.Seconds = last.Sub(start).Seconds()
	rep.CreatesPerSec = float64(len(create)) / createdAt.Sub(start).Seconds()
	if rep.Seconds > 0 {
		rep.CompletedPerSec = float64(rep.Completed) / rep.Seconds
	}
	rep.Create, rep.CreateToTarget = quantiles(create), quantiles(toTarget)
	if rep.Webhook {
		rep.TargetToWebhook, rep.CreateToWebhook = quantiles(toHook), quantiles(createToHook)
	}
}

func closedLoop(n, concurrency int, create func()) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				create()
			}
		}()
	}
	wg.Wait()
}

// openLoop starts creates at a fixed rate, whether or not earlier ones have
// answered, as real clients do.
func openLoop(ctx context.Context, n int, rate float64, create func()) {
	interval := time.Duration(float64(time.Second) / rate)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return
			}
		}
		wg.Add(1)
		go func() { defer wg.Done(); create() }()
	}
	wg.Wait()
}

func postTask(ctx context.Context, hc *http.Client, base, key string, payload []byte) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/tasks", bytes.NewReader(payload))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var task struct {
		ID string `json:"id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&task); err != nil || resp.StatusCode != http.StatusAccepted {
		return "", fmt.Errorf("create: %d", resp.StatusCode)
	}
	return task.ID, nil
}

func createTenant(ctx context.Context, hc *http.Client, base, adminToken string) (string, string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/admin/v1/tenants", strings.NewReader(`{"name":"bench"}`))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return "", "", fmt.Errorf("bench: create tenant: %w", err)
	}
	defer resp.Body.Close()
	var creds struct{ TenantID, APIKey, SigningSecret string }
	if err := json.NewDecoder(resp.Body).Decode(&creds); err != nil || resp.StatusCode != http.StatusCreated {
		return "", "", fmt.Errorf("bench: create tenant: status %d", resp.StatusCode)
	}
	// The bench measures the server, not its per-tenant limits: lift them
	// for the bench tenant.
	limits := `{"createRate": 1000000, "createBurst": 1000000, "maxInFlight": 1000000, "maxPerHost": 1000000}`
	req, _ = http.NewRequestWithContext(ctx, http.MethodPut, base+"/admin/v1/tenants/"+creds.TenantID+"/limits", strings.NewReader(limits))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	if resp, err := hc.Do(req); err == nil {
		resp.Body.Close()
	}
	return creds.APIKey, creds.SigningSecret, nil
}

// metricsURLs are the nodes' metrics pages; none for a baseline.
func metricsURLs(bases []string, baseline bool) []string {
	if baseline {
		return nil
	}
	urls := make([]string, len(bases))
	for i, base := range bases {
		urls[i] = base + "/metrics"
	}
	return urls
}

// scrape reads one metric's value from a Prometheus text page.
func scrape(hc *http.Client, url, name string) (float64, error) {
	resp, err := hc.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, name+" ") {
			return strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(line, name)), 64)
		}
	}
	return 0, fmt.Errorf("no %s", name)
}

// progress draws a bar until the returned func is called.
func progress(w io.Writer, l *ledger, total int, start time.Time) func() {
	if w == nil {
		return func() {}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			settled, created := l.progress()
			width := 30
			filled := width * settled / total
			fmt.Fprintf(w, "\r[%s%s] %d/%d done, %d created, %.0f done/s ", strings.Repeat("=", filled), strings.Repeat(" ", width-filled),
				settled, total, created, float64(settled)/time.Since(start).Seconds())
			select {
			case <-t.C:
			case <-stop:
				fmt.Fprintln(w)
				return
			}
		}
	}()
	return func() { close(stop); wg.Wait() }
}
