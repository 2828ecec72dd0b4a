package pm

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/workorder"
	"github.com/frostline/frostline/rules"
)

// Duration is a span written as "72h", "3d" or "1d12h" in JSON.
type Duration time.Duration

// D returns the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalJSON writes the duration the way it is read.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(rules.Duration(d).String()) }

// UnmarshalJSON reads "72h", "3d" or "1d12h".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a duration such as \"72h\" or \"3d\"")
	}
	if len(s) > 32 {
		return fmt.Errorf("duration %q too long", s)
	}
	v, err := rules.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Catch-up policies: what a schedule does with occurrences missed while no
// generator ran (the grace period over).
const (
	SkipMissed = "skip" // generate none of them; carry on with the next
	OneMissed  = "one"  // generate the latest missed one, once
)

// Template is what every work order of a schedule carries.
type Template struct {
	Trade       string                  `json:"trade"`
	Priority    string                  `json:"priority,omitempty"`
	Title       string                  `json:"title,omitempty"`
	Description string                  `json:"description,omitempty"`
	Checklist   []workorder.CheckItem   `json:"checklist,omitempty"`
	LabourHours float64                 `json:"labour_hours,omitempty"`
	Parts       []workorder.PlannedPart `json:"parts,omitempty"`
	// Vendor is the preferred vendor or in-house team.
	Vendor    string `json:"vendor,omitempty"`
	Signature bool   `json:"signature_required,omitempty"`
}

// Condition pulls a calendar or runtime visit forward when a telemetry
// signal says the equipment is working harder than it should: when the
// asset's mean duty cycle over Over exceeds Above, the next visit falls due
// PullForward earlier (not before now).
type Condition struct {
	Signal      string   `json:"signal"` // duty_cycle
	Above       float64  `json:"above"`
	Over        Duration `json:"over,omitempty"` // 7d by default
	PullForward Duration `json:"pull_forward"`
}

// Schedule is a preventive-maintenance schedule: which assets, when, and
// the template of the work orders it generates. Exactly one of RRule,
// RuntimeHours and DefrostCycles says when.
type Schedule struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Site and Asset name one asset; Site and AssetClass every asset of
	// the class at the site; AssetClass alone every asset of the class.
	Site       string `json:"site,omitempty"`
	Asset      string `json:"asset,omitempty"`
	AssetClass string `json:"asset_class,omitempty"`
	// RRule is an RFC 5545 recurrence (see RRule for the subset), counted
	// from Start in the site's time zone.
	RRule string `json:"rrule,omitempty"`
	// RuntimeHours: a visit every so many compressor run-hours since
	// Start; DefrostCycles: every so many defrosts.
	RuntimeHours  float64 `json:"runtime_hours,omitempty"`
	DefrostCycles int     `json:"defrost_cycles,omitempty"`
	// Start anchors the rule (DTSTART) and the run-hour count.
	Start     time.Time  `json:"start"`
	LeadTime  Duration   `json:"lead_time"`
	Condition *Condition `json:"condition,omitempty"`
	// CatchUp is skip (default) or one.
	CatchUp  string   `json:"catch_up,omitempty"`
	Template Template `json:"template"`
	// Paused schedules generate nothing.
	Paused    bool      `json:"paused,omitempty"`
	Version   int       `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`

	rule *RRule
}

// Rule returns the parsed recurrence (nil for runtime schedules).
func (s *Schedule) Rule() *RRule { return s.rule }

// Calendar reports whether the schedule is driven by a recurrence rule.
func (s *Schedule) Calendar() bool { return s.RRule != "" }

