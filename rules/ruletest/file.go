package ruletest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/frostline/frostline/rules"
)

// File is one parsed test file.
type File struct {
	Name string
	// RuleFiles are the rules files and folders the tests run, as written:
	// relative to the test file. Empty means the built-in default pack.
	RuleFiles []string
	// SiteFile names a site file, relative to the test file, when the site
	// is not given inline; Site is nil until Load reads it.
	SiteFile string
	Site     *rules.Site
	Tests    []Test

	ruleFilesPos, sitePos rules.Pos
}

// Test is one named case: input series and what must, and must not, happen.
type Test struct {
	Name     string
	Pos      rules.Pos
	Start    time.Time
	Interval time.Duration
	Input    []Series
	Expect   []Match
	// Exact requires every opened and cleared event to be listed in Expect;
	// updates are checked only where listed.
	Exact  bool
	Absent []Match
	// RestartAt lists offsets from Start at which the engine is
	// snapshotted and its state restored into a new engine, as a restarted
	// edge agent does: the expectations must hold across the restarts.
	RestartAt []time.Duration
	// Pending says why the test is known to fail. A pending test that fails
	// is reported but does not fail the run; one that passes says so, so
	// that the mark can be removed.
	Pending string
}

// label names the test in a message.
func (t *Test) label() string {
	if t.Name == "" {
		return "test"
	}
	return fmt.Sprintf("test %q", t.Name)
}

// Series is one metric of one asset, one value per step.
type Series struct {
	Asset    string
	Metric   rules.MetricID
	Interval time.Duration // the step; the test's interval when not given
	Offset   time.Duration // the first step's time after the test's start
	Values   []float64     // Missing for a step with no sample
	Pos      rules.Pos

	assetPos rules.Pos
}

// Match selects incident events by the fields it sets; an empty field
// matches anything.
type Match struct {
	Event    rules.EventType
	Rule     string
	Asset    string
	Problem  string
	Priority string
	Trade    string
	// At is the event's time as an offset from the test's start, within
	// AtWithin either way. HasAt is false when no time was given.
	At       time.Duration
	AtWithin time.Duration
	HasAt    bool
	Pos      rules.Pos

	rulePos, assetPos rules.Pos
}

// Defaults for a test file's timeline.
var (
	DefaultStart    = time.Date(2026, 7, 6, 0, 0, 0, 0, time.UTC) // a Monday
	DefaultInterval = time.Minute
)

// Parse decodes a test file strictly: unknown fields, wrong kinds, bad
// values and series, unknown metrics and a bad inline site are all
// reported, every one, as rules.Errors ("file:line:col: message"). The
// rules and assets the tests name are checked against the rule files and
// the site by Check, once those are loaded.
func Parse(filename string, data []byte) (*File, error) {
	d := &decoder{file: filename}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, rules.Errors{{File: filename, Pos: rules.Pos{Line: 1, Col: 1}, Msg: "empty test file (want tests: [...])"}}
		}
		return nil, syntaxError(filename, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, rules.Errors{{File: filename, Pos: rules.Pos{Line: extra.Line, Col: extra.Column}, Msg: "more than one YAML document in a test file"}}
	}
	f := d.testFile(&root, data)
	if len(d.errs) > 0 {
		sortErrors(d.errs)
		return nil, d.errs
	}
	return f, nil
}

func (d *decoder) testFile(root *yaml.Node, data []byte) *File {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	f := &File{Name: d.file}
	kv := d.fields(n, "test file", "rule_files", "site", "site_file", "start", "interval", "tests")
	if kv == nil {
		return f
	}
	if v := kv["rule_files"]; v != nil {
		f.ruleFilesPos = pos(v)
		for _, e := range d.list(v, true) {
			if s := d.str(e); s != "" {
				f.RuleFiles = append(f.RuleFiles, s)
			} else {
				d.fail(e, "rule_files: want a path")
			}
		}
	}
	switch site, file := kv["site"], kv["site_file"]; {
	case site != nil && file != nil:
		d.fail(file, "site_file: give site or site_file, not both")
	case site != nil:
		f.sitePos = pos(site)
		f.Site = d.site(n, site, data)
	case file != nil:
		f.sitePos = pos(file)
		if f.SiteFile = d.str(file); f.SiteFile == "" {
			d.fail(file, "site_file: want a path")
		}
	default:
		d.fail(n, "missing site (an inline site, as in a site file) or site_file")
	}
	start, interval := DefaultStart, DefaultInterval
	if v := kv["start"]; v != nil {
		start = d.time(v, "start")
	}
	if v := kv["interval"]; v != nil {
		interval = d.positive(v, "interval")
	}
	tests := kv["tests"]
	if tests == nil {
		d.fail(n, "missing tests")
		return f
	}
	names := map[string]int{}
	for _, tn := range d.list(tests, false) {
		t := d.test(tn, start, interval)
		if t.Name != "" {
			if line, dup := names[t.Name]; dup {
				d.fail(tn, "test %q: name used twice (first at line %d)", t.Name, line)
			}
			names[t.Name] = t.Pos.Line
		}
		f.Tests = append(f.Tests, t)
	}
	if len(f.Tests) == 0 {
		d.fail(tests, "tests: want at least one test")
	}
	return f
}

