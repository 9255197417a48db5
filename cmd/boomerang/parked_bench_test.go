package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// idleCPU is the CPU the process burns per second of wall time over d.
func idleCPU(d time.Duration) float64 {
	start, t0 := cpuTime(), time.Now()
	time.Sleep(d)
	return float64((cpuTime() - start).Milliseconds()) / time.Since(t0).Seconds()
}

// BenchmarkParkedClients parks 5,000 long-polls, or 5,000 event streams, on
// waiting tasks and reports the CPU the whole process (server and clients)
// spends per second while they wait, against the same node with none
// parked, then how long after a change every client has its answer.
func BenchmarkParkedClients(b *testing.B) {
	const clients = 5000
	for _, mode := range []string{"longpoll", "sse"} {
		b.Run(mode, func(b *testing.B) {
			for range b.N {
				m, creds := benchNode(b, "--max-streams-per-tenant", "10000")
				key := creds.APIKey
				hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: 0}}
				create := func() string {
					req, _ := http.NewRequest(http.MethodPost, m.URL()+"/v1/tasks", strings.NewReader(`{"targetUrl":"http://127.0.0.1:1/","delay":3600}`))
					req.Header.Set("Authorization", "Bearer "+key)
					req.Header.Set("Content-Type", "application/json")
					resp, err := hc.Do(req)
					if err != nil {
						b.Fatal(err)
					}
					defer resp.Body.Close()
					var task struct{ ID string }
					_ = json.NewDecoder(resp.Body).Decode(&task)
					return task.ID
				}
				// 50 tasks, 100 clients on each.
				var tasks []string
				for range clients / 100 {
					tasks = append(tasks, create())
				}
				baseline := idleCPU(2 * time.Second)

				ctx, cancel := context.WithCancel(context.Background())
				var parked, answered sync.WaitGroup
				var mu sync.Mutex
				var lat []time.Duration
				changedAt := map[string]time.Time{} // task -> when its cancel was sent
				for i := range clients {
					parked.Add(1)
					answered.Add(1)
					go func() {
						defer answered.Done()
						id := tasks[i%len(tasks)]
						path := "/v1/tasks/" + id + "?wait=60s"
						if mode == "sse" {
							path = "/v1/tasks/" + id + "/events"
						}
						req, _ := http.NewRequestWithContext(ctx, http.MethodGet, m.URL()+path, nil)
						req.Header.Set("Authorization", "Bearer "+key)
						resp, err := hc.Do(req)
						if err != nil {
							parked.Done()
							b.Error(err)
							return
						}
						defer resp.Body.Close()
						if mode == "longpoll" {
							parked.Done() // headers come with the answer: parked until then
							_, _ = io.Copy(io.Discard, resp.Body)
						} else {
							sc := bufio.NewScanner(resp.Body)
							seen := 0
							for sc.Scan() {
								if strings.HasPrefix(sc.Text(), "event: ") {
									seen++
									if seen == 1 {
										parked.Done() // the created event: the stream is up
									} else {
										break // the cancel
									}
								}
							}
						}
						mu.Lock()
						lat = append(lat, time.Since(changedAt[id]))
						mu.Unlock()
					}()
				}
				if mode == "sse" {
					parked.Wait()
				} else {
					time.Sleep(3 * time.Second) // let every long-poll reach the server
				}
				busy := idleCPU(2 * time.Second)

				for _, id := range tasks {
					mu.Lock()
					changedAt[id] = time.Now()
					mu.Unlock()
					req, _ := http.NewRequest(http.MethodDelete, m.URL()+"/v1/tasks/"+id, nil)
					req.Header.Set("Authorization", "Bearer "+key)
					resp, err := hc.Do(req)
					if err != nil {
						b.Fatal(err)
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				answered.Wait()
				cancel()
				b.ReportMetric(baseline, "idle-cpu-ms/s")
				b.ReportMetric(busy, "parked-cpu-ms/s")
				l := latencies{d: lat}
				l.report(b, "wake")
			}
		})
	}
}
