package rules

// File is one rules file: a list of rules.
type File struct {
	Rules  []Rule    `yaml:"rules"`
	Fields positions `yaml:"-" json:"-"` // where each field was written
}

// Rule is one rule as an FM writes it. Which fields apply depends on Kind;
// Parse rejects fields that do not apply to the rule's kind.
type Rule struct {
	ID          string `yaml:"id" json:"id"`
	Kind        string `yaml:"kind" json:"kind"`
	Description string `yaml:"description" json:"description,omitempty"`
	Match       Match  `yaml:"match" json:"match"`

	// Metric is the metric the rule reads. For kind delta the rule reads
	// Metric minus Minus.
	Metric string `yaml:"metric" json:"metric,omitempty"`
	Minus  string `yaml:"minus" json:"minus,omitempty"`

	// Level rules (threshold, delta): fire when the value is above Above (or
	// below Below) for For, and, when DegreeMinutes is set, once the
	// excursion beyond the level has added up to that many degree-minutes.
	// They clear when the value is back on the good side of Clear (the
	// level itself when unset) for ClearFor.
	Above         *float64 `yaml:"above" json:"above,omitempty"`
	Below         *float64 `yaml:"below" json:"below,omitempty"`
	For           Duration `yaml:"for" json:"for,omitempty"`
	Clear         *float64 `yaml:"clear" json:"clear,omitempty"`
	ClearFor      Duration `yaml:"clear_for" json:"clear_for,omitempty"`
	DegreeMinutes float64  `yaml:"degree_minutes" json:"degree_minutes,omitempty"`
	// ProductTau runs the value through a first-order filter with this time
	// constant before comparing it: a simulated product temperature, which
	// rides through defrost cycles as real food does.
	ProductTau Duration `yaml:"product_tau" json:"product_tau,omitempty"`
	// Average compares the time-weighted mean over this window instead of
	// the latest value; on a 0/1 signal this is the duty cycle.
	Average Duration `yaml:"average" json:"average,omitempty"`
	// Floor compares the lowest value over this window (the lower envelope:
	// where the box pulls down to between defrosts and door openings).
	Floor Duration `yaml:"floor" json:"floor,omitempty"`
	// Baseline compares the value (or the floor) with the median of the
	// hourly means over this window: a deviation from the asset's own
	// normal rather than an absolute level. Frozen while an incident is
	// open, so that a lasting fault does not become the new normal.
	Baseline Duration     `yaml:"baseline" json:"baseline,omitempty"`
	Escalate []Escalation `yaml:"escalate" json:"escalate,omitempty"`

	// Trend rules: a robust (Theil-Sen) slope over Window and the predicted
	// time for the value to reach Limit; fire while that is within Horizon.
	Window   Duration `yaml:"window" json:"window,omitempty"`
	Limit    *float64 `yaml:"limit" json:"limit,omitempty"`
	Horizon  Duration `yaml:"horizon" json:"horizon,omitempty"`
	MinSlope float64  `yaml:"min_slope" json:"min_slope,omitempty"` // units per hour
	Sample   string   `yaml:"sample" json:"sample,omitempty"`       // mean (default), min or max of each bucket
	// Direction is rising (default: the value climbs toward Limit) or falling.
	Direction string `yaml:"direction" json:"direction,omitempty"`

	// State rules: the metric holds State (default 1) for For. They clear
	// once the state has been left for ClearFor, or, with
	// ClearOnShortRuns, once every run of the state has stayed shorter
	// than For for ClearFor (a compressor that cycles normally again
	// after a repair, though it is never off for long).
	State            *float64 `yaml:"state" json:"state,omitempty"`
	ClearOnShortRuns bool     `yaml:"clear_on_short_runs" json:"clear_on_short_runs,omitempty"`

	// Transitions rules: more than Max rising edges (0 -> 1) within Window.
	Max int `yaml:"max" json:"max,omitempty"`

	// Flatline rules: the value stays within Tolerance for For while the
	// Activity metric changes at least MinActivity times.
	Tolerance   float64 `yaml:"tolerance" json:"tolerance,omitempty"`
	Activity    string  `yaml:"activity" json:"activity,omitempty"`
	MinActivity int     `yaml:"min_activity" json:"min_activity,omitempty"`

	// Missing rules: no reading of Metric (any metric when unset) for longer
	// than After, or Factor times the expected interval (the asset's
	// interval, else the one learned from the series' cadence). Scope site
	// watches the whole site instead and inhibits per-asset silences.
	Scope  string   `yaml:"scope" json:"scope,omitempty"`
	After  Duration `yaml:"after" json:"after,omitempty"`
	Factor float64  `yaml:"factor" json:"factor,omitempty"`

	// Pulldown rules: while Drive (the cooling command: compressor_on, or
	// a rack case's solenoid) has been on for For, the air (Metric) must
	// be pulling down; air Rise above its lowest since the drive came on
	// is a box that is not being cooled.
	Drive string  `yaml:"drive" json:"drive,omitempty"`
	Rise  float64 `yaml:"rise" json:"rise,omitempty"`

	// Capacity rules (Metric, Drive, Learn, Below, For) learn how fast the
	// asset's compressor runs pull the air down over Learn, and fire when
	// the median of the last five runs has pulled down Below (a fraction,
	// 0.3 = 30 %) slower than that for For: a leak, an iced coil or a dirty
	// condenser, hours before the temperature leaves its band.

	// Excursion rules learn an asset's own cycling over Learn: the top of
	// its band (the median of hourly maxima) and its normal excursions
	// above it (defrosts: when in the day they start, how long and how
	// high they go). Air Above the band's top that keeps rising for For
	// off the learned schedule, or longer or higher than any learned
	// excursion on it, fires. While the asset has not been watched for
	// Learn, Limit stands in for the band's top.
	Learn Duration `yaml:"learn" json:"learn,omitempty"`

	// Group rules run on equipment that serves other assets (served_by):
	// when at least MinAssets of its assets fire one of Rules together,
	// or one does while Confirm holds on the equipment itself, one
	// incident opens on the equipment, naming the assets; while it is
	// open, the served assets' incidents of the same trade are held back
	// (inhibited) rather than raised one by one.
	Rules     []string    `yaml:"rules" json:"rules,omitempty"`
	MinAssets int         `yaml:"min_assets" json:"min_assets,omitempty"`
	Confirm   []Condition `yaml:"confirm" json:"confirm,omitempty"`

	// When gates evaluation: samples taken while a condition does not hold
	// are skipped (a pending duration pauses rather than resets).
	When []Condition `yaml:"when" json:"when,omitempty"`
	// Suppress inhibits the rule while a condition holds and for its
	// Recovery after: pending episodes reset, trend samples are excluded.
	Suppress []Condition `yaml:"suppress" json:"suppress,omitempty"`
	// UpdateEvery is how often an open incident reports its progress.
	UpdateEvery Duration `yaml:"update_every" json:"update_every,omitempty"`

	Problem  string `yaml:"problem" json:"problem"`
	Priority string `yaml:"priority" json:"priority"`
	Trade    string `yaml:"trade" json:"trade"`
	Title    string `yaml:"title" json:"title"`
	Summary  string `yaml:"summary" json:"summary,omitempty"`

	Fields positions `yaml:"-" json:"-"` // where each field was written
	// Pos is where the rule starts in its file.
	Pos  Pos    `yaml:"-" json:"-"`
	File string `yaml:"-" json:"-"`
}

