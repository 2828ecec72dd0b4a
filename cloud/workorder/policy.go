package workorder

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/rules"
)

// Duration is a time.Duration written in YAML as "90s", "30m", "2h" or "1d".
type Duration time.Duration

// UnmarshalYAML reads a duration the way rules files write them.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := rules.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as it is read.
func (d Duration) MarshalYAML() (any, error) { return rules.Duration(d).String(), nil }

// Policy is the triage configuration: how incidents and reports become work
// orders. It is plain data read from YAML (the `triage:` section of the
// cloud's config); DefaultPolicy gives working values.
type Policy struct {
	// HoldOff is, per priority, how long a sensor work order waits before
	// dispatch; an incident that clears within it ends the work order as
	// AVOIDED. Zero dispatches at once (P1 always does).
	HoldOff map[string]Duration `yaml:"hold_off"`
	// RecallWindow is how long after VERIFIED a new work order for the same
	// problem on the same asset is flagged as a possible recall.
	RecallWindow Duration `yaml:"recall_window"`
	// EscalateAfter is, per priority, how long an excursion must keep
	// worsening before the work order's priority goes up one level.
	EscalateAfter map[string]Duration `yaml:"escalate_after"`
	// AcceptWithin is, per priority, how long a vendor has to accept a
	// dispatch; after it the dispatch lapses (as a decline) and the work
	// order goes to the next vendor. Zero: no limit.
	AcceptWithin map[string]Duration `yaml:"accept_within"`
	// Rules adjust priority and trade; every matching rule applies, in order.
	Rules []TriageRule `yaml:"rules"`
	// Vendors name the provider dispatched for a trade, per site or for
	// all ("*"); the first match wins. An asset under warranty goes to its
	// warranty provider instead.
	Vendors []VendorRule `yaml:"vendors"`
	// VerifyWindow is, per asset class ("*" for the rest), how long a
	// sensor work order's asset must stay in range after the work is
	// complete before the fix counts as verified. Zero: people verify.
	VerifyWindow map[string]Duration `yaml:"verify_window"`
	// ApprovalLimits is the largest NTE each role may approve, in USD.
	ApprovalLimits map[cloud.Role]float64 `yaml:"approval_limits"`
	// DefaultNTE is, per priority, the not-to-exceed in USD of a work
	// order dispatched to a vendor that has none for the trade and
	// priority. Every priority has one: no work order is unlimited.
	DefaultNTE map[string]float64 `yaml:"default_nte"`
	// Panel is the Grafana panel URL for an asset; {site}, {asset},
	// {from} and {to} (Unix ms) are filled in.
	Panel string `yaml:"panel_url"`
}

// TriageRule changes priority or trade of matching work orders.
type TriageRule struct {
	Name  string `yaml:"name"`
	Match Match  `yaml:"match"`
	// Priority sets the priority; Raise moves it up that many levels.
	Priority string `yaml:"priority"`
	Raise    int    `yaml:"raise"`
	Trade    string `yaml:"trade"`
	// Approval holds the work order for an FM's approval before dispatch.
	Approval bool `yaml:"approval"`
}

// Match selects work orders; empty fields match anything.
type Match struct {
	Site       string `yaml:"site"`
	Asset      string `yaml:"asset"`
	AssetClass string `yaml:"asset_class"`
	Problem    string `yaml:"problem"`
	Family     string `yaml:"family"`
	Source     Source `yaml:"source"`
	Priority   string `yaml:"priority"`
}

// VendorRule names a provider for a trade at a site.
type VendorRule struct {
	Site   string `yaml:"site"`
	Trade  string `yaml:"trade"`
	Vendor string `yaml:"vendor"`
}

