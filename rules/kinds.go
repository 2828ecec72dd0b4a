package rules

import (
	"encoding/json"
	"math"
	"slices"
)

// instance is one rule running for one asset (or one site, for site-scope
// rules): the compiled rule, the episode it has open, and its kind's state.
type instance struct {
	rule *compiled
	// asset is the asset the instance runs for; a site-scope instance's
	// is its site's whole (an assetState without an Asset). The site is
	// asset.site: a field of its own was 8 bytes on each of a store's
	// thousands of instances.
	asset *assetState
	// ep is the open episode, nil while none is: most instances have
	// none, and a closed one is 184 bytes of zeros per instance.
	ep *episode
	st evaluator
}

// evaluator is one rule kind's state and logic. Implementations are plain
// structs with exported fields so that a snapshot can encode them.
type evaluator interface {
	// observe takes a sample of metric m at t; prev is the series' value
	// before it.
	observe(e *Engine, in *instance, m MetricID, t int64, v, prev float64)
	// tick lets time-driven rules act at event time t without a sample.
	tick(e *Engine, in *instance, t int64)
	// late takes a sample that arrived out of order (older than the
	// series' newest, within the lateness): it may still count toward a
	// peak, but never moves a decision.
	late(e *Engine, in *instance, v float64)
}

// newSiteInstance returns a site-scope rule's instance, which gets its
// state at once. An asset's instances are made by NewEngine, in one block
// per asset, and get their states when the asset first reports
// (assetState.materialize): until then the state would be all zeros, and
// a store's configured assets need not cost memory before they speak.
func newSiteInstance(c *compiled, ss *siteState) *instance {
	return &instance{rule: c, asset: &ss.whole, st: newState(c)}
}

// site returns the site the instance runs in.
func (in *instance) site() *siteState { return in.asset.site }

// wholeSite reports whether the instance is a site-scope rule's.
func (in *instance) wholeSite() bool { return in.asset.asset == nil }

// newState returns a fresh state of rule c's kind.
func newState(c *compiled) evaluator {
	switch c.kind {
	case KindThreshold, KindDelta:
		l := &levelState{}
		if c.avg > 0 {
			l.Avg = &avgRing{}
		}
		if c.floor > 0 {
			l.Floor = &floorRing{}
		}
		if c.baseline > 0 {
			l.Base = &baseRing{}
		}
		return l
	case KindTrend:
		t := &trendState{}
		if c.baseline > 0 {
			t.Base = &baseRing{}
		}
		return t
	case KindState:
		return &stateState{}
	case KindTransitions:
		return &transState{}
	case KindFlatline:
		return &flatState{}
	case KindMissing:
		return &missState{}
	case KindPulldown:
		return &pulldownState{}
	case KindExcursion:
		return &excursionState{}
	case KindGroup:
		return &groupState{}
	case KindCapacity:
		return &capacityState{}
	}
	// Compile accepts only the kinds above: another is a bug here, not
	// bad input.
	panic("rules: no state for kind " + c.kind)
}

func (in *instance) metrics() []MetricID {
	c := in.rule
	switch {
	case c.kind == KindDelta:
		return []MetricID{c.metric, c.minus}
	case c.kind == KindMissing && c.metric == NoMetric:
		all := make([]MetricID, len(Metrics))
		for i := range all {
			all[i] = MetricID(i)
		}
		return all
	case c.kind == KindMissing:
		return []MetricID{c.metric}
	case c.kind == KindPulldown || (c.kind == KindCapacity && c.drive != NoMetric):
		return []MetricID{c.metric, c.drive}
	case c.kind == KindGroup:
		return nil // driven by its served assets' incidents and by time
	}
	return []MetricID{c.metric}
}

func (in *instance) ticks() bool {
	switch in.rule.kind {
	case KindState, KindTransitions, KindMissing, KindGroup:
		return true
	}
	return false
}

// broken reports whether the series of metric m has just come back from a
// silence longer than MaxGap: nothing measured before it may be carried
// across it (a run, a flat line, a pending duration).
func (e *Engine) broken(in *instance, m MetricID) bool {
	h := in.asset.get(m)
	return h.PrevAt != 0 && h.At-h.PrevAt > int64(e.opts.MaxGap)
}

// gap returns the time between two samples that durations may count: a
// silence longer than MaxGap counts as nothing.
func (e *Engine) gap(from, to int64) int64 {
	d := to - from
	if d < 0 || from == 0 || d > int64(e.opts.MaxGap) {
		return 0
	}
	return d
}

// ---- threshold and delta ----

// avgBuckets is the resolution of a moving time-weighted average.
const avgBuckets = 24

// The rings below keep one value per bucket of a window in avgBuckets
// slots: bucket b lives in slot b mod avgBuckets. Rather than the bucket
// number of every slot they keep the newest bucket written (Last) and a
// bit per slot (Has) saying whether it holds a value: slot i then holds
// the bucket in (Last-avgBuckets, Last] that falls on it. Samples come in
// time order, so a ring only ever moves forward.

// ringRoll moves a ring whose newest bucket is *last on to bucket b,
// clearing from *has the slots of the buckets it passes over, and
// reports b's slot; false means b is already out of the window.
func ringRoll(last *int64, has *uint32, b int64) (int, bool) {
	switch {
	case b > *last:
		if b-*last >= avgBuckets {
			*has = 0
		} else {
			for k := *last + 1; k <= b; k++ {
				*has &^= 1 << ringSlot(k)
			}
		}
		*last = b
	case b <= *last-avgBuckets:
		return 0, false
	}
	return ringSlot(b), true
}

func ringSlot(b int64) int { return int(((b % avgBuckets) + avgBuckets) % avgBuckets) }

// ringBucket is the bucket slot i holds in a ring whose newest is last.
func ringBucket(last int64, i int) int64 {
	return last - int64(ringSlot(last-int64(i)))
}

// unmarshalRing decodes a ring's fields into fields, and the bucket
// number of every slot that snapshots before Last and Has wrote into
// *last and *has.
func unmarshalRing(data []byte, fields any, last *int64, has *uint32) error {
	if err := json.Unmarshal(data, fields); err != nil {
		return err
	}
	var old struct {
		Idx *[avgBuckets]int64 `json:"idx"`
	}
	if err := json.Unmarshal(data, &old); err != nil {
		return err
	}
	if old.Idx != nil {
		*last, *has = ringFromIdx(old.Idx)
	}
	return nil
}

// ringFromIdx reads a ring as snapshots before Last and Has wrote it: the
// bucket number of every slot (0 for a slot never written).
func ringFromIdx(idx *[avgBuckets]int64) (last int64, has uint32) {
	last = slices.Max(idx[:])
	for i, b := range idx {
		if b > 0 && b > last-avgBuckets {
			has |= 1 << i
		}
	}
	return last, has
}

// avgRing holds a time-weighted moving average in fixed buckets.
type avgRing struct {
	Last int64               `json:"last"` // newest bucket written
	Has  uint32              `json:"has"`  // bit i: slot i holds a value
	Sum  [avgBuckets]float64 `json:"sum"`  // value x seconds
	Dur  [avgBuckets]float64 `json:"dur"`  // seconds covered
}

// add integrates value v over [from, to).
// UnmarshalJSON also reads the ring as earlier snapshots wrote it.
func (r *avgRing) UnmarshalJSON(data []byte) error {
	type plain avgRing // the fields, without this method
	return unmarshalRing(data, (*plain)(r), &r.Last, &r.Has)
}

func (r *avgRing) add(width, from, to int64, v float64) {
	for from < to {
		b := from / width
		end := min((b+1)*width, to)
		if slot, ok := ringRoll(&r.Last, &r.Has, b); ok {
			if r.Has&(1<<slot) == 0 {
				r.Has |= 1 << slot
				r.Sum[slot], r.Dur[slot] = 0, 0
			}
			sec := float64(end-from) / 1e9
			r.Sum[slot] += v * sec
			r.Dur[slot] += sec
		}
		from = end
	}
}

// mean returns the average over the window ending at t and how much of the
// window it covers (0..1).
func (r *avgRing) mean(width, t int64) (float64, float64) {
	cur := t / width
	var sum, dur float64
	for i := range avgBuckets {
		if r.Has&(1<<i) == 0 {
			continue
		}
		if b := ringBucket(r.Last, i); b > cur-avgBuckets && b <= cur {
			sum += r.Sum[i]
			dur += r.Dur[i]
		}
	}
	if dur == 0 {
		return 0, 0
	}
	return sum / dur, dur / (float64(width*avgBuckets) / 1e9)
}

// levelState runs threshold and delta rules.
type levelState struct {
	Y       float64 `json:"y"`       // product-filtered value
	HasY    bool    `json:"has_y"`   //
	LastAt  int64   `json:"last_at"` // previous sample time
	LastV   float64 `json:"last_v"`  // previous raw value (held over the gap for averages)
	Pending int64   `json:"pending"` // first sample of the current bad run, 0 for none
	BadFor  int64   `json:"bad_for"` // time bad in the current run
	DM      float64 `json:"dm"`      // degree-minutes in the current run
	Good    int64   `json:"good"`    // open: first sample of the current clear run
	WasBad  bool    `json:"was_bad"` // the previous sample was bad
	// A product model's air: the latest value and its smoothed trend (C
	// per hour), for the time to breach.
	AirV  float64    `json:"air_v,omitempty"`
	Slope float64    `json:"slope,omitempty"`
	Soon  int64      `json:"soon,omitempty"` // the breach predicted within the hour since
	Avg   *avgRing   `json:"avg,omitempty"`
	Floor *floorRing `json:"floor,omitempty"`
	Base  *baseRing  `json:"base,omitempty"`
}

// floorRing keeps the lowest value per bucket over a window.
type floorRing struct {
	Last int64               `json:"last"`
	Has  uint32              `json:"has"`
	Min  [avgBuckets]float64 `json:"min"`
}

// UnmarshalJSON also reads the ring as earlier snapshots wrote it.
func (r *floorRing) UnmarshalJSON(data []byte) error {
	type plain floorRing // the fields, without this method
	return unmarshalRing(data, (*plain)(r), &r.Last, &r.Has)
}

func (r *floorRing) add(width, t int64, v float64) {
	slot, ok := ringRoll(&r.Last, &r.Has, t/width)
	switch {
	case !ok:
	case r.Has&(1<<slot) == 0:
		r.Has |= 1 << slot
		r.Min[slot] = v
	case v < r.Min[slot]:
		r.Min[slot] = v
	}
}

// min returns the lowest value over the window ending at t and how much of
// the window has samples (0..1).
func (r *floorRing) min(width, t int64) (float64, float64) {
	cur := t / width
	lo, oldest := math.Inf(1), cur+1
	for i := range avgBuckets {
		if r.Has&(1<<i) == 0 {
			continue
		}
		if b := ringBucket(r.Last, i); b > cur-avgBuckets && b <= cur {
			lo = math.Min(lo, r.Min[i])
			oldest = min(oldest, b)
		}
	}
	// Coverage is the span the samples reach back over, not the count of
	// buckets with one: a probe reporting every 5 min leaves some of a
	// 90 min window's 24 buckets empty.
	return lo, float64(cur-oldest+1) / avgBuckets
}

// baseRing keeps bucket means over a long window; its median is the
// asset's own normal, robust to defrosts and door openings.
type baseRing struct {
	Last int64               `json:"last"`
	Has  uint32              `json:"has"`
	Sum  [avgBuckets]float64 `json:"sum"`
	N    [avgBuckets]int32   `json:"n"`
	// The median of the complete buckets changes only when a bucket
	// completes (or an old one is written): it is kept for the bucket it
	// was taken at. Not snapshotted; a restored ring takes it anew.
	memo memo
}

// memo keeps a ring's median for the bucket it was taken at.
type memo struct {
	at  int64 // the current bucket + 1 when taken; 0 for none
	v   float64
	ok  bool
	aux int // what else the median call returned (a count)
}

func (m *memo) get(cur int64) (float64, bool, int, bool) {
	if m.at == cur+1 {
		return m.v, m.ok, m.aux, true
	}
	return 0, false, 0, false
}

func (m *memo) set(cur int64, v float64, ok bool, aux int) {
	*m = memo{at: cur + 1, v: v, ok: ok, aux: aux}
}

// UnmarshalJSON also reads the ring as earlier snapshots wrote it.
func (r *baseRing) UnmarshalJSON(data []byte) error {
	type plain baseRing // the fields, without this method
	return unmarshalRing(data, (*plain)(r), &r.Last, &r.Has)
}

func (r *baseRing) add(width, t int64, v float64) {
	if last := r.Last; t/width != last || t/width < r.memo.at-1 {
		// A new bucket may evict one the median counted; an old one's
		// change is counted.
		r.memo = memo{}
	}
	slot, ok := ringRoll(&r.Last, &r.Has, t/width)
	if !ok {
		return
	}
	if r.Has&(1<<slot) == 0 {
		r.Has |= 1 << slot
		r.Sum[slot], r.N[slot] = 0, 0
	}
	r.Sum[slot] += v
	r.N[slot]++
}

// median returns the median of the complete buckets' means in the window
// ending at t, and whether at least half the window has data.
func (r *baseRing) median(e *Engine, width, t int64) (float64, bool) {
	v, n, _ := r.medianSpan(e, width, t)
	if n < avgBuckets/2 {
		return 0, false
	}
	return v, true
}