// Match selects the assets a rule applies to.
type Match struct {
	Class  []string  `yaml:"class" json:"class,omitempty"`
	Site   []string  `yaml:"site" json:"site,omitempty"`
	Asset  []string  `yaml:"asset" json:"asset,omitempty"`
	Fields positions `yaml:"-" json:"-"` // where each field was written
}

// Escalation raises an open incident's priority when it gets worse: the
// value beyond Above/Below (the rule's level when unset) and, when After is
// set, the incident open for at least that long. For a state rule After
// counts from when the state began (a door open 45 min).
type Escalation struct {
	Above    *float64  `yaml:"above" json:"above,omitempty"`
	Below    *float64  `yaml:"below" json:"below,omitempty"`
	After    Duration  `yaml:"after" json:"after,omitempty"`
	Priority string    `yaml:"priority" json:"priority"`
	Fields   positions `yaml:"-" json:"-"` // where each field was written
}

// Condition is a test on an asset's latest value of a metric, or on the
// store being closed. Recovery extends a suppression past the condition's
// end (a defrost's recovery).
type Condition struct {
	Metric string   `yaml:"metric" json:"metric,omitempty"`
	Eq     string   `yaml:"eq" json:"eq,omitempty"`
	Ne     string   `yaml:"ne" json:"ne,omitempty"`
	Above  *float64 `yaml:"above" json:"above,omitempty"`
	Below  *float64 `yaml:"below" json:"below,omitempty"`
	Closed bool     `yaml:"closed" json:"closed,omitempty"`
	// Present tests whether the asset reports the metric at all (a fresh
	// value is held): retrofit probes report no defrost state.
	Present  *bool    `yaml:"present" json:"present,omitempty"`
	Recovery Duration `yaml:"recovery" json:"recovery,omitempty"`
	// Max: a condition that has held longer than this stops counting (a
	// defrost signal stuck on is a fault, not a defrost).
	Max Duration `yaml:"max" json:"max,omitempty"`
	// Min: a condition counts only once it has held this long (a door
	// propped open, not a stocking run).
	Min Duration `yaml:"min" json:"min,omitempty"`
	// EndedBy names a 0/1 signal whose coming on, after the condition
	// began, ends it there whatever the condition's own signal still
	// says, and starts its recovery: a defrost is over once the
	// controller calls for cooling again (ended_by: compressor_on), even
	// while its defrost flag, reported on change and every 15 min, still
	// reads 1. Suppress conditions only.
	EndedBy string    `yaml:"ended_by" json:"ended_by,omitempty"`
	Fields  positions `yaml:"-" json:"-"` // where each field was written
}

