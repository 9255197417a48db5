package bench

import (
	"encoding/xml"
	"strconv"
	"strings"
	"testing"
)

// svgDoc is the part of the chart the test reads back.
type svgDoc struct {
	Polylines []struct {
		Stroke string `xml:"stroke,attr"`
		Points string `xml:"points,attr"`
	} `xml:"polyline"`
	Texts []string `xml:"text"`
}

func TestChartDrawsOneLinePerQuantileInRateOrder(t *testing.T) {
	fast := Report{Rate: 250, Webhook: true, CreateToWebhook: Quantiles{N: 10, P50: 1, P90: 2, P99: 4}}
	slow := Report{Rate: 1000, Webhook: true, CreateToWebhook: Quantiles{N: 10, P50: 5, P90: 40, P99: 300}}
	// Given out of order: the chart sorts by rate.
	svg := Chart([]Report{slow, fast}, "latency & load")

	var doc svgDoc
	if err := xml.Unmarshal(svg, &doc); err != nil {
		t.Fatalf("not well-formed SVG: %v\n%s", err, svg)
	}
	if len(doc.Polylines) != 3 {
		t.Fatalf("got %d lines, want p50, p90 and p99", len(doc.Polylines))
	}
	for _, pl := range doc.Polylines {
		pts := strings.Fields(pl.Points)
		if len(pts) != 2 {
			t.Fatalf("line %s has %d points, want one per report", pl.Stroke, len(pts))
		}
		x0, y0 := point(t, pts[0])
		x1, y1 := point(t, pts[1])
		if x0 >= x1 {
			t.Errorf("line %s: x %v then %v, want rates left to right", pl.Stroke, x0, x1)
		}
		if y1 >= y0 {
			t.Errorf("line %s: y %v then %v, want the slower run drawn higher", pl.Stroke, y0, y1)
		}
	}
	joined := strings.Join(doc.Texts, "|")
	for _, want := range []string{"latency & load", "250", "1000", "1 ms", "1000 ms"} {
		if !strings.Contains(joined, want) {
			t.Errorf("labels %q lack %q", joined, want)
		}
	}
}

func TestChartTwoHopRunsUseCreateToTarget(t *testing.T) {
	r := Report{Rate: 100, CreateToTarget: Quantiles{N: 1, P50: 3, P90: 3, P99: 3}, CreateToWebhook: Quantiles{P50: 900, P90: 900, P99: 900}}
	var doc svgDoc
	if err := xml.Unmarshal(Chart([]Report{r}, "t"), &doc); err != nil {
		t.Fatal(err)
	}
	for _, txt := range doc.Texts {
		if txt == "1000 ms" {
			t.Fatalf("the axis reaches 1000 ms: the chart drew create→webhook for a two-hop run")
		}
	}
}

func point(t *testing.T, p string) (float64, float64) {
	t.Helper()
	xs, ys, ok := strings.Cut(p, ",")
	x, err1 := strconv.ParseFloat(xs, 64)
	y, err2 := strconv.ParseFloat(ys, 64)
	if !ok || err1 != nil || err2 != nil {
		t.Fatalf("bad point %q", p)
	}
	return x, y
}

func TestChartWithEveryLatencyUnderAMillisecond(t *testing.T) {
	r := Report{Rate: 100, CreateToTarget: Quantiles{N: 1, P50: 0.3, P90: 0.5, P99: 0.9}}
	svg := string(Chart([]Report{r}, "fast"))
	if strings.Contains(svg, "NaN") || strings.Contains(svg, "Inf") {
		t.Fatalf("coordinates are not numbers:\n%s", svg)
	}
}