// medianSpan returns the median of the complete buckets' means in the
// window ending at t, how many buckets it was taken over, and how many
// buckets back the oldest of them is (0 for none): how long the ring has
// been learning, gaps and all.
func (r *baseRing) medianSpan(e *Engine, width, t int64) (v float64, n, span int) {
	cur := t / width
	if v, _, aux, hit := r.memo.get(cur); hit {
		return v, aux & 0xff, aux >> 8
	}
	v, n, span = r.takeMedian(e, cur)
	r.memo.set(cur, v, n > 0, n|span<<8)
	return v, n, span
}

func (r *baseRing) takeMedian(e *Engine, cur int64) (float64, int, int) {
	ms := e.scratch[:0]
	oldest := cur
	for i := range avgBuckets {
		if r.Has&(1<<i) == 0 || r.N[i] == 0 {
			continue
		}
		if b := ringBucket(r.Last, i); b >= cur-avgBuckets && b < cur {
			ms = append(ms, r.Sum[i]/float64(r.N[i]))
			oldest = min(oldest, b)
		}
	}
	n := len(ms)
	if n == 0 {
		e.scratch = ms[:0]
		return 0, 0, 0
	}
	m := median(ms)
	e.scratch = ms[:0]
	return m, n, int(cur - oldest)
}

func (l *levelState) late(e *Engine, in *instance, v float64) {
	if in.ep != nil {
		in.ep.Peak = in.rule.worse(in.ep.Peak, v)
	}
}
func (l *levelState) tick(*Engine, *instance, int64) {}

func (l *levelState) observe(e *Engine, in *instance, m MetricID, t int64, v, _ float64) {
	c := in.rule
	x := v
	dt := e.gap(l.LastAt, t)
	switch {
	case c.kind == KindDelta:
		a, b := in.asset.get(c.metric), in.asset.get(c.minus)
		if !a.Seen || !b.Seen || t-a.At > int64(e.opts.MaxGap) || t-b.At > int64(e.opts.MaxGap) {
			return
		}
		x = a.V - b.V
	case c.tau > 0:
		// The simulated product is held through a suppression (a defrost
		// and its recovery): the food does not see the short air spike the
		// controller causes on purpose.
		if !l.HasY {
			l.Y, l.HasY = v, true
		} else if dt > 0 && !e.suppressed(in, t) {
			k := 1 - math.Exp(-float64(dt)/float64(c.tau))
			l.Y += (v - l.Y) * k
			// The air's own trend, per hour, smoothed over about 15 min:
			// what the time to breach extrapolates.
			w := 1 - math.Exp(-float64(dt)/float64(airSlopeTau))
			l.Slope += ((v-l.AirV)/(float64(dt)/3.6e12) - l.Slope) * w
		}
		l.AirV = v
		x = l.Y
	case c.floor > 0 || c.baseline > 0:
		if l.Floor != nil {
			width := c.floor / avgBuckets
			l.Floor.add(width, t, v)
			lo, cover := l.Floor.min(width, t)
			if cover < 0.8 {
				l.LastAt = t
				return
			}
			x = lo
		}
		if l.Base != nil {
			width := c.baseline / avgBuckets
			base, ok := l.Base.median(e, width, t)
			if in.ep == nil && !e.suppressed(in, t) {
				l.Base.add(width, t, v)
			}
			if !ok {
				l.LastAt = t
				return
			}
			x -= base
		}
	case c.avg > 0:
		width := c.avg / avgBuckets
		if dt > 0 {
			l.Avg.add(width, l.LastAt, t, l.LastV)
		}
		l.LastV = v
		mean, cover := l.Avg.mean(width, t)
		if cover < 0.8 {
			l.LastAt = t
			return
		}
		x = mean
	}
	if l.LastAt != 0 && t-l.LastAt > int64(e.opts.MaxGap) && in.ep == nil {
		l.Pending, l.BadFor, l.DM, l.WasBad = 0, 0, 0, false
	}
	l.LastAt = t
	l.decide(e, in, t, x, dt)
}

