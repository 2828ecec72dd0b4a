package rules

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"path"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Parse decodes and validates one rules file. It returns every problem it
// finds, as Errors, each naming the file, line, column and rule.
func Parse(filename string, data []byte) ([]Rule, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, Errors{{File: filename, Pos: Pos{1, 1}, Msg: "empty rules file (want rules: [...])"}}
		}
		return nil, yamlSyntaxError(filename, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, Errors{{File: filename, Pos: Pos{extra.Line, extra.Column}, Msg: "more than one YAML document in a rules file"}}
	}
	var f File
	var derrs []decodeError
	decodeNode(&root, reflect.ValueOf(&f).Elem(), &derrs)

	// Attribute decode errors to the rule whose lines contain them.
	var starts []Pos
	var ids []string
	if n := rulesNode(&root); n != nil {
		for _, c := range n.Content {
			starts = append(starts, Pos{c.Line, c.Column})
			ids = append(ids, scalarField(c, "id"))
		}
	}
	var errs Errors
	for _, e := range derrs {
		id := ""
		for i, s := range starts {
			if e.Line >= s.Line {
				id = ids[i]
			}
		}
		errs = append(errs, &Error{File: filename, Pos: e.Pos, Rule: id, Msg: e.Msg})
	}
	if f.Rules == nil && len(derrs) == 0 {
		errs = append(errs, &Error{File: filename, Pos: Pos{1, 1}, Msg: "no rules (want rules: [...])"})
	}
	seen := map[string]Pos{}
	for i := range f.Rules {
		r := &f.Rules[i]
		r.File = filename
		if i < len(starts) {
			r.Pos = starts[i]
		}
		if r.ID != "" {
			if p, dup := seen[r.ID]; dup {
				errs = append(errs, &Error{File: filename, Pos: r.Fields.of("id", r.Pos), Rule: r.ID,
					Msg: fmt.Sprintf("duplicate rule id (first at line %d)", p.Line)})
			}
			seen[r.ID] = r.Pos
		}
		errs = append(errs, r.validate()...)
	}
	if len(errs) > 0 {
		errs.sort()
		return nil, errs
	}
	return f.Rules, nil
}

func rulesNode(root *yaml.Node) *yaml.Node {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "rules" && n.Content[i+1].Kind == yaml.SequenceNode {
			return n.Content[i+1]
		}
	}
	return nil
}

func scalarField(n *yaml.Node, key string) string {
	if n.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key && n.Content[i+1].Kind == yaml.ScalarNode {
			return n.Content[i+1].Value
		}
	}
	return ""
}

