package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Reading is one sample of one metric of one asset, at its event time.
type Reading struct {
	Site   string
	Asset  string
	Metric MetricID
	At     time.Time
	Value  float64
}

// EventType says what happened to an incident.
type EventType string

// Incident event types.
const (
	Opened  EventType = "opened"
	Updated EventType = "updated"
	Cleared EventType = "cleared"
)

// SiteAsset is the asset id a site-wide incident (gateway_offline) carries.
const SiteAsset = "*"

// Event is one incident event: an episode opened, updated or cleared. It is
// what the edge forwards to the cloud and what a replay prints, one JSON
// object per line.
type Event struct {
	Event       EventType  `json:"event"`
	Incident    string     `json:"incident"`
	Seq         int        `json:"seq"`
	Site        string     `json:"site"`
	Asset       string     `json:"asset"`
	AssetClass  string     `json:"asset_class,omitempty"`
	Rule        string     `json:"rule"`
	Problem     string     `json:"problem"`
	Priority    string     `json:"priority"`
	Trade       string     `json:"trade"`
	Title       string     `json:"title"`
	Summary     string     `json:"summary"`
	At          time.Time  `json:"at"`
	Started     time.Time  `json:"started"`
	Metric      string     `json:"metric,omitempty"`
	Value       float64    `json:"value"`
	Peak        float64    `json:"peak"`
	Limit       *float64   `json:"limit,omitempty"`
	OutOfRange  float64    `json:"out_of_range_s"`
	Occurrences int        `json:"occurrences"`
	PredictedAt *time.Time `json:"predicted_at,omitempty"`
	// Affected names, on a group incident (a compressor rack's), the
	// served assets that lost cooling with it.
	Affected []string `json:"affected,omitempty"`
	// PredictedBreachAt is, on a temperature incident, when the asset's
	// modelled product passes its food-safety limit if the air stays
	// where it is; BreachedAt, when it already has.
	PredictedBreachAt *time.Time `json:"predicted_breach_at,omitempty"`
	BreachedAt        *time.Time `json:"breached_at,omitempty"`
}

// MsgID is the event's idempotency key: the same event always gets the
// same id, so a retried delivery is recognised downstream.
func (e *Event) MsgID() string { return e.Incident + "-" + strconv.Itoa(e.Seq) }

// Errors a reading can be refused with. They are values, so refusing a
// reading costs no allocation; the Engine also counts them in Stats.
var (
	ErrUnknownSite   = errors.New("rules: unknown site")
	ErrUnknownAsset  = errors.New("rules: unknown asset")
	ErrUnknownMetric = errors.New("rules: unknown metric")
	ErrLate          = errors.New("rules: reading older than the allowed lateness")
	ErrBadValue      = errors.New("rules: value is not a finite number")
	ErrBadTime       = errors.New("rules: timestamp outside 1900-2200")
)

// Options tune an Engine. The zero value gives the defaults.
type Options struct {
	// Lateness is how far behind a series' newest reading an out-of-order
	// reading may be and still be used; older ones are counted and dropped.
	// Default 5m.
	Lateness time.Duration
	// MaxGap is the longest silence between two samples that durations
	// still count across; a longer gap restarts duration counting. Default
	// 20m.
	MaxGap time.Duration
	// Stale is how long a held value (a defrost or mode signal reported on
	// change) is trusted after its asset last reported anything; a state
	// is never carried across an outage. Default 30m.
	Stale time.Duration
	// MaxAhead is how far ahead of the newest event time seen a reading may
	// be before it needs its series' next reading to confirm the jump.
	// Default 1h.
	MaxAhead time.Duration
	// Despike is the largest jump, in C, a temperature may make between two
	// consecutive samples without being confirmed by the next one; a lone
	// spike is dropped as a glitch. Default 5 C; negative disables.
	Despike float64
}

func (o *Options) defaults() {
	if o.Lateness == 0 {
		o.Lateness = 5 * time.Minute
	}
	if o.MaxGap == 0 {
		o.MaxGap = 20 * time.Minute
	}
	if o.Stale == 0 {
		o.Stale = 30 * time.Minute
	}
	if o.MaxAhead == 0 {
		o.MaxAhead = time.Hour
	}
	if o.Despike == 0 {
		o.Despike = 5
	}
}