// ParseSchedule decodes a schedule strictly (unknown fields refused) and
// validates it.
func ParseSchedule(data []byte) (*Schedule, error) {
	var s Schedule
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("schedule: %w", err)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// Validate checks a schedule and compiles its rule. The error is a
// *cloud.Error naming the field at fault.
func (s *Schedule) Validate() error {
	s.rule = nil
	switch {
	case strings.TrimSpace(s.Name) == "" || utf8.RuneCountInString(s.Name) > 200 || !utf8.ValidString(s.Name):
		return cloud.FieldError("name", "required, at most 200 characters")
	case s.Site != "" && !cloud.ValidID(s.Site):
		return cloud.FieldError("site", "%q is not a valid site id", s.Site)
	case s.Asset != "" && !cloud.ValidID(s.Asset):
		return cloud.FieldError("asset", "%q is not a valid asset id", s.Asset)
	case s.Asset != "" && s.Site == "":
		return cloud.FieldError("site", "a schedule for one asset names its site")
	case s.Asset != "" && s.AssetClass != "":
		return cloud.FieldError("asset_class", "give asset or asset_class, not both")
	case s.Asset == "" && s.AssetClass == "":
		return cloud.FieldError("asset", "give an asset, or an asset_class")
	case s.AssetClass != "" && !slices.Contains(rules.AssetClasses, s.AssetClass):
		return cloud.FieldError("asset_class", "unknown asset class %q", s.AssetClass)
	}
	kinds := 0
	for _, set := range []bool{s.RRule != "", s.RuntimeHours != 0, s.DefrostCycles != 0} {
		if set {
			kinds++
		}
	}
	if kinds != 1 {
		return cloud.FieldError("rrule", "give exactly one of rrule, runtime_hours and defrost_cycles")
	}
	if s.RRule != "" {
		r, err := ParseRRule(s.RRule)
		if err != nil {
			return cloud.FieldError("rrule", "%v", err)
		}
		s.rule = r
	}
	switch {
	case s.RuntimeHours < 0 || s.RuntimeHours > 1e6 || math.IsNaN(s.RuntimeHours):
		return cloud.FieldError("runtime_hours", "want 1 to 1,000,000 hours")
	case s.RuntimeHours != 0 && s.RuntimeHours < 1:
		return cloud.FieldError("runtime_hours", "want 1 to 1,000,000 hours")
	case s.DefrostCycles < 0 || s.DefrostCycles > 1e6:
		return cloud.FieldError("defrost_cycles", "want 1 to 1,000,000")
	case s.Start.IsZero():
		return cloud.FieldError("start", "required: when the schedule starts (RFC 3339)")
	case s.Start.Year() < 2000 || s.Start.Year() > 2200:
		return cloud.FieldError("start", "want a year between 2000 and 2200")
	case s.LeadTime < 0 || s.LeadTime.D() > 366*24*time.Hour:
		return cloud.FieldError("lead_time", "want 0 to 366d")
	case s.CatchUp != "" && s.CatchUp != SkipMissed && s.CatchUp != OneMissed:
		return cloud.FieldError("catch_up", "want skip or one")
	}
	if c := s.Condition; c != nil {
		switch {
		case c.Signal != "duty_cycle":
			return cloud.FieldError("condition.signal", "want duty_cycle")
		case c.Above <= 0 || c.Above >= 1 || math.IsNaN(c.Above):
			return cloud.FieldError("condition.above", "want a duty cycle between 0 and 1")
		case c.Over < 0 || c.Over.D() > 90*24*time.Hour:
			return cloud.FieldError("condition.over", "want 0 to 90d")
		case c.PullForward <= 0 || c.PullForward.D() > 366*24*time.Hour:
			return cloud.FieldError("condition.pull_forward", "want more than 0, up to 366d")
		}
	}
	return s.Template.validate()
}

func (t *Template) validate() error {
	switch {
	case !slices.Contains(rules.Trades, t.Trade):
		return cloud.FieldError("template.trade", "unknown trade %q", t.Trade)
	case t.Priority != "" && !slices.Contains(rules.Priorities, t.Priority):
		return cloud.FieldError("template.priority", "want P1-P4, got %q", t.Priority)
	case utf8.RuneCountInString(t.Title) > 200:
		return cloud.FieldError("template.title", "at most 200 characters")
	case utf8.RuneCountInString(t.Description) > 4000:
		return cloud.FieldError("template.description", "at most 4000 characters")
	case t.LabourHours < 0 || t.LabourHours > 1000 || math.IsNaN(t.LabourHours):
		return cloud.FieldError("template.labour_hours", "want 0 to 1000")
	case len(t.Checklist) > 200:
		return cloud.FieldError("template.checklist", "at most 200 items")
	case len(t.Parts) > 100:
		return cloud.FieldError("template.parts", "at most 100 parts")
	case t.Vendor != "" && !cloud.ValidID(t.Vendor):
		return cloud.FieldError("template.vendor", "%q is not a valid vendor id", t.Vendor)
	}
	ids := map[string]bool{}
	for i, it := range t.Checklist {
		f := fmt.Sprintf("template.checklist[%d]", i)
		switch {
		case !cloud.ValidID(it.ID):
			return cloud.FieldError(f+".id", "required: letters, digits, _ -")
		case ids[it.ID]:
			return cloud.FieldError(f+".id", "%q appears twice", it.ID)
		case strings.TrimSpace(it.Text) == "" || utf8.RuneCountInString(it.Text) > 500:
			return cloud.FieldError(f+".text", "required, at most 500 characters")
		case it.Kind != workorder.PassFail && it.Kind != workorder.Reading:
			return cloud.FieldError(f+".kind", "want pass_fail or reading")
		case it.Kind == workorder.PassFail && (it.Min != nil || it.Max != nil || it.Unit != ""):
			return cloud.FieldError(f+".kind", "a pass_fail item has no unit or limits")
		case it.Min != nil && it.Max != nil && *it.Min > *it.Max:
			return cloud.FieldError(f+".min", "min is above max")
		case it.Problem != "" && !slices.Contains(workorder.ReportProblems, it.Problem):
			return cloud.FieldError(f+".problem", "unknown problem %q", it.Problem)
		case len(it.Unit) > 20:
			return cloud.FieldError(f+".unit", "at most 20 characters")
		}
		for _, v := range []*float64{it.Min, it.Max} {
			if v != nil && (math.IsNaN(*v) || math.IsInf(*v, 0)) {
				return cloud.FieldError(f+".min", "limits must be numbers")
			}
		}
		ids[it.ID] = true
	}
	for i, p := range t.Parts {
		f := fmt.Sprintf("template.parts[%d]", i)
		switch {
		case p.Part == "" || len(p.Part) > 64:
			return cloud.FieldError(f+".part", "required: a part number")
		case p.Quantity <= 0 || p.Quantity > 1e6 || math.IsNaN(p.Quantity):
			return cloud.FieldError(f+".quantity", "want a positive quantity")
		}
	}
	return nil
}

// Target is one asset a schedule applies to.
type Target struct {
	Site, Asset, Class string
}

// Applies reports whether the schedule covers the asset.
func (s *Schedule) Applies(a Target) bool {
	if s.Asset != "" {
		return s.Site == a.Site && s.Asset == a.Asset
	}
	return (s.Site == "" || s.Site == a.Site) && s.AssetClass == a.Class
}

// planned builds the work order of one occurrence from the template.
func (s *Schedule) planned(t Target, occ Occurrence, at time.Time) workorder.Planned {
	tp := s.Template
	title := tp.Title
	if title == "" {
		title = s.Name + " on " + t.Asset
	}
	return workorder.Planned{
		Site: t.Site, Asset: t.Asset, AssetClass: t.Class, Trade: tp.Trade, Priority: tp.Priority,
		Title: title, Description: tp.Description, At: at,
		Plan: workorder.Plan{
			Schedule: s.ID, Occurrence: occ.Key, DueAt: occ.DueAt, Checklist: tp.Checklist,
			LabourHours: tp.LabourHours, Parts: tp.Parts, Vendor: tp.Vendor, Signature: tp.Signature,
		},
	}
}
