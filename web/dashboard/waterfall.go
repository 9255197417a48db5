package dashboard

import (
	"strconv"
	"strings"

	"github.com/boomerang-dev/boomerang/broker"
)

// The task page's timing waterfall: a row per attempt and per webhook
// delivery, each an SVG bar (the page's CSP allows no inline style, and
// SVG's geometry is attributes, not style) on one scale, so rows compare.
// Each row starts at its call's start; its phases follow each other as
// they happened (broker.Timing), over a faint bar of the whole call.

// waterfallWidth is the bars' viewBox width: the longest call.
const waterfallWidth = 1000

type waterfall struct {
	Rows []waterfallRow
	// Any says some row has a timing: without one there is nothing to draw.
	Any bool
}

type waterfallRow struct {
	Label      string // "Attempt #1", "Delivery #2", "Failure delivery #1"
	Outcome    string
	DurationMs float64
	// CallW is the width of the whole call's bar.
	CallW  string
	Timing *broker.Timing
	Phases []waterfallPhase
	// Text says the phases in words, for readers of text and of screens.
	Text string
}

type waterfallPhase struct {
	Name, Class string
	Ms          float64
	X, W        string
}

// waterfallPhases names the phases in order, with their CSS class.
var waterfallPhases = []struct {
	name, class string
	ms          func(*broker.Timing) float64
}{
	{"DNS", "wf-dns", func(t *broker.Timing) float64 { return t.DNSMs }},
	{"connect", "wf-connect", func(t *broker.Timing) float64 { return t.ConnectMs }},
	{"TLS", "wf-tls", func(t *broker.Timing) float64 { return t.TLSMs }},
	{"send", "wf-send", func(t *broker.Timing) float64 { return t.SendMs }},
	{"wait (TTFB)", "wf-ttfb", func(t *broker.Timing) float64 { return t.TTFBMs }},
	{"body", "wf-body", func(t *broker.Timing) float64 { return t.BodyMs }},
}

// taskWaterfall lays out the waterfall of t's attempts and deliveries.
func taskWaterfall(t *broker.Task) waterfall {
	var w waterfall
	scale := 0.0
	for _, a := range t.Attempts {
		scale = max(scale, a.DurationMs)
	}
	var deliveries []broker.Delivery
	if t.Webhook != nil {
		deliveries = t.Webhook.Deliveries
	}
	for _, d := range deliveries {
		scale = max(scale, d.DurationMs)
	}
	for _, a := range t.Attempts {
		w.add(waterfallRowFor("Attempt #"+strconv.Itoa(a.Number), string(a.Outcome), a.DurationMs, a.Timing, scale))
	}
	for _, d := range deliveries {
		label := "Delivery #"
		if d.Receiver == broker.FailureReceiver {
			label = "Failure delivery #" // numbered apart from the webhook's
		}
		w.add(waterfallRowFor(label+strconv.Itoa(d.Number), d.Outcome, d.DurationMs, d.Timing, scale))
	}
	return w
}

func (w *waterfall) add(r waterfallRow) {
	w.Rows = append(w.Rows, r)
	w.Any = w.Any || r.Timing != nil
}

// waterfallRowFor lays out one call of durationMs on a scale whose
// longest call is scaleMs. A phase too short to see gets the narrowest
// visible bar; its length stays in its title and in the text.
func waterfallRowFor(label, outcome string, durationMs float64, tm *broker.Timing, scaleMs float64) waterfallRow {
	r := waterfallRow{Label: label, Outcome: outcome, DurationMs: durationMs, Timing: tm}
	unit := 0.0
	if scaleMs > 0 {
		unit = waterfallWidth / scaleMs
	}
	r.CallW = svgNum(durationMs * unit)
	if tm == nil {
		r.Text = "no timing recorded"
		return r
	}
	var words []string
	x := 0.0
	for _, p := range waterfallPhases {
		ms := p.ms(tm)
		if ms <= 0 {
			continue
		}
		w := max(ms*unit, 1)
		r.Phases = append(r.Phases, waterfallPhase{Name: p.name, Class: p.class, Ms: ms, X: svgNum(x), W: svgNum(w)})
		words = append(words, p.name+" "+fmtMs(ms))
		x += ms * unit
	}
	if tm.Reused {
		words = append(words, "reused connection")
	}
	if len(words) == 0 {
		words = append(words, "no phase reached")
	}
	r.Text = strings.Join(words, " · ")
	return r
}

// svgNum writes a coordinate with one decimal, never in exponent form.
func svgNum(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }
