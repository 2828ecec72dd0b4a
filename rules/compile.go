package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// Set is a compiled, validated collection of rules, ready for an Engine.
// It is immutable and safe to share.
type Set struct {
	rules []*compiled
}

// Rules returns the source rules of the set, in order.
func (s *Set) Rules() []Rule {
	out := make([]Rule, len(s.rules))
	for i, c := range s.rules {
		out[i] = c.src
	}
	return out
}

// Len returns the number of rules.
func (s *Set) Len() int { return len(s.rules) }

type cond struct {
	metric   MetricID
	present  bool
	op       byte // '=', '!', '>', '<', 'c' (store closed), 'p' (present)
	val      float64
	recovery int64
	min, max int64    // a condition counts once held min, until held max
	endedBy  MetricID // a signal whose coming on ends the condition (NoMetric: none)
}

type esc struct {
	level    float64
	hasLevel bool
	after    int64
	priority string
}

// compiled is a rule in the form the engine runs: metric ids resolved,
// durations in nanoseconds, templates parsed.
type compiled struct {
	src                Rule
	id                 string
	kind               string
	metric, minus, act MetricID
	above              bool // level direction: true for above
	level, clear       float64
	forNs, clearFor    int64
	tau, avg           int64
	floor, baseline    int64
	dm                 float64
	escalate           []esc
	window, horizon    int64
	limit, minSlope    float64
	sample             byte // 'a' mean, 'n' min, 'x' max
	rising             bool
	stateVal           float64
	clearShortRuns     bool
	max                int
	tolerance          float64
	minActivity        uint32
	siteScope          bool
	after              int64
	factor             float64
	when, suppress     []cond
	updateEvery        int64
	drive              MetricID // pulldown: the cooling command
	rise               float64  // pulldown: how far the air may climb
	learn              int64    // excursion: how long the asset's own normal takes to learn
	members            []string // group: the rules of served assets that count
	minAssets          int      // group: served assets that must fire together
	confirm            []cond   // group: what on the equipment itself confirms it
	title, summary     *ruleTemplate
	fingerprint        string
}

// Compile checks rules that came from Parse or ParseFS and prepares them
// for an Engine. Rules built by hand are validated here too.
func Compile(rules []Rule) (*Set, error) {
	var errs Errors
	seen := map[string]bool{}
	set := &Set{}
	for i := range rules {
		r := rules[i]
		if r.File == "" {
			r.File = "(rules)"
		}
		if es := r.validate(); len(es) > 0 {
			errs = append(errs, es...)
			continue
		}
		if seen[r.ID] {
			errs = append(errs, &Error{File: r.File, Pos: r.Pos, Rule: r.ID, Msg: "duplicate rule id"})
			continue
		}
		seen[r.ID] = true
		set.rules = append(set.rules, compile(r))
	}
	for _, c := range set.rules {
		for _, id := range c.members {
			if !seen[id] {
				errs = append(errs, &Error{File: c.src.File, Pos: c.src.Fields.of("rules", c.src.Pos), Rule: c.id,
					Msg: fmt.Sprintf("rules: no rule %q in the set", id)})
			}
		}
	}
	if len(errs) > 0 {
		errs.sort()
		return nil, errs
	}
	return set, nil
}

func compileConds(cs []Condition) []cond {
	out := make([]cond, 0, len(cs))
	for _, c := range cs {
		k := cond{recovery: int64(c.Recovery), min: int64(c.Min), max: int64(c.Max), endedBy: NoMetric}
		if c.EndedBy != "" {
			k.endedBy = LookupMetric(c.EndedBy)
		}
		if c.Closed {
			k.op = 'c'
			out = append(out, k)
			continue
		}
		k.metric = LookupMetric(c.Metric)
		switch {
		case c.Eq != "":
			k.op = '='
			k.val, _ = conditionValue(k.metric, c.Eq)
		case c.Ne != "":
			k.op = '!'
			k.val, _ = conditionValue(k.metric, c.Ne)
		case c.Above != nil:
			k.op, k.val = '>', *c.Above
		case c.Below != nil:
			k.op, k.val = '<', *c.Below
		case c.Present != nil:
			k.op, k.present = 'p', *c.Present
		}
		out = append(out, k)
	}
	return out
}

func (c *cond) test(v float64) bool {
	switch c.op {
	case '=':
		return v == c.val
	case '!':
		return v != c.val
	case '>':
		return v > c.val
	case '<':
		return v < c.val
	}
	return false
}

