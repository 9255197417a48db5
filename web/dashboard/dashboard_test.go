package dashboard

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/broker"
)

func TestRedeliveredFlash(t *testing.T) {
	tests := []struct{ in, want string }{
		{"3", "Redelivering 3 webhook(s)."},
		{"0", "Redelivering 0 webhook(s)."},
		{"", ""},
		{"-1", ""},
		{"Your account is locked: call +1 555", ""},
	}
	for _, tt := range tests {
		if got := redeliveredFlash(tt.in); got != tt.want {
			t.Errorf("redeliveredFlash(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// The axis line is drawn where each chart's bars stand.
func TestChartAxisStandsUnderTheBars(t *testing.T) {
	start := time.Date(2030, 1, 2, 3, 0, 0, 0, time.UTC)
	stats := map[time.Time]broker.MinuteStats{start.Add(5 * time.Minute): {Succeeded: 3, Failed: 1}}
	for _, ch := range []chart{perMinuteChart(stats, start), latencyChart([]int{1, 2, 3})} {
		if len(ch.Bars) == 0 {
			t.Fatalf("%s: no bars", ch.Title)
		}
		bottom := 0.0
		for _, b := range ch.Bars {
			bottom = max(bottom, b.Y+b.H)
		}
		if bottom != ch.AxisY {
			t.Errorf("%s: the bars stand at %g, the axis is at %g", ch.Title, bottom, ch.AxisY)
		}
		if ch.AxisY <= 0 || ch.AxisY >= float64(ch.Height) {
			t.Errorf("%s: axis at %g of %d", ch.Title, ch.AxisY, ch.Height)
		}
	}
}

// The pages that use the task's and the chart's own fields render.
func TestPagesRender(t *testing.T) {
	d, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	task := &broker.Task{ID: "tsk_1", Status: broker.StatusSucceeded, CreatedAt: now,
		Spec:    broker.Spec{TargetURL: "https://e.com", Method: "POST", Retries: 2, Timeout: 30, WebhookURL: "https://h.example"},
		Webhook: &broker.Webhook{ID: "msg_1"}}
	for page, data := range map[string]any{
		"task":     taskData{Task: task},
		"tasks":    tasksData{Items: []*broker.Task{task}},
		"overview": overviewData{PerMin: perMinuteChart(nil, now), Latency: latencyChart(nil)},
	} {
		var buf bytes.Buffer
		if err := d.pages[page].ExecuteTemplate(&buf, "layout.html", view{Now: now, Data: data}); err != nil {
			t.Errorf("%s: %v", page, err)
		}
		for _, want := range map[string][]string{
			"task":     {"so at most 3 attempts", "Not delivered yet."},
			"tasks":    {`<td data-label="Attempts" class="num">0/3</td>`},
			"overview": {`y1="160"`, `y1="146"`},
		}[page] {
			if !strings.Contains(buf.String(), want) {
				t.Errorf("%s lacks %q", page, want)
			}
		}
	}
}
