// Package telemetry summarises readings into what FMs trend in Grafana:
// per-minute rollups of every series (min, mean, max, last, count) and
// derived per-asset signals (compressor duty cycle and starts, door-open
// minutes, defrost cycles, the temperature's trend and hours to its limit). The agent queues the resulting wire.Telemetry
// batches through the outbox like incidents, at lower priority.
//
// Periods are cut on event time. A site's period closes once a reading of
// that site is a grace past its end, or, when the site has gone quiet, once
// the wall clock is; each (site, period) is emitted once, as one batch whose
// id is deterministic, so a re-send after a crash is a JetStream duplicate.
// A reading for a period already closed is counted (Late) and left out.
// Open periods survive a restart: the agent stores them with its rule
// checkpoints (AppendSnapshot, Restore) and replays the readings and
// wall-clock closings (CloseIdle, CloseSite) it logged since, so that even
// after a SIGKILL every period is emitted once and whole (snapshot.go).
package telemetry

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/frostline/frostline/edge/wire"
	"github.com/frostline/frostline/rules"
)

// Binary signals the derived values come from.
var (
	compressor = rules.LookupMetric("compressor_on")
	door       = rules.LookupMetric("door_open")
	defrost    = rules.LookupMetric("defrost")
)

// MaxRollups is the most rollups one batch carries: a large store's
// minute is split into several batches so that each message stays well
// under NATS's default 1 MB payload limit (a rollup is about 200 bytes).
const MaxRollups = 1000

// maxHorizon is the furthest a predicted crossing is reported; further is
// "not on course".
const maxHorizon = 168.0 // hours

// maxHold is the longest a 0/1 value is assumed to hold without a new
// report; past it, time is not counted as on or off.
const maxHold = 20 * time.Minute

// Aggregator builds telemetry batches. It is not safe for concurrent use:
// the agent's engine goroutine owns it.
type Aggregator struct {
	period  time.Duration
	grace   time.Duration
	gateway string
	class   func(site, asset string) string
	sites   map[string]*siteState
	// last is the site of the previous reading: nearly every reading is
	// of the same site as the one before.
	last *siteState

	// Late counts readings that arrived after their period was emitted.
	Late uint64
}

type siteState struct {
	id        string
	watermark time.Time // newest event time seen
	arrived   time.Time // wall time of the newest reading
	closed    time.Time // periods starting before this are emitted
	periods   map[time.Time]*period
	// cur is the period of the previous reading, looked up once.
	cur *period
	// Assets and series are numbered in the order they first report:
	// index finds an asset's number by its id (the one lookup a reading
	// costs), its entry in assets lists its series' numbers, and keys
	// and holds are by series number. Periods keep their rollups and
	// derived values in slices by the same numbers rather than in maps of
	// their own, which cost an allocation per series per minute.
	index  map[string]int32
	assets []assetSeries
	keys   []seriesKey
	holds  []hold
	// lastAsset is the asset number of the previous reading: a payload
	// of several values is one asset's.
	lastAsset int32
	// order is the series numbers sorted by asset and metric, for batches.
	order []int32
	// free are emitted periods, emptied for reuse.
	free []*period
	// predictions are the rule engine's latest trend fits per asset.
	predictions map[string]rules.Prediction
}

type hold struct {
	v   float64
	at  time.Time
	has bool
}

type seriesKey struct {
	asset    string
	metric   rules.MetricID
	assetNum int32
}

// assetSeries is an asset's id and the numbers of its series.
type assetSeries struct {
	id     string
	series []seriesRef
}

type seriesRef struct {
	metric rules.MetricID
	num    int32
}

type period struct {
	start  time.Time
	series []acc     // by series number; count 0: no reading
	assets []derived // by asset number; used false: no binary signal
}

type acc struct {
	min, max, sum, last float64
	count               int
}

// derived accumulates one asset's binary signals over one period.
type derived struct {
	onSecs, seenSecs [3]float64 // compressor, door, defrost
	starts, defrosts int
	used             bool
}