// validate checks one decoded rule and returns every problem with it.
func (r *Rule) validate() Errors {
	var errs Errors
	bad := func(field, format string, args ...any) {
		p := r.Pos
		if field != "" {
			p = r.Fields.of(field, r.Pos)
		}
		msg := fmt.Sprintf(format, args...)
		if field != "" {
			msg = field + ": " + msg
		}
		errs = append(errs, &Error{File: r.File, Pos: p, Rule: r.ID, Msg: msg})
	}
	if r.ID == "" {
		bad("", "missing id")
	} else if !idPattern.MatchString(r.ID) {
		bad("id", "%q is not a valid id (letters, digits, _ -; at most 64)", r.ID)
	}
	if !slices.Contains(Kinds, r.Kind) {
		if r.Kind == "" {
			bad("", "missing kind (want one of %s)", strings.Join(Kinds, ", "))
		} else {
			bad("kind", "unknown kind %q (want one of %s)", r.Kind, strings.Join(Kinds, ", "))
		}
		return errs
	}
	allowed := append(slices.Clone(commonFields), kindFields[r.Kind]...)
	for field := range r.Fields {
		if !slices.Contains(allowed, field) {
			bad(field, "does not apply to a %s rule", r.Kind)
		}
	}
	// Shared vocabulary.
	if !known(Problems, r.Problem) {
		bad(fieldOr(r.Fields, "problem"), "unknown problem %q (want one of %s)", r.Problem, strings.Join(Problems, ", "))
	}
	if !known(Priorities, r.Priority) {
		bad(fieldOr(r.Fields, "priority"), "priority %q is not one of P1, P2, P3, P4", r.Priority)
	}
	if !known(Trades, r.Trade) {
		bad(fieldOr(r.Fields, "trade"), "unknown trade %q (want one of %s)", r.Trade, strings.Join(Trades, ", "))
	}
	if strings.TrimSpace(r.Title) == "" {
		bad(fieldOr(r.Fields, "title"), "a rule needs a title")
	}
	for _, t := range []struct{ field, text string }{{"title", r.Title}, {"summary", r.Summary}} {
		// parseTemplate checks types too: a misspelt field or a function
		// given the wrong type fails here, not in an incident's title.
		if _, err := parseTemplate(t.text); err != nil {
			bad(t.field, "bad template: %v", err)
		}
	}
	for _, c := range r.Match.Class {
		if !known(AssetClasses, c) {
			bad("match", "unknown asset class %q", c)
		}
	}
	if len(r.Match.Class) == 0 && len(r.Match.Asset) == 0 && len(r.Match.Site) == 0 && !(r.Kind == KindMissing && r.Scope == "site") {
		bad("", "match: name at least one class, site or asset")
	}
	checkMetric := func(field, name string, required bool) {
		if name == "" {
			if required {
				bad("", "missing %s", field)
			}
			return
		}
		if LookupMetric(name) == NoMetric {
			bad(field, "unknown metric %q", name)
		}
	}
	for i := range r.When {
		errs = append(errs, r.validateCondition("when", i, &r.When[i], false)...)
	}
	for i := range r.Suppress {
		errs = append(errs, r.validateCondition("suppress", i, &r.Suppress[i], true)...)
	}
	nonNeg := func(field string, d Duration) {
		if d < 0 {
			bad(field, "must not be negative")
		}
	}
	nonNeg("for", r.For)
	nonNeg("clear_for", r.ClearFor)

	switch r.Kind {
	case KindThreshold, KindDelta:
		checkMetric("metric", r.Metric, true)
		if r.Kind == KindDelta {
			checkMetric("minus", r.Minus, true)
			if r.Minus != "" && r.Minus == r.Metric {
				bad("minus", "a delta needs two different metrics")
			}
		}
		if (r.Above == nil) == (r.Below == nil) {
			bad("", "set exactly one of above or below")
		}
		if r.Clear != nil && r.Above != nil && *r.Clear > *r.Above {
			bad("clear", "%g is above the alarm level %g: an incident could never clear", *r.Clear, *r.Above)
		}
		if r.Clear != nil && r.Below != nil && *r.Clear < *r.Below {
			bad("clear", "%g is below the alarm level %g: an incident could never clear", *r.Clear, *r.Below)
		}
		if r.DegreeMinutes < 0 {
			bad("degree_minutes", "must not be negative")
		}
		sources := 0
		for _, d := range []Duration{r.ProductTau, r.Average, max(r.Floor, r.Baseline)} {
			if d != 0 {
				sources++
			}
		}
		if sources > 1 {
			bad("", "use one of product_tau, average, or floor/baseline")
		}
		if r.Floor != 0 && r.Floor.D() < 10*time.Minute {
			bad("floor", "window must be at least 10m")
		}
		if r.Baseline != 0 && r.Baseline.D() < 2*time.Hour {
			bad("baseline", "window must be at least 2h")
		}
		if r.Average != 0 && r.Average.D() < time.Minute {
			bad("average", "window must be at least 1m")
		}
		for i := range r.Escalate {
			e := &r.Escalate[i]
			field := fmt.Sprintf("escalate[%d]", i)
			if !known(Priorities, e.Priority) {
				bad("escalate", "%s.priority %q is not one of P1-P4", field, e.Priority)
			} else if e.Priority >= r.Priority && known(Priorities, r.Priority) {
				bad("escalate", "%s.priority %s is not more urgent than the rule's %s", field, e.Priority, r.Priority)
			}
			if (e.Above != nil && r.Below != nil) || (e.Below != nil && r.Above != nil) {
				bad("escalate", "%s: goes the other way from the rule's level", field)
			}
			if e.Above == nil && e.Below == nil && e.After == 0 {
				bad("escalate", "%s: set a level (above/below) or after", field)
			}
		}
	case KindTrend:
		checkMetric("metric", r.Metric, true)
		if r.Limit == nil {
			bad("", "missing limit")
		}
		if r.Window.D() < 10*time.Minute {
			bad(fieldOr(r.Fields, "window"), "window must be at least 10m")
		}
		if r.Horizon <= 0 {
			bad(fieldOr(r.Fields, "horizon"), "missing horizon")
		}
		if r.MinSlope < 0 {
			bad("min_slope", "must not be negative (it is the size of the slope toward the limit)")
		}
		if (r.Above != nil) != (r.Baseline != 0) {
			bad("", "a trend takes baseline and above together: the fitted value must be this far above the asset's normal")
		}
		if r.Baseline != 0 && r.Baseline.D() < 2*time.Hour {
			bad("baseline", "window must be at least 2h")
		}
		if r.Direction != "" && r.Direction != "rising" && r.Direction != "falling" {
			bad("direction", "want rising or falling, got %q", r.Direction)
		}
		if r.Sample != "" && r.Sample != "mean" && r.Sample != "min" && r.Sample != "max" {
			bad("sample", "want mean, min or max, got %q", r.Sample)
		}
	case KindState:
		checkMetric("metric", r.Metric, true)
		if r.For <= 0 {
			bad(fieldOr(r.Fields, "for"), "a state rule needs for")
		}
		for i := range r.Escalate {
			e := &r.Escalate[i]
			if !known(Priorities, e.Priority) {
				bad("escalate", "escalate[%d].priority %q is not one of P1-P4", i, e.Priority)
			} else if e.Priority >= r.Priority && known(Priorities, r.Priority) {
				bad("escalate", "escalate[%d].priority %s is not more urgent than the rule's %s", i, e.Priority, r.Priority)
			}
			if e.After <= 0 || e.Above != nil || e.Below != nil {
				bad("escalate", "escalate[%d]: a state rule escalates by after only", i)
			}
		}
	case KindTransitions:
		checkMetric("metric", r.Metric, true)
		if r.Window <= 0 {
			bad(fieldOr(r.Fields, "window"), "missing window")
		}
		if r.Max < 1 || r.Max > maxTransitions-1 {
			bad(fieldOr(r.Fields, "max"), "must be between 1 and %d", maxTransitions-1)
		}
	case KindFlatline:
		checkMetric("metric", r.Metric, true)
		checkMetric("activity", r.Activity, false)
		if r.For <= 0 {
			bad(fieldOr(r.Fields, "for"), "a flatline rule needs for")
		}
		if r.Tolerance < 0 {
			bad("tolerance", "must not be negative")
		}
		if r.MinActivity < 0 || (r.MinActivity > 0 && r.Activity == "") {
			bad("min_activity", "needs an activity metric and a count >= 0")
		}
	case KindPulldown:
		checkMetric("metric", r.Metric, true)
		checkMetric("drive", r.Drive, true)
		if r.Drive != "" && LookupMetric(r.Drive) != NoMetric && Metrics[LookupMetric(r.Drive)].Kind != Binary {
			bad("drive", "%q is not an on/off signal", r.Drive)
		}
		if r.For <= 0 {
			bad(fieldOr(r.Fields, "for"), "a pulldown rule needs for (how long the drive runs before the air must fall)")
		}
		if !(r.Rise > 0) || math.IsInf(r.Rise, 0) {
			bad(fieldOr(r.Fields, "rise"), "rise must be above zero")
		}
	case KindExcursion:
		checkMetric("metric", r.Metric, true)
		if r.Above == nil || !(*r.Above >= 0) || math.IsInf(*r.Above, 0) {
			bad(fieldOr(r.Fields, "above"), "an excursion rule needs above (how far over the band's top counts), at least 0")
		}
		if r.Limit == nil {
			bad("", "missing limit (the band's top while the asset's own is still being learned)")
		}
		if r.Learn != 0 && (r.Learn.D() < 2*time.Hour || r.Learn.D() > 7*24*time.Hour) {
			bad("learn", "must be between 2h and 7d")
		}
		if r.For <= 0 {
			bad(fieldOr(r.Fields, "for"), "an excursion rule needs for")
		}
	case KindCapacity:
		checkMetric("metric", r.Metric, true)
		checkMetric("drive", r.Drive, false) // none: runs are read from the air's falls
		if r.Below == nil || !(*r.Below > 0 && *r.Below < 1) {
			bad(fieldOr(r.Fields, "below"), "a capacity rule needs below: the fraction (0-1) the pull-down rate falls by")
		}
		if r.Learn != 0 && (r.Learn.D() < 2*time.Hour || r.Learn.D() > 7*24*time.Hour) {
			bad("learn", "must be between 2h and 7d")
		}
	case KindGroup:
		if len(r.Rules) == 0 {
			bad("", "a group rule needs rules (the served assets' rules that count)")
		}
		for _, id := range r.Rules {
			if id == r.ID {
				bad("rules", "a group rule cannot count itself")
			}
		}
		if r.MinAssets < 0 || r.MinAssets == 1 {
			bad("min_assets", "want 2 or more (0: the default, 2)")
		}
		for i := range r.Confirm {
			errs = append(errs, r.validateCondition("confirm", i, &r.Confirm[i], false)...)
		}
	case KindMissing:
		checkMetric("metric", r.Metric, false)
		switch r.Scope {
		case "", "asset":
		case "site":
			if r.Metric != "" {
				bad("metric", "a site-scope missing rule watches every metric")
			}
		default:
			bad("scope", "want asset or site, got %q", r.Scope)
		}
		if r.After <= 0 && r.Factor <= 0 {
			bad("", "set after, factor, or both")
		}
		if r.Factor < 0 {
			bad("factor", "must not be negative")
		}
	}
	return errs
}

