package rules_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/frostline/frostline/rules"
)

// update rewrites the golden files (testdata/**/*.errors, replay want.jsonl)
// from what the code produces now: go test ./rules/... -update.
var update = flag.Bool("update", false, "rewrite golden files")

// TestParseGood parses every testdata/parse/*.good.yaml: each must parse
// and compile without a single error.
func TestParseGood(t *testing.T) {
	for _, path := range glob(t, "testdata/parse/*.good.yaml") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			rs, err := rules.Parse(path, readFile(t, path))
			if err != nil {
				t.Fatalf("Parse: unexpected errors:\n%v", err)
			}
			if len(rs) == 0 {
				t.Fatal("Parse returned no rules")
			}
			for _, r := range rs {
				if r.File != path || r.Pos.Line == 0 {
					t.Errorf("rule %q: File, Pos = %q, %v; want the file and a line", r.ID, r.File, r.Pos)
				}
			}
			if _, err := rules.Compile(rs); err != nil {
				t.Fatalf("Compile: %v", err)
			}
		})
	}
}

// TestParseBad parses every testdata/parse/*.bad.yaml and compares the
// errors, one `file:line:col: rule "id": message` per line, with the
// golden .errors file beside it.
func TestParseBad(t *testing.T) {
	for _, path := range glob(t, "testdata/parse/*.bad.yaml") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			rs, err := rules.Parse(path, readFile(t, path))
			if err == nil {
				t.Fatalf("Parse accepted a bad file (%d rules)", len(rs))
			}
			es := rules.AsErrors(err)
			if len(es) == 0 {
				t.Fatalf("Parse returned %T, want rules.Errors: %v", err, err)
			}
			for _, e := range es {
				if e.File != path || e.Line < 1 || e.Col < 1 {
					t.Errorf("error without a position in the file: %v", e)
				}
			}
			golden(t, strings.TrimSuffix(path, ".yaml")+".errors", err.Error()+"\n")
		})
	}
}

// TestParseSourcesDuplicateAcrossFiles checks that rule ids are unique
// across the files of one set, and that the error names both places.
func TestParseSourcesDuplicateAcrossFiles(t *testing.T) {
	const door = `rules:
  - id: door
    kind: state
    match: {class: walk_in_cooler}
    metric: door_open
    for: 15m
    problem: door_ajar
    priority: P3
    trade: general
    title: door
`
	other := "# a second team's pack\n\n" + door
	srcs := []rules.Source{{Name: "a/doors.yaml", Data: []byte(door)}, {Name: "b/doors.yaml", Data: []byte(other)}}
	_, err := rules.ParseSources(srcs)
	want := `b/doors.yaml:4:9: rule "door": duplicate rule id (first in a/doors.yaml:2)`
	if err == nil || err.Error() != want {
		t.Errorf("ParseSources error:\n got %v\nwant %s", err, want)
	}

	// The same through ParseFS, which walks folders in name order and
	// reports bad files alongside.
	fsys := fstest.MapFS{
		"pack/a.yaml":        {Data: []byte(door)},
		"pack/sub/b.yml":     {Data: []byte(other)},
		"pack/.hidden.yaml":  {Data: []byte("not: rules")},
		"pack/README.md":     {Data: []byte("# not rules")},
		"pack/z-broken.yaml": {Data: []byte("rules:\n  - id: x\n    kind: nope\n")},
	}
	_, err = rules.ParseFS(fsys, "pack")
	want = `pack/sub/b.yml:4:9: rule "door": duplicate rule id (first in pack/a.yaml:2)
pack/z-broken.yaml:3:11: rule "x": kind: unknown kind "nope" (want one of threshold, trend, state, transitions, flatline, missing, delta, pulldown, excursion, group, capacity)`
	if err == nil || err.Error() != want {
		t.Errorf("ParseFS error:\n got %v\nwant %s", err, want)
	}

	if _, err := rules.ParseFS(fstest.MapFS{"empty/README.md": {}}, "empty"); err == nil {
		t.Error("ParseFS of a folder without rules files: no error")
	}
}

