package bench

import (
	"fmt"
	"html"
	"math"
	"sort"
	"strings"
)

// Chart draws latency against load from open-loop reports: one line per
// quantile of create→webhook (or create→target for two-hop runs), on a log
// scale, as SVG.
func Chart(reports []Report, title string) []byte {
	sort.Slice(reports, func(i, j int) bool { return reports[i].Rate < reports[j].Rate })
	const w, h, left, right, top, bottom = 720.0, 380.0, 60.0, 20.0, 40.0, 50.0
	pick := func(r Report) Quantiles {
		if r.Webhook {
			return r.CreateToWebhook
		}
		return r.CreateToTarget
	}
	maxRate, maxMs := 1.0, 1.0
	for _, r := range reports {
		maxRate = max(maxRate, r.Rate)
		maxMs = max(maxMs, pick(r).P99)
	}
	// A log scale: the quantiles at light load and at saturation differ by
	// orders of magnitude.
	// At least one decade, or every point would sit on a zero-height axis.
	lo, hi := 0.0, max(1, math.Ceil(math.Log10(niceCeil(maxMs))))
	x := func(rate float64) float64 { return left + rate/maxRate*(w-left-right) }
	y := func(ms float64) float64 {
		v := math.Log10(max(ms, 1))
		return h - bottom - (v-lo)/(hi-lo)*(h-top-bottom)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="12">`+"\n", w, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/><text x="%.0f" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", left, html.EscapeString(title))
	for e := lo; e <= hi; e++ {
		ms := math.Pow(10, e)
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#e5e7eb"/><text x="%.1f" y="%.1f" text-anchor="end" fill="#555">%g ms</text>`+"\n",
			left, w-right, y(ms), y(ms), left-6, y(ms)+4, ms)
	}
	for _, r := range reports {
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#555">%.0f</text>`+"\n", x(r.Rate), h-bottom+16, r.Rate)
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#333">tasks per second (open loop)</text>`+"\n", (left+w-right)/2, h-12)
	series := []struct {
		name  string
		color string
		get   func(Quantiles) float64
	}{{"p50", "#15803d", func(q Quantiles) float64 { return q.P50 }}, {"p90", "#b45309", func(q Quantiles) float64 { return q.P90 }}, {"p99", "#b91c1c", func(q Quantiles) float64 { return q.P99 }}}
	for i, s := range series {
		var pts []string
		for _, r := range reports {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(r.Rate), y(s.get(pick(r)))))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", s.color, strings.Join(pts, " "))
		for _, p := range pts {
			xy := strings.Split(p, ",")
			fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="3" fill="%s"/>`+"\n", xy[0], xy[1], s.color)
		}
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="12" height="4" fill="%s"/><text x="%.1f" y="%.1f">%s</text>`+"\n",
			w-right-160+float64(i)*55, top-6, s.color, w-right-144+float64(i)*55, top-1, s.name)
	}
	b.WriteString("</svg>\n")
	return []byte(b.String())
}

// niceCeil rounds up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	p := 1.0
	for p*10 < v {
		p *= 10
	}
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}