// DefaultPolicy returns the built-in triage policy.
func DefaultPolicy() Policy {
	return Policy{
		HoldOff: map[string]Duration{
			"P1": 0, "P2": Duration(15 * time.Minute), "P3": Duration(30 * time.Minute), "P4": Duration(time.Hour),
		},
		RecallWindow: Duration(30 * 24 * time.Hour),
		AcceptWithin: map[string]Duration{
			"P1": Duration(30 * time.Minute), "P2": Duration(2 * time.Hour), "P3": Duration(8 * time.Hour), "P4": Duration(24 * time.Hour),
		},
		EscalateAfter: map[string]Duration{
			"P2": Duration(time.Hour), "P3": Duration(2 * time.Hour), "P4": Duration(4 * time.Hour),
		},
		// A case or reach-in recovers and proves itself within two hours;
		// a freezer pulls down more slowly, and a rack or rooftop unit
		// should see a load cycle.
		VerifyWindow: map[string]Duration{
			"*": Duration(2 * time.Hour), "walk_in_freezer": Duration(3 * time.Hour),
			"compressor_rack": Duration(4 * time.Hour), "rooftop_unit": Duration(4 * time.Hour),
		},
		ApprovalLimits: map[cloud.Role]float64{cloud.RoleFM: 2500, cloud.RoleAdmin: 1e9},
		// A call-out with an hour or two of labour and common parts; more
		// needs a quote and an approval. An emergency gets more room.
		DefaultNTE: map[string]float64{"P1": 1500, "P2": 1000, "P3": 750, "P4": 500},
	}
}

// MaxNTE is the largest not-to-exceed, approval limit or quote Frostline
// takes, in USD: larger sums are typing mistakes or attacks, not repairs.
const MaxNTE = 10_000_000

// NTEFor returns the default not-to-exceed for a priority; a priority the
// policy does not list gets the smallest listed default (0 when the policy
// lists none, which Validate refuses).
func (p *Policy) NTEFor(priority string) float64 {
	if n, ok := p.DefaultNTE[priority]; ok && n > 0 {
		return n
	}
	least := 0.0
	for _, n := range p.DefaultNTE {
		if n > 0 && (least == 0 || n < least) {
			least = n
		}
	}
	return least
}

// VerifyWindowFor returns the verification window for an asset class.
func (p *Policy) VerifyWindowFor(class string) time.Duration {
	if d, ok := p.VerifyWindow[class]; ok {
		return time.Duration(d)
	}
	return time.Duration(p.VerifyWindow["*"])
}

// ParsePolicy decodes a policy strictly (unknown fields are errors) over
// the defaults, and validates it.
func ParsePolicy(data []byte) (Policy, error) {
	p := DefaultPolicy()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil && !errors.Is(err, io.EOF) {
		return p, fmt.Errorf("triage policy: %w", err)
	}
	return p, p.Validate()
}

// Validate checks the policy, reporting every problem, each naming its
// field.
func (p *Policy) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	for _, m := range []struct {
		name string
		m    map[string]Duration
	}{{"hold_off", p.HoldOff}, {"escalate_after", p.EscalateAfter}, {"accept_within", p.AcceptWithin}} {
		for k, v := range m.m {
			if !slices.Contains(rules.Priorities, k) {
				bad(m.name+"."+k, "not a priority (want P1-P4)")
			}
			if v < 0 {
				bad(m.name+"."+k, "must not be negative")
			}
		}
	}
	if p.RecallWindow < 0 {
		bad("recall_window", "must not be negative")
	}
	for k, v := range p.VerifyWindow {
		if k != "*" && !slices.Contains(rules.AssetClasses, k) {
			bad("verify_window."+k, "unknown asset class (want one of %s, or *)", strings.Join(rules.AssetClasses, ", "))
		}
		if v < 0 {
			bad("verify_window."+k, "must not be negative")
		}
	}
	for role, v := range p.ApprovalLimits {
		switch role {
		case cloud.RoleAdmin, cloud.RoleFM, cloud.RoleStore:
		default:
			bad("approval_limits."+string(role), "only admin, fm and store roles approve spending")
		}
		if !(v >= 0 && v <= 1e9) {
			bad("approval_limits."+string(role), "must be a number of USD in [0, 1e9]")
		}
	}
	for _, pr := range rules.Priorities {
		v, ok := p.DefaultNTE[pr]
		switch {
		case !ok:
			bad("default_nte."+pr, "missing: every priority needs a not-to-exceed")
		case !(v > 0 && v <= MaxNTE):
			bad("default_nte."+pr, "must be a number of USD in (0, %d]", MaxNTE)
		}
	}
	for k := range p.DefaultNTE {
		if !slices.Contains(rules.Priorities, k) {
			bad("default_nte."+k, "not a priority (want P1-P4)")
		}
	}
	for i, r := range p.Rules {
		f := fmt.Sprintf("rules[%d]", i)
		if r.Priority != "" && !slices.Contains(rules.Priorities, r.Priority) {
			bad(f+".priority", "%q is not P1-P4", r.Priority)
		}
		if r.Trade != "" && !slices.Contains(rules.Trades, r.Trade) {
			bad(f+".trade", "unknown trade %q (want one of %s)", r.Trade, strings.Join(rules.Trades, ", "))
		}
		if r.Raise < 0 || r.Raise > 3 {
			bad(f+".raise", "must be 0-3")
		}
		if r.Match.Priority != "" && !slices.Contains(rules.Priorities, r.Match.Priority) {
			bad(f+".match.priority", "%q is not P1-P4", r.Match.Priority)
		}
		if r.Match.AssetClass != "" && !slices.Contains(rules.AssetClasses, r.Match.AssetClass) {
			bad(f+".match.asset_class", "unknown asset class %q", r.Match.AssetClass)
		}
		switch r.Match.Source {
		case "", Sensor, Manual, Preventive:
		default:
			bad(f+".match.source", "unknown source %q (want sensor, manual or preventive)", r.Match.Source)
		}
	}
	for i, v := range p.Vendors {
		f := fmt.Sprintf("vendors[%d]", i)
		if v.Vendor == "" {
			bad(f+".vendor", "missing")
		}
		if v.Trade != "" && !slices.Contains(rules.Trades, v.Trade) {
			bad(f+".trade", "unknown trade %q", v.Trade)
		}
	}
	if p.Panel != "" {
		if _, err := url.Parse(strings.NewReplacer("{", "", "}", "").Replace(p.Panel)); err != nil {
			bad("panel_url", "%v", err)
		}
	}
	return errors.Join(errs...)
}

