package rules

import (
	"math"
	"time"
)

// This file holds the two kinds that call a sudden loss of cooling within
// minutes of its onset rather than when the product has warmed: pulldown,
// for boxes whose controller says when it is cooling, and excursion, for
// retrofit probes that report only the air.

// ---- pulldown ----

// pulldownState runs pulldown rules: while the drive (the compressor, or a
// rack case's solenoid) is commanded on, a working system pulls the air
// down; one whose air climbs instead is not being cooled at all.
type pulldownState struct {
	RunStart int64   `json:"run_start,omitempty"` // first usable sample of the current drive-on run
	RunMin   float64 `json:"run_min,omitempty"`   // the lowest air since RunStart
	MinAt    int64   `json:"min_at,omitempty"`    // when the air was there
	MaxAfter float64 `json:"max_after,omitempty"` // the highest air since MinAt
	Warm     bool    `json:"warm,omitempty"`      // the air is climbing under the drive (a group's "pending")
	Good     int64   `json:"good,omitempty"`      // open: cooling again since
	LastAt   int64   `json:"last_at,omitempty"`
}

func (s *pulldownState) late(*Engine, *instance, float64) {}
func (s *pulldownState) tick(*Engine, *instance, int64)   {}

// pulldownClimb is how long the air must have been climbing from its
// lowest of the run: a box that is cooling never climbs for ten minutes
// under a running compressor, while a jump of a reading or two (a door
// the controller did not report, stocking) is pulled back down within
// minutes.
const pulldownClimb = int64(10 * time.Minute)

func (s *pulldownState) observe(e *Engine, in *instance, m MetricID, t int64, v, _ float64) {
	c := in.rule
	d := in.asset.get(c.drive)
	driveOn := e.fresh(in.asset, d, t) && d.V == 1
	if m == c.drive {
		if !driveOn {
			s.RunStart, s.Warm = 0, false
			if in.ep != nil && s.Good == 0 && s.cooled(in, in.ep.Last) {
				s.Good = t
			}
		}
		s.closeIfCooling(e, in, t)
		return
	}
	if e.suppressed(in, t) || (s.LastAt != 0 && t-s.LastAt > int64(e.opts.MaxGap)) {
		// A defrost, an open door and their recovery warm the air under
		// a running compressor on purpose; a gap leaves nothing to compare.
		s.LastAt = t
		if in.ep == nil {
			s.RunStart, s.Warm = 0, false
		}
		return
	}
	s.LastAt = t
	if !driveOn {
		s.RunStart, s.Warm = 0, false
		if in.ep != nil {
			if !s.cooled(in, v) {
				s.Good = 0
			} else if s.Good == 0 {
				s.Good = t
			}
			e.touch(in, t, v)
			s.closeIfCooling(e, in, t)
		}
		return
	}
	if s.RunStart == 0 || v < s.RunMin {
		if s.RunStart == 0 {
			s.RunStart = t
		}
		s.RunMin, s.MinAt, s.MaxAfter = v, t, v
	}
	s.MaxAfter = math.Max(s.MaxAfter, v)
	climb := v - s.RunMin
	s.Warm = climb >= c.rise/2
	if in.ep != nil {
		e.touch(in, t, v)
		if v <= in.ep.Peak-2*c.rise {
			if s.Good == 0 {
				s.Good = t
			}
		} else {
			s.Good = 0
		}
		s.closeIfCooling(e, in, t)
		return
	}
	// Still climbing: at (or within noise of) its highest since its
	// lowest. Air that jumped and is being pulled down again is cooling.
	climbing := v >= s.MaxAfter-excursionTolerance
	if t-s.RunStart >= c.forNs && climb >= c.rise && t-s.MinAt >= pulldownClimb && climbing {
		e.open(in, s.RunStart, t, v, 0, false)
		in.ep.Peak = v
		s.Good = 0
	}
}

