package dashboard

import (
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/boomerang-dev/boomerang/web/api"

	"github.com/boomerang-dev/boomerang/broker"
)

// window sums the statistics of a span of time.
type window struct {
	Label string
	broker.MinuteStats
}

// SuccessRate is succeeded / (succeeded + failed).
func (w window) SuccessRate() string { return percent(w.Succeeded, w.Succeeded+w.Failed) }

// WebhookRate is delivered / (delivered + dead): notifications that arrived.
func (w window) WebhookRate() string { return percent(w.Delivered, w.Delivered+w.Dead) }

// P50 and P95 are attempt latencies read off the histogram: the upper bound
// of the bucket holding that quantile.
func (w window) P50() string { return latencyQuantile(w.Latency, 0.50) }

// P95 is the 95th percentile attempt latency.
func (w window) P95() string { return latencyQuantile(w.Latency, 0.95) }

func latencyQuantile(hist []int, q float64) string {
	total := 0
	for _, n := range hist {
		total += n
	}
	if total == 0 {
		return "—"
	}
	rank, seen := int(q*float64(total-1))+1, 0
	for i, n := range hist {
		seen += n
		if seen >= rank {
			return bucketLabel(i)
		}
	}
	return "—"
}

// bucketLabel names latency bucket i: its upper bound, or for the last
// bucket, what it exceeds.
func bucketLabel(i int) string {
	bounds := broker.LatencyBuckets()
	if i >= len(bounds) {
		return "> " + fmtMs(bounds[len(bounds)-1])
	}
	return "≤ " + fmtMs(bounds[i])
}

type overviewData struct {
	Status  map[string]int // by task status, now
	Webhook map[string]int // by webhook state, now
	Active  int
	Windows []window
	PerMin  chart
	Latency chart
	// Destinations are the tenant's hosts this node has limited now.
	Destinations []destinationRow
}

// chart is an SVG bar chart laid out on the server.
type chart struct {
	Title         string
	Width, Height int
	AxisY         float64 // where the bars stand: the height less the bottom margin
	Bars          []bar
	Labels        []label
	Legend        []legendItem
	Empty         bool
}

type bar struct {
	X, Y, W, H float64
	Class      string
	Title      string
}

type label struct {
	X, Y   float64
	Text   string
	Anchor string
}

type legendItem struct{ Class, Text string }

// Overview handles GET /: counts, rates and charts of the tenant's tasks.
func (d *Dashboard) Overview(c echo.Context) error {
	tenantID := api.Principal(c).TenantID
	now := d.now().UTC()
	counts, err := d.tasks.Counts(tenantID)
	if err != nil {
		return err
	}
	dayStart := now.Truncate(time.Minute).Add(-24*time.Hour + time.Minute)
	stats, err := d.tasks.Stats(tenantID, dayStart, now.Add(time.Minute))
	if err != nil {
		return err
	}
	hour, day := window{Label: "Last hour"}, window{Label: "Last 24 hours"}
	hourStart := now.Truncate(time.Minute).Add(-59 * time.Minute)
	for at, m := range stats {
		day.Add(m)
		if !at.Before(hourStart) {
			hour.Add(m)
		}
	}
	data := overviewData{
		Status:  map[string]int{},
		Webhook: map[string]int{},
		Active:  counts.Status[broker.StatusPending] + counts.Status[broker.StatusRunning] + counts.Status[broker.StatusRetrying],
		Windows: []window{hour, day},
		PerMin:  perMinuteChart(stats, hourStart),
		Latency: latencyChart(day.Latency),

		Destinations: d.limitedDestinations(tenantID, now),
	}
	for k, v := range counts.Status {
		data.Status[string(k)] = v
	}
	for k, v := range counts.Webhook {
		data.Webhook[string(k)] = v
	}
	return d.render(c, http.StatusOK, "overview", view{Title: "Overview", Nav: "overview", Data: data})
}

// perMinuteChart stacks each minute's succeeded, failed and canceled tasks.
func perMinuteChart(stats map[time.Time]broker.MinuteStats, start time.Time) chart {
	const w, h, top, bottom, left = 600.0, 180.0, 10.0, 20.0, 30.0
	ch := chart{Title: "Tasks finished per minute, last hour", Width: int(w), Height: int(h), AxisY: h - bottom,
		Legend: []legendItem{{"ok", "succeeded"}, {"bad", "failed"}, {"muted", "canceled"}}}
	peak := 0
	for i := range 60 {
		m := stats[start.Add(time.Duration(i)*time.Minute)]
		peak = max(peak, m.Succeeded+m.Failed+m.Canceled)
	}
	ch.Empty = peak == 0
	if ch.Empty {
		peak = 1
	}
	scale := (h - top - bottom) / float64(peak)
	slot := (w - left) / 60
	for i := range 60 {
		at := start.Add(time.Duration(i) * time.Minute)
		m := stats[at]
		y := h - bottom
		for _, part := range []struct {
			n     int
			class string
		}{{m.Succeeded, "ok"}, {m.Failed, "bad"}, {m.Canceled, "muted"}} {
			if part.n == 0 {
				continue
			}
			bh := float64(part.n) * scale
			y -= bh
			ch.Bars = append(ch.Bars, bar{X: left + float64(i)*slot + 1, Y: y, W: slot - 2, H: bh, Class: part.class,
				Title: fmt.Sprintf("%s: %d %s", at.Format("15:04"), part.n, part.class)})
		}
	}
	ch.Labels = []label{
		{X: left - 4, Y: top + 8, Text: fmt.Sprint(peak), Anchor: "end"},
		{X: left - 4, Y: h - bottom, Text: "0", Anchor: "end"},
		{X: left, Y: h - 4, Text: start.Format("15:04"), Anchor: "start"},
		{X: w, Y: h - 4, Text: start.Add(59*time.Minute).Format("15:04") + " UTC", Anchor: "end"},
	}
	return ch
}

// latencyChart draws the attempt latency histogram.
func latencyChart(hist []int) chart {
	const w, h, top, bottom, left = 600.0, 180.0, 10.0, 34.0, 10.0
	n := len(broker.LatencyBuckets()) + 1
	ch := chart{Title: "Attempt latency, last 24 hours", Width: int(w), Height: int(h), AxisY: h - bottom}
	peak := 0
	for _, v := range hist {
		peak = max(peak, v)
	}
	ch.Empty = peak == 0
	if ch.Empty {
		peak = 1
	}
	slot := (w - left) / float64(n)
	for i := range n {
		v := 0
		if i < len(hist) {
			v = hist[i]
		}
		name := bucketLabel(i)
		bh := float64(v) * (h - top - bottom) / float64(peak)
		ch.Bars = append(ch.Bars, bar{X: left + float64(i)*slot + 2, Y: h - bottom - bh, W: slot - 4, H: bh, Class: "ok",
			Title: fmt.Sprintf("%s: %d attempts", name, v)})
		if i%2 == 0 {
			ch.Labels = append(ch.Labels, label{X: left + float64(i)*slot + slot/2, Y: h - 18, Text: name, Anchor: "middle"})
		}
	}
	return ch
}