// Rule kinds.
const (
	KindThreshold   = "threshold"
	KindTrend       = "trend"
	KindState       = "state"
	KindTransitions = "transitions"
	KindFlatline    = "flatline"
	KindMissing     = "missing"
	KindDelta       = "delta"
	KindPulldown    = "pulldown"
	KindExcursion   = "excursion"
	KindGroup       = "group"
	KindCapacity    = "capacity"
)

// Kinds lists the rule kinds.
var Kinds = []string{KindThreshold, KindTrend, KindState, KindTransitions, KindFlatline, KindMissing, KindDelta, KindPulldown, KindExcursion, KindGroup, KindCapacity}

// kindFields lists, per kind, the fields beyond the common ones that the
// kind reads; any other field set on a rule is an error.
var kindFields = map[string][]string{
	KindThreshold:   {"metric", "above", "below", "for", "clear", "clear_for", "degree_minutes", "product_tau", "average", "floor", "baseline", "escalate"},
	KindDelta:       {"metric", "minus", "above", "below", "for", "clear", "clear_for", "degree_minutes", "escalate"},
	KindTrend:       {"metric", "window", "limit", "horizon", "min_slope", "sample", "direction", "for", "clear_for", "baseline", "above"},
	KindState:       {"metric", "state", "for", "clear_for", "clear_on_short_runs", "escalate"},
	KindTransitions: {"metric", "window", "max", "for", "clear_for"},
	KindFlatline:    {"metric", "for", "tolerance", "activity", "min_activity"},
	KindMissing:     {"metric", "scope", "after", "factor"},
	KindPulldown:    {"metric", "drive", "rise", "for", "clear_for"},
	KindExcursion:   {"metric", "learn", "above", "limit", "for", "clear_for"},
	KindGroup:       {"rules", "min_assets", "confirm", "clear_for"},
	KindCapacity:    {"metric", "drive", "learn", "below", "for", "clear_for"},
}

var commonFields = []string{"id", "kind", "description", "match", "when", "suppress", "update_every", "problem", "priority", "trade", "title", "summary"}