// Stats counts what an Engine has seen.
type Stats struct {
	Readings      uint64 // readings evaluated
	Reordered     uint64 // out of order but within lateness: used for values only
	Late          uint64 // older than lateness: dropped
	Held          uint64 // far ahead of the watermark: held for their series to confirm
	Future        uint64 // held, then contradicted by the series: dropped
	UnknownSite   uint64
	UnknownAsset  uint64
	UnknownMetric uint64
	BadValue      uint64
	Glitches      uint64 // lone temperature spikes dropped by despiking
	Inhibited     uint64 // incidents held back: their group's incident explains them
	Evaluations   uint64 // rule instance evaluations
	Opened        uint64
	Updated       uint64
	Cleared       uint64
	MarkedOffline uint64 // missing-data incidents opened by a last will or a DEATH
}

const numMetrics = 16

// held is an asset's latest value of one metric, sample-and-hold.
type held struct {
	V       float64 `json:"v"`
	Prev    float64 `json:"prev"`
	At      int64   `json:"at"`
	PrevAt  int64   `json:"prev_at"` // the sample before At
	Changed int64   `json:"changed"`
	// PrevChanged is when the value before V began.
	PrevChanged int64   `json:"prev_changed"`
	Interval    float64 `json:"interval"` // learned reporting interval, ns (EWMA)
	Changes     uint32  `json:"changes"`
	Slow        uint8   `json:"slow,omitempty"` // long intervals in a row
	Seen        bool    `json:"seen"`
	// A sample held back by despiking until the next one confirms it.
	Suspect   bool    `json:"suspect,omitempty"`
	SuspectV  float64 `json:"suspect_v,omitempty"`
	SuspectAt int64   `json:"suspect_at,omitempty"`
	// An unconfirmed reading far ahead of the watermark.
	FutureAt int64   `json:"future_at,omitempty"`
	FutureV  float64 `json:"future_v,omitempty"`
	// Newest is the newest event time of any reading accepted for the
	// series, in order or not: how the edge recognises a message the
	// broker redelivers after a crash (Engine.Newest).
	Newest int64 `json:"newest,omitempty"`
}

type assetKey struct{ site, asset string }

// unseen is the held value of a metric an asset has not reported. It is
// shared and only ever read.
var unseen held

// materialize gives the asset's instances their states, on the asset's
// first reading (or a restore): until then every state would be zero, and
// nothing but a reading of the asset moves them (a tick of a state, a
// transitions or a missing-data rule does nothing for an asset never
// heard from).
func (a *assetState) materialize() {
	if a.live {
		return
	}
	a.live = true
	for i := range a.insts {
		a.insts[i].st = newState(a.insts[i].rule)
	}
}

// index lists the asset's instances by the metrics they take, in rule
// order.
func (a *assetState) index() {
	var feeds [numMetrics][]uint16
	for i := range a.insts {
		for _, m := range a.insts[i].metrics() {
			feeds[m] = append(feeds[m], uint16(i))
		}
	}
	a.byMetric = a.byMetric[:0]
	for m := range feeds {
		a.metricAt[m] = uint16(len(a.byMetric))
		a.byMetric = append(a.byMetric, feeds[m]...)
	}
	a.metricAt[numMetrics] = uint16(len(a.byMetric))
	a.byMetric = slices.Clip(a.byMetric)
}

// fed returns the positions in insts of the instances metric m feeds.
func (a *assetState) fed(m MetricID) []uint16 {
	return a.byMetric[a.metricAt[m]:a.metricAt[m+1]]
}

// get returns metric m's held value for reading.
func (a *assetState) get(m MetricID) *held {
	if a.held != nil {
		if h := a.held[m]; h != nil {
			return h
		}
	}
	return &unseen
}

// slot returns metric m's held value for writing, made on first use.
func (a *assetState) slot(m MetricID) *held {
	if a.held == nil {
		a.held = new([numMetrics]*held)
	}
	h := a.held[m]
	if h == nil {
		h = new(held)
		a.held[m] = h
	}
	return h
}

// heldValue returns metric m's held value, nil for none.
func (a *assetState) heldValue(m MetricID) *held {
	if a.held == nil {
		return nil
	}
	return a.held[m]
}

type siteState struct {
	site     *Site
	lastSeen int64
	resumed  int64 // when the site last came back from a silence
	assets   []*assetState
	scoped   []*instance // site-scope rules
	whole    assetState  // the site-scope rules' asset: none, just the site
	ticking  []*instance // rules of this site's assets driven by time
}