// TestCompileValidatesHandBuiltRules: rules built in Go, not parsed, are
// checked by Compile all the same.
func TestCompileValidatesHandBuiltRules(t *testing.T) {
	five := 5.0
	r := rules.Rule{ID: "hot", Kind: rules.KindThreshold, Match: rules.Match{Class: []string{"walk_in_cooler"}},
		Metric: "air_temp", Above: &five, Problem: "temp_high", Priority: "P1", Trade: "refrigeration", Title: "hot"}
	if _, err := rules.Compile([]rules.Rule{r, r}); err == nil || !strings.Contains(err.Error(), "duplicate rule id") {
		t.Errorf("Compile of a duplicate id: %v, want a duplicate rule id error", err)
	}
	r.Trade = "plumber"
	if _, err := rules.Compile([]rules.Rule{r}); err == nil || !strings.Contains(err.Error(), `(rules): rule "hot": unknown trade "plumber"`) {
		t.Errorf("Compile of a bad trade: %v", err)
	}
}

// TestParseSiteGood parses every testdata/sites/*.good.yaml.
func TestParseSiteGood(t *testing.T) {
	for _, path := range glob(t, "testdata/sites/*.good.yaml") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			s, err := rules.ParseSite(path, readFile(t, path))
			if err != nil {
				t.Fatalf("ParseSite: unexpected errors:\n%v", err)
			}
			if s.ID == "" || len(s.Assets) == 0 {
				t.Fatalf("ParseSite returned %+v", s)
			}
		})
	}
}

// TestParseSiteBad compares the errors of every testdata/sites/*.bad.yaml
// with its golden .errors file.
func TestParseSiteBad(t *testing.T) {
	for _, path := range glob(t, "testdata/sites/*.bad.yaml") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			s, err := rules.ParseSite(path, readFile(t, path))
			if err == nil {
				t.Fatalf("ParseSite accepted a bad file: %+v", s)
			}
			if len(rules.AsErrors(err)) == 0 {
				t.Fatalf("ParseSite returned %T, want rules.Errors: %v", err, err)
			}
			golden(t, strings.TrimSuffix(path, ".yaml")+".errors", err.Error()+"\n")
		})
	}
}

// TestSiteDetails checks what a good site file means: time zone, opening
// hours in local time, per-asset intervals and overrides.
func TestSiteDetails(t *testing.T) {
	s, err := rules.ParseSite("store.good.yaml", readFile(t, "testdata/sites/store.good.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.TimeLocation().String(); got != "America/Chicago" {
		t.Errorf("TimeLocation = %s", got)
	}
	// 2026-07-06 is a Monday; Chicago is UTC-5 in July.
	for _, tc := range []struct {
		utc    string
		closed bool
	}{
		{"2026-07-06T11:59:00Z", true},  // Mon 06:59
		{"2026-07-06T12:00:00Z", false}, // Mon 07:00: opens
		{"2026-07-07T02:59:00Z", false}, // Mon 21:59
		{"2026-07-07T03:00:00Z", true},  // Mon 22:00: closes
		{"2026-07-05T17:00:00Z", true},  // Sun noon: closed all day
		{"2026-07-11T03:30:00Z", false}, // Fri 22:30: open late
	} {
		if got := s.Closed(mustTime(t, tc.utc)); got != tc.closed {
			t.Errorf("Closed(%s) = %v, want %v", tc.utc, got, tc.closed)
		}
	}
	probe := s.Asset("probe-9")
	if probe == nil || probe.Interval.D().Minutes() != 5 {
		t.Fatalf("probe-9 = %+v, want interval 5m", probe)
	}
	o := probe.Overrides["chilled-product-temp-high"]
	if o.Above == nil || *o.Above != 7 || o.Priority != "P2" || !probe.Overrides["temp-sensor-stuck"].Disabled {
		t.Errorf("overrides = %+v", probe.Overrides)
	}
	if s.Asset("nope") != nil {
		t.Error("Asset(nope) != nil")
	}
}

// TestSiteHoursDailyWithException: "daily" hours with one weekday closed
// must mean the same thing every time the file is read. Hours are a map,
// and Go randomises map order, so the result must not depend on it.
func TestSiteHoursDailyWithException(t *testing.T) {
	t.Skip(`bug: ParseSite applies hours in map order, so "daily: 07:00-22:00" plus "sun: closed" ` +
		`sometimes leaves Sunday open and sometimes closed (site.go ParseSite: for day, span := range s.Hours)`)
	data := []byte("site: s1\nhours:\n  daily: \"07:00-22:00\"\n  sun: closed\nassets:\n  - {id: a1, class: walk_in_cooler}\n")
	sundayNoon := mustTime(t, "2026-07-05T12:00:00Z")
	for i := range 50 {
		s, err := rules.ParseSite("s1.yaml", data)
		if err != nil {
			t.Fatal(err)
		}
		if !s.Closed(sundayNoon) {
			t.Fatalf("parse %d: Sunday noon is open; want closed (the sun entry is the more specific)", i)
		}
	}
}

func glob(t *testing.T, pattern string) []string {
	t.Helper()
	paths, err := filepath.Glob(pattern)
	if err != nil || len(paths) == 0 {
		t.Fatalf("no files match %s (%v)", pattern, err)
	}
	return paths
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// golden compares got with the golden file at path, or rewrites the file
// under -update.
func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test -update rewrites it):\n--- got\n%s--- want\n%s", path, got, want)
	}
}

