package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/boomerang-dev/boomerang/internal/bench"
	"github.com/boomerang-dev/boomerang/signing"
)

// These tests run `boomerang bench` itself against a real node: the figures
// it reports are only worth something if it counts what really happened.

func runBenchJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	var out, errOut bytes.Buffer
	if err := runBench(context.Background(), append(args, "--json", "--quiet"), &out, &errOut); err != nil {
		t.Fatalf("bench %v: %v\n%s", args, err, errOut.String())
	}
	if err := json.Unmarshal(out.Bytes(), v); err != nil {
		t.Fatalf("bench --json output: %v\n%s", err, out.String())
	}
}

func TestBenchCompareCountsEveryTaskOnBothSides(t *testing.T) {
	n := MustRunMain(t)
	var cmp bench.Comparison
	runBenchJSON(t, &cmp, "--server", n.URL(), "--admin-token", testAdminToken, "--tasks", "150", "--concurrency", "8", "--compare",
		"--fsync-writes", "20")

	for _, r := range []bench.Report{cmp.Baseline, cmp.Boomerang} {
		if r.Completed != 150 || r.Missing != 0 || r.Errors != 0 || r.BadSignatures != 0 || r.DuplicateHooks != 0 {
			t.Errorf("%s: completed %d, missing %d, errors %d, bad signatures %d, duplicates %d; want 150 and zeros",
				r.Mode, r.Completed, r.Missing, r.Errors, r.BadSignatures, r.DuplicateHooks)
		}
		if r.Create.N != 150 || r.CreateToTarget.N != 150 || r.CreateToWebhook.N != 150 {
			t.Errorf("%s: latency samples %d/%d/%d, want 150 of each", r.Mode, r.Create.N, r.CreateToTarget.N, r.CreateToWebhook.N)
		}
		if !(r.Create.P50 <= r.Create.P99 && r.Create.P99 <= r.Create.Max) {
			t.Errorf("%s: create quantiles out of order: %+v", r.Mode, r.Create)
		}
	}
	if cmp.Baseline.Mode != "baseline" || cmp.Boomerang.Mode != "boomerang" {
		t.Errorf("modes %q and %q", cmp.Baseline.Mode, cmp.Boomerang.Mode)
	}
	if want := cmp.Boomerang.CompletedPerSec / cmp.Baseline.CompletedPerSec; cmp.FractionOfBaseline != want || want <= 0 {
		t.Errorf("fraction of baseline %v, want %v", cmp.FractionOfBaseline, want)
	}
	if f := cmp.Boomerang.Fsync; f == nil || f.Writes != 20 || f.Bytes != 4096 || f.Seconds <= 0 || f.MsPerWrite <= 0 {
		t.Errorf("fsync figure %+v, want 20 writes of 4096 bytes measured", f)
	}
	if cmp.Boomerang.ServerCPU <= 0 || cmp.Boomerang.ServerPeakRSSMB <= 0 {
		t.Errorf("server CPU %v s, peak RSS %v MiB: want both read from /metrics", cmp.Boomerang.ServerCPU, cmp.Boomerang.ServerPeakRSSMB)
	}
}

func TestBenchTwoHopsOpenLoopWithFailingTargets(t *testing.T) {
	n := MustRunMain(t)
	var r bench.Report
	runBenchJSON(t, &r, "--server", n.URL(), "--admin-token", testAdminToken, "--tasks", "100", "--rate", "200",
		"--webhook=false", "--fail-rate", "0.3")
	if r.Completed != 100 || r.Missing != 0 || r.Rate != 200 || r.Webhook {
		t.Fatalf("completed %d, missing %d, rate %v, webhook %v", r.Completed, r.Missing, r.Rate, r.Webhook)
	}
	if r.CreateToTarget.N != 100 || r.CreateToWebhook.N != 0 || r.TargetToWebhook.N != 0 {
		t.Errorf("samples: to target %d, to webhook %d/%d; want 100 and none", r.CreateToTarget.N, r.CreateToWebhook.N, r.TargetToWebhook.N)
	}
	if r.RepeatedCalls != 0 {
		t.Errorf("%d repeated target calls: failures are permanent (400) and must not be retried", r.RepeatedCalls)
	}
}

func TestBenchRefusesWebhooksSignedWithAnotherSecret(t *testing.T) {
	n := MustRunMain(t)
	_, creds := n.tenantClient(t, "bench-wrong-secret")
	other := make(signing.Secret, 32)
	other[0] = 1
	var r bench.Report
	runBenchJSON(t, &r, "--server", n.URL(), "--api-key", creds.APIKey, "--signing-secret", other.String(),
		"--tasks", "5", "--concurrency", "5", "--timeout", "2s")
	if r.BadSignatures < 5 || r.Completed != 0 || r.Missing != 5 {
		t.Fatalf("bad signatures %d, completed %d, missing %d: want every webhook refused", r.BadSignatures, r.Completed, r.Missing)
	}
}

func TestBenchChartFromReports(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, r bench.Report) string {
		data, _ := json.Marshal(r)
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	a := write("a.json", bench.Report{Rate: 100, Webhook: true, CreateToWebhook: bench.Quantiles{N: 1, P50: 1, P90: 2, P99: 3}})
	b := write("b.json", bench.Report{Rate: 200, Webhook: true, CreateToWebhook: bench.Quantiles{N: 1, P50: 2, P90: 4, P99: 8}})
	var out bytes.Buffer
	if err := runBench(context.Background(), []string{"chart", a, b}, &out, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "<svg") || strings.Count(out.String(), "<polyline") != 3 {
		t.Fatalf("not a chart:\n%s", out.String())
	}
	closed := write("c.json", bench.Report{Concurrency: 64})
	if err := runBench(context.Background(), []string{"chart", a, closed}, &out, &out); err == nil || !strings.Contains(err.Error(), "open-loop") {
		t.Fatalf("a closed-loop report: got %v, want an error naming open-loop runs", err)
	}
}

// TestBenchLoadsSeveralNodes runs the bench against two nodes of one
// NATS: the creates go to both in turn (each node's metrics count its
// share), every task is counted once, and the report sums both nodes' CPU.
func TestBenchLoadsSeveralNodes(t *testing.T) {
	natsURL := startExternalNATS(t)
	secretKey := newSecretKey(t)
	a := MustRunMain(t, "--nats-url", natsURL, "--secret-key", secretKey)
	b := MustRunMain(t, "--nats-url", natsURL, "--secret-key", secretKey)
	var r bench.Report
	runBenchJSON(t, &r, "--server", a.URL()+","+b.URL(), "--admin-token", testAdminToken, "--tasks", "60", "--concurrency", "6")
	if r.Nodes != 2 || r.Completed != 60 || r.Missing != 0 || r.Errors != 0 || r.DuplicateHooks != 0 {
		t.Fatalf("nodes %d, completed %d, missing %d, errors %d, duplicates %d; want 2 nodes, 60 and zeros",
			r.Nodes, r.Completed, r.Missing, r.Errors, r.DuplicateHooks)
	}
	for _, n := range []*testNode{a, b} {
		s := n.scrapeMetrics(t)
		if v, ok := s.value("boomerang_http_requests_total", "route=/v1/tasks", "method=POST", "status=202"); !ok || v != 30 {
			t.Errorf("node %s accepted %v creates (found: %v), want 30", n.URL(), v, ok)
		}
	}
	if r.ServerCPU <= 0 {
		t.Errorf("server CPU %v s: want the nodes' sum read from /metrics", r.ServerCPU)
	}
}
