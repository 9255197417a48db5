package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/signing"
	"github.com/boomerang-dev/boomerang/tenant"
)

// benchNode runs Main quietly for a benchmark.
func benchNode(b *testing.B, extra ...string) (*Main, tenant.Credentials) {
	b.Helper()
	m := NewMain()
	m.Stdout = io.Discard
	args := append([]string{"--addr", "127.0.0.1:0", "--data-dir", b.TempDir(), "--admin-token", testAdminToken, "--allow-private-networks", "--log-level", "error"}, extra...)
	if err := m.ParseFlags(args, func(string) string { return "" }, io.Discard); err != nil {
		b.Fatal(err)
	}
	m.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if path := os.Getenv("BOOMERANG_BENCH_LOG"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { f.Close() })
		m.Logger = slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if err := m.Run(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = m.Close() })
	_, creds := newTenant(b, m.URL(), "bench")
	return m, creds
}

func benchClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}}
}

type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) { l.mu.Lock(); l.d = append(l.d, d); l.mu.Unlock() }

func (l *latencies) report(b *testing.B, name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return
	}
	sort.Slice(l.d, func(i, j int) bool { return l.d[i] < l.d[j] })
	pct := func(p float64) float64 { return float64(l.d[int(p*float64(len(l.d)-1))].Microseconds()) / 1000 }
	b.ReportMetric(pct(0.50), name+"-p50-ms")
	b.ReportMetric(pct(0.99), name+"-p99-ms")
}

func postTask(client *http.Client, url, key string, payload []byte) (time.Duration, error) {
	start := time.Now()
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/tasks", bytes.NewReader(payload))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return 0, fmt.Errorf("create: %d", resp.StatusCode)
	}
	return time.Since(start), nil
}

// BenchmarkCreateTask measures POST /v1/tasks from 1 client (latency at
// light load) and from 32 concurrent clients (throughput at saturation). The
// tasks are dispatched to a local target meanwhile, as in production.
func BenchmarkCreateTask(b *testing.B) {
	for _, clients := range []int{1, 32} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			m, creds := benchNode(b)
			key := creds.APIKey
			target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
			defer target.Close()
			payload, _ := json.Marshal(map[string]any{"targetUrl": target.URL, "payload": map[string]string{"data": string(bytes.Repeat([]byte("x"), 200))}})
			client := benchClient(64)
			var lat latencies
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for next.Add(1) <= int64(b.N) {
						d, err := postTask(client, m.URL(), key, payload)
						if err != nil {
							b.Error(err)
							return
						}
						lat.add(d)
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "creates/s")
			lat.report(b, "create")
		})
	}
}

// BenchmarkEndToEnd measures the whole path: create, signed call to the
// target, signed webhook, for b.N tasks from 32 concurrent clients. It
// reports completed tasks per second and create-to-webhook latency.
func BenchmarkEndToEnd(b *testing.B) {
	m, creds := benchNode(b)
	key, secretText := creds.APIKey, creds.SigningSecret
	secret, _ := signing.ParseSecret(secretText)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	defer target.Close()
	var created sync.Map // task id -> creation time
	var done, bad atomic.Int64
	var lat latencies
	finished := make(chan struct{})
	var once sync.Once
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if signing.Verify(r.Header, body, time.Now(), secret) != nil {
			bad.Add(1)
		}
		var ev struct {
			Data struct{ TaskID string } `json:"data"`
		}
		_ = json.Unmarshal(body, &ev)
		if at, ok := created.LoadAndDelete(ev.Data.TaskID); ok {
			lat.add(time.Since(at.(time.Time)))
			if done.Add(1) == int64(b.N) {
				once.Do(func() { close(finished) })
			}
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()
	payload, _ := json.Marshal(map[string]any{"targetUrl": target.URL, "webhookUrl": receiver.URL,
		"payload": map[string]string{"data": string(bytes.Repeat([]byte("x"), 200))}})
	client := benchClient(64)

	b.ResetTimer()
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				at := time.Now()
				req, _ := http.NewRequest(http.MethodPost, m.URL()+"/v1/tasks", bytes.NewReader(payload))
				req.Header.Set("Authorization", "Bearer "+key)
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				var task struct{ ID string }
				_ = json.NewDecoder(resp.Body).Decode(&task)
				resp.Body.Close()
				created.Store(task.ID, at)
			}
		}()
	}
	wg.Wait()
	select {
	case <-finished:
	case <-time.After(2 * time.Minute):
		b.Fatalf("only %d of %d webhooks arrived", done.Load(), b.N)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if bad.Load() > 0 {
		b.Fatalf("%d webhooks failed verification", bad.Load())
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "tasks/s")
	lat.report(b, "create-to-webhook")
}