// TestParseSiteEmpty: an empty site file should say what is wrong in the
// operator's words, as an empty rules file does.
func TestParseSiteEmpty(t *testing.T) {
	t.Skip(`bug: ParseSite("s.yaml", nil) reports "s.yaml:1:1: yaml: EOF"; want e.g. "empty site file (want site: and assets:)" as Parse does for rules`)
	_, err := rules.ParseSite("s.yaml", nil)
	if err == nil || strings.Contains(err.Error(), "EOF") {
		t.Errorf("ParseSite(empty) = %v", err)
	}
}

// TestStateEscalationMustBeMoreUrgent: as for threshold rules, an
// escalation that lowers the priority is a mistake in the rule.
func TestStateEscalationMustBeMoreUrgent(t *testing.T) {
	const src = `rules:
  - id: door
    kind: state
    match: {class: walk_in_cooler}
    metric: door_open
    for: 15m
    escalate:
      - after: 45m
        priority: P4
    problem: door_ajar
    priority: P3
    trade: general
    title: door
`
	if _, err := rules.Parse("door.yaml", []byte(src)); err == nil {
		t.Error("Parse accepted an escalation from P3 to P4")
	}
}

// TestTemplateErrorsCaughtAtParse: a template that names a field the
// summary data does not have, or passes a field to a function of the
// wrong type, only fails when an incident renders it, and the operator
// then gets the raw template as the title. Parse should try each template
// on sample data and report it.
func TestTemplateErrorsCaughtAtParse(t *testing.T) {
	const src = `rules:
  - id: door
    kind: state
    match: {class: walk_in_cooler}
    metric: door_open
    for: 15m
    problem: door_ajar
    priority: P3
    trade: general
    title: "{{.Assetname}}: door open"
    summary: "{{f1 .Count}} times"
`
	_, err := rules.Parse("door.yaml", []byte(src))
	want := []string{`door.yaml:10:12: rule "door": title:`, `door.yaml:11:14: rule "door": summary:`}
	for _, w := range want {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("Parse error %v, want one starting %q", err, w)
		}
	}
}

// TestParseSiteErrorsInOrder: the same file gives the same errors in the
// same order every time, as `frostline rules check` and golden files need.
func TestParseSiteErrorsInOrder(t *testing.T) {
	data := []byte(`site: s1
hours:
  mon: 9-5
  tue: late
  wed: x
assets:
  - id: a1
    class: walk_in_cooler
    overrides:
      r1: {priority: high}
      r2: {priority: low}
      r3: {priority: mid}
`)
	_, first := rules.ParseSite("s.yaml", data)
	for i := range 30 {
		if _, err := rules.ParseSite("s.yaml", data); err.Error() != first.Error() {
			t.Fatalf("parse %d:\n%v\nfirst parse:\n%v", i, err, first)
		}
	}
}

// TestGroupRuleNamesRulesOfTheSet: a group rule counting a rule the set
// does not have is refused at compile time, naming the file, the line and
// the rule.
func TestGroupRuleNamesRulesOfTheSet(t *testing.T) {
	src := `rules:
  - id: rack
    kind: group
    match: {class: [compressor_rack]}
    rules: [case-warming]
    problem: rack_failure
    priority: P1
    trade: refrigeration
    title: rack down
`
	rs, err := rules.Parse("racks.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	_, err = rules.Compile(rs)
	if err == nil || !strings.Contains(err.Error(), `racks.yaml:5:12: rule "rack": rules: no rule "case-warming" in the set`) {
		t.Fatalf("Compile: %v", err)
	}
}