// New returns an Aggregator cutting periods of the given length (a minute
// by default); class names an asset's class for the batch.
func New(periodLen time.Duration, gateway string, class func(site, asset string) string) *Aggregator {
	if periodLen <= 0 {
		periodLen = time.Minute
	}
	return &Aggregator{period: periodLen, grace: periodLen / 2, gateway: gateway, class: class, sites: map[string]*siteState{}}
}

func (a *Aggregator) site(id string) *siteState {
	if a.last != nil && a.last.id == id {
		return a.last
	}
	s := a.sites[id]
	if s == nil {
		s = &siteState{id: id, periods: map[time.Time]*period{}, index: map[string]int32{}, lastAsset: -1, predictions: map[string]rules.Prediction{}}
		a.sites[id] = s
	}
	a.last = s
	return s
}

// Predict takes the rule engine's latest trend fits (Engine.Predictions):
// the next batch of each site carries them as signals. Of several trend
// rules on one asset, the one nearest its limit wins.
func (a *Aggregator) Predict(ps []rules.Prediction) {
	for _, pr := range ps {
		s := a.site(pr.Site)
		if old, ok := s.predictions[pr.Asset]; ok && nearer(old, pr) {
			continue
		}
		s.predictions[pr.Asset] = pr
	}
}

// nearer reports whether prediction a is closer to its limit than b.
func nearer(a, b rules.Prediction) bool {
	switch {
	case a.HoursToLimit < 0:
		return false
	case b.HoursToLimit < 0:
		return true
	}
	return a.HoursToLimit <= b.HoursToLimit
}

// Add takes one reading the rule engine accepted; arrived is the wall time
// it came in.
func (a *Aggregator) Add(r rules.Reading, arrived time.Time) {
	s := a.site(r.Site)
	start := r.At.Truncate(a.period)
	if start.Before(s.closed) {
		a.Late++
		return
	}
	if r.At.After(s.watermark) {
		s.watermark = r.At
	}
	s.arrived = arrived
	p := s.open(start)
	an, n := s.series(r.Asset, r.Metric)
	if int(n) >= len(p.series) {
		p.series = append(p.series, make([]acc, int(n)+1-len(p.series))...)
	}
	c := &p.series[n]
	if c.count == 0 {
		c.min, c.max = r.Value, r.Value
	}
	c.min, c.max = math.Min(c.min, r.Value), math.Max(c.max, r.Value)
	c.sum += r.Value
	c.last = r.Value
	c.count++

	if i := signalIndex(r.Metric); i >= 0 {
		h := &s.holds[n]
		if h.has && r.At.After(h.at) {
			a.accrue(s, an, i, h, r.At)
			if h.v < 0.5 && r.Value >= 0.5 {
				d := p.asset(an)
				if r.Metric == compressor {
					d.starts++
				} else if r.Metric == defrost {
					d.defrosts++
				}
			}
		}
		h.has = true
		if h.at.IsZero() || !r.At.Before(h.at) {
			h.v, h.at = r.Value, r.At
		}
	}
	a.closeUpTo(s, s.watermark.Add(-a.grace))
}

// series returns the numbers of an asset and of its series of metric m,
// numbering them if they are new.
func (s *siteState) series(asset string, m rules.MetricID) (an, n int32) {
	if s.lastAsset >= 0 && s.assets[s.lastAsset].id == asset {
		an = s.lastAsset
	} else {
		var ok bool
		if an, ok = s.index[asset]; !ok {
			asset = strings.Clone(asset) // not the whole topic it was cut from
			an = int32(len(s.assets))
			s.index[asset] = an
			s.assets = append(s.assets, assetSeries{id: asset})
		}
		s.lastAsset = an
	}
	as := &s.assets[an]
	for _, ref := range as.series {
		if ref.metric == m {
			return an, ref.num
		}
	}
	n = int32(len(s.keys))
	as.series = append(as.series, seriesRef{m, n})
	s.keys = append(s.keys, seriesKey{asset: as.id, metric: m, assetNum: an})
	s.holds = append(s.holds, hold{})
	return an, n
}

func signalIndex(m rules.MetricID) int {
	switch m {
	case compressor:
		return 0
	case door:
		return 1
	case defrost:
		return 2
	}
	return -1
}