// decide applies a level rule's alarm, hysteresis and escalation logic to
// the value x at t; dt is the time since the previous sample.
func (l *levelState) decide(e *Engine, in *instance, t int64, x float64, dt int64) {
	c := in.rule
	if e.suppressed(in, t) {
		if in.ep == nil {
			l.Pending, l.BadFor, l.DM = 0, 0, 0
		}
		l.WasBad = false
		return
	}
	if !e.gated(in, t) {
		return // paused: nothing accrues while the condition is off
	}
	bad := c.beyond(x, c.level)
	if in.ep == nil {
		if !bad {
			l.Pending, l.BadFor, l.DM, l.WasBad = 0, 0, 0, false
			return
		}
		if l.Pending == 0 || !l.WasBad {
			l.Pending, l.BadFor, l.DM = t, 0, 0
		} else {
			l.BadFor += dt
			l.DM += c.excess(x) * float64(dt) / 6e10
		}
		l.WasBad = true
		if l.BadFor >= c.forNs && l.DM >= c.dm {
			e.open(in, l.Pending, t, x, c.level, true)
			in.ep.OutOfRange = l.BadFor
			l.Good = 0
		}
		return
	}
	if bad {
		if l.WasBad {
			in.ep.OutOfRange += dt
		} else {
			in.ep.Occurrences++
		}
	}
	l.WasBad = bad
	if c.beyond(x, c.clear) {
		l.Good = 0
	} else {
		if l.Good == 0 {
			l.Good = t
		}
		if t-l.Good >= c.clearFor {
			if e.clear(in, t, x) {
				l.Pending, l.BadFor, l.DM, l.Good, l.WasBad = 0, 0, 0, 0, false
			}
			return
		}
	}
	e.touch(in, t, x)
	for i := in.ep.Esc; i < len(c.escalate); i++ {
		s := &c.escalate[i]
		lvl := c.level
		if s.hasLevel {
			lvl = s.level
		}
		if c.beyond(x, lvl) && t-in.ep.OpenedAt >= s.after {
			in.ep.Esc = i + 1
			e.escalate(in, t, s.priority)
		}
	}
}

// ---- trend ----

// trendPoints is how many buckets a trend window holds.
const trendPoints = 24

// trendState runs trend rules: bucketed samples, a Theil-Sen slope and the
// predicted time to the limit.
type trendState struct {
	BStart  int64                `json:"b_start"`
	BSum    float64              `json:"b_sum"`
	BExt    float64              `json:"b_ext"`
	BN      int                  `json:"b_n"`
	T       [trendPoints]int64   `json:"t"`
	Y       [trendPoints]float64 `json:"y"`
	N       int                  `json:"n"`
	Head    int                  `json:"head"`
	Pending int64                `json:"pending"`
	Off     int64                `json:"off"` // open: condition false since
	Base    *baseRing            `json:"base,omitempty"`
	// The latest fit, for Predictions.
	Slope float64 `json:"slope,omitempty"`  // per hour
	Est   float64 `json:"est,omitempty"`    // fitted value at FitAt
	FitAt int64   `json:"fit_at,omitempty"` //
	Hours float64 `json:"hours,omitempty"`  // to the limit; -1 when not approaching it
}

func (s *trendState) late(*Engine, *instance, float64) {}
func (s *trendState) tick(*Engine, *instance, int64)   {}

func (s *trendState) observe(e *Engine, in *instance, _ MetricID, t int64, v, _ float64) {
	c := in.rule
	if e.suppressed(in, t) || !e.gated(in, t) {
		return // excluded from the fit: defrost and its recovery
	}
	width := c.window / trendPoints
	if s.BN > 0 && t >= s.BStart+width {
		agg := s.BSum / float64(s.BN)
		if c.sample != 'a' {
			agg = s.BExt
		}
		s.T[s.Head] = s.BStart + width/2
		s.Y[s.Head] = agg
		s.Head = (s.Head + 1) % trendPoints
		s.N = min(s.N+1, trendPoints)
		s.BN = 0
		s.evaluate(e, in, t)
	}
	if s.Base != nil && in.ep == nil {
		s.Base.add(c.baseline/avgBuckets, t, v)
	}
	if s.BN == 0 {
		s.BStart, s.BSum, s.BExt = t-t%width, 0, v
	}
	s.BN++
	s.BSum += v
	if (c.sample == 'n' && v < s.BExt) || (c.sample == 'x' && v > s.BExt) {
		s.BExt = v
	}
	if in.ep != nil {
		in.ep.Last = v
	}
}

