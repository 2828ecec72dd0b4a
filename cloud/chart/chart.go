// Package chart draws an asset's evidence as a server-side SVG: the
// temperature (mean line over its min/max band), the modelled product
// temperature, the food-safety limit and the predicted breach, with the
// compressor, defrost and door as bands underneath and the work's events
// marked. It is hand-rolled from the standard library: a page needs one
// kind of chart, no JavaScript, and nothing the Content-Security-Policy
// must allow beyond the inline SVG the page already is.
package chart

import (
	"fmt"
	"html/template"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/frostline/frostline/edge/wire"
)

// Chart is what is drawn.
type Chart struct {
	Metric, Unit string
	Step         time.Duration // the points' period; gaps of more than two steps break the line
	Points       []wire.WindowPoint
	Limit        *float64
	// Breach is the predicted breach of the food-safety limit; Breached,
	// when it was passed.
	Breach, Breached *time.Time
	Bands            []Band
	Marks            []Mark
	// From and To bound the time axis; zero takes the points' extent
	// (and a predicted breach up to six hours beyond it).
	From, To time.Time
}

// Band is an on/off signal's on period.
type Band struct {
	Signal   string // wire.SignalCompressor, SignalDefrost or SignalDoor
	From, To time.Time
}

// Mark is an event marked on the time axis (a work order created, a
// technician on site, a fix verified), optionally a link.
type Mark struct {
	At    time.Time
	Label string
	Href  string
}

// Signals are the bands' rows, top to bottom.
var Signals = []string{wire.SignalCompressor, wire.SignalDefrost, wire.SignalDoor}

// FromWindows merges evidence windows, oldest first, into one chart: a
// point of a later window replaces one of an earlier window at the same
// time, so the clearing event's window extends the opening's. to is the
// end of the time axis for a signal still on at the end (zero: the last
// point's end).
func FromWindows(ws []*wire.Window) *Chart {
	c := &Chart{}
	byTime := map[int64]wire.WindowPoint{}
	type key struct {
		at     int64
		signal string
	}
	changes := map[key]wire.Change{}
	for _, w := range ws {
		if w == nil {
			continue
		}
		c.Metric, c.Unit, c.Step = w.Metric, w.Unit, time.Duration(w.Step*float64(time.Second))
		if w.Limit != nil {
			l := *w.Limit
			c.Limit = &l
		}
		for _, p := range w.Points {
			byTime[p.At.UnixNano()] = p
		}
		for _, ch := range w.Changes {
			changes[key{ch.At.UnixNano(), ch.Signal}] = ch
		}
	}
	for _, p := range byTime {
		c.Points = append(c.Points, p)
	}
	slices.SortFunc(c.Points, func(a, b wire.WindowPoint) int { return a.At.Compare(b.At) })
	if len(c.Points) == 0 {
		return c
	}
	end := c.Points[len(c.Points)-1].At.Add(c.Step)
	start := c.Points[0].At
	var chs []wire.Change
	for _, ch := range changes {
		chs = append(chs, ch)
	}
	slices.SortFunc(chs, func(a, b wire.Change) int { return a.At.Compare(b.At) })
	for _, sig := range Signals {
		var on *time.Time
		seen := false
		for _, ch := range chs {
			if ch.Signal != sig {
				continue
			}
			switch {
			case ch.On && on == nil:
				at := ch.At
				on = &at
			case !ch.On && on != nil:
				c.Bands = append(c.Bands, Band{Signal: sig, From: *on, To: ch.At})
				on = nil
			case !ch.On && !seen:
				// The first word is "off": it was on from the start.
				c.Bands = append(c.Bands, Band{Signal: sig, From: start, To: ch.At})
			}
			seen = true
		}
		if on != nil && on.Before(end) {
			c.Bands = append(c.Bands, Band{Signal: sig, From: *on, To: end})
		}
	}
	return c
}

// Geometry of the drawing, in SVG user units.
const (
	width    = 900
	plotTop  = 20
	plotH    = 240
	left     = 78
	right    = 12
	bandH    = 14
	bandGap  = 4
	axisH    = 22
	bandsTop = plotTop + plotH + axisH
)

// Height is the drawing's height.
func Height() int { return bandsTop + len(Signals)*(bandH+bandGap) + 4 }