type assetState struct {
	site  *siteState
	asset *Asset
	// held has a value for each metric the asset has reported, nil for
	// the others: an asset reports a handful of the 16 metrics, and a
	// held value is 104 bytes. The array itself is made on the first
	// report: a store's configured assets need not cost 128 bytes each
	// before they speak.
	held     *[numMetrics]*held
	lastSeen int64
	// insts are the asset's rule instances, in rule order, in one block.
	insts []instance
	// byMetric lists the instances each metric feeds, by metric, as
	// positions in insts: those of metric m are
	// byMetric[metricAt[m]:metricAt[m+1]] (a slice of pointers per metric
	// was 384 bytes an asset, most of them empty).
	byMetric []uint16
	metricAt [numMetrics + 1]uint16
	live     bool // the instances have their states (materialize)
	// server is the asset that serves this one (served_by), nil for none;
	// served are the assets this one serves.
	server *assetState
	served []*assetState
}

// Engine evaluates a rule Set over readings. It is not safe for concurrent
// use: one goroutine owns it (the edge's pipeline or a replay).
type Engine struct {
	set      *Set
	opts     Options
	sites    []*siteState
	siteByID map[string]*siteState
	assets   map[assetKey]*assetState
	wm       int64 // watermark: the newest event time seen, ns
	nextScan int64
	out      []Event
	stats    Stats
	scratch  []float64
	// trends are the trend instances, for Predictions; lastFit is the
	// newest fit any of them made, so that a call with nothing new
	// returns without looking.
	trends  []*instance
	lastFit int64
}

const scanEvery = int64(30 * time.Second)

// siteSilence is a gap in all of a site's readings long enough to call an
// outage: after one, each sensor gets its full silence allowance again
// before it is called offline, since its next report may simply not be
// due yet.
const siteSilence = int64(5 * time.Minute)

// NewEngine prepares an engine for the given sites: one rule instance per
// (asset, matching rule), all state preallocated.
func NewEngine(set *Set, sites []*Site, opts Options) (*Engine, error) {
	opts.defaults()
	e := &Engine{
		set: set, opts: opts,
		siteByID: make(map[string]*siteState, len(sites)),
		assets:   make(map[assetKey]*assetState),
		scratch:  make([]float64, 0, trendPoints*trendPoints/2),
	}
	sorted := slices.Clone(sites)
	slices.SortFunc(sorted, func(a, b *Site) int { return strings.Compare(a.ID, b.ID) })
	for _, s := range sorted {
		if _, dup := e.siteByID[s.ID]; dup {
			return nil, fmt.Errorf("rules: site %q given twice", s.ID)
		}
		ss := &siteState{site: s}
		ss.whole.site = ss
		e.siteByID[s.ID] = ss
		e.sites = append(e.sites, ss)
		for i := range s.Assets {
			a := &s.Assets[i]
			as := &assetState{site: ss, asset: a}
			ss.assets = append(ss.assets, as)
			e.assets[assetKey{s.ID, a.ID}] = as
		}
		for _, as := range ss.assets {
			if id := as.asset.ServedBy; id != "" {
				if srv := e.assets[assetKey{s.ID, id}]; srv != nil && srv != as {
					as.server = srv
					srv.served = append(srv.served, as)
				}
			}
		}
		// Which rules run for each asset, in rule order; then each
		// asset's instances are made in one block.
		rulesOf := make([][]*compiled, len(ss.assets))
		for _, c := range set.rules {
			if c.kind == KindMissing && c.siteScope {
				if matchSite(c, s) {
					ss.scoped = append(ss.scoped, newSiteInstance(c, ss))
				}
				continue
			}
			for k, as := range ss.assets {
				if !matchAsset(c, s, as.asset) {
					continue
				}
				rc := c
				if o, ok := as.asset.Overrides[c.id]; ok {
					if o.Disabled {
						continue
					}
					rc = c.withOverride(o)
				}
				rulesOf[k] = append(rulesOf[k], rc)
			}
		}
		for k, as := range ss.assets {
			if len(rulesOf[k]) > math.MaxUint16/numMetrics {
				return nil, fmt.Errorf("rules: asset %q of site %q matches %d rules (at most %d)", as.asset.ID, s.ID, len(rulesOf[k]), math.MaxUint16/numMetrics)
			}
			as.insts = make([]instance, len(rulesOf[k]))
			for j, rc := range rulesOf[k] {
				as.insts[j] = instance{rule: rc, asset: as}
			}
			as.index()
		}
		// The time-driven instances, in rule order then asset order: the
		// order Advance ticks them in.
		next := make([]int, len(ss.assets))
		for _, c := range set.rules {
			for k, as := range ss.assets {
				if j := next[k]; j < len(as.insts) && as.insts[j].rule.id == c.id {
					next[k]++
					if as.insts[j].ticks() {
						ss.ticking = append(ss.ticking, &as.insts[j])
					}
				}
			}
		}
	}
	for _, ss := range e.sites {
		for _, a := range ss.assets {
			for i := range a.insts {
				if a.insts[i].rule.kind == KindTrend {
					e.trends = append(e.trends, &a.insts[i])
				}
			}
		}
	}
	return e, nil
}

