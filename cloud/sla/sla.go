package sla

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/frostline/frostline/rules"
)

// Milestone is one promise a vendor makes on a work order.
type Milestone string

// Milestones, in the order they fall due.
const (
	Acknowledge Milestone = "acknowledge" // the vendor accepts the dispatch
	Arrive      Milestone = "arrive"      // a technician checks in on site
	Complete    Milestone = "complete"    // the work is marked complete
)

// Milestones lists every milestone in order.
var Milestones = []Milestone{Acknowledge, Arrive, Complete}

// Duration is a time.Duration written in YAML and JSON as "90s", "30m",
// "4h" or "2d", the way rules files write them.
type Duration time.Duration

// D returns the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalText writes the duration the way it is read.
func (d Duration) MarshalText() ([]byte, error) { return []byte(rules.Duration(d).String()), nil }

// UnmarshalText reads "90s", "30m", "4h", "2d" or "1d12h".
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := rules.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// UnmarshalJSON also accepts a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var n float64
	if err := json.Unmarshal(b, &n); err == nil {
		*d = Duration(n * float64(time.Second))
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a duration such as \"4h\": %w", err)
	}
	return d.UnmarshalText([]byte(s))
}

// Targets are how long each milestone may take, counted from dispatch. A
// zero target means no promise for that milestone.
type Targets struct {
	Acknowledge Duration `yaml:"acknowledge" json:"acknowledge,omitempty"`
	Arrive      Duration `yaml:"arrive" json:"arrive,omitempty"`
	Complete    Duration `yaml:"complete" json:"complete,omitempty"`
}

// Of returns the target for one milestone.
func (t Targets) Of(m Milestone) time.Duration {
	switch m {
	case Acknowledge:
		return t.Acknowledge.D()
	case Arrive:
		return t.Arrive.D()
	case Complete:
		return t.Complete.D()
	}
	return 0
}

// Validate checks the targets: none negative, and in milestone order.
// field prefixes the names it reports ("sla.P1").
func (t Targets) Validate(field string) []error {
	var errs []error
	for _, m := range Milestones {
		if t.Of(m) < 0 {
			errs = append(errs, fmt.Errorf("%s.%s: must not be negative", field, m))
		}
	}
	if a, b := t.Acknowledge.D(), t.Arrive.D(); a > 0 && b > 0 && b < a {
		errs = append(errs, fmt.Errorf("%s.arrive: %s is before acknowledge %s", field, rules.Duration(b), rules.Duration(a)))
	}
	if a, b := t.Arrive.D(), t.Complete.D(); a > 0 && b > 0 && b < a {
		errs = append(errs, fmt.Errorf("%s.complete: %s is before arrive %s", field, rules.Duration(b), rules.Duration(a)))
	}
	return errs
}

// Policy is the SLA configuration: the `sla:` section of the cloud's
// config. DefaultPolicy gives working values.
type Policy struct {
	// Defaults are the targets per priority where a vendor committed to
	// nothing.
	Defaults map[string]Targets `yaml:"defaults" json:"defaults"`
	// BusinessHours is the calendar business-hours clocks run in, in each
	// site's own time zone. Nil: clocks run around the clock.
	BusinessHours *Calendar `yaml:"business_hours" json:"business_hours,omitempty"`
	// BusinessHoursFor lists the priorities whose clocks run in business
	// hours only; the others (P1 food safety) run around the clock.
	BusinessHoursFor []string `yaml:"business_hours_for" json:"business_hours_for,omitempty"`
	// PauseOnHold stops the arrive and complete clocks while a work order
	// is ON_HOLD (waiting for parts, for the store).
	PauseOnHold bool `yaml:"pause_on_hold" json:"pause_on_hold"`
	// RemindBefore lists how long before due a reminder goes out.
	RemindBefore []Duration `yaml:"remind_before" json:"remind_before,omitempty"`
}

// DefaultPolicy returns the built-in SLA policy: ServiceChannel-style
// deadlines per priority ("P2 - 8 Hours" to arrive), P3 and P4 in business
// hours, on-hold time paused, reminders an hour and 15 minutes before due.
func DefaultPolicy() Policy {
	h := func(n float64) Duration { return Duration(time.Duration(n * float64(time.Hour))) }
	return Policy{
		Defaults: map[string]Targets{
			"P1": {Acknowledge: h(0.5), Arrive: h(4), Complete: h(24)},
			"P2": {Acknowledge: h(1), Arrive: h(8), Complete: h(48)},
			"P3": {Acknowledge: h(4), Arrive: h(24), Complete: h(72)},
			"P4": {Acknowledge: h(8), Arrive: h(72), Complete: h(240)},
		},
		BusinessHours:    DefaultCalendar(),
		BusinessHoursFor: []string{"P3", "P4"},
		PauseOnHold:      true,
		RemindBefore:     []Duration{h(1), Duration(15 * time.Minute)},
	}
}

// ParsePolicy decodes a policy strictly (an unknown field is an error)
// over the defaults, and validates it. A business_hours given replaces the
// default calendar as a whole.
func ParsePolicy(data []byte) (Policy, error) {
	p := DefaultPolicy()
	p.BusinessHours = nil
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil && !errors.Is(err, io.EOF) {
		return p, fmt.Errorf("sla policy: %w", err)
	}
	if p.BusinessHours == nil {
		p.BusinessHours = DefaultCalendar()
	}
	if err := p.Validate(); err != nil {
		return p, fmt.Errorf("sla policy: %w", err)
	}
	return p, nil
}

// Validate checks the policy, reporting every problem, each naming its
// field. It compiles the business-hours calendar, which must be done
// before timers use it.
func (p *Policy) Validate() error {
	var errs []error
	for _, k := range sortedKeys(p.Defaults) {
		if !slices.Contains(rules.Priorities, k) {
			errs = append(errs, fmt.Errorf("defaults.%s: not a priority (want P1-P4)", k))
		}
		errs = append(errs, p.Defaults[k].Validate("defaults."+k)...)
	}
	for i, k := range p.BusinessHoursFor {
		if !slices.Contains(rules.Priorities, k) {
			errs = append(errs, fmt.Errorf("business_hours_for[%d]: %q is not a priority (want P1-P4)", i, k))
		}
	}
	if len(p.BusinessHoursFor) > 0 && p.BusinessHours == nil {
		errs = append(errs, fmt.Errorf("business_hours: needed by business_hours_for"))
	}
	if p.BusinessHours != nil {
		if err := p.BusinessHours.Compile(); err != nil {
			errs = append(errs, fmt.Errorf("business_hours.%w", err))
		}
	}
	for i, d := range p.RemindBefore {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("remind_before[%d]: must be positive", i))
		}
	}
	return errors.Join(errs...)
}

// TargetsFor returns the targets for a priority: each milestone from the
// vendor's commitment when it made one, else from the priority default.
func (p *Policy) TargetsFor(priority string, commitment *Targets) Targets {
	t := p.Defaults[priority]
	if c := commitment; c != nil {
		if c.Acknowledge > 0 {
			t.Acknowledge = c.Acknowledge
		}
		if c.Arrive > 0 {
			t.Arrive = c.Arrive
		}
		if c.Complete > 0 {
			t.Complete = c.Complete
		}
	}
	return t
}

// calendarFor returns the calendar a priority's clocks run in, or nil.
func (p *Policy) calendarFor(priority string) *Calendar {
	if p.BusinessHours == nil || !slices.Contains(p.BusinessHoursFor, priority) {
		return nil
	}
	return p.BusinessHours
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