// cooled reports whether air at v, with the drive off, is a box that
// cooled: a controller cycles off when its air reaches setpoint, well
// under the worst the fault brought. One that stopped with the air still
// near that worst, or climbing past it, gave up (a lockout, a rack
// that tripped under its case), and the box is not cooling again.
func (s *pulldownState) cooled(in *instance, v float64) bool {
	return v <= in.ep.Peak-in.rule.rise
}

// closeIfCooling clears an open pulldown incident once the box has been
// cooling again (the drive cycled off, or the air pulled well down from
// its peak) for clear_for.
func (s *pulldownState) closeIfCooling(e *Engine, in *instance, t int64) {
	if in.ep == nil || s.Good == 0 || t-s.Good < in.rule.clearFor {
		return
	}
	if e.clear(in, t, in.ep.Last) {
		s.Good, s.RunStart, s.Warm = 0, 0, false
	}
}

func (s *pulldownState) pending(e *Engine, in *instance, t int64) bool {
	return s.Warm && t-s.LastAt <= int64(e.opts.MaxGap)
}

// ---- excursion ----

// maxExcursions is how many of an asset's normal excursions an excursion
// rule remembers: more than two days of defrosts every four hours.
const maxExcursions = 16

// topRing keeps the highest value per bucket over a window; the median of
// the buckets' maxima is the top of the asset's cycling band, which the
// few buckets a defrost or a door lifts do not move.
type topRing struct {
	Last int64               `json:"last"`
	Has  uint32              `json:"has"`
	Max  [avgBuckets]float64 `json:"max"`
	memo memo                // the median, for the bucket it was taken at (baseRing's)
}

func (r *topRing) add(width, t int64, v float64) {
	if last := r.Last; t/width != last || t/width < r.memo.at-1 {
		r.memo = memo{} // as baseRing.add
	}
	slot, ok := ringRoll(&r.Last, &r.Has, t/width)
	switch {
	case !ok:
	case r.Has&(1<<slot) == 0:
		r.Has |= 1 << slot
		r.Max[slot] = v
	case v > r.Max[slot]:
		r.Max[slot] = v
	}
}

// median returns the median of the complete buckets' maxima in the window
// ending at t (in the first hours, of the bucket being filled too), how
// many complete buckets there are, and whether there is any value at all.
func (r *topRing) median(e *Engine, width, t int64) (m float64, complete int, some bool) {
	cur := t / width
	if v, ok, n, hit := r.memo.get(cur); hit && n >= 4 {
		// In the first hours the bucket being filled counts too, and it
		// changes with every reading: only a median of four complete
		// buckets or more is kept.
		return v, n, ok
	}
	m, complete, some = r.takeMedian(e, cur)
	r.memo.set(cur, m, some, complete)
	return m, complete, some
}

func (r *topRing) takeMedian(e *Engine, cur int64) (m float64, complete int, some bool) {
	ms := e.scratch[:0]
	for i := range avgBuckets {
		if r.Has&(1<<i) == 0 {
			continue
		}
		if b := ringBucket(r.Last, i); b >= cur-avgBuckets && b < cur {
			ms = append(ms, r.Max[i])
		}
	}
	complete = len(ms)
	if complete < 4 && r.Last == cur && r.Has&(1<<ringSlot(cur)) != 0 {
		ms = append(ms, r.Max[ringSlot(cur)])
	}
	if len(ms) == 0 {
		e.scratch = ms[:0]
		return 0, 0, false
	}
	m = median(ms)
	e.scratch = ms[:0]
	return m, complete, true
}