// noteFits brings lastFit up to the trend instances' fits (after a
// restore).
func (e *Engine) noteFits() {
	for _, in := range e.trends {
		if ts, ok := in.st.(*trendState); ok {
			e.lastFit = max(e.lastFit, ts.FitAt)
		}
	}
}

func matchSite(c *compiled, s *Site) bool {
	return len(c.src.Match.Site) == 0 || slices.Contains(c.src.Match.Site, s.ID)
}

func matchAsset(c *compiled, s *Site, a *Asset) bool {
	m := &c.src.Match
	return matchSite(c, s) &&
		(len(m.Class) == 0 || slices.Contains(m.Class, a.Class)) &&
		(len(m.Asset) == 0 || slices.Contains(m.Asset, a.ID))
}

// Stats returns what the engine has counted so far.
func (e *Engine) Stats() Stats { return e.stats }

// Watermark returns the newest event time the engine has seen.
func (e *Engine) Watermark() time.Time {
	if e.wm == 0 {
		return time.Time{}
	}
	return time.Unix(0, e.wm).UTC()
}

// Instances returns how many (asset, rule) instances the engine runs.
func (e *Engine) Instances() int {
	n := 0
	for _, s := range e.sites {
		n += len(s.scoped)
		for _, a := range s.assets {
			n += len(a.insts)
		}
	}
	return n
}

// AssetClass returns a configured asset's class, "" for an asset the
// engine does not know.
func (e *Engine) AssetClass(site, asset string) string {
	if a := e.assets[assetKey{site, asset}]; a != nil {
		return a.asset.Class
	}
	return ""
}

// Newest returns the newest event time (unix ns) of a reading the engine
// accepted for the series, 0 for none.
func (e *Engine) Newest(site, asset string, m MetricID) int64 {
	a := e.assets[assetKey{site, asset}]
	if a == nil || m >= numMetrics {
		return 0
	}
	return a.get(m).Newest
}

// NoteNewest raises the series' Newest to t: how an edge checkpoint of an
// earlier version, which kept these times itself, hands them over.
func (e *Engine) NoteNewest(site, asset string, m MetricID, t int64) {
	if a := e.assets[assetKey{site, asset}]; a != nil && m < numMetrics {
		h := a.slot(m)
		h.Newest = max(h.Newest, t)
	}
}

// HasAsset reports whether the engine knows the asset.
func (e *Engine) HasAsset(site, asset string) bool {
	_, ok := e.assets[assetKey{site, asset}]
	return ok
}

// Observe evaluates one reading and appends the incident events it causes
// (including those of time-driven rules that came due) to dst. A refused
// reading returns one of the Err values above and is counted.
func (e *Engine) Observe(dst []Event, r Reading) ([]Event, error) {
	a := e.assets[assetKey{r.Site, r.Asset}]
	if a == nil {
		if e.siteByID[r.Site] == nil {
			e.stats.UnknownSite++
			return dst, ErrUnknownSite
		}
		e.stats.UnknownAsset++
		return dst, ErrUnknownAsset
	}
	if r.Metric >= numMetrics || int(r.Metric) >= len(Metrics) {
		e.stats.UnknownMetric++
		return dst, ErrUnknownMetric
	}
	if math.IsNaN(r.Value) || math.IsInf(r.Value, 0) {
		e.stats.BadValue++
		return dst, ErrBadValue
	}
	if y := r.At.Year(); y < 1900 || y > 2200 {
		e.stats.BadValue++
		return dst, ErrBadTime // outside what nanosecond event time holds
	}
	a.materialize()
	t := r.At.UnixNano()
	h := a.slot(r.Metric)
	if h.Seen && t < h.At-int64(e.opts.Lateness) {
		e.stats.Late++
		return dst, ErrLate
	}
	// A reading far ahead of everything seen so far is held back until its
	// series' next reading agrees: a clock gone wrong would otherwise make
	// every later reading of the series look late, while a real jump (a
	// store back after hours offline) only waits one reading.
	ahead := int64(e.opts.MaxAhead)
	var confirmed bool
	if h.FutureAt != 0 {
		if confirmed = t >= h.FutureAt-ahead && t <= h.FutureAt+ahead; !confirmed {
			e.stats.Future++ // the held one was wrong: drop it
			h.FutureAt = 0
		}
	}
	h.Newest = max(h.Newest, t)
	if e.wm != 0 && t > e.wm+ahead && !confirmed {
		h.FutureAt, h.FutureV = t, r.Value
		e.stats.Held++
		return dst, nil
	}
	e.out = dst
	if confirmed {
		first := r
		first.At, first.Value = time.Unix(0, h.FutureAt), h.FutureV
		h.FutureAt = 0
		e.observe(a, first)
	}
	e.observe(a, r)
	dst, e.out = e.out, nil
	return dst, nil
}

