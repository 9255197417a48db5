package main

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkAdaptiveConcurrency sends 5,000 tasks to a target that serves
// 50 calls at once (100 ms each) and answers 429 at once beyond, from a
// node that would make 200 (--max-in-flight 200, the per-tenant and
// per-host caps 200), with adaptive concurrency and without. Retries:
// 100 ms doubling to 1 s (±20 %), 25 of them. "stream": the tasks are
// due as they are created (16 clients creating as fast as the node
// takes them); "backlog": all are due at one instant, 60 s on (the
// creates take less on a loaded 2-core machine). It reports the calls
// made, those wasted (answered 429), the tasks failed, the messages the
// dispatch consumers handed the node again (redelivered) and the seconds
// from the first create ("stream") or from the due instant ("backlog")
// until every task has ended. Run it once:
//
//	go test -run '^$' -bench AdaptiveConcurrency -benchtime 1x -timeout 30m ./cmd/boomerang/
func BenchmarkAdaptiveConcurrency(b *testing.B) {
	for _, backlog := range []bool{false, true} {
		name := map[bool]string{false: "stream", true: "backlog"}[backlog]
		b.Run(name+"/adaptive", func(b *testing.B) { benchAdaptive(b, backlog) })
		b.Run(name+"/static", func(b *testing.B) { benchAdaptive(b, backlog, "--adaptive-concurrency=false") })
	}
}

const (
	benchAdaptiveTasks    = 5000
	benchAdaptiveCapacity = 50
	benchAdaptiveRetries  = 25
	benchBacklogDue       = 60 * time.Second
)

func benchAdaptive(b *testing.B, backlog bool, flags ...string) {
	for range b.N {
		m, creds := benchNode(b, append([]string{"--create-rate", "100000", "--create-burst", "100000",
			"--max-in-flight", "200", "--max-in-flight-per-tenant", "200", "--max-in-flight-per-host", "200",
			"--retry-initial", "100ms", "--retry-max", "1s"}, flags...)...)
		target := newBenchCapacityTarget(benchAdaptiveCapacity, 100*time.Millisecond)
		client := benchClient(64)
		start, notBefore := time.Now(), ""
		if backlog {
			start = start.Add(benchBacklogDue)
			notBefore = start.UTC().Format(time.RFC3339Nano)
		}
		var wg sync.WaitGroup
		for w := range 16 {
			wg.Go(func() {
				for i := w; i < benchAdaptiveTasks; i += 16 {
					benchCreateRetried(b, client, m.URL(), creds.APIKey, target.URL, notBefore)
				}
			})
		}
		wg.Wait()
		if backlog && time.Now().After(start) {
			b.Fatalf("the creates took over %v: the tasks were not due at one instant", benchBacklogDue)
		}
		deadline := time.Now().Add(20 * time.Minute)
		for target.ended() < benchAdaptiveTasks {
			if time.Now().After(deadline) {
				b.Fatalf("only %d of %d tasks ended in time", target.ended(), benchAdaptiveTasks)
			}
			time.Sleep(20 * time.Millisecond)
		}
		took := time.Since(start)
		b.ReportMetric(float64(target.calls.Load()), "attempts")
		b.ReportMetric(float64(target.tooMany.Load()), "wasted-429")
		b.ReportMetric(float64(target.failed.Load()), "failed")
		b.ReportMetric(took.Seconds(), "seconds")
		b.ReportMetric(benchRedelivered((&testNode{Main: m}).scrapeMetrics(b)), "redelivered")
		target.Close()
	}
}

// benchCapacityTarget serves capacity calls at once, each held for hold,
// and answers 429 at once to any call beyond. It counts the tasks that
// ended here: a success, or a 429 to a task's last attempt.
type benchCapacityTarget struct {
	*httptest.Server
	inFlight, calls, tooMany, failed atomic.Int64
	mu                               sync.Mutex
	succeeded                        map[string]bool
}

func newBenchCapacityTarget(capacity int64, hold time.Duration) *benchCapacityTarget {
	t := &benchCapacityTarget{succeeded: map[string]bool{}}
	t.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.calls.Add(1)
		now := t.inFlight.Add(1)
		defer t.inFlight.Add(-1)
		if now > capacity {
			t.tooMany.Add(1)
			if attempt, _ := strconv.Atoi(r.Header.Get("Boomerang-Attempt")); attempt > benchAdaptiveRetries {
				t.failed.Add(1)
			}
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		time.Sleep(hold)
		t.mu.Lock()
		t.succeeded[r.Header.Get("Boomerang-Task-Id")] = true
		t.mu.Unlock()
	}))
	return t
}

// ended is how many tasks have ended: succeeded (each counted once) or
// failed.
func (t *benchCapacityTarget) ended() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.succeeded) + int(t.failed.Load())
}

// benchCreateRetried creates a task to target with the most retries a
// task may have, due at notBefore when it is not empty.
func benchCreateRetried(b *testing.B, client *http.Client, base, key, target, notBefore string) {
	task := map[string]any{"targetUrl": target, "timeout": 60, "retries": benchAdaptiveRetries}
	if notBefore != "" {
		task["notBefore"] = notBefore
	}
	benchPostTask(b, client, base, key, task)
}

// benchRedelivered is how many messages the dispatcher's consumers handed
// the node again: work given back (over a limit) and offered anew.
func benchRedelivered(s scrape) float64 {
	var n float64
	for _, consumer := range []string{"dispatch", "dispatch-due"} {
		v, _ := s.value("boomerang_consumer_redelivered_total", "consumer="+consumer)
		n += v
	}
	return n
}