// excursionState runs excursion rules.
type excursionState struct {
	Top   topRing `json:"top"`
	Since int64   `json:"since,omitempty"` // first sample: the band is learned a learn after
	// The excursion in progress: above the band's top since Start.
	Start  int64   `json:"start,omitempty"`
	Peak   float64 `json:"peak,omitempty"`
	Rising bool    `json:"rising,omitempty"`
	Odd    bool    `json:"odd,omitempty"` // off the learned schedule, or longer than it
	// Hot is when the excursion passed the rule's fixed limit, what a
	// warming-up asset is judged against.
	Hot int64 `json:"hot,omitempty"`
	// Door: the excursion began while a door stood open.
	Door   bool  `json:"door,omitempty"`
	LastAt int64 `json:"last_at,omitempty"`
	Good   int64 `json:"good,omitempty"` // open: back in the band since
	// Normal excursions seen (not inside an incident): when each began,
	// how long it lasted (s).
	ExAt   [maxExcursions]int64 `json:"ex_at"`
	ExDur  [maxExcursions]int32 `json:"ex_dur"`
	ExHead uint8                `json:"ex_head,omitempty"`
}

func (s *excursionState) late(*Engine, *instance, float64) {}
func (s *excursionState) tick(*Engine, *instance, int64)   {}

const (
	// excursionTolerance is how far under its peak an excursion may dip
	// and still count as rising (probe noise is about 0.1 C).
	excursionTolerance = 0.3
	// scheduleSlack is how far from a learned excursion's time of day a
	// new one may start and still be taken for the same defrost.
	scheduleSlack = int64(40 * time.Minute)
	// minExcursion is the shortest excursion worth learning from: a door
	// opening or a single reading above the band is not a defrost.
	minExcursion = int64(10 * time.Minute)
	// doorExcursion is how long an excursion that began under an open
	// door must last to be a defrost: a door's own warming is gone within
	// its 15 min of recovery, a walk-in's defrost often starts while
	// someone is stocking it.
	doorExcursion = int64(25 * time.Minute)
	// maxLearned is the longest excursion learned from: no defrost keeps
	// the air above the band for longer (domain notes: 20-45 min, an hour
	// on a low-temperature case), and a failure must never become normal.
	maxLearned = int64(90 * time.Minute)
	day        = int64(24 * time.Hour)
)

func (s *excursionState) observe(e *Engine, in *instance, _ MetricID, t int64, v, _ float64) {
	c := in.rule
	width := c.learn / avgBuckets
	if s.LastAt != 0 && t-s.LastAt > int64(e.opts.MaxGap) && in.ep == nil {
		s.Start, s.Rising = 0, false // nothing carries across a gap
	}
	s.LastAt = t
	if s.Since == 0 {
		s.Since = t
	}
	top, complete, some := s.Top.median(e, width, t)
	learned := t-s.Since >= c.learn && complete >= avgBuckets*3/4
	if in.ep == nil && s.Start == 0 {
		s.Top.add(width, t, v) // frozen through excursions and incidents
	}
	if !some {
		top = c.limit
	}
	if !e.gated(in, t) {
		if in.ep == nil {
			s.Start, s.Rising, s.Odd = 0, false, false
		}
		return
	}
	over := v > top+c.level
	if e.suppressed(in, t) {
		// A door opened (or the case went into maintenance): nothing is
		// called while it lasts. An excursion goes on being measured
		// from its own start (a defrost's, so that the schedule learns
		// when it began, not when the door closed); one that starts
		// under the door is the door's, and is never learned from.
		if in.ep == nil && over {
			if s.Start == 0 {
				s.Start, s.Peak, s.Hot, s.Door = t, v, 0, true
			}
			s.Peak = math.Max(s.Peak, v)
		}
		return
	}
	if in.ep != nil {
		e.touch(in, t, v)
		if over {
			s.Peak = math.Max(s.Peak, v)
			s.Good = 0
			return
		}
		if s.Good == 0 {
			s.Good = t
		}
		if t-s.Good >= c.clearFor {
			// One that came back by itself as soon as a long defrost
			// would have is learned from as one: the next like it is not
			// called again.
			if s.Start != 0 && s.learnable(s.Good-s.Start) {
				s.remember(s.Start, s.Good-s.Start)
			}
			if e.clear(in, t, v) {
				s.Start, s.Good, s.Rising = 0, 0, false
			}
		}
		return
	}
	if !over {
		if s.Start != 0 && s.learnable(t-s.Start) {
			s.remember(s.Start, t-s.Start)
		}
		s.Start, s.Rising, s.Odd = 0, false, false
		return
	}
	if s.Start == 0 {
		s.Start, s.Peak, s.Hot, s.Door = t, v, 0, false
	}
	if s.Hot == 0 && v > c.limit {
		s.Hot = t
	}
	s.Peak = math.Max(s.Peak, v)
	s.Rising = v >= s.Peak-excursionTolerance
	dur := t - s.Start
	onSchedule, longest := s.learned(s.Start, t)
	s.Odd = !onSchedule || dur > longest
	// Past its defrost's usual length, an excursion that is still in
	// its upper half has not recovered, rising or not: a leaking box
	// limps down from its defrost and never reaches its band.
	stuck := learned && onSchedule && dur > longest && v > top+c.level+(s.Peak-top-c.level)/2
	if (!s.Rising && !stuck) || dur < c.forNs {
		return
	}
	if !learned || s.Start-s.Since < c.learn {
		// Warming up: the band and the schedule are still being learned
		// (excursions are remembered from the first hours on). Only air
		// above the fixed limit for twice as long as the rule's for,
		// still rising, is called.
		if s.Hot == 0 || v <= c.limit || t-s.Hot < 2*c.forNs {
			return
		}
		onSchedule = false
	}
	if onSchedule && dur <= longest {
		return // looks like this asset's own defrost so far
	}
	e.open(in, s.Start, t, v, top+c.level, true)
	in.ep.Peak = s.Peak
	s.Good = 0
}