// observe evaluates an accepted reading; events go to e.out.
func (e *Engine) observe(a *assetState, r Reading) {
	t := r.At.UnixNano()
	h := a.slot(r.Metric)
	if h.Seen && t < h.At-int64(e.opts.Lateness) {
		e.stats.Late++
		return
	}
	e.advance(t)
	e.stats.Readings++
	ss := a.site
	if ss.lastSeen != 0 && t-ss.lastSeen > siteSilence {
		ss.resumed = t
	}
	if t > ss.lastSeen {
		ss.lastSeen = t
	}
	for _, in := range ss.scoped {
		if in.ep != nil {
			e.clear(in, t, r.Value)
		}
	}
	if t > a.lastSeen {
		a.lastSeen = t
	}
	if h.Seen && t < h.At {
		// Out of order within lateness: the held sequence stays as it is
		// (it is newer); value rules see the sample at the series' time.
		e.stats.Reordered++
		for _, j := range a.fed(r.Metric) {
			e.stats.Evaluations++
			in := &a.insts[j]
			in.st.late(e, in, r.Value)
		}
	} else if e.opts.Despike > 0 && Metrics[r.Metric].Unit == "C" {
		e.despike(a, r.Metric, t, r.Value)
	} else {
		e.sample(a, r.Metric, t, r.Value)
	}
}

// despike holds back a temperature sample that jumps further from the
// last one than any physical change in one reporting interval could (a
// compressor failure warms a box by 2-12 C an hour), and lets the next
// sample decide: if it agrees with the jump, both go through in order; if
// it returns to where the series was, the jump was a glitch and is
// dropped. Only a suspicious sample is ever delayed, and by one interval.
func (e *Engine) despike(a *assetState, m MetricID, t int64, v float64) {
	h := a.slot(m)
	if h.Suspect {
		h.Suspect = false
		if math.Abs(v-h.SuspectV) <= e.opts.Despike {
			e.sample(a, m, h.SuspectAt, h.SuspectV)
		} else {
			e.stats.Glitches++
		}
	}
	if h.Seen && math.Abs(v-h.V) > e.opts.Despike && t-h.At <= int64(e.opts.MaxGap) {
		h.Suspect, h.SuspectV, h.SuspectAt = true, v, t
		return
	}
	e.sample(a, m, t, v)
}

// sample records an in-order sample of metric m and runs the rules that
// read it.
func (e *Engine) sample(a *assetState, m MetricID, t int64, v float64) {
	h := a.slot(m)
	prev := h.V
	if h.Seen {
		if dt := float64(t - h.At); dt > 0 && dt < float64(6*time.Hour) {
			switch {
			case h.Interval == 0:
				h.Interval = dt
			case dt <= 4*h.Interval:
				h.Interval += (dt - h.Interval) / 8
				h.Slow = 0
			default:
				// An outage's gap is not the sensor's cadence; three long
				// intervals in a row are (the sensor was reconfigured).
				if h.Slow++; h.Slow >= 3 {
					h.Interval, h.Slow = dt, 0
				}
			}
		}
		if v != h.V {
			h.Prev, h.PrevChanged, h.Changed = h.V, h.Changed, t
			h.Changes++
		}
	} else {
		h.Prev, h.Changed, h.Seen = v, t, true
		prev = v
	}
	h.V, h.PrevAt, h.At = v, h.At, t
	for _, j := range a.fed(m) {
		e.stats.Evaluations++
		in := &a.insts[j]
		in.st.observe(e, in, m, t, v, prev)
	}
	if Metrics[m].Unit == "C" {
		e.escalateOnBreach(a, t)
	}
}