func (s *trendState) evaluate(e *Engine, in *instance, t int64) {
	c := in.rule
	from := t - c.window
	var ts [trendPoints]int64
	var ys [trendPoints]float64
	n := 0
	for i := range s.N {
		if s.T[i] >= from {
			ts[n], ys[n] = s.T[i], s.Y[i]
			n++
		}
	}
	hit := false
	var predicted int64
	if n >= trendPoints/2 {
		slope, est := theilSen(e, ts[:n], ys[:n], t)
		s.Slope, s.Est, s.FitAt, s.Hours = slope, est, t, hoursTo(c, slope, est)
		e.lastFit = max(e.lastFit, t)
		if s.Base != nil {
			// Only a rise away from the asset's own normal counts: a box
			// warming back up from an unusually cold spell is not failing.
			base, ok := s.Base.median(e, c.baseline/avgBuckets, t)
			if !ok || (c.rising && est-base < c.level) || (!c.rising && base-est < c.level) {
				slope = 0
			}
		}
		toward := c.limit - est
		speed := slope
		if !c.rising {
			toward, speed = -toward, -slope
		}
		switch {
		case toward <= 0:
			hit, predicted = true, t // at or past the limit
		case speed > 0 && speed >= c.minSlope:
			hours := toward / speed
			if hours*float64(3.6e12) <= float64(c.horizon) {
				hit, predicted = true, t+int64(hours*3.6e12)
			}
		}
		if in.ep != nil {
			in.ep.Last = est
		}
	}
	if in.ep == nil {
		if !hit {
			s.Pending = 0
			return
		}
		if s.Pending == 0 {
			s.Pending = t
		}
		if t-s.Pending >= c.forNs {
			e.openPredicted(in, s.Pending, t, s.Y[(s.Head+trendPoints-1)%trendPoints], c.limit, predicted)
			s.Off = 0
		}
		return
	}
	if hit {
		s.Off = 0
		in.ep.Predicted = predicted // the latest fit says best when
		e.touch(in, t, in.ep.Last)
		return
	}
	if s.Off == 0 {
		s.Off = t
	}
	if t-s.Off >= c.clearFor {
		if e.clear(in, t, in.ep.Last) {
			s.Pending, s.Off = 0, 0
		}
	}
}

// hoursTo returns how long, at slope per hour, the fitted value takes to
// reach the rule's limit: 0 when it is there, -1 when it is not heading
// there.
func hoursTo(c *compiled, slope, est float64) float64 {
	toward, speed := c.limit-est, slope
	if !c.rising {
		toward, speed = -toward, -slope
	}
	switch {
	case toward <= 0:
		return 0
	case speed <= 0:
		return -1
	}
	return toward / speed
}