func compile(r Rule) *compiled {
	c := &compiled{
		src: r, id: r.ID, kind: r.Kind,
		metric: LookupMetric(r.Metric), minus: NoMetric, act: NoMetric,
		forNs: int64(r.For), clearFor: int64(r.ClearFor),
		tau: int64(r.ProductTau), avg: int64(r.Average), dm: r.DegreeMinutes,
		floor: int64(r.Floor), baseline: int64(r.Baseline),
		window: int64(r.Window), horizon: int64(r.Horizon), minSlope: r.MinSlope,
		stateVal: 1, clearShortRuns: r.ClearOnShortRuns, max: r.Max, tolerance: r.Tolerance, minActivity: uint32(r.MinActivity),
		siteScope: r.Scope == "site", after: int64(r.After), factor: r.Factor,
		when: compileConds(r.When), suppress: compileConds(r.Suppress),
		updateEvery: int64(r.UpdateEvery), rising: r.Direction != "falling",
		drive: NoMetric, rise: r.Rise, learn: int64(r.Learn),
		members: r.Rules, minAssets: r.MinAssets, confirm: compileConds(r.Confirm),
	}
	if r.Drive != "" {
		c.drive = LookupMetric(r.Drive)
	}
	if c.learn == 0 {
		c.learn = int64(24 * time.Hour)
	}
	if c.minAssets == 0 {
		c.minAssets = 2
	}
	if r.Kind == KindPulldown && c.clearFor == 0 {
		c.clearFor = int64(10 * time.Minute)
	}
	if r.Kind == KindExcursion && c.clearFor == 0 {
		c.clearFor = int64(30 * time.Minute)
	}
	if r.Kind == KindCapacity && c.clearFor == 0 {
		c.clearFor = int64(3 * time.Hour)
	}
	if r.Kind == KindGroup && c.clearFor == 0 {
		c.clearFor = int64(15 * time.Minute)
	}
	if r.Metric == "" {
		c.metric = NoMetric
	}
	if r.Minus != "" {
		c.minus = LookupMetric(r.Minus)
	}
	if r.Activity != "" {
		c.act = LookupMetric(r.Activity)
	}
	if c.updateEvery == 0 {
		c.updateEvery = int64(30 * time.Minute)
	}
	if r.Above != nil {
		c.above, c.level = true, *r.Above
	} else if r.Below != nil {
		c.level = *r.Below
	}
	c.clear = c.level
	if r.Clear != nil {
		c.clear = *r.Clear
	}
	if r.Limit != nil {
		c.limit = *r.Limit
	}
	switch r.Sample {
	case "min":
		c.sample = 'n'
	case "max":
		c.sample = 'x'
	default:
		c.sample = 'a'
	}
	if r.State != nil {
		c.stateVal = *r.State
	}
	if r.Kind == KindTrend && c.clearFor == 0 {
		c.clearFor = int64(time.Hour)
	}
	if r.Kind == KindTransitions && c.clearFor == 0 {
		c.clearFor = c.window / 2
	}
	for _, e := range r.Escalate {
		x := esc{after: int64(e.After), priority: e.Priority}
		if e.Above != nil {
			x.level, x.hasLevel = *e.Above, true
		} else if e.Below != nil {
			x.level, x.hasLevel = *e.Below, true
		}
		c.escalate = append(c.escalate, x)
	}
	c.title, _ = parseTemplate(r.Title)
	c.summary, _ = parseTemplate(r.Summary)
	c.fingerprint = fingerprint(r)
	return c
}

// withOverride returns the rule as adjusted for one asset.
func (c *compiled) withOverride(o Override) *compiled {
	d := *c
	if o.Above != nil && c.above {
		d.level = *o.Above
		if c.src.Clear == nil {
			d.clear = d.level
		}
	}
	if o.Below != nil && !c.above {
		d.level = *o.Below
		if c.src.Clear == nil {
			d.clear = d.level
		}
	}
	if o.Clear != nil {
		d.clear = *o.Clear
	}
	if o.For != 0 {
		d.forNs = int64(o.For)
	}
	if o.Priority != "" {
		d.src.Priority = o.Priority
	}
	d.fingerprint = c.fingerprint + "+" + fingerprint(o)
	return &d
}

func fingerprint(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("rules: fingerprint: %v", err)) // plain data always marshals
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}

// beyond reports whether x is on the alarm side of level.
func (c *compiled) beyond(x, level float64) bool {
	if c.above {
		return x > level
	}
	return x < level
}

// excess is how far x is past the level, in the alarm direction.
func (c *compiled) excess(x float64) float64 {
	if c.above {
		return x - c.level
	}
	return c.level - x
}

// worse returns the worse of two values in the rule's direction.
func (c *compiled) worse(a, b float64) float64 {
	up := true
	switch c.kind {
	case KindThreshold, KindDelta:
		up = c.above
	case KindTrend:
		up = c.rising
	}
	if up {
		return math.Max(a, b)
	}
	return math.Min(a, b)
}