// learnable reports whether an excursion that lasted dur is a defrost to
// learn from: long enough not to be a door's (one that began under an
// open door must outlast a door's effect), and not so long that a failure
// could become normal.
func (s *excursionState) learnable(dur int64) bool {
	shortest := minExcursion
	if s.Door {
		shortest = doorExcursion
	}
	return dur >= shortest && dur <= maxLearned
}

// remember notes a normal excursion.
func (s *excursionState) remember(start, dur int64) {
	i := int(s.ExHead) % maxExcursions
	s.ExAt[i], s.ExDur[i] = start, int32(min(dur/int64(time.Second), math.MaxInt32))
	s.ExHead = uint8((i + 1) % maxExcursions)
}

// learned reports whether an excursion that began at start is on the
// asset's defrost schedule, as learned from the excursions of the last
// three days, and how long its normal excursions of that schedule lasted.
// Controllers defrost either at set times of day or every so many hours:
// an excursion is on schedule when it starts near the time of day of an
// earlier one, or one learned interval (or two: one may have been missed)
// after the latest. (How high they go varies by several degrees from one
// defrost to the next, with the stocking and the doors around it: it is
// not judged.)
func (s *excursionState) learned(start, t int64) (onSchedule bool, longest int64) {
	var latest int64
	for i := range maxExcursions {
		if at := s.ExAt[i]; at != 0 && t-at <= 3*day && at < start {
			latest = max(latest, at)
		}
	}
	for i := range maxExcursions {
		at := s.ExAt[i]
		if at == 0 || t-at > 3*day {
			continue
		}
		off := ((start-at)%day + day) % day
		match := min(off, day-off) <= scheduleSlack
		if !match && latest != 0 {
			// The gap from this one to the next remembered after it.
			var next int64
			for j := range maxExcursions {
				if b := s.ExAt[j]; b > at && (next == 0 || b < next) {
					next = b
				}
			}
			if gap := next - at; next != 0 && gap >= 2*int64(time.Hour) && gap <= 13*int64(time.Hour) {
				for k := int64(1); k <= 2; k++ {
					if d := start - latest - k*gap; d <= scheduleSlack && d >= -scheduleSlack {
						match = true
					}
				}
			}
		}
		if !match {
			continue
		}
		onSchedule = true
		longest = max(longest, int64(s.ExDur[i])*int64(time.Second))
	}
	// Ten minutes of slack on the longest: the same defrost runs a few
	// minutes longer on a warm day.
	return onSchedule, longest + int64(10*time.Minute)
}