// theilSen fits y over t by the median of pairwise slopes (per hour) and
// returns the slope and the fitted value at tref. It is robust to up to
// ~29% outliers, such as a defrost the rule could not see.
func theilSen(e *Engine, ts []int64, ys []float64, tref int64) (slope, at float64) {
	sl := e.scratch[:0]
	for i := range ts {
		for j := i + 1; j < len(ts); j++ {
			if dt := ts[j] - ts[i]; dt != 0 {
				sl = append(sl, (ys[j]-ys[i])/(float64(dt)/3.6e12))
			}
		}
	}
	slope = median(sl)
	sl = sl[:0]
	for i := range ts {
		sl = append(sl, ys[i]-slope*float64(ts[i]-tref)/3.6e12)
	}
	at = median(sl)
	e.scratch = sl[:0]
	return slope, at
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// ---- state duration ----

type stateState struct {
	Since int64 `json:"since"` // in the state since, 0 for not
	Out   int64 `json:"out"`   // open: out of the state since
	// LongEnd is, while open, when the last run that lasted For ended,
	// and Short how many shorter runs have ended since (clear_on_short_runs).
	LongEnd int64 `json:"long_end,omitempty"`
	Short   int32 `json:"short,omitempty"`
}

// minShortRuns is how many complete runs shorter than For a
// clear_on_short_runs rule needs to see before it clears.
const minShortRuns = 3

func (s *stateState) late(*Engine, *instance, float64) {}

func (s *stateState) observe(e *Engine, in *instance, _ MetricID, t int64, v, _ float64) {
	c := in.rule
	if e.suppressed(in, t) || !e.gated(in, t) {
		// A pending state starts over after a suppression; an open
		// episode just pauses (a defrost does not end a long run), though
		// it still notes when the state returns.
		if in.ep == nil {
			s.Since = 0
		} else if v == c.stateVal {
			s.Out = 0
		}
		return
	}
	if e.broken(in, c.metric) && in.ep == nil {
		s.Since = 0
	}
	if v == c.stateVal {
		if s.Since == 0 {
			s.Since = t
		}
		s.Out = 0
		if in.ep != nil {
			e.touch(in, t, float64(t-s.Since)/6e10)
		}
	} else {
		if in.ep != nil && s.Since != 0 {
			if t-s.Since >= c.forNs {
				s.LongEnd, s.Short = t, 0 // a run as long as For ended: short runs count from here
			} else if s.Short < 1<<30 {
				s.Short++
			}
		}
		s.Since = 0
		if in.ep != nil && s.Out == 0 {
			s.Out = t
		}
	}
	s.tick(e, in, t)
}

func (s *stateState) tick(e *Engine, in *instance, t int64) {
	c := in.rule
	if h := in.asset.get(c.metric); s.Since != 0 && !e.fresh(in.asset, h, t) {
		// No report for longer than a heartbeat allows: the state is
		// unknown, not held (a gateway outage must not look like a door
		// open for hours or a compressor that never stops).
		s.Since = 0
		return
	}
	if in.ep == nil && t-in.site().lastSeen > 2*siteSilence {
		return // the site is silent: a held state is not evidence
	}
	if in.ep == nil {
		if s.Since != 0 && t-s.Since >= c.forNs && !e.assetSilent(in.asset, t) {
			e.open(in, s.Since, t, float64(t-s.Since)/6e10, 0, false)
		}
		return
	}
	if c.clearShortRuns {
		// Open until runs have stayed short for clearFor: a run still
		// going past For keeps it open, and so does no run at all (a
		// compressor that stopped is not one cycling normally, and other
		// rules speak for the box); the data must be current.
		if s.Since != 0 && t-s.Since >= c.forNs {
			s.LongEnd, s.Short = 0, 0
		} else if s.LongEnd != 0 && s.Short >= minShortRuns && t-s.LongEnd >= c.clearFor &&
			e.fresh(in.asset, in.asset.get(c.metric), t) && !e.suppressed(in, t) {
			if e.clear(in, t, 0) {
				s.LongEnd, s.Short, s.Out = 0, 0, 0
			}
			return
		}
	}
	if s.Since != 0 {
		in.ep.OutOfRange = t - s.Since
		for i := in.ep.Esc; i < len(c.escalate); i++ {
			if t-s.Since >= c.escalate[i].after {
				in.ep.Esc = i + 1
				in.ep.Last = float64(t-s.Since) / 6e10
				in.ep.Peak = in.ep.Last
				e.escalate(in, t, c.escalate[i].priority)
			}
		}
		return
	}
	if !c.clearShortRuns && s.Out != 0 && t-s.Out >= c.clearFor && !e.suppressed(in, t) {
		if e.clear(in, t, 0) {
			s.Out = 0
		}
	}
}

// ---- transitions ----

// maxTransitions bounds the edges a transitions rule remembers.
const maxTransitions = 64

type transState struct {
	Edges [maxTransitions]int64 `json:"edges"`
	Head  int                   `json:"head"`
	N     int                   `json:"n"`
	Over  int64                 `json:"over"`  // count above max since
	Under int64                 `json:"under"` // open: count back within max since
}

func (s *transState) late(*Engine, *instance, float64) {}

func (s *transState) observe(e *Engine, in *instance, _ MetricID, t int64, v, prev float64) {
	if prev == 0 && v == 1 && !e.suppressed(in, t) && e.gated(in, t) {
		s.Edges[(s.Head+s.N)%maxTransitions] = t
		if s.N < maxTransitions {
			s.N++
		} else {
			s.Head = (s.Head + 1) % maxTransitions
		}
	}
	s.tick(e, in, t)
}

func (s *transState) tick(e *Engine, in *instance, t int64) {
	c := in.rule
	for s.N > 0 && s.Edges[s.Head] <= t-c.window {
		s.Head = (s.Head + 1) % maxTransitions
		s.N--
	}
	over := s.N > c.max
	if in.ep == nil && t-in.site().lastSeen > 2*siteSilence {
		return // the site is silent: wait for it to speak again
	}
	if in.ep == nil {
		if !over {
			s.Over = 0
			return
		}
		if s.Over == 0 {
			s.Over = t
		}
		if t-s.Over >= c.forNs {
			e.open(in, s.Over, t, float64(s.N), float64(c.max), true)
			s.Under = 0
		}
		return
	}
	if over {
		s.Under = 0
		in.ep.OutOfRange = t - in.ep.Start
		e.touch(in, t, float64(s.N))
		return
	}
	if s.Under == 0 {
		s.Under = t
	}
	if t-s.Under >= c.clearFor {
		if e.clear(in, t, float64(s.N)) {
			s.Over, s.Under = 0, 0
		}
	}
}

// ---- flatline ----

type flatState struct {
	Since int64   `json:"since"`
	Min   float64 `json:"min"`
	Max   float64 `json:"max"`
	Act0  uint32  `json:"act0"` // activity changes counted at Since
	Has   bool    `json:"has"`
}

func (s *flatState) late(*Engine, *instance, float64) {}
func (s *flatState) tick(*Engine, *instance, int64)   {}

func (s *flatState) observe(e *Engine, in *instance, _ MetricID, t int64, v, _ float64) {
	c := in.rule
	var act *held
	if c.act != NoMetric {
		act = in.asset.get(c.act)
	}
	if !s.Has || math.Max(s.Max, v)-math.Min(s.Min, v) > c.tolerance || e.suppressed(in, t) || e.broken(in, c.metric) {
		s.Since, s.Min, s.Max, s.Has = t, v, v, true
		if act != nil {
			s.Act0 = act.Changes
		}
		if in.ep != nil {
			e.clear(in, t, v)
		}
		return
	}
	s.Min, s.Max = math.Min(s.Min, v), math.Max(s.Max, v)
	if in.ep != nil {
		in.ep.OutOfRange = t - s.Since
		e.touch(in, t, v)
		return
	}
	active := act == nil || !act.Seen || act.Changes-s.Act0 >= c.minActivity
	if t-s.Since >= c.forNs && active && e.gated(in, t) {
		e.open(in, s.Since, t, v, 0, false)
		in.ep.OutOfRange = t - s.Since
	}
}

// ---- missing data ----

type missState struct{}

func (s *missState) late(*Engine, *instance, float64) {}

func (s *missState) observe(e *Engine, in *instance, _ MetricID, t int64, v, _ float64) {
	if in.ep != nil {
		e.clear(in, t, v)
	}
}

// siteThreshold returns how long a whole site may be silent: after, or
// factor times the reporting interval of its fastest sensor (a store whose
// controllers send a heartbeat every 15 min is not offline after 10).
func (s *missState) siteThreshold(in *instance) int64 {
	c := in.rule
	if c.factor <= 0 {
		return c.after
	}
	fastest := math.Inf(1)
	for _, a := range in.site().assets {
		if a.asset.Interval > 0 {
			fastest = math.Min(fastest, float64(a.asset.Interval))
		}
		for m := range numMetrics {
			if h := a.heldValue(MetricID(m)); h != nil && h.Seen && h.Interval > 0 {
				fastest = math.Min(fastest, h.Interval)
			}
		}
	}
	if math.IsInf(fastest, 1) {
		return c.after
	}
	return max(c.after, int64(c.factor*fastest))
}

// threshold returns how long the series may be silent.
func (s *missState) threshold(in *instance, h *held) int64 {
	c := in.rule
	limit := c.after
	if c.factor > 0 {
		iv := float64(0)
		if !in.wholeSite() && in.asset.asset.Interval > 0 {
			iv = float64(in.asset.asset.Interval)
		} else if h != nil {
			iv = h.Interval
		}
		limit = max(limit, int64(c.factor*iv))
	}
	return limit
}

func (s *missState) tick(e *Engine, in *instance, t int64) {
	c := in.rule
	if in.wholeSite() {
		last := in.site().lastSeen
		if in.ep != nil || last == 0 {
			return
		}
		if t-last > s.siteThreshold(in) {
			e.open(in, last, t, float64(t-last)/6e10, 0, false)
		}
		return
	}
	var last int64
	var h *held
	if c.metric != NoMetric {
		h = in.asset.get(c.metric)
		if !h.Seen {
			return
		}
		last = h.At
	} else {
		last = in.asset.lastSeen
		if last == 0 {
			return
		}
	}
	if in.ep != nil {
		in.ep.OutOfRange = t - last
		in.ep.Last = float64(t-last) / 6e10
		in.ep.Peak = in.ep.Last
		if t-in.ep.LastUpdate >= c.updateEvery {
			e.update(in, t)
		}
		return
	}
	limit := s.threshold(in, h)
	if limit <= 0 || t-max(last, in.site().resumed) <= limit {
		return
	}
	// A sensor is offline when the rest of its site kept talking after it
	// went quiet; when the whole site is silent, the site-scope rule speaks
	// for it instead (one incident, not one per asset).
	if in.site().lastSeen-last < limit/2 {
		return
	}
	e.open(in, last, t, float64(t-last)/6e10, 0, false)
	in.ep.OutOfRange = t - last
}