// site decodes an inline site with rules.ParseSite, so that it is the
// same schema as a site file. ParseSite reads bytes, so it gets the file
// with everything outside the site's value blanked out: its errors then
// carry their true positions in the test file.
func (d *decoder) site(parent, value *yaml.Node, data []byte) *rules.Site {
	if value.Kind != yaml.MappingNode {
		d.fail(value, "site: want a mapping (site, assets, ...)")
		return nil
	}
	end := len(data)
	if parent.Style&yaml.FlowStyle != 0 {
		d.fail(value, "site: write the test file in block style to give an inline site")
		return nil
	}
	for i := 0; i+1 < len(parent.Content); i += 2 {
		if k := parent.Content[i]; k.Line > value.Line || (k.Line == value.Line && k.Column > value.Column) {
			end = min(end, offsetOf(data, k.Line, k.Column))
		}
	}
	start := offsetOf(data, value.Line, value.Column)
	blank := blankOutside(data, start, end)
	s, err := rules.ParseSite(d.file, blank)
	if err != nil {
		for _, e := range rules.AsErrors(err) {
			p, msg := e.Pos, e.Msg
			if p == (rules.Pos{Line: 1, Col: 1}) {
				p = pos(value) // ParseSite's "top of the file"
			}
			if !strings.HasPrefix(msg, "site: ") {
				msg = "site: " + msg
			}
			d.errs = append(d.errs, &rules.Error{File: d.file, Pos: p, Msg: msg})
		}
		if rules.AsErrors(err) == nil {
			d.fail(value, "site: %v", err)
		}
		return nil
	}
	return s
}

// offsetOf returns the byte offset of a 1-based line and column (yaml.v3
// counts columns in characters).
func offsetOf(data []byte, line, col int) int {
	off := 0
	for l := 1; l < line && off < len(data); l++ {
		i := bytes.IndexByte(data[off:], '\n')
		if i < 0 {
			return len(data)
		}
		off += i + 1
	}
	for c := 1; c < col && off < len(data) && data[off] != '\n'; c++ {
		_, size := utf8.DecodeRune(data[off:])
		off += size
	}
	return off
}

// blankOutside returns data with every character before start turned into
// a space (newlines kept, so lines and columns stay where they were) and
// everything from end on dropped.
func blankOutside(data []byte, start, end int) []byte {
	out := make([]byte, 0, end)
	for _, r := range string(data[:start]) {
		if r == '\n' || r == '\r' {
			out = append(out, byte(r))
		} else {
			out = append(out, ' ')
		}
	}
	return append(out, data[start:end]...)
}

func (d *decoder) test(n *yaml.Node, start time.Time, interval time.Duration) Test {
	t := Test{Pos: pos(n), Start: start, Interval: interval}
	kv := d.fields(n, "test", "name", "start", "interval", "input", "expect", "exact", "absent", "restart_at", "pending")
	if kv == nil {
		return t
	}
	if v := kv["name"]; v != nil {
		t.Name = d.str(v)
	}
	if t.Name == "" {
		d.fail(n, "test: missing name")
	}
	if v := kv["start"]; v != nil {
		t.Start = d.time(v, "start")
	}
	if v := kv["interval"]; v != nil {
		t.Interval = d.positive(v, "interval")
	}
	if v := kv["input"]; v != nil {
		for _, sn := range d.list(v, false) {
			t.Input = append(t.Input, d.series(sn))
		}
	}
	if len(t.Input) == 0 {
		d.fail(n, "%s: want at least one input series", t.label())
	}
	if v := kv["expect"]; v != nil {
		for _, mn := range d.list(v, false) {
			t.Expect = append(t.Expect, d.match(mn, "expect"))
		}
	}
	if v := kv["exact"]; v != nil {
		t.Exact = d.boolean(v, "exact")
	}
	if v := kv["absent"]; v != nil {
		for _, mn := range d.list(v, false) {
			t.Absent = append(t.Absent, d.match(mn, "absent"))
		}
	}
	if v := kv["restart_at"]; v != nil {
		for _, e := range d.list(v, true) {
			t.RestartAt = append(t.RestartAt, d.duration(e, "restart_at"))
		}
		slices.Sort(t.RestartAt)
	}
	if v := kv["pending"]; v != nil {
		if t.Pending = d.str(v); t.Pending == "" {
			d.fail(v, "pending: want the reason the test is known to fail")
		}
	}
	if len(t.Expect) == 0 && len(t.Absent) == 0 && !t.Exact {
		d.fail(n, "%s: nothing to check (want expect, absent or exact: true)", t.label())
	}
	return t
}

