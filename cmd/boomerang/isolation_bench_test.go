package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkIsolation measures tenant B's create-to-target latency for 200
// tasks at 20/s, first alone, then while tenant A floods the node with 2,000
// tasks to a target that takes 30 s to answer: with the default per-tenant
// and per-host caps, and with the caps off, to show what they buy.
func BenchmarkIsolation(b *testing.B) {
	b.Run("caps", func(b *testing.B) { benchIsolation(b) })
	b.Run("no-caps", func(b *testing.B) {
		benchIsolation(b, "--max-in-flight-per-tenant", "0", "--max-in-flight-per-host", "0")
	})
}

func benchIsolation(b *testing.B, flags ...string) {
	for range b.N {
		m, flooder := benchNode(b, append([]string{"--create-rate", "100000", "--create-burst", "100000"}, flags...)...)
		_, victim := newTenant(b, m.URL(), "victim")
		keyA, keyB := flooder.APIKey, victim.APIKey
		var slowInFlight atomic.Int64
		slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			slowInFlight.Add(1)
			defer slowInFlight.Add(-1)
			select {
			case <-time.After(30 * time.Second):
			case <-r.Context().Done():
			}
		}))
		var mu sync.Mutex
		arrived := map[string]time.Time{}
		fast := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			arrived[r.Header.Get("Boomerang-Task-Id")] = time.Now()
			mu.Unlock()
		}))
		client := benchClient(64)

		measure := func() *latencies {
			sent := map[string]time.Time{}
			tick := time.NewTicker(50 * time.Millisecond)
			for range 200 {
				<-tick.C
				at := time.Now()
				id := benchCreate(b, client, m.URL(), keyB, fast.URL)
				sent[id] = at
			}
			tick.Stop()
			deadline := time.Now().Add(90 * time.Second)
			for {
				mu.Lock()
				n := 0
				for id := range sent {
					if _, ok := arrived[id]; ok {
						n++
					}
				}
				mu.Unlock()
				if n == len(sent) || time.Now().After(deadline) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			l := &latencies{}
			mu.Lock()
			for id, at := range sent {
				if got, ok := arrived[id]; ok {
					l.add(got.Sub(at))
				}
			}
			mu.Unlock()
			if len(l.d) != len(sent) {
				b.Fatalf("only %d of %d of B's tasks reached the target", len(l.d), len(sent))
			}
			return l
		}

		alone := measure()
		var wg sync.WaitGroup
		for w := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < 2000; i += 16 {
					benchCreate(b, client, m.URL(), keyA, slow.URL+fmt.Sprintf("/%d", i))
				}
			}()
		}
		wg.Wait()
		for slowInFlight.Load() < 100 {
			time.Sleep(50 * time.Millisecond)
		}
		flooded := measure()
		b.ReportMetric(float64(slowInFlight.Load()), "A-in-flight")
		alone.report(b, "B-alone")
		flooded.report(b, "B-flooded")
		slow.CloseClientConnections()
		slow.Close()
		fast.Close()
	}
}

func benchCreate(b *testing.B, client *http.Client, base, key, target string) string {
	return benchPostTask(b, client, base, key, map[string]any{"targetUrl": target, "timeout": 60})
}

// benchPostTask creates the task and returns its id.
func benchPostTask(b *testing.B, client *http.Client, base, key string, task map[string]any) string {
	payload, _ := json.Marshal(task)
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/tasks", bytes.NewReader(payload))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		b.Error(err)
		return ""
	}
	defer resp.Body.Close()
	var created struct{ ID string }
	_ = json.NewDecoder(resp.Body).Decode(&created)
	if resp.StatusCode != http.StatusAccepted {
		b.Errorf("create: %d", resp.StatusCode)
	}
	return created.ID
}