func (m *Match) matches(o *Opening) bool {
	eq := func(want, got string) bool { return want == "" || want == "*" || want == got }
	return eq(m.Site, o.Site) && eq(m.Asset, o.Asset) && eq(m.AssetClass, o.AssetClass) &&
		eq(m.Problem, o.Problem) && eq(m.Family, Family(o.Problem)) && eq(string(m.Source), string(o.Source)) &&
		eq(m.Priority, o.Priority)
}

// Triage applies the policy's rules to an opening, in order.
func (p *Policy) Triage(o *Opening) {
	base := o.Priority
	for _, r := range p.Rules {
		m := r.Match
		m.Priority = "" // rules match the priority the incident came with
		if !m.matches(o) || (r.Match.Priority != "" && r.Match.Priority != base) {
			continue
		}
		if r.Priority != "" {
			o.Priority = r.Priority
		}
		for range r.Raise {
			o.Priority = raise(o.Priority)
		}
		if r.Trade != "" {
			o.Trade = r.Trade
		}
		if r.Approval {
			o.Approval = true
		}
	}
}

// HoldOffFor returns the hold-off for a priority. P1 never waits.
func (p *Policy) HoldOffFor(priority string) time.Duration {
	if priority == "P1" {
		return 0
	}
	return time.Duration(p.HoldOff[priority])
}

// VendorFor returns the first provider for a trade at a site that is not
// excluded (it declined already), or "".
func (p *Policy) VendorFor(site, trade string, exclude ...string) string {
	for _, v := range p.Vendors {
		if (v.Site == "" || v.Site == "*" || v.Site == site) && (v.Trade == "" || v.Trade == trade) && !slices.Contains(exclude, v.Vendor) {
			return v.Vendor
		}
	}
	return ""
}

// AcceptBy returns when a dispatch made at t lapses, or nil for no limit.
func (p *Policy) AcceptBy(priority string, t time.Time) *time.Time {
	d := time.Duration(p.AcceptWithin[priority])
	if d <= 0 {
		return nil
	}
	t = t.Add(d)
	return &t
}

// PanelURL returns the Grafana link for an asset over a window.
func (p *Policy) PanelURL(site, asset string, from, to time.Time) string {
	if p.Panel == "" {
		return ""
	}
	return strings.NewReplacer(
		"{site}", url.QueryEscape(site), "{asset}", url.QueryEscape(asset),
		"{from}", fmt.Sprint(from.UnixMilli()), "{to}", fmt.Sprint(to.UnixMilli()),
	).Replace(p.Panel)
}