// Advance moves event time forward to t without a reading, so that
// time-driven rules (missing data, state durations) come due: the edge
// calls it on a wall-clock ticker, a replay never needs to.
func (e *Engine) Advance(dst []Event, t time.Time) []Event {
	e.out = dst
	e.advance(t.UnixNano())
	dst, e.out = e.out, nil
	return dst
}

func (e *Engine) advance(t int64) {
	if t <= e.wm {
		return
	}
	e.wm = t
	if t < e.nextScan {
		return
	}
	e.nextScan = t - t%scanEvery + scanEvery
	for _, s := range e.sites {
		for _, in := range s.scoped {
			in.st.tick(e, in, t)
		}
		for _, in := range s.ticking {
			if in.st != nil { // nil: its asset has not reported yet
				in.st.tick(e, in, t)
			}
		}
	}
}

// fresh reports whether a held value can be trusted at t: its asset has
// reported something (not necessarily this metric: a door contact may
// report only on change) within the Stale window. Across an outage, no
// state is carried.
func (e *Engine) fresh(a *assetState, h *held, t int64) bool {
	return h.Seen && t-a.lastSeen <= int64(e.opts.Stale)
}

// assetSilent reports whether an asset has missed three of its fastest
// sensor's reports (and at least 10 min): a device gone quiet, whose last
// door or compressor state is no evidence that the state still holds.
func (e *Engine) assetSilent(a *assetState, t int64) bool {
	fastest := math.Inf(1)
	for m := range numMetrics {
		if h := a.heldValue(MetricID(m)); h != nil && h.Seen && h.Interval > 0 {
			fastest = math.Min(fastest, h.Interval)
		}
	}
	if math.IsInf(fastest, 1) {
		return false
	}
	return t-a.lastSeen > max(int64(3*fastest), int64(10*time.Minute))
}

// presentFor is how recently an asset must have reported a metric for a
// `present` condition to hold.
const presentFor = int64(6 * time.Hour)

// test evaluates one condition (not a closed-hours one) against the held
// values at t. holding says whether the condition holds now; recovering
// whether it ended less than its recovery ago.
func (e *Engine) test(a *assetState, c *cond, t int64) (holding, recovering bool) {
	h := a.get(c.metric)
	if c.op == 'p' {
		return (h.Seen && t-h.At <= presentFor) == c.present, false
	}
	if !e.fresh(a, h, t) {
		return false, false
	}
	if c.test(h.V) {
		if on := c.endedAt(a, h.Changed, t+1); on != 0 {
			// The signal that ends it came on after it began: it is over
			// since then, whatever its own signal still reads.
			return false, c.recovery > 0 && t-on < c.recovery
		}
		// A condition counts once it has held for min (a door propped
		// open, not a stocking run) and until it has held for max (a
		// defrost signal stuck on is a fault, not a defrost).
		held := t - h.Changed
		return held >= c.min && (c.max == 0 || held <= c.max), false
	}
	end := h.Changed // the recovery runs from the end: the signal's, or the ending signal's before it
	if on := c.endedAt(a, h.PrevChanged, h.Changed); on != 0 {
		end = on
	}
	return false, c.recovery > 0 && c.test(h.Prev) && t-end < c.recovery && h.Changed-h.PrevChanged >= c.min
}

// endedAt returns when the condition's ending signal (ended_by) last came
// on, if that was within (from, to); else 0.
func (c *cond) endedAt(a *assetState, from, to int64) int64 {
	if c.endedBy == NoMetric {
		return 0
	}
	var on int64
	switch d := a.get(c.endedBy); {
	case d.Seen && d.V == 1:
		on = d.Changed
	case d.Seen && d.Prev == 1:
		on = d.PrevChanged
	}
	if on > from && on < to {
		return on
	}
	return 0
}

// suppressed reports whether any suppress condition of the instance's rule
// holds at t, or ended less than its recovery ago.
func (e *Engine) suppressed(in *instance, t int64) bool {
	for i := range in.rule.suppress {
		c := &in.rule.suppress[i]
		if c.op == 'c' {
			if in.site().site.Closed(time.Unix(0, t)) {
				return true
			}
			continue
		}
		if holding, recovering := e.test(in.asset, c, t); holding || recovering {
			return true
		}
	}
	return false
}