func fieldOr(at positions, field string) string {
	if _, ok := at[field]; ok {
		return field
	}
	return ""
}

func (r *Rule) validateCondition(list string, i int, c *Condition, suppress bool) Errors {
	var errs Errors
	p := c.Fields.of("metric", r.Fields.of(list, r.Pos))
	bad := func(format string, args ...any) {
		errs = append(errs, &Error{File: r.File, Pos: p, Rule: r.ID,
			Msg: fmt.Sprintf("%s[%d]: ", list, i) + fmt.Sprintf(format, args...)})
	}
	tests := 0
	for _, set := range []bool{c.Eq != "", c.Ne != "", c.Above != nil, c.Below != nil, c.Present != nil} {
		if set {
			tests++
		}
	}
	switch {
	case c.Closed:
		if c.Metric != "" || tests > 0 {
			bad("closed: true stands alone")
		}
	case c.Metric == "":
		bad("missing metric (or closed: true)")
	case LookupMetric(c.Metric) == NoMetric:
		bad("unknown metric %q", c.Metric)
	case tests != 1:
		bad("set exactly one of eq, ne, above, below, present")
	default:
		id := LookupMetric(c.Metric)
		for _, w := range []string{c.Eq, c.Ne} {
			if w == "" {
				continue
			}
			if _, ok := conditionValue(id, w); !ok {
				bad("%q is not a value of %s", w, c.Metric)
			}
		}
	}
	if c.Recovery != 0 && !suppress {
		bad("recovery applies to suppress, not when")
	}
	if c.EndedBy != "" {
		p = c.Fields.of("ended_by", p)
		switch {
		case !suppress:
			bad("ended_by applies to suppress only")
		case c.Closed || c.Present != nil:
			bad("ended_by applies to a signal's condition, not closed or present")
		case LookupMetric(c.EndedBy) == NoMetric:
			bad("ended_by: unknown metric %q", c.EndedBy)
		case Metrics[LookupMetric(c.EndedBy)].Kind != Binary:
			bad("ended_by: %s is not a 0/1 signal", c.EndedBy)
		}
	}
	return errs
}

