package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/internal/testenv"
)

// scrape is one read of a node's /metrics.
type scrape map[string]*dto.MetricFamily

// scrapeMetrics reads and parses the node's /metrics.
func (n *testNode) scrapeMetrics(tb testing.TB) scrape {
	tb.Helper()
	resp, err := http.Get(n.URL() + "/metrics")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET /metrics: got %d, want 200", resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		tb.Fatalf("parse /metrics: %v", err)
	}
	return families
}

// value returns the value of the series of family name with labels (as
// name=value pairs; others may be present too), and whether it is there.
// A histogram's value is its count.
func (s scrape) value(name string, labels ...string) (float64, bool) {
	f := s[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for _, pair := range labels {
			k, v, _ := strings.Cut(pair, "=")
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

// want checks the series' value.
func (s scrape) want(tb testing.TB, want float64, name string, labels ...string) {
	tb.Helper()
	got, ok := s.value(name, labels...)
	if !ok {
		tb.Errorf("%s%v: no such series", name, labels)
		return
	}
	if got != want {
		tb.Errorf("%s%v = %v, want %v", name, labels, got, want)
	}
}

// TestMetricsCountWhatTheLoadDid runs a small load with known outcomes
// through a node (tasks that succeed, fail at once, fail after a retry,
// wait and are canceled; webhooks delivered and dead-lettered; a create
// refused by the rate limit) and checks /metrics against it: the counters,
// the histograms' counts, the view's gauges and the tenant breakout.
func TestMetricsCountWhatTheLoadDid(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// The broken-out tenant must exist before the flag can name it: a
	// first run creates the tenants, the second names one of them.
	first := mustRunMainIn(t, dir)
	named, namedCreds := first.tenantClient(t, "named")
	other, otherCreds := first.tenantClient(t, "other")
	first.Stop()
	n := mustRunMainIn(t, dir, "--metrics-tenants", namedCreds.TenantID, "--webhook-schedule", "0s,10ms")
	named.Base, other.Base = n.URL(), n.URL()
	n.Admin.Base = n.URL()

	target := testenv.NewTarget(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		switch r.URL.Path {
		case "/ok":
			w.WriteHeader(http.StatusOK)
		case "/flaky":
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			w.WriteHeader(http.StatusBadRequest)
		}
	})
	hooks := testenv.NewReceiver(t, namedCreds.SigningSecret)
	dead := testenv.NewReceiver(t, namedCreds.SigningSecret)
	dead.Answer(http.StatusInternalServerError)

	owners := map[string]*testenv.Client{} // task id -> its tenant's client
	create := func(c *testenv.Client, body map[string]any) {
		owners[createTask(t, c, body).ID] = c
	}
	for range 3 {
		create(named, map[string]any{"targetUrl": target.URL + "/ok", "webhookUrl": hooks.URL})
	}
	for range 2 {
		create(named, map[string]any{"targetUrl": target.URL + "/flaky", "retries": 1, "webhookUrl": dead.URL})
	}
	create(named, map[string]any{"targetUrl": target.URL + "/bad"})
	create(other, map[string]any{"targetUrl": target.URL + "/ok"})
	waiting := createTask(t, named, map[string]any{"targetUrl": target.URL + "/ok", "delay": 3600}).ID

	// The other tenant may create one task a quarter hour: its second
	// create is refused.
	if r := n.Admin.Do(t, http.MethodPut, "/admin/v1/tenants/"+otherCreds.TenantID+"/limits",
		map[string]any{"createRate": 0.001, "createBurst": 1}); r.Status != http.StatusOK {
		t.Fatalf("set limits: got %d %s", r.Status, r.Body)
	}
	create(other, map[string]any{"targetUrl": target.URL + "/ok"})
	if r := other.Do(t, http.MethodPost, "/v1/tasks", map[string]any{"targetUrl": target.URL + "/ok"}); r.Status != http.StatusTooManyRequests {
		t.Fatalf("create past the rate: got %d, want 429", r.Status)
	}

	for id, c := range owners {
		waitTask(t, c, id, 30*time.Second, func(task broker.Task) bool {
			return task.Status.Finished() && (task.Webhook == nil || webhookSettled(task))
		})
	}
	n.waitIdle(t)
	s := n.scrapeMetrics(t)
	a, o := "tenant="+namedCreds.TenantID, "tenant=other"
	s.want(t, 1, "boomerang_tasks_waiting", a)
	s.want(t, 0, "boomerang_tasks_waiting", o)

	if r := named.Do(t, http.MethodDelete, "/v1/tasks/"+waiting, nil); r.Status != http.StatusOK {
		t.Fatalf("cancel: got %d %s", r.Status, r.Body)
	}
	n.waitIdle(t)
	s = n.waitMetric(t, "boomerang_projector_lag_events", 0, "stream="+broker.StreamTasks)

	s.want(t, 7, "boomerang_tasks_created_total", a)
	s.want(t, 2, "boomerang_tasks_created_total", o)
	s.want(t, 3, "boomerang_tasks_finished_total", a, "outcome=succeeded")
	s.want(t, 3, "boomerang_tasks_finished_total", a, "outcome=failed")
	s.want(t, 1, "boomerang_tasks_finished_total", a, "outcome=canceled")
	s.want(t, 2, "boomerang_tasks_finished_total", o, "outcome=succeeded")
	s.want(t, 3, "boomerang_attempts_total", a, "outcome=succeeded", "status_class=2xx")
	s.want(t, 2, "boomerang_attempts_total", a, "outcome=retry", "status_class=5xx")
	s.want(t, 2, "boomerang_attempts_total", a, "outcome=failed", "status_class=5xx")
	s.want(t, 1, "boomerang_attempts_total", a, "outcome=failed", "status_class=4xx")
	s.want(t, 2, "boomerang_attempts_total", o, "outcome=succeeded", "status_class=2xx")
	s.want(t, 10, "boomerang_attempt_duration_seconds")
	s.want(t, 3, "boomerang_webhook_deliveries_total", a, "outcome=delivered")
	s.want(t, 2, "boomerang_webhook_deliveries_total", a, "outcome=retry")
	s.want(t, 2, "boomerang_webhook_deliveries_total", a, "outcome=dead")
	s.want(t, 0, "boomerang_webhook_deliveries_total", o, "outcome=delivered")
	s.want(t, 4, "boomerang_webhook_responses_total", a, "status_class=5xx")
	s.want(t, 7, "boomerang_webhook_delivery_duration_seconds")
	s.want(t, 2, "boomerang_dead_letters", a)
	s.want(t, 0, "boomerang_dead_letters", o)
	s.want(t, 0, "boomerang_tasks_waiting", a)
	s.want(t, 1, "boomerang_rate_limited_total", o)
	s.want(t, 0, "boomerang_rate_limited_total", a)
	s.want(t, 0, "boomerang_attempts_in_flight")
	s.want(t, 0, "boomerang_webhook_deliveries_in_flight")
	s.want(t, 0, "boomerang_projector_lag_events", "stream=BOOMERANG_TENANTS")
	for _, c := range broker.Consumers() {
		s.want(t, 0, "boomerang_consumer_pending", "consumer="+c.Name)
		if _, ok := s.value("boomerang_consumer_redelivered_total", "consumer="+c.Name); !ok {
			t.Errorf("boomerang_consumer_redelivered_total{consumer=%q}: no such series", c.Name)
		}
	}
	if _, ok := s.value("boomerang_http_requests_total", "route=/v1/tasks", "method=POST", "status=202"); !ok {
		t.Error("the HTTP series are gone")
	}
	// No series names a tenant that was not named.
	for name, f := range s {
		for _, m := range f.Metric {
			for _, l := range m.Label {
				if l.GetName() == "tenant" && l.GetValue() != namedCreds.TenantID && l.GetValue() != "other" {
					t.Errorf("%s has tenant=%q, want only %q or other", name, l.GetValue(), namedCreds.TenantID)
				}
			}
		}
	}
	checkDashboard(t, s)
	if t.Failed() {
		t.Logf("metrics:\n%s", strings.Join(sortedNames(s), "\n"))
	}
}

// checkDashboard checks that every Boomerang metric the Grafana dashboard
// in docs/ queries is one the node serves.
func checkDashboard(tb testing.TB, s scrape) {
	tb.Helper()
	data, err := os.ReadFile("../../docs/grafana-boomerang.json")
	if err != nil {
		tb.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		tb.Fatalf("docs/grafana-boomerang.json: %v", err)
	}
	names := regexp.MustCompile(`boomerang_[a-z_]+`)
	used := 0
	for _, p := range dash.Panels {
		for _, target := range p.Targets {
			for _, name := range names.FindAllString(target.Expr, -1) {
				used++
				if s[name] == nil && s[strings.TrimSuffix(name, "_bucket")] == nil {
					tb.Errorf("dashboard panel %q queries %s, which /metrics does not serve", p.Title, name)
				}
			}
		}
	}
	if used == 0 {
		tb.Error("the dashboard queries no Boomerang metric")
	}
}

// waitMetric scrapes until the series has the value, and returns that
// scrape; it fails after testenv.GiveUpAfter.
func (n *testNode) waitMetric(tb testing.TB, name string, want float64, labels ...string) scrape {
	tb.Helper()
	var s scrape
	testenv.WaitUntil(tb, fmt.Sprintf("%s%v = %v", name, labels, want), func() (bool, string) {
		s = n.scrapeMetrics(tb)
		got, ok := s.value(name, labels...)
		return ok && got == want, fmt.Sprintf("%v (present: %v)", got, ok)
	})
	return s
}

func sortedNames(s scrape) []string {
	var out []string
	for name := range s {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}
