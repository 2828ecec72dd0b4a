package dispatch

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/frostline/frostline/cloud/sla"
	"github.com/frostline/frostline/rules"
)

// Key is one ranking criterion.
type Key string

// Ranking keys. A vendor under warranty for the asset always comes first;
// the keys of Rules.Order then compare the rest in order.
const (
	ByRank     Key = "rank"     // explicit site/trade rank, 1 first; unranked after ranked
	ByScore    Key = "score"    // scorecard composite score, higher first
	ByDistance Key = "distance" // from the vendor's centre to the site, nearer first
	ByCost     Key = "cost"     // estimated cost of the visit, cheaper first
	ByInternal Key = "internal" // the customer's own technicians first
)

// Keys lists every ranking key.
var Keys = []Key{ByRank, ByScore, ByDistance, ByCost, ByInternal}

// Rules are a company's dispatch rules: which documents a vendor needs and
// how eligible vendors are ranked. They are read from YAML (the
// `dispatch:` section of the cloud's config, or a file of their own);
// DefaultRules gives working values.
type Rules struct {
	// Order is the ranking keys, compared in order.
	Order []Key `yaml:"order" json:"order"`
	// Buckets make a key coarse, so that the next key decides between
	// vendors that are nearly equal on it: scores within 0.05, distances
	// within 10 km, costs within $50 count as equal. 0 compares exactly.
	Buckets Buckets `yaml:"buckets" json:"buckets"`
	// Documents are the documents a vendor must hold, valid on the
	// dispatch date.
	Documents Requirements `yaml:"required_documents" json:"required_documents"`
	// EstimateHours is the labour the cost estimate assumes for a visit.
	EstimateHours float64 `yaml:"estimate_hours" json:"estimate_hours"`
	// BusinessHours, when set, is when normal rates apply (in the site's
	// time zone); outside it the vendor's after-hours multiplier does.
	BusinessHours *sla.Calendar `yaml:"business_hours" json:"business_hours,omitempty"`
	// NewVendorScore is the score of a vendor with fewer than MinOutcomes
	// outcome records: neither punished nor favoured for being new.
	NewVendorScore float64 `yaml:"new_vendor_score" json:"new_vendor_score"`
	MinOutcomes    int     `yaml:"min_outcomes" json:"min_outcomes"`
	// Weights combine a scorecard's rates into its composite score.
	Weights Weights `yaml:"score_weights" json:"score_weights"`
}

// Buckets are the resolutions of the continuous ranking keys.
type Buckets struct {
	Score      float64 `yaml:"score" json:"score"`
	DistanceKM float64 `yaml:"distance_km" json:"distance_km"`
	CostUSD    float64 `yaml:"cost_usd" json:"cost_usd"`
}

// Requirements say which documents make a vendor compliant.
type Requirements struct {
	// All lists the documents every vendor needs (insurance).
	All []DocType `yaml:"all" json:"all"`
	// Trades adds vendor documents per trade (an electrical license).
	Trades map[string][]DocType `yaml:"trades" json:"trades,omitempty"`
	// Technician lists, per trade, the documents a technician who works
	// the trade must hold (EPA 608 for refrigeration and HVAC). A vendor
	// is eligible when at least one of its technicians holds them.
	Technician map[string][]DocType `yaml:"technician" json:"technician,omitempty"`
	// InternalExempt spares internal vendors (the customer's own staff,
	// covered by its own insurance) the vendor documents. Technician
	// documents still apply: EPA 608 is personal.
	InternalExempt bool `yaml:"internal_exempt" json:"internal_exempt"`
}

// DefaultRules returns the built-in rules: explicit rank, then score, then
// distance, then cost; insurance for every external vendor; EPA 608 for a
// refrigeration or HVAC technician.
func DefaultRules() Rules {
	return Rules{
		Order:   []Key{ByRank, ByScore, ByDistance, ByCost},
		Buckets: Buckets{Score: 0.05, DistanceKM: 10, CostUSD: 50},
		Documents: Requirements{
			All:            []DocType{COIGeneralLiability, COIWorkersComp},
			Technician:     map[string][]DocType{"refrigeration": {EPA608}, "hvac": {EPA608}},
			InternalExempt: true,
		},
		EstimateHours:  2,
		NewVendorScore: 0.5,
		MinOutcomes:    5,
		Weights:        DefaultWeights(),
	}
}

