package main

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkStreamConnections measures what open event streams cost a node
// and whether it gets it back: it starts the built binary, opens
// BOOMERANG_BENCH_STREAMS (10,000) event streams of one tenant on a waiting
// task, closes them, and reports the node's RSS and goroutines before, with
// them open, once they have closed and BOOMERANG_BENCH_SETTLE (30 s) later,
// and a create's median latency without and with them. The stream caps are
// raised above the count through the node's environment (so that the same
// benchmark runs against a binary without caps), unless
// BOOMERANG_BENCH_DEFAULT_CAPS is set: then the streams over the caps are
// refused, and counted. BOOMERANG_BENCH_TENANT_STREAMS opens the tenant's
// stream (/v1/events, which every create wakes) instead of one task's;
// BOOMERANG_BENCH_BINARY runs another build (an older one, to compare).
//
//	go test ./cmd/boomerang -run '^$' -bench StreamConnections -benchtime 1x
func BenchmarkStreamConnections(b *testing.B) {
	n := 10000
	if v, err := strconv.Atoi(os.Getenv("BOOMERANG_BENCH_STREAMS")); err == nil && v > 0 {
		n = v
	}
	settle := 30 * time.Second
	if d, err := time.ParseDuration(os.Getenv("BOOMERANG_BENCH_SETTLE")); err == nil {
		settle = d
	}
	for range b.N {
		node := startStreamNode(b, n, os.Getenv("BOOMERANG_BENCH_DEFAULT_CAPS") == "")
		client, _ := newTenant(b, node.base, "streams")
		task := createTask(b, client, map[string]any{"targetUrl": "http://127.0.0.1:1/", "delay": 3600})
		create := func() time.Duration { return medianCreate(b, node.base, client.Key) }
		rss0, g0, lat0 := node.rss(b), node.goroutines(b), create()
		path := "/v1/tasks/" + task.ID + "/events"
		if os.Getenv("BOOMERANG_BENCH_TENANT_STREAMS") != "" {
			path = "/v1/events"
		}
		conns, refused := openStreams(b, node.addr, path, client.Key, n)
		rss1, g1, lat1 := node.rss(b), node.goroutines(b), create()
		for _, c := range conns {
			_ = c.Close()
		}
		start := time.Now()
		for node.goroutines(b) > g0+5 && time.Since(start) < time.Minute {
			time.Sleep(100 * time.Millisecond)
		}
		freed := time.Since(start)
		rss2, g2 := node.rss(b), node.goroutines(b)
		time.Sleep(settle)
		for _, m := range []struct {
			v    float64
			unit string
		}{
			{mb(rss0), "rss-before-MB"}, {mb(rss1), "rss-open-MB"}, {mb(rss2), "rss-closed-MB"}, {mb(node.rss(b)), "rss-settled-MB"},
			{float64(g0), "goroutines-before"}, {float64(g1), "goroutines-open"}, {float64(g2), "goroutines-closed"},
			{freed.Seconds(), "s-to-free"}, {float64(refused), "refused"},
			{float64(lat0.Microseconds()) / 1000, "create-ms"}, {float64(lat1.Microseconds()) / 1000, "create-open-ms"},
		} {
			b.ReportMetric(m.v, m.unit)
		}
	}
}

func mb(bytes int64) float64 { return float64(bytes) / (1 << 20) }

// streamNode is the built binary, serving on addr.
type streamNode struct {
	cmd        *exec.Cmd
	addr, base string
}

// startStreamNode starts the built binary, with the stream caps above n
// when raise is set.
func startStreamNode(b *testing.B, n int, raise bool) *streamNode {
	b.Helper()
	dir, addr := b.TempDir(), freeAddr(b)
	bin := os.Getenv("BOOMERANG_BENCH_BINARY")
	if bin == "" {
		bin = builtBinary(b)
	}
	cmd := exec.Command(bin, "serve", "--addr", addr, "--data-dir", dir,
		"--admin-token", testAdminToken, "--allow-private-networks", "--log-level", "warn")
	if caps := strconv.Itoa(2 * n); raise {
		cmd.Env = append(os.Environ(), "BOOMERANG_MAX_STREAMS="+caps, "BOOMERANG_MAX_STREAMS_PER_TENANT="+caps, "BOOMERANG_MAX_TENANT_STREAMS="+caps)
	}
	log, err := os.Create(filepath.Join(dir, "serve.log"))
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); log.Close() })
	node := &streamNode{cmd: cmd, addr: addr, base: "http://" + addr}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(node.base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return node
			}
		}
		if time.Now().After(deadline) {
			b.Fatal("the binary is not ready")
		}
	}
}

// rss is the node's resident set size, in bytes.
func (n *streamNode) rss(b *testing.B) int64 {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", n.cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	b.Fatal("no VmRSS")
	return 0
}

// goroutines is the node's go_goroutines metric.
func (n *streamNode) goroutines(b *testing.B) int { return int(n.metric(b, "go_goroutines")) }

// metric is the value of one of the node's metrics.
func (n *streamNode) metric(b *testing.B, name string) float64 {
	b.Helper()
	resp, err := http.Get(n.base + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	b.Fatal("no metric " + name)
	return 0
}

// openStreams opens n event streams on path, n/8 on each of eight
// goroutines, and returns the connections of those answered 200 once each
// has its headers, and how many were refused with 429.
func openStreams(b *testing.B, addr, path, key string, n int) ([]net.Conn, int) {
	b.Helper()
	req := "GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nAuthorization: Bearer " + key + "\r\n\r\n"
	conns := make([]net.Conn, n)
	var refused atomic.Int64
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					b.Error(err)
					return
				}
				conns[i] = c
				if _, err := c.Write([]byte(req)); err != nil {
					b.Error(err)
					return
				}
				line, err := bufio.NewReaderSize(c, 256).ReadString('\n')
				switch {
				case err == nil && strings.Contains(line, " 429 "):
					refused.Add(1)
				case err != nil || !strings.Contains(line, " 200 "):
					b.Errorf("stream %d: %q %v", i, line, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	return conns, int(refused.Load())
}

// medianCreate is the median latency of 21 creates, one after another.
func medianCreate(b *testing.B, base, key string) time.Duration {
	b.Helper()
	var lat []time.Duration
	for range 21 {
		req, _ := http.NewRequest(http.MethodPost, base+"/v1/tasks", strings.NewReader(`{"targetUrl":"http://127.0.0.1:1/","delay":3600}`))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		lat = append(lat, time.Since(start))
		if resp.StatusCode != http.StatusAccepted {
			b.Fatalf("create: %d", resp.StatusCode)
		}
	}
	slices.Sort(lat)
	return lat[len(lat)/2]
}
