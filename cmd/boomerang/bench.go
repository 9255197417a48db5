package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/google/pprof/profile"

	"github.com/boomerang-dev/boomerang/internal/bench"
)

// runBench is `boomerang bench`: load a server (or a bare relay) and report.
// `boomerang bench chart FILE...` draws latency against load from --json
// reports of open-loop runs, as SVG on stdout; `boomerang bench stages
// [--tasks N] PROFILE` splits a server's CPU profile by pipeline stage.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "chart" {
		return benchChart(args[1:], stdout)
	}
	if len(args) > 0 && args[0] == "stages" {
		return benchStages(args[1:], stdout, stderr)
	}
	cfg, opts, err := parseBenchFlags(args, stderr)
	if err != nil {
		return err
	}
	var baseline *bench.Report
	if opts.compare {
		// The relay runs first, before a spawned server takes memory and
		// CPU, so that both runs see the same machine.
		bcfg := cfg
		bcfg.Baseline = true
		rep, err := bench.Run(ctx, bcfg)
		if err != nil {
			return fmt.Errorf("baseline: %w", err)
		}
		baseline = &rep
	}
	var fsync *bench.Fsync
	if (opts.spawn || opts.compare) && opts.fsyncWrites > 0 {
		// Where --spawn keeps the server's data; durable figures depend on it.
		f, err := bench.MeasureFsync("", opts.fsyncWrites, 4096)
		if err != nil {
			return err
		}
		fsync = &f
	}
	if opts.spawn && !cfg.Baseline {
		server, stop, err := spawnServer(ctx, opts.syncMode, opts.maxInFlight, stderr)
		if err != nil {
			return err
		}
		defer stop()
		cfg.Server, cfg.AdminToken = server.url, server.token
	}
	if !cfg.Baseline && cfg.AdminToken == "" && (cfg.APIKey == "" || cfg.SigningSecret == "") {
		return errors.New("give --admin-token (or --spawn), or --api-key and --signing-secret")
	}
	rep, err := bench.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if opts.spawn && !cfg.Baseline {
		rep.Sync = opts.syncMode
	}
	rep.Fsync = fsync
	return writeBenchReport(stdout, baseline, rep, opts.jsonOut)
}

// benchOptions are the flags of `boomerang bench` that are not the load's.
type benchOptions struct {
	compare, spawn, jsonOut bool
	syncMode                string
	maxInFlight             int
	fsyncWrites             int
}

// parseBenchFlags reads the flags of `boomerang bench`.
func parseBenchFlags(args []string, stderr io.Writer) (bench.Config, benchOptions, error) {
	var cfg bench.Config
	var opts benchOptions
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.Server, "server", "http://localhost:8080", "Boomerang server to load, or several nodes of one cluster separated by commas (creates go to each in turn)")
	fs.StringVar(&cfg.AdminToken, "admin-token", "", "admin token: the bench creates its own tenant (with its limits lifted)")
	fs.StringVar(&cfg.APIKey, "api-key", "", "use this tenant's key instead of creating a tenant")
	fs.StringVar(&cfg.SigningSecret, "signing-secret", "", "the tenant's signing secret, to verify webhooks (with --api-key)")
	fs.IntVar(&cfg.Tasks, "tasks", 10000, "tasks to create")
	fs.IntVar(&cfg.Concurrency, "concurrency", 64, "closed loop: creates in flight")
	fs.Float64Var(&cfg.Rate, "rate", 0, "open loop: creates per second (overrides --concurrency)")
	fs.IntVar(&cfg.PayloadSize, "payload-size", 256, "payload bytes per task")
	fs.DurationVar(&cfg.TargetDelay, "target-delay", 0, "the target answers after this (a slow target)")
	fs.Float64Var(&cfg.FailRate, "fail-rate", 0, "fraction of target calls that fail")
	fs.DurationVar(&cfg.Delay, "delay", 0, "make every task wait this long (loads the server with waiting tasks; the run ends when all are created)")
	fs.BoolVar(&cfg.Webhook, "webhook", true, "three hops: deliver a webhook (false: create and target call only)")
	fs.DurationVar(&cfg.Timeout, "timeout", 5*time.Minute, "how long to wait for the last task")
	fs.BoolVar(&cfg.Baseline, "baseline", false, "load a bare relay in this process instead: the ceiling for the same HTTP work")
	fs.BoolVar(&opts.compare, "compare", false, "run the same load against the bare relay first, then the server, and report the server's throughput as a fraction of the relay's")
	fs.BoolVar(&opts.spawn, "spawn", false, "start a fresh server (this binary, embedded NATS, a temp data dir) for the run")
	fs.StringVar(&opts.syncMode, "sync", "always", "with --spawn: the server's --sync")
	fs.IntVar(&opts.maxInFlight, "max-in-flight", 20000, "with --spawn: the server's --max-in-flight")
	fs.IntVar(&opts.fsyncWrites, "fsync-writes", 2000, "with --spawn or --compare: measure the disk first with this many synced 4 KiB writes in the temporary directory, as dd oflag=dsync does (0: do not)")
	fs.BoolVar(&opts.jsonOut, "json", false, "print the report as JSON")
	quiet := fs.Bool("quiet", false, "no progress bar")
	if err := parseFlags(fs, args, os.Getenv); err != nil {
		return cfg, opts, err
	}
	if !*quiet {
		cfg.Progress = stderr
	}
	if opts.compare && cfg.Baseline {
		return cfg, opts, errors.New("--compare runs the baseline itself: give one of --compare and --baseline")
	}
	return cfg, opts, nil
}