// accrue spreads the held value of h over [h.at, to), period by period,
// and moves h.at to to. A gap longer than maxHold counts nothing.
func (a *Aggregator) accrue(s *siteState, an int32, i int, h *hold, to time.Time) {
	if to.Sub(h.at) > maxHold {
		h.at = to
		return
	}
	for t := h.at; t.Before(to); {
		start := t.Truncate(a.period)
		end := start.Add(a.period)
		if end.After(to) {
			end = to
		}
		if !start.Before(s.closed) {
			d := s.open(start).asset(an)
			secs := end.Sub(t).Seconds()
			d.seenSecs[i] += secs
			d.onSecs[i] += secs * h.v
		}
		t = end
	}
	h.at = to
}

func (s *siteState) open(start time.Time) *period {
	// Periods are keyed by their start in UTC: a reading's time keeps the
	// zone its payload gave (or the local one, when the agent stamped
	// it), and time.Time keys of one instant in two zones differ.
	start = start.UTC()
	if s.cur != nil && s.cur.start.Equal(start) {
		return s.cur
	}
	p := s.periods[start]
	if p == nil {
		if n := len(s.free); n > 0 {
			p, s.free = s.free[n-1], s.free[:n-1]
			p.start = start
		} else {
			p = &period{start: start}
		}
		s.periods[start] = p
	}
	s.cur = p
	return p
}

// asset returns the derived values of asset number an, marked used.
func (p *period) asset(an int32) *derived {
	if int(an) >= len(p.assets) {
		p.assets = append(p.assets, make([]derived, int(an)+1-len(p.assets))...)
	}
	d := &p.assets[an]
	d.used = true
	return d
}

// closeUpTo marks every period ending at or before t as ready to emit,
// and reports whether that closed any not closed before.
func (a *Aggregator) closeUpTo(s *siteState, t time.Time) bool {
	c := t.Truncate(a.period)
	if !c.After(s.closed) {
		return false
	}
	// Binary values held into the closing periods count up to their end.
	for n := range s.holds {
		h := &s.holds[n]
		if i := signalIndex(s.keys[n].metric); h.has && i >= 0 && h.at.Before(c) && c.Sub(h.at) <= maxHold {
			a.accrue(s, s.keys[n].assetNum, i, h, c)
		}
	}
	s.closed = c
	return true
}

// CloseIdle closes the periods of every site with no reading for a grace
// of wall time (now) up to its newest reading's, and calls closed, when
// set, for each site it closed something of, with the time to give
// CloseSite to do the same again: readings alone cannot, so the agent logs
// it among them for a replay after a restart.
func (a *Aggregator) CloseIdle(now time.Time, closed func(site string, t time.Time)) {
	for site, s := range a.sites {
		if now.Sub(s.arrived) < a.grace {
			continue
		}
		t := s.watermark.Add(a.period)
		if a.closeUpTo(s, t) && closed != nil {
			closed(site, t)
		}
	}
}

// Flush returns a batch for every closed period, oldest first, per site.
// now is the wall clock: a site with no reading for a grace has its
// periods closed by it (CloseIdle).
func (a *Aggregator) Flush(dst []wire.Telemetry, now time.Time) []wire.Telemetry {
	a.CloseIdle(now, nil)
	for _, site := range sortedKeys(a.sites) {
		s := a.sites[site]
		var starts []time.Time
		for st := range s.periods {
			if st.Before(s.closed) {
				starts = append(starts, st)
			}
		}
		slices.SortFunc(starts, time.Time.Compare)
		for _, st := range starts {
			p := s.periods[st]
			dst = a.batches(dst, site, s, st, p)
			delete(s.periods, st)
			if s.cur == p {
				s.cur = nil
			}
			clear(p.series)
			clear(p.assets)
			p.series, p.assets = p.series[:0], p.assets[:0]
			s.free = append(s.free, p)
		}
	}
	return dst
}