func (s *excursionState) pending(e *Engine, in *instance, t int64) bool {
	return s.Start != 0 && s.Rising && s.Odd && t-s.LastAt <= int64(e.opts.MaxGap)
}

// ---- capacity ----

// capacityRuns is how many recent runs a capacity rule judges by: the
// median of the last five, so that one run slowed by a warm delivery does
// not count; probeRuns, the median of the last nine of a probe's, whose
// runs read from the air every 5 min are rougher measures.
const (
	capacityRuns    = 5
	probeRuns       = 9
	capacityHistory = 12
)

// capacityState runs capacity rules: how fast each compressor run pulls
// the air down, against the asset's own normal. A leak, an iced
// evaporator or a dirty condenser takes capacity away long before the
// temperature leaves its band: the runs pull down slower and last longer.
type capacityState struct {
	// The run in progress.
	RunStart int64   `json:"run_start,omitempty"`
	RunAir   float64 `json:"run_air,omitempty"` // the air when it began
	RunMin   float64 `json:"run_min,omitempty"`
	RunMax   float64 `json:"run_max,omitempty"`
	RunN     int32   `json:"run_n,omitempty"`   // air samples in it
	RunEnd   int64   `json:"run_end,omitempty"` // a probe's: its last falling reading
	Dirty    bool    `json:"dirty,omitempty"`   // a door, a defrost or a gap touched it
	WasOn    bool    `json:"was_on,omitempty"`  //
	LastAt   int64   `json:"last_at,omitempty"` //
	// Base keeps the hourly means of the runs' rates over learn: its
	// median is the asset's normal pull-down rate (C per minute). Runs are
	// judged against it once it has been Learning for the whole of learn:
	// a store's load follows its day (doors, deliveries, the night), and a
	// normal learned over part of one is that part's, against which a new
	// asset's runs in the rest of the day read as lost capacity.
	Base     baseRing `json:"base"`
	Learning int64    `json:"learning,omitempty"`
	// The latest runs' rates, newest at Head-1.
	Rates [capacityHistory]float32 `json:"rates"`
	Head  uint8                    `json:"head,omitempty"`
	N     uint8                    `json:"n,omitempty"`
	// Pending: slow since; Good: open, back to normal since.
	Pending int64   `json:"pending,omitempty"`
	Good    int64   `json:"good,omitempty"`
	Ratio   float64 `json:"ratio,omitempty"` // the latest recent/normal
}

func (s *capacityState) late(*Engine, *instance, float64) {}
func (s *capacityState) tick(*Engine, *instance, int64)   {}

func (s *capacityState) observe(e *Engine, in *instance, m MetricID, t int64, v, prev float64) {
	c := in.rule
	if c.drive == NoMetric {
		s.observeFalls(e, in, t, v, prev)
		return
	}
	d := in.asset.get(c.drive)
	on := e.fresh(in.asset, d, t) && d.V == 1
	if e.suppressed(in, t) || (s.LastAt != 0 && t-s.LastAt > int64(e.opts.MaxGap)) {
		s.Dirty = true
	}
	s.LastAt = t
	if on && !s.WasOn {
		air := in.asset.get(c.metric)
		s.RunStart, s.RunN, s.Dirty = t, 0, !e.fresh(in.asset, air, t)
		s.RunAir, s.RunMin, s.RunMax = air.V, air.V, air.V
	}
	if on && m == c.metric && s.RunStart != 0 {
		s.RunMin, s.RunMax = math.Min(s.RunMin, v), math.Max(s.RunMax, v)
		s.RunN++
	}
	if !on && s.WasOn && s.RunStart != 0 {
		s.endRun(e, in, t)
	}
	s.WasOn = on
}