// SVG draws the chart. title labels it for screen readers.
func (c *Chart) SVG(title string) template.HTML {
	var b strings.Builder
	h := Height()
	fmt.Fprintf(&b, `<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="100%%" role="img" aria-label="%s" data-points="%d" data-bands="%d">`,
		width, h, esc(title), len(c.Points), len(c.Bands))
	fmt.Fprintf(&b, `<title>%s</title>`, esc(title))
	if len(c.Points) == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#555">No readings to chart.</text></svg>`, left, plotTop+plotH/2)
		return template.HTML(b.String())
	}
	from, to := c.extent()
	lo, hi := c.valueRange()
	x := func(t time.Time) float64 {
		return left + float64(t.Sub(from))/float64(to.Sub(from))*(width-left-right)
	}
	y := func(v float64) float64 { return plotTop + (hi-v)/(hi-lo)*plotH }
	// Grid and axes.
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="#fafafa" stroke="#ccc"/>`, left, plotTop, width-left-right, plotH)
	step := niceStep((hi - lo) / 5)
	for v := math.Ceil(lo/step) * step; v <= hi; v += step {
		fmt.Fprintf(&b, `<line class="grid" x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#e3e3e3"/><text x="%d" y="%.1f" font-size="11" text-anchor="end" fill="#555">%s</text>`,
			left, width-right, y(v), y(v), left-4, y(v)+4, trim(v))
	}
	fmt.Fprintf(&b, `<text x="4" y="%d" font-size="11" fill="#555">%s</text>`, plotTop-6, esc(c.Unit))
	tick := timeStep(to.Sub(from))
	layout := "15:04"
	if tick >= 24*time.Hour {
		layout = "Jan 2"
	}
	for t := from.Truncate(tick).Add(tick); t.Before(to); t = t.Add(tick) {
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#e3e3e3"/><text x="%.1f" y="%d" font-size="11" text-anchor="middle" fill="#555">%s</text>`,
			x(t), x(t), plotTop, plotTop+plotH, x(t), plotTop+plotH+15, t.UTC().Format(layout))
	}
	// The min/max band and the mean, broken at gaps.
	for _, run := range c.runs() {
		var env, mean, prod strings.Builder
		for _, p := range run {
			fmt.Fprintf(&env, "%.1f,%.1f ", x(p.At), y(p.Max))
		}
		for i := len(run) - 1; i >= 0; i-- {
			fmt.Fprintf(&env, "%.1f,%.1f ", x(run[i].At), y(run[i].Min))
		}
		nprod := 0
		for _, p := range run {
			fmt.Fprintf(&mean, "%.1f,%.1f ", x(p.At), y(p.Mean))
			if p.Product != nil {
				fmt.Fprintf(&prod, "%.1f,%.1f ", x(p.At), y(*p.Product))
				nprod++
			}
		}
		fmt.Fprintf(&b, `<polygon class="range" points="%s" fill="#9ecae1" fill-opacity="0.5" stroke="none"/>`, strings.TrimSpace(env.String()))
		fmt.Fprintf(&b, `<polyline class="air" points="%s" fill="none" stroke="#08519c" stroke-width="1.5"/>`, strings.TrimSpace(mean.String()))
		if nprod > 0 {
			fmt.Fprintf(&b, `<polyline class="product" points="%s" fill="none" stroke="#a63603" stroke-width="2" stroke-dasharray="6 3"/>`, strings.TrimSpace(prod.String()))
		}
	}
	if c.Limit != nil {
		fmt.Fprintf(&b, `<line class="limit" x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#cb181d" stroke-width="1.5"/><text x="%d" y="%.1f" font-size="11" text-anchor="end" fill="#cb181d">limit %s</text>`,
			left, width-right, y(*c.Limit), y(*c.Limit), width-right-2, y(*c.Limit)-4, trim(*c.Limit))
	}
	// label writes text at x, to its right, or to its left near the
	// right edge so that it is not cut off.
	label := func(xx float64, yy int, size int, color, text string) {
		anchor, dx := "start", 3.0
		if xx > width-right-130 {
			anchor, dx = "end", -3
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="%d" fill="%s" text-anchor="%s">%s</text>`, xx+dx, yy, size, color, anchor, esc(text))
	}
	vline := func(class string, at time.Time, color, text string) {
		fmt.Fprintf(&b, `<line class="%s" x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="%s" stroke-width="1.5" stroke-dasharray="4 3"/>`,
			class, x(at), x(at), plotTop, plotTop+plotH, color)
		label(x(at), plotTop+12, 11, color, text)
	}
	if c.Breached != nil && !c.Breached.Before(from) && !c.Breached.After(to) {
		vline("breach", *c.Breached, "#cb181d", "limit passed "+c.Breached.UTC().Format("15:04"))
	} else if c.Breach != nil && !c.Breach.Before(from) && !c.Breach.After(to) {
		vline("breach", *c.Breach, "#cb181d", "predicted breach "+c.Breach.UTC().Format("15:04"))
	}
	// Marks' labels stack downwards where marks are close together.
	row, lastX := 0, math.Inf(-1)
	for _, m := range c.Marks {
		if m.At.Before(from) || m.At.After(to) {
			continue
		}
		mx := x(m.At)
		if mx-lastX < 90 {
			row++
		} else {
			row = 0
		}
		lastX = mx
		if m.Href != "" {
			fmt.Fprintf(&b, `<a href="%s">`, esc(m.Href))
		}
		fmt.Fprintf(&b, `<g class="mark"><line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#54278f" stroke-width="1"/>`, mx, mx, plotTop, plotTop+plotH)
		label(mx, plotTop+28+12*(row%8), 10, "#54278f", m.Label)
		b.WriteString(`</g>`)
		if m.Href != "" {
			b.WriteString(`</a>`)
		}
	}
	// The signals' rows.
	colors := map[string]string{wire.SignalCompressor: "#31a354", wire.SignalDefrost: "#6baed6", wire.SignalDoor: "#fd8d3c"}
	for i, sig := range Signals {
		top := bandsTop + i*(bandH+bandGap)
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="10" text-anchor="end" fill="#555">%s</text><rect x="%d" y="%d" width="%d" height="%d" fill="#f0f0f0"/>`,
			left-4, top+bandH-3, sig, left, top, width-left-right, bandH)
		for _, band := range c.Bands {
			if band.Signal != sig || band.To.Before(from) || band.From.After(to) {
				continue
			}
			x0, x1 := x(maxTime(band.From, from)), x(minTime(band.To, to))
			fmt.Fprintf(&b, `<rect class="band %s" x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"/>`, sig, x0, top, math.Max(x1-x0, 1), bandH, colors[sig])
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // built above: numbers, and text escaped by esc
}

// extent is the time axis: the chart's From and To, else the points'
// extent and a predicted breach up to six hours after them.
func (c *Chart) extent() (from, to time.Time) {
	from, to = c.From, c.To
	if from.IsZero() {
		from = c.Points[0].At
	}
	if to.IsZero() {
		to = c.Points[len(c.Points)-1].At.Add(c.Step)
		if c.Breach != nil && c.Breach.After(to) && c.Breach.Sub(to) <= 6*time.Hour {
			to = c.Breach.Add(15 * time.Minute)
		}
	}
	if !to.After(from) {
		to = from.Add(time.Hour)
	}
	return from, to
}

// valueRange is the value axis: every point's min and max, the product
// and the limit, with a margin.
func (c *Chart) valueRange() (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, p := range c.Points {
		lo, hi = math.Min(lo, p.Min), math.Max(hi, p.Max)
		if p.Product != nil {
			lo, hi = math.Min(lo, *p.Product), math.Max(hi, *p.Product)
		}
	}
	if c.Limit != nil {
		lo, hi = math.Min(lo, *c.Limit), math.Max(hi, *c.Limit)
	}
	pad := math.Max((hi-lo)*0.08, 0.5)
	return lo - pad, hi + pad
}

// runs splits the points where more than two steps pass between them.
func (c *Chart) runs() [][]wire.WindowPoint {
	var out [][]wire.WindowPoint
	start := 0
	for i := 1; i <= len(c.Points); i++ {
		if i == len(c.Points) || (c.Step > 0 && c.Points[i].At.Sub(c.Points[i-1].At) > 2*c.Step) {
			out = append(out, c.Points[start:i])
			start = i
		}
	}
	return out
}

// niceStep rounds a raw axis step up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

// timeStep picks the time axis' tick for a span: about six to twelve
// ticks.
func timeStep(span time.Duration) time.Duration {
	for _, s := range []time.Duration{15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour, 48 * time.Hour, 96 * time.Hour} {
		if span/s <= 12 {
			return s
		}
	}
	return 7 * 24 * time.Hour
}

func trim(v float64) string {
	if v == 0 {
		v = 0 // not "-0"
	}
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.1f", v), "0"), ".")
}

func esc(s string) string { return template.HTMLEscapeString(s) }

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