// batches appends the period's batches: one, or several of at most
// MaxRollups rollups each, the signals riding in the first. Ids are
// deterministic: site-period, then -2, -3, ... for the parts after the
// first.
func (a *Aggregator) batches(dst []wire.Telemetry, site string, s *siteState, start time.Time, p *period) []wire.Telemetry {
	t := a.batch(site, s, start, p)
	if len(t.Rollups) <= MaxRollups {
		return append(dst, t)
	}
	all := t.Rollups
	for i, part := 0, 1; i < len(all); i, part = i+MaxRollups, part+1 {
		b := t
		b.Rollups = all[i:min(i+MaxRollups, len(all))]
		if part > 1 {
			b.Batch = fmt.Sprintf("%s-%d", t.Batch, part)
			b.Signals = nil
		}
		dst = append(dst, b)
	}
	return dst
}

func (a *Aggregator) batch(site string, s *siteState, start time.Time, p *period) wire.Telemetry {
	t := wire.Telemetry{
		Schema: wire.TelemetrySchema, Site: site, Gateway: a.gateway,
		Batch: fmt.Sprintf("%s-%s", site, start.UTC().Format("20060102T150405Z")),
	}
	// In (asset, metric) order: the series numbers in that order are
	// sorted again only when new series have appeared.
	if len(s.order) != len(s.keys) {
		s.order = s.order[:0]
		for n := range s.keys {
			s.order = append(s.order, int32(n))
		}
		slices.SortFunc(s.order, func(x, y int32) int {
			kx, ky := s.keys[x], s.keys[y]
			return cmp.Or(cmp.Compare(kx.asset, ky.asset), cmp.Compare(kx.metric.String(), ky.metric.String()))
		})
	}
	rolled := 0
	for n := range p.series {
		if p.series[n].count > 0 {
			rolled++
		}
	}
	t.Rollups = make([]wire.Rollup, 0, rolled)
	at, period := start.UTC(), a.period.Seconds()
	for _, n := range s.order {
		if int(n) >= len(p.series) || p.series[n].count == 0 {
			continue
		}
		c, k := &p.series[n], s.keys[n]
		t.Rollups = append(t.Rollups, wire.Rollup{
			Asset: k.asset, Class: a.class(site, k.asset), Metric: k.metric.String(),
			Start: at, Period: period,
			Min: c.min, Mean: c.sum / float64(c.count), Max: c.max, Last: c.last, Count: c.count,
		})
	}
	// Trends: the rule engine's own fits (its trend rules' Theil-Sen slope
	// with defrost left out, toward the rules' limits), the latest per asset.
	type slopeInfo struct{ slope, toLimit *float64 }
	slopes := map[string]slopeInfo{}
	for asset, pr := range s.predictions {
		info := slopeInfo{slope: ptr(pr.SlopePerHour)}
		if pr.HoursToLimit >= 0 && pr.HoursToLimit <= maxHorizon {
			info.toLimit = ptr(pr.HoursToLimit)
		}
		slopes[asset] = info
	}
	clear(s.predictions)
	derivedOf := map[string]*derived{}
	for an := range p.assets {
		if d := &p.assets[an]; d.used {
			asset := s.assets[an].id
			derivedOf[asset] = d
			if _, ok := slopes[asset]; !ok {
				slopes[asset] = slopeInfo{}
			}
		}
	}
	for _, asset := range sortedKeys(slopes) {
		sig := wire.Signal{Asset: asset, Class: a.class(site, asset), At: start.Add(a.period).UTC()}
		sig.SlopePerHour, sig.HoursToLimit = slopes[asset].slope, slopes[asset].toLimit
		if d := derivedOf[asset]; d != nil {
			if d.seenSecs[0] > 0 {
				duty := round(d.onSecs[0] / d.seenSecs[0])
				starts := d.starts
				sig.DutyCycle, sig.CompressorStarts = &duty, &starts
			}
			if d.seenSecs[1] > 0 {
				mins := round(d.onSecs[1] / 60)
				sig.DoorOpenMinutes = &mins
			}
			if d.seenSecs[2] > 0 {
				n := d.defrosts
				sig.DefrostCycles = &n
			}
		}
		if sig.DutyCycle != nil || sig.DoorOpenMinutes != nil || sig.DefrostCycles != nil || sig.SlopePerHour != nil {
			t.Signals = append(t.Signals, sig)
		}
	}
	return t
}

func ptr[T any](v T) *T { return &v }

func round(v float64) float64 { return math.Round(v*1000) / 1000 }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