// gated reports whether every when condition holds at t.
func (e *Engine) gated(in *instance, t int64) bool {
	for i := range in.rule.when {
		c := &in.rule.when[i]
		if c.op == 'c' {
			if !in.site().site.Closed(time.Unix(0, t)) {
				return false
			}
			continue
		}
		if holding, _ := e.test(in.asset, c, t); !holding {
			return false
		}
	}
	return true
}

// episode is the incident an instance has open, if any.
type episode struct {
	Open        bool    `json:"open"`
	ID          string  `json:"id,omitempty"`
	Start       int64   `json:"start,omitempty"`
	OpenedAt    int64   `json:"opened_at,omitempty"`
	Seq         int     `json:"seq,omitempty"`
	Priority    string  `json:"priority,omitempty"`
	Esc         int     `json:"esc,omitempty"` // escalations applied
	Peak        float64 `json:"peak,omitempty"`
	Last        float64 `json:"last,omitempty"`
	OutOfRange  int64   `json:"oor,omitempty"`
	Occurrences int     `json:"occ,omitempty"`
	LastUpdate  int64   `json:"last_update,omitempty"`
	Predicted   int64   `json:"predicted,omitempty"`
	Limit       float64 `json:"limit,omitempty"`
	HasLimit    bool    `json:"has_limit,omitempty"`
	// Inhibited is the id of the group incident (on the equipment that
	// serves this asset) that explains this episode: nothing is emitted
	// for it.
	Inhibited string `json:"inhibited,omitempty"`
	// What the episode was opened as, so that it can still be cleared if
	// its rule is removed by a reload.
	Problem string `json:"problem,omitempty"`
	Trade   string `json:"trade,omitempty"`
	Class   string `json:"class,omitempty"`
}

// IncidentID derives an incident's id from what identifies its episode.
func IncidentID(site, asset, rule string, start time.Time) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%d", site, asset, rule, start.UnixNano())
	return "inc_" + hex.EncodeToString(h.Sum(nil)[:12])
}

func (in *instance) assetID() string {
	if in.wholeSite() {
		return SiteAsset
	}
	return in.asset.asset.ID
}

func (e *Engine) open(in *instance, start, t int64, v, limit float64, hasLimit bool) {
	e.openEpisode(in, start, t, v, limit, hasLimit, 0)
}

// openPredicted opens a trend's episode: its opening event already carries
// the predicted crossing.
func (e *Engine) openPredicted(in *instance, start, t int64, v, limit float64, predicted int64) {
	e.openEpisode(in, start, t, v, limit, true, predicted)
}

func (e *Engine) openEpisode(in *instance, start, t int64, v, limit float64, hasLimit bool, predicted int64) {
	in.ep = &episode{
		Open: true, Start: start, OpenedAt: t,
		ID:       IncidentID(in.site().site.ID, in.assetID(), in.rule.id, time.Unix(0, start)),
		Priority: in.rule.src.Priority, Peak: v, Last: v, Occurrences: 1, LastUpdate: t,
		Limit: limit, HasLimit: hasLimit, Problem: in.rule.src.Problem, Trade: in.rule.src.Trade,
		OutOfRange: t - start, Predicted: predicted,
	}
	if !in.wholeSite() {
		in.ep.Class = in.asset.asset.Class
		if g := e.inhibitor(in, t); g != nil {
			in.ep.Inhibited = g.ep.ID
			e.stats.Inhibited++
			return
		}
		if h := e.holder(in); h != nil {
			in.ep.Inhibited = h.ep.ID
			e.stats.Inhibited++
			if in.ep.Priority < h.ep.Priority {
				e.escalate(h, t, in.ep.Priority)
			}
			return
		}
	}
	e.stats.Opened++
	e.emit(in, Opened, t)
}

// touch records a sample on an open episode and sends a progress update
// when one is due.
func (e *Engine) touch(in *instance, t int64, v float64) {
	ep := in.ep
	ep.Last = v
	ep.Peak = in.rule.worse(ep.Peak, v)
	if t-ep.LastUpdate >= in.rule.updateEvery {
		e.update(in, t)
	}
}

func (e *Engine) update(in *instance, t int64) {
	in.ep.LastUpdate = t
	e.stats.Updated++
	e.emit(in, Updated, t)
}

func (e *Engine) escalate(in *instance, t int64, priority string) {
	if priority >= in.ep.Priority {
		return
	}
	in.ep.Priority = priority
	e.update(in, t)
}

func (e *Engine) clear(in *instance, t int64, v float64) bool {
	in.ep.Last = v
	if e.holds(in) {
		// What it holds back is still open: the fault is not over. The
		// caller keeps the state that asked for the clear, so that it is
		// asked again, and done, once they have cleared.
		return false
	}
	e.stats.Cleared++
	e.emit(in, Cleared, t)
	in.ep = nil
	return true
}