// ParseRules decodes rules strictly over the defaults (an unknown field is
// an error) and validates them. Every problem is reported, each as
// name:line:col: field: message, so that a rules file reads like a
// compiler's output.
func ParseRules(name string, data []byte) (Rules, error) {
	r := DefaultRules()
	def := r
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return r, fmt.Errorf("%s: %w", name, err)
	}
	// A map given in the file replaces the default one rather than being
	// merged into it (so that "technician: {}" really requires nothing);
	// one left out, or null, keeps the default.
	r.Documents.Trades, r.Documents.Technician = nil, nil
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&r); err != nil && !errors.Is(err, io.EOF) {
		return r, fmt.Errorf("%s: %w", name, err)
	}
	if r.Documents.Trades == nil {
		r.Documents.Trades = def.Documents.Trades
	}
	if r.Documents.Technician == nil {
		r.Documents.Technician = def.Documents.Technician
	}
	problems := r.problems()
	if len(problems) == 0 {
		return r, nil
	}
	errs := make([]error, len(problems))
	for i, p := range problems {
		line, col := position(&root, p.field)
		errs[i] = fmt.Errorf("%s:%d:%d: %s: %s", name, line, col, p.field, p.msg)
	}
	return r, errors.Join(errs...)
}

type problem struct{ field, msg string }

// Validate checks the rules, reporting every problem, each naming its
// field.
func (r *Rules) Validate() error {
	var errs []error
	for _, p := range r.problems() {
		errs = append(errs, fmt.Errorf("%s: %s", p.field, p.msg))
	}
	return errors.Join(errs...)
}

func (r *Rules) problems() []problem {
	var out []problem
	bad := func(field, format string, args ...any) {
		out = append(out, problem{field, fmt.Sprintf(format, args...)})
	}
	seen := map[Key]bool{}
	for i, k := range r.Order {
		f := fmt.Sprintf("order[%d]", i)
		if !slices.Contains(Keys, k) {
			bad(f, "unknown key %q (want rank, score, distance, cost or internal)", k)
		} else if seen[k] {
			bad(f, "%q listed twice", k)
		}
		seen[k] = true
	}
	for _, b := range []struct {
		field string
		v     float64
	}{{"buckets.score", r.Buckets.Score}, {"buckets.distance_km", r.Buckets.DistanceKM}, {"buckets.cost_usd", r.Buckets.CostUSD}} {
		if !finiteNonNeg(b.v) {
			bad(b.field, "must be a number >= 0")
		}
	}
	if r.Buckets.Score > 1 {
		bad("buckets.score", "scores run from 0 to 1; a bucket of %g makes them all equal", r.Buckets.Score)
	}
	docs := func(field string, list []DocType) {
		for i, d := range list {
			if !slices.Contains(DocTypes, d) {
				bad(fmt.Sprintf("%s[%d]", field, i), "unknown document type %q", d)
			}
		}
	}
	docs("required_documents.all", r.Documents.All)
	for _, m := range []struct {
		field string
		m     map[string][]DocType
	}{{"required_documents.trades", r.Documents.Trades}, {"required_documents.technician", r.Documents.Technician}} {
		for _, t := range sortedKeys(m.m) {
			if !slices.Contains(rules.Trades, t) {
				bad(m.field+"."+t, "unknown trade %q", t)
			}
			docs(m.field+"."+t, m.m[t])
		}
	}
	if !(r.EstimateHours >= 0 && r.EstimateHours <= 24) {
		bad("estimate_hours", "must be in [0, 24]")
	}
	if r.BusinessHours != nil {
		if err := r.BusinessHours.Compile(); err != nil {
			bad("business_hours", "%v", err)
		}
	}
	if !(r.NewVendorScore >= 0 && r.NewVendorScore <= 1) {
		bad("new_vendor_score", "must be in [0, 1]")
	}
	if r.MinOutcomes < 0 {
		bad("min_outcomes", "must not be negative")
	}
	for _, p := range r.Weights.problems() {
		bad("score_weights."+p.field, "%s", p.msg)
	}
	return out
}

// position finds where a field path ("buckets.score", "order[2]") is
// written in a YAML document; the closest enclosing node when the field
// is not written (a default), 1:1 for an empty document.
func position(root *yaml.Node, path string) (line, col int) {
	n := root
	for n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	if n.Kind == yaml.DocumentNode {
		return 1, 1
	}
	line, col = n.Line, n.Column
	for _, part := range strings.Split(path, ".") {
		name, idx, _ := strings.Cut(part, "[")
		if n.Kind != yaml.MappingNode {
			return line, col
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == name {
				next = n.Content[i+1]
				line, col = next.Line, next.Column
				break
			}
		}
		if next == nil {
			return line, col
		}
		n = next
		if idx != "" {
			i, err := strconv.Atoi(strings.TrimSuffix(idx, "]"))
			if err != nil || n.Kind != yaml.SequenceNode || i < 0 || i >= len(n.Content) {
				return line, col
			}
			n = n.Content[i]
			line, col = n.Line, n.Column
		}
	}
	return line, col
}