// writeBenchReport prints the report, next to its baseline when there is
// one, as text or as JSON.
func writeBenchReport(stdout io.Writer, baseline *bench.Report, rep bench.Report, asJSON bool) error {
	if baseline == nil {
		if asJSON {
			return writeJSON(stdout, rep)
		}
		printReport(stdout, rep)
		return nil
	}
	cmp := bench.Compare(*baseline, rep)
	if asJSON {
		return writeJSON(stdout, cmp)
	}
	printReport(stdout, *baseline)
	printReport(stdout, rep)
	fmt.Fprintf(stdout, "boomerang completed %.0f%% of the baseline's tasks/s (%.0f of %.0f)\n",
		100*cmp.FractionOfBaseline, rep.CompletedPerSec, baseline.CompletedPerSec)
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func printReport(w io.Writer, r bench.Report) {
	hops := "two hops (create → target)"
	if r.Webhook {
		hops = "three hops (create → target → webhook)"
	}
	load := fmt.Sprintf("closed loop, %d in flight", r.Concurrency)
	if r.Rate > 0 {
		load = fmt.Sprintf("open loop, %.0f/s", r.Rate)
	}
	mode := r.Mode
	if r.Sync != "" {
		mode += ", --sync " + r.Sync
	}
	if r.Nodes > 1 {
		mode += fmt.Sprintf(", %d nodes", r.Nodes)
	}
	fmt.Fprintf(w, "%s: %d tasks, %s, %s, %d B payloads\n", mode, r.Tasks, hops, load, r.PayloadSize)
	fmt.Fprintf(w, "  creates          %8.0f /s\n", r.CreatesPerSec)
	fmt.Fprintf(w, "  completed        %8.0f /s   (%d of %d in %.2f s, %d missing)\n", r.CompletedPerSec, r.Completed, r.Tasks, r.Seconds, r.Missing)
	q := func(name string, x bench.Quantiles) {
		if x.N > 0 {
			fmt.Fprintf(w, "  %-16s p50 %8.2f ms   p90 %8.2f ms   p99 %8.2f ms   max %8.2f ms\n", name, x.P50, x.P90, x.P99, x.Max)
		}
	}
	q("create", r.Create)
	q("create→target", r.CreateToTarget)
	q("target→webhook", r.TargetToWebhook)
	q("create→webhook", r.CreateToWebhook)
	fmt.Fprintf(w, "  duplicates       %d webhooks, %d target calls; errors %d; bad signatures %d\n", r.DuplicateHooks, r.RepeatedCalls, r.Errors, r.BadSignatures)
	if r.ServerCPU > 0 {
		fmt.Fprintf(w, "  server           %.2f CPU s, peak RSS %.0f MiB (the loaded nodes' sum)\n", r.ServerCPU, r.ServerPeakRSSMB)
	}
	if f := r.Fsync; f != nil {
		fmt.Fprintf(w, "  disk             %d synced %d B writes in %s: %.2f s, %.3f ms each\n", f.Writes, f.Bytes, f.Dir, f.Seconds, f.MsPerWrite)
	}
}

type spawned struct{ url, token string }

// spawnServer starts `boomerang serve` from this binary on a free port with
// a fresh data dir, and returns once it is ready.
func spawnServer(ctx context.Context, syncMode string, maxInFlight int, stderr io.Writer) (spawned, func(), error) {
	exe, err := os.Executable()
	if err != nil {
		return spawned{}, nil, err
	}
	dir, err := os.MkdirTemp("", "boomerang-bench-")
	if err != nil {
		return spawned{}, nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return spawned{}, nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	raw := make([]byte, 16)
	_, _ = rand.Read(raw)
	token := hex.EncodeToString(raw)
	cmd := exec.CommandContext(ctx, exe, "serve", "--addr", addr, "--data-dir", dir, "--admin-token", token,
		"--allow-private-networks", "--log-level", "warn", "--sync", syncMode, "--max-in-flight", fmt.Sprint(maxInFlight),
		"--max-deliveries-in-flight", fmt.Sprint(maxInFlight))
	cmd.Stdout, cmd.Stderr = io.Discard, stderr
	if err := cmd.Start(); err != nil {
		return spawned{}, nil, err
	}
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		_ = os.RemoveAll(dir)
	}
	url := "http://" + addr
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return spawned{url: url, token: token}, stop, nil
			}
		}
	}
	stop()
	return spawned{}, nil, errors.New("the spawned server did not become ready")
}

func benchChart(files []string, stdout io.Writer) error {
	if len(files) == 0 {
		return errors.New("usage: boomerang bench chart REPORT.json [REPORT.json ...]")
	}
	var reports []bench.Report
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var r bench.Report
		if err := json.Unmarshal(data, &r); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		if r.Rate == 0 {
			return fmt.Errorf("%s: not an open-loop report (no rate)", f)
		}
		reports = append(reports, r)
	}
	title := "Boomerang: create → webhook latency against load"
	if !reports[0].Webhook {
		title = "Boomerang: create → target latency against load"
	}
	_, err := stdout.Write(bench.Chart(reports, title))
	return err
}

// benchStages is `boomerang bench stages [--tasks N] PROFILE`: the CPU of
// a profile taken from --pprof-addr, by pipeline stage, and per task when
// told how many tasks the server finished while it was taken.
func benchStages(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench stages", flag.ContinueOnError)
	fs.SetOutput(stderr)
	tasks := fs.Int("tasks", 0, "tasks the server finished while the profile was taken (for CPU per task)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: boomerang bench stages [--tasks N] PROFILE")
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer f.Close()
	p, err := profile.Parse(f)
	if err != nil {
		return fmt.Errorf("%s: %w", fs.Arg(0), err)
	}
	shares, err := bench.SplitStages(p)
	if err != nil {
		return err
	}
	bench.WriteStages(stdout, shares, *tasks)
	return nil
}