type summaryData struct {
	Site, SiteName, Asset, AssetName, Class, Metric, Rule, Priority string
	Value, Peak, Limit                                              float64
	For, Duration, OutOfRange, Window                               time.Duration
	HoursToLimit                                                    float64
	Count                                                           int
	Affected                                                        string
}

func (e *Engine) emit(in *instance, typ EventType, t int64) {
	ep := in.ep
	if ep.Inhibited != "" {
		return // explained by its group's incident
	}
	ep.Seq++
	c := in.rule
	ev := Event{
		Event: typ, Incident: ep.ID, Seq: ep.Seq,
		Site: in.site().site.ID, Asset: in.assetID(), AssetClass: ep.Class,
		Rule: c.id, Problem: ep.Problem, Priority: ep.Priority, Trade: ep.Trade,
		At: time.Unix(0, t).UTC(), Started: time.Unix(0, ep.Start).UTC(),
		Value: round3(ep.Last), Peak: round3(ep.Peak), OutOfRange: float64(ep.OutOfRange / int64(time.Second)),
		Occurrences: ep.Occurrences,
	}
	if c.metric != NoMetric {
		ev.Metric = c.metric.String()
	}
	if ep.HasLimit {
		l := ep.Limit
		ev.Limit = &l
	}
	d := summaryData{
		Site: ev.Site, SiteName: in.site().site.Name, Asset: ev.Asset, AssetName: ev.Asset,
		Class: ev.AssetClass, Metric: ev.Metric, Rule: c.id, Priority: ev.Priority,
		Value: ev.Value, Peak: ev.Peak, Limit: ep.Limit,
		For: time.Duration(c.forNs), Duration: time.Duration(t - ep.Start),
		OutOfRange: time.Duration(ep.OutOfRange), Window: time.Duration(c.window),
		Count: ep.Occurrences,
	}
	if !in.wholeSite() && in.asset.asset.Name != "" {
		d.AssetName = in.asset.asset.Name
	}
	if ep.Predicted != 0 {
		p := time.Unix(0, ep.Predicted).UTC()
		ev.PredictedAt = &p
		d.HoursToLimit = math.Max(0, float64(ep.Predicted-t)/float64(time.Hour))
	}
	if typ != Cleared && e.stampBreach(in, &ev, t) && ep.Priority > "P1" {
		ep.Priority, ev.Priority, d.Priority = "P1", "P1", "P1"
	}
	if gs, ok := in.st.(*groupState); ok {
		ev.Affected = slices.Clone(gs.Affected)
		d.Affected = affectedList(in)
		d.Count = len(gs.Affected)
	}
	ev.Title = render(c.title, &d, c.src.Title)
	ev.Summary = render(c.summary, &d, c.src.Summary)
	if typ == Cleared {
		ev.Summary = "cleared: " + ev.Summary
	}
	e.out = append(e.out, ev)
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

// Prediction is a trend rule's latest fit for one asset: what FMs rank
// assets by in Grafana ("predicted hours to limit").
type Prediction struct {
	Site, Asset, Rule, Metric string
	At                        time.Time // when the fit was made (event time)
	SlopePerHour              float64
	Value                     float64 // the fitted value at At
	Limit                     float64
	// HoursToLimit is how long until the fitted line reaches Limit: 0 when
	// it is there, negative when it is not heading there.
	HoursToLimit float64
}

// Predictions appends every trend instance's latest fit made after since
// (all of them for a zero since) to dst, in site and asset order.
func (e *Engine) Predictions(dst []Prediction, since time.Time) []Prediction {
	after := since.UnixNano()
	if since.IsZero() {
		after = math.MinInt64
	}
	if e.lastFit <= after {
		return dst
	}
	for _, in := range e.trends {
		ts, ok := in.st.(*trendState)
		if !ok || ts.FitAt == 0 || ts.FitAt <= after {
			continue
		}
		dst = append(dst, Prediction{
			Site: in.site().site.ID, Asset: in.asset.asset.ID, Rule: in.rule.id, Metric: in.rule.metric.String(),
			At: time.Unix(0, ts.FitAt).UTC(), SlopePerHour: round3(ts.Slope), Value: round3(ts.Est),
			Limit: in.rule.limit, HoursToLimit: round3(ts.Hours),
		})
	}
	return dst
}