// observeFalls finds the runs of an asset that reports no compressor
// signal (a retrofit probe) in the air itself: a run is a stretch of
// readings each lower than the one before, which on a thermostat's
// sawtooth is the compressor pulling the box down.
func (s *capacityState) observeFalls(e *Engine, in *instance, t int64, v, prev float64) {
	gap := s.LastAt != 0 && t-s.LastAt > int64(e.opts.MaxGap)
	last := s.LastAt
	s.LastAt = t
	if e.suppressed(in, t) || gap || !e.gated(in, t) {
		s.RunStart, s.Dirty = 0, false
		return
	}
	falling := last != 0 && v < prev
	switch {
	case falling && s.RunStart == 0:
		s.RunStart, s.RunAir, s.RunMin, s.RunMax, s.RunN, s.Dirty = last, prev, v, prev, 2, false
		s.RunEnd = t
	case falling:
		s.RunMin, s.RunEnd = v, t
		s.RunN++
	case s.RunStart != 0:
		// The fall ended at the previous reading; it counts only when it
		// fell far enough to be the thermostat's, not the probe's noise.
		if s.RunAir-s.RunMin >= minFall {
			s.endRun(e, in, s.RunEnd)
		}
		s.RunStart = 0
	}
}

// minFall is the least a retrofit probe's air must fall in a stretch for it
// to be a compressor run: four times its noise.
const minFall = 0.5

// endRun judges a run that just ended.
func (s *capacityState) endRun(e *Engine, in *instance, t int64) {
	c := in.rule
	dur := float64(t-s.RunStart) / 6e10
	start := s.RunStart
	s.RunStart = 0
	// A run whose air never moved says nothing of the compressor: the
	// probe is stuck (temp-sensor-stuck speaks for it).
	if s.Dirty || s.RunN < 3 || dur < 3 || s.RunMax-s.RunMin < 0.05 {
		return
	}
	rate := (s.RunAir - s.RunMin) / dur
	s.Rates[s.Head] = float32(rate)
	s.Head = (s.Head + 1) % capacityHistory
	s.N = min(s.N+1, capacityHistory)
	width := c.learn / avgBuckets
	base, n, span := s.Base.medianSpan(e, width, t)
	if s.Learning == 0 && n > 0 {
		s.Learning = (t/width - int64(span)) * width // a snapshot from before Learning
	}
	if in.ep == nil && s.Pending == 0 {
		s.Base.add(width, start, rate) // frozen while capacity is in doubt
		if s.Learning == 0 {
			s.Learning = start
		}
	}
	runs := capacityRuns
	if c.drive == NoMetric {
		runs = probeRuns
	}
	if n < avgBuckets/2 || t-s.Learning < c.learn || base <= 0 || int(s.N) < runs {
		return
	}
	var recent [probeRuns]float64
	for i := range runs {
		recent[i] = float64(s.Rates[(int(s.Head)+capacityHistory-1-i)%capacityHistory])
	}
	s.Ratio = median(recent[:runs]) / base
	slow := s.Ratio < 1-c.level
	if in.ep == nil {
		if !slow {
			s.Pending = 0
			return
		}
		if s.Pending == 0 {
			s.Pending = start
		}
		if t-s.Pending >= c.forNs {
			e.open(in, s.Pending, t, s.Ratio, 1-c.level, true)
			s.Good = 0
		}
		return
	}
	e.touch(in, t, s.Ratio)
	if s.Ratio < 1-c.level/2 {
		s.Good = 0
		return
	}
	if s.Good == 0 {
		s.Good = t
	}
	if t-s.Good >= c.clearFor {
		if e.clear(in, t, s.Ratio) {
			s.Pending, s.Good = 0, 0
		}
	}
}
