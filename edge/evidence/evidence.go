// Package evidence keeps, per asset, the recent history an incident
// carries to the cloud as its chart (wire.Window): the temperature the
// asset's product model follows, downsampled to min/mean/max per step,
// the modelled product temperature, and the compressor, defrost and door
// changes. It lives on the edge because the cloud may have no time-series
// database (the demo, SQLite): the evidence travels with the incident.
//
// Memory is bounded per asset: one ring of span/step buckets (72 of 32
// bytes for 6 h at 5 min) and one ring of maxChanges transitions.
package evidence

import (
	"math"
	"time"

	"github.com/frostline/frostline/edge/wire"
	"github.com/frostline/frostline/rules"
)

// ProductModel is the asset's product-temperature model: rules.Engine.
type ProductModel interface {
	Product(site, asset string) (y, limit float64, metric rules.MetricID, ok bool)
}

// maxChanges is how many signal transitions an asset keeps: a door
// opened every two minutes for six hours.
const maxChanges = 384

// chartable are the temperatures charted when the asset has no product
// model, in order of preference.
var chartable = []rules.MetricID{
	rules.LookupMetric("air_temp"), rules.LookupMetric("zone_temp"), rules.LookupMetric("supply_air_temp"),
}

// signals maps the on/off metrics to the Window's signal names.
var signals = map[rules.MetricID]uint8{
	rules.LookupMetric("compressor_on"): 0, rules.LookupMetric("defrost"): 1, rules.LookupMetric("door_open"): 2,
}

var signalNames = [3]string{wire.SignalCompressor, wire.SignalDefrost, wire.SignalDoor}

// Recorder keeps every asset's recent history. It is not safe for
// concurrent use: the agent's processor goroutine owns it.
type Recorder struct {
	step, span int64 // ns
	n          int   // buckets per asset
	assets     map[key]*history
}

type key struct{ site, asset string }

type history struct {
	metric  rules.MetricID // NoMetric until the first temperature
	buckets []bucket       // ring: a bucket's slot is (start/step) % n
	changes []change       // ring of maxChanges, next is the write slot
	next    int
	full    bool
	state   [3]int8 // each signal's last value: -1 unknown
}

type bucket struct {
	start         int64 // ns; 0 for an empty slot
	min, max, sum float32
	product       float32
	n             uint32
	hasProduct    bool
}

type change struct {
	at     int64
	signal uint8
	on     bool
}

// New returns a recorder of span of history at step resolution.
func New(step, span time.Duration) *Recorder {
	return &Recorder{step: int64(step), span: int64(span), n: int(span / step), assets: map[key]*history{}}
}

// Observe records a reading the engine accepted; model is asked for the
// modelled product temperature after it.
func (r *Recorder) Observe(rd *rules.Reading, model ProductModel) {
	sig, isSignal := signals[rd.Metric]
	if !isSignal && rd.Metric != chartable[0] && rd.Metric != chartable[1] && rd.Metric != chartable[2] {
		return
	}
	k := key{rd.Site, rd.Asset}
	h := r.assets[k]
	if h == nil {
		h = &history{metric: rules.NoMetric, state: [3]int8{-1, -1, -1}}
		r.assets[k] = h
	}
	t := rd.At.UnixNano()
	if isSignal {
		on := rd.Value >= 0.5
		v := int8(0)
		if on {
			v = 1
		}
		if h.state[sig] == v {
			return
		}
		h.state[sig] = v
		if h.changes == nil {
			h.changes = make([]change, maxChanges)
		}
		h.changes[h.next] = change{at: t, signal: sig, on: on}
		h.next = (h.next + 1) % maxChanges
		h.full = h.full || h.next == 0
		return
	}
	y, _, pm, hasModel := model.Product(rd.Site, rd.Asset)
	switch {
	case hasModel && pm != h.metric:
		// The product model says which temperature matters: chart it
		// (from now, if another was charted before the model had state).
		h.metric, h.buckets = pm, nil
	case h.metric == rules.NoMetric:
		h.metric = rd.Metric
	}
	if rd.Metric != h.metric {
		return
	}
	if h.buckets == nil {
		h.buckets = make([]bucket, r.n)
	}
	start := t - mod(t, r.step)
	b := &h.buckets[int(mod(start/r.step, int64(r.n)))]
	if b.start != start {
		if start < b.start {
			return // older than the ring holds
		}
		*b = bucket{start: start, min: float32(rd.Value), max: float32(rd.Value)}
	}
	v := float32(rd.Value)
	b.min, b.max, b.sum, b.n = min(b.min, v), max(b.max, v), b.sum+v, b.n+1
	if hasModel {
		b.product, b.hasProduct = float32(y), true
	}
}

func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

// Window returns the asset's history from span before at to the newest
// reading, or nil when there is none to chart.
func (r *Recorder) Window(site, asset string, at time.Time, model ProductModel) *wire.Window {
	h := r.assets[key{site, asset}]
	if h == nil || h.buckets == nil {
		return nil
	}
	from := at.UnixNano() - r.span
	w := &wire.Window{Metric: h.metric.String(), Unit: rules.Metrics[h.metric].Unit, Step: float64(r.step) / 1e9}
	if _, limit, _, ok := model.Product(site, asset); ok {
		w.Limit = &limit
	}
	// The ring's slots in time order: the oldest follows the newest.
	newest := 0
	for i := range h.buckets {
		if h.buckets[i].start > h.buckets[newest].start {
			newest = i
		}
	}
	for i := 1; i <= r.n; i++ {
		b := &h.buckets[(newest+i)%r.n]
		if b.n == 0 || b.start < from {
			continue
		}
		p := wire.WindowPoint{At: time.Unix(0, b.start).UTC(), Min: round(b.min), Mean: round(b.sum / float32(b.n)), Max: round(b.max)}
		p.Mean = min(max(p.Mean, p.Min), p.Max) // float32 sums may drift past the bounds
		if b.hasProduct {
			y := round(b.product)
			p.Product = &y
		}
		w.Points = append(w.Points, p)
	}
	if len(w.Points) == 0 {
		return nil
	}
	if h.changes != nil {
		count, first := h.next, 0
		if h.full {
			count, first = maxChanges, h.next
		}
		for i := range count {
			c := h.changes[(first+i)%maxChanges]
			if c.at >= from {
				w.Changes = append(w.Changes, wire.Change{At: time.Unix(0, c.at).UTC(), Signal: signalNames[c.signal], On: c.on})
			}
		}
	}
	return w
}

// round keeps two decimals: the chart needs no more, and the JSON is
// shorter.
func round(v float32) float64 { return math.Round(float64(v)*100) / 100 }