// conditionValue reads a condition's eq/ne operand: a word of an Enum or
// Binary metric, or a number.
func conditionValue(id MetricID, s string) (float64, bool) {
	if v, ok := WordValue(id, s); ok {
		return v, true
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil && !math.IsNaN(f)
}

// ParseFS reads every *.yaml and *.yml file under the given roots of fsys
// (a root may also name one file) and parses them all, returning every
// problem in every file. Rule ids must be unique across files.
func ParseFS(fsys fs.FS, roots ...string) ([]Rule, error) {
	var files []string
	var errs Errors
	for _, root := range roots {
		err := fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || !(strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
				return nil
			}
			if p != root && strings.HasPrefix(path.Base(p), ".") {
				return nil
			}
			files = append(files, p)
			return nil
		})
		if err != nil {
			errs = append(errs, &Error{File: root, Msg: err.Error()})
		}
	}
	sort.Strings(files)
	var srcs []Source
	for _, name := range files {
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			errs = append(errs, &Error{File: name, Msg: err.Error()})
			continue
		}
		srcs = append(srcs, Source{Name: name, Data: data})
	}
	if len(files) == 0 && len(errs) == 0 {
		errs = append(errs, &Error{File: strings.Join(roots, ","), Msg: "no rules files (*.yaml) found"})
	}
	all, err := ParseSources(srcs)
	if err != nil {
		errs = append(errs, AsErrors(err)...)
	}
	if len(errs) > 0 {
		errs.sort()
		return nil, errs
	}
	return all, nil
}

// Source is one rules file's name and contents.
type Source struct {
	Name string
	Data []byte
}

// ParseSources parses several rules files as one set: every problem in
// every file is reported, and rule ids must be unique across files.
func ParseSources(srcs []Source) ([]Rule, error) {
	var errs Errors
	var all []Rule
	first := map[string]Pos{}
	firstFile := map[string]string{}
	for _, src := range srcs {
		rs, err := Parse(src.Name, src.Data)
		if err != nil {
			errs = append(errs, AsErrors(err)...)
			continue
		}
		for i := range rs {
			if p, dup := first[rs[i].ID]; dup {
				errs = append(errs, &Error{File: src.Name, Pos: rs[i].Fields.of("id", rs[i].Pos), Rule: rs[i].ID,
					Msg: fmt.Sprintf("duplicate rule id (first in %s:%d)", firstFile[rs[i].ID], p.Line)})
				continue
			}
			all = append(all, rs[i])
			first[rs[i].ID], firstFile[rs[i].ID] = rs[i].Pos, src.Name
		}
	}
	if len(errs) > 0 {
		errs.sort()
		return nil, errs
	}
	return all, nil
}