func (d *decoder) series(n *yaml.Node) Series {
	s := Series{Pos: pos(n), Metric: rules.NoMetric}
	kv := d.fields(n, "input series", "asset", "metric", "values", "interval", "offset")
	if kv == nil {
		return s
	}
	if v := d.required(n, kv, "asset"); v != nil {
		s.Asset, s.assetPos = d.str(v), pos(v)
	}
	if v := d.required(n, kv, "metric"); v != nil {
		name := d.str(v)
		if s.Metric = rules.LookupMetric(name); s.Metric == rules.NoMetric {
			d.fail(v, "metric: unknown metric %q (want one of %s)", name, metricNames())
		}
	}
	if v := kv["interval"]; v != nil {
		s.Interval = d.positive(v, "interval")
	}
	if v := kv["offset"]; v != nil {
		s.Offset = d.duration(v, "offset")
	}
	if v := d.required(n, kv, "values"); v != nil && s.Metric != rules.NoMetric {
		if v.Kind != yaml.ScalarNode {
			d.fail(v, "values: want a string of values, e.g. \"3x60 3+0.1x120 _x10\"")
			return s
		}
		vals, err := ParseSeries(s.Metric, v.Value)
		var se *SeriesError
		if errors.As(err, &se) {
			p := pos(v)
			// Point at the token when the string is on one line as written.
			if se.Offset > 0 && !strings.ContainsAny(v.Value, "\n") && (v.Style == 0 || v.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0) {
				p.Col += utf8.RuneCountInString(v.Value[:se.Offset])
				if v.Style != 0 {
					p.Col++ // the opening quote
				}
			}
			d.errs = append(d.errs, &rules.Error{File: d.file, Pos: p, Msg: "values: " + se.Msg})
		}
		s.Values = vals
	}
	return s
}

var eventTypes = []rules.EventType{rules.Opened, rules.Updated, rules.Cleared}

func (d *decoder) match(n *yaml.Node, list string) Match {
	m := Match{Pos: pos(n)}
	kv := d.fields(n, list+" event", "event", "rule", "asset", "problem", "priority", "trade", "at", "at_within")
	if kv == nil {
		return m
	}
	if v := kv["event"]; v != nil {
		m.Event = rules.EventType(d.str(v))
		if !slices.Contains(eventTypes, m.Event) {
			d.fail(v, "event: %q is not opened, updated or cleared", m.Event)
		}
	}
	if v := kv["rule"]; v != nil {
		m.Rule, m.rulePos = d.str(v), pos(v)
	}
	if v := kv["asset"]; v != nil {
		m.Asset, m.assetPos = d.str(v), pos(v)
	}
	check := func(field string, dst *string, known []string) {
		v := kv[field]
		if v == nil {
			return
		}
		if *dst = d.str(v); !slices.Contains(known, *dst) {
			d.fail(v, "%s: unknown %s %q (want one of %s)", field, field, *dst, strings.Join(known, ", "))
		}
	}
	check("problem", &m.Problem, rules.Problems)
	check("priority", &m.Priority, rules.Priorities)
	check("trade", &m.Trade, rules.Trades)
	if v := kv["at"]; v != nil {
		m.At, m.HasAt = d.duration(v, "at"), true
	}
	if v := kv["at_within"]; v != nil {
		m.AtWithin = d.duration(v, "at_within")
		if !m.HasAt {
			d.fail(v, "at_within: give at as well")
		}
	}
	if m.Event == "" && m.Rule == "" && m.Asset == "" && m.Problem == "" && m.Priority == "" && m.Trade == "" {
		d.fail(n, "%s: an event with no fields matches every event; name at least a rule, asset or problem", list)
	}
	return m
}

func metricNames() string {
	names := make([]string, len(rules.Metrics))
	for i, m := range rules.Metrics {
		names[i] = m.Name
	}
	return strings.Join(names, ", ")
}

// decoder collects every problem in a test file with its position.
type decoder struct {
	file string
	errs rules.Errors
}

func pos(n *yaml.Node) rules.Pos { return rules.Pos{Line: n.Line, Col: n.Column} }

func (d *decoder) fail(n *yaml.Node, format string, args ...any) {
	d.errs = append(d.errs, &rules.Error{File: d.file, Pos: pos(n), Msg: fmt.Sprintf(format, args...)})
}

// fields checks that n is a mapping of known, distinct keys and returns
// their values by key; nil when n is not a mapping.
func (d *decoder) fields(n *yaml.Node, what string, known ...string) map[string]*yaml.Node {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		d.fail(n, "%s: want a mapping of fields (%s)", what, strings.Join(known, ", "))
		return nil
	}
	out := make(map[string]*yaml.Node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		switch {
		case !slices.Contains(known, k.Value):
			d.fail(k, "%s: unknown field %q (want one of %s)", what, k.Value, strings.Join(known, ", "))
		case out[k.Value] != nil:
			d.fail(k, "%s: field %q given twice", what, k.Value)
		case v.Kind == yaml.ScalarNode && v.Tag == "!!null":
			// an empty value is as good as none
		default:
			out[k.Value] = v
		}
	}
	return out
}

func (d *decoder) required(n *yaml.Node, kv map[string]*yaml.Node, key string) *yaml.Node {
	v := kv[key]
	if v == nil {
		d.fail(n, "missing %s", key)
	}
	return v
}

func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// list returns a sequence's items; a single scalar is a list of one when
// scalarOK.
func (d *decoder) list(n *yaml.Node, scalarOK bool) []*yaml.Node {
	switch {
	case n.Kind == yaml.SequenceNode:
		out := make([]*yaml.Node, len(n.Content))
		for i, c := range n.Content {
			out[i] = resolve(c)
		}
		return out
	case scalarOK && n.Kind == yaml.ScalarNode:
		return []*yaml.Node{n}
	}
	d.fail(n, "want a list")
	return nil
}

func (d *decoder) str(n *yaml.Node) string {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, "want a single value")
		return ""
	}
	return n.Value
}

func (d *decoder) duration(n *yaml.Node, field string) time.Duration {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, "%s: want a duration such as 90s, 30m, 2h, 1d", field)
		return 0
	}
	v, err := rules.ParseDuration(n.Value)
	if err != nil {
		d.fail(n, "%s: %v", field, err)
	}
	return v.D()
}

func (d *decoder) positive(n *yaml.Node, field string) time.Duration {
	v := d.duration(n, field)
	if v <= 0 && n.Kind == yaml.ScalarNode {
		if _, err := rules.ParseDuration(n.Value); err == nil {
			d.fail(n, "%s: want a duration above zero", field)
		}
	}
	return v
}

func (d *decoder) time(n *yaml.Node, field string) time.Time {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, "%s: want an RFC 3339 time such as 2026-07-06T00:00:00Z", field)
		return DefaultStart
	}
	t, err := time.Parse(time.RFC3339, n.Value)
	if err != nil {
		d.fail(n, "%s: want an RFC 3339 time such as 2026-07-06T00:00:00Z, got %q", field, n.Value)
		return DefaultStart
	}
	return t.UTC()
}

func (d *decoder) boolean(n *yaml.Node, field string) bool {
	if n.Kind == yaml.ScalarNode {
		switch n.Value {
		case "true":
			return true
		case "false":
			return false
		}
	}
	d.fail(n, "%s: want true or false", field)
	return false
}

// syntaxError gives a yaml.v3 syntax error the position it names; the
// rules package has the same logic for rules files, unexported.
func syntaxError(file string, err error) error {
	var line, col int
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if _, scanErr := fmt.Sscanf(msg, "line %d, column %d:", &line, &col); scanErr != nil {
		col = 1
		if _, scanErr := fmt.Sscanf(msg, "line %d:", &line); scanErr != nil {
			line = 1
		}
	}
	if _, rest, ok := strings.Cut(msg, ": "); ok && line > 0 && strings.HasPrefix(msg, "line ") {
		msg = rest
	}
	return rules.Errors{{File: file, Pos: rules.Pos{Line: line, Col: col}, Msg: "yaml: " + msg}}
}

func sortErrors(es rules.Errors) {
	slices.SortStableFunc(es, func(a, b *rules.Error) int {
		if a.File != b.File {
			return strings.Compare(a.File, b.File)
		}
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Col - b.Col
	})
}
