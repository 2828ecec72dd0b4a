package rules_test

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/frostline/frostline/rules"
)

// t0 is the start of every test series: a Monday, midnight UTC.
var t0 = time.Date(2026, 7, 6, 0, 0, 0, 0, time.UTC)

func mustTime(t testing.TB, s string) time.Time {
	t.Helper()
	ts, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// at returns t0 plus the given minutes.
func at(minutes float64) time.Time {
	return t0.Add(time.Duration(minutes * float64(time.Minute)))
}

// stream builds the readings of one asset the way a store controller
// sends them: analog values on a fixed cadence, 0/1 and mode signals on
// change and every 15 minutes.
type stream struct {
	site, asset string
	rs          []rules.Reading
}

func newStream(site, asset string) *stream { return &stream{site: site, asset: asset} }

func (s *stream) add(metric string, t time.Time, v float64) {
	m := rules.LookupMetric(metric)
	if m == rules.NoMetric {
		panic("unknown metric " + metric)
	}
	s.rs = append(s.rs, rules.Reading{Site: s.site, Asset: s.asset, Metric: m, At: t, Value: v})
}

// analog samples f (minutes since t0 -> value) every step minutes over
// [from, to).
func (s *stream) analog(metric string, from, to, step float64, f func(m float64) float64) *stream {
	for m := from; m < to; m += step {
		s.add(metric, at(m), f(m))
	}
	return s
}

// signal reads f each minute over [from, to) and reports it when it
// changes and every 15 minutes, as controllers do for state signals.
func (s *stream) signal(metric string, from, to float64, f func(m float64) float64) *stream {
	last, lastAt := math.NaN(), math.Inf(-1)
	for m := from; m < to; m++ {
		v := f(m)
		if v != last || m-lastAt >= 15 {
			s.add(metric, at(m), v)
			last, lastAt = v, m
		}
	}
	return s
}

// merge interleaves streams in time order. At one timestamp, state signals
// come before analog values, as a controller publishes its state first.
func merge(streams ...*stream) []rules.Reading {
	var all []rules.Reading
	for _, s := range streams {
		all = append(all, s.rs...)
	}
	slices.SortStableFunc(all, func(a, b rules.Reading) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return signalFirst(a) - signalFirst(b)
	})
	return all
}

func signalFirst(r rules.Reading) int {
	if rules.Metrics[r.Metric].Kind == rules.Analog {
		return 1
	}
	return 0
}

// Shapes of series, by minute.
func constant(v float64) func(float64) float64 { return func(float64) float64 { return v } }

// steps returns a piecewise-constant series: the value of the last step
// whose start minute is <= m.
func steps(first float64, changes ...float64) func(float64) float64 {
	return func(m float64) float64 {
		v := first
		for i := 0; i+1 < len(changes); i += 2 {
			if m >= changes[i] {
				v = changes[i+1]
			}
		}
		return v
	}
}

// cycling is a thermostat cycle: on for onMin, off for offMin, from phase 0.
func cycling(onMin, offMin float64) func(float64) float64 {
	return func(m float64) float64 {
		if math.Mod(m, onMin+offMin) < onMin {
			return 1
		}
		return 0
	}
}

// during returns f inside [from, to) and g outside it.
func during(from, to float64, f, g func(float64) float64) func(float64) float64 {
	return func(m float64) float64 {
		if m >= from && m < to {
			return f(m)
		}
		return g(m)
	}
}

// boxTemp is a healthy box's air temperature: a setpoint with the
// thermostat's sawtooth of +-amp over a 20 minute cycle.
func boxTemp(setpoint, amp float64) func(float64) float64 {
	return func(m float64) float64 {
		return setpoint + amp*math.Sin(2*math.Pi*m/20)
	}
}

// testSites are the stores the kind tests run on. s1 has one asset of
// each kind the rules watch; s2 keeps event time moving while s1 is
// silent, as other stores do in a replay.
var testSites = []string{`
site: s1
timezone: America/New_York
hours: {daily: "07:00-22:00"}
assets:
  - {id: waco-1, class: walk_in_cooler, name: walk in cooler}
  - {id: wafr-2, class: walk_in_freezer}
  - {id: reco-3, class: reach_in_cooler, name: retrofit probe}
  - {id: roun-8, class: rooftop_unit}
`, `
site: s2
assets:
  - {id: waco-1, class: walk_in_cooler}
`}

func parseSites(t testing.TB, docs []string) []*rules.Site {
	t.Helper()
	var sites []*rules.Site
	for i, doc := range docs {
		s, err := rules.ParseSite(fmt.Sprintf("site%d.yaml", i), []byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		sites = append(sites, s)
	}
	return sites
}

func compileRules(t testing.TB, text string) *rules.Set {
	t.Helper()
	rs, err := rules.Parse("test.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	set, err := rules.Compile(rs)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func newEngine(t testing.TB, rulesYAML string, sites []string, opts rules.Options) *rules.Engine {
	t.Helper()
	eng, err := rules.NewEngine(compileRules(t, rulesYAML), parseSites(t, sites), opts)
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

// observeAll feeds readings to eng and returns every event; a refused
// reading fails the test.
func observeAll(t testing.TB, eng *rules.Engine, rs []rules.Reading) []rules.Event {
	t.Helper()
	var evs []rules.Event
	for _, r := range rs {
		var err error
		if evs, err = eng.Observe(evs, r); err != nil {
			t.Fatalf("Observe(%+v): %v", r, err)
		}
	}
	return evs
}

// brief is an event as the tables spell it: "+1h10m opened waco-1 rule P2".
func brief(ev rules.Event) string {
	return fmt.Sprintf("+%s %s %s %s %s", rules.Duration(ev.At.Sub(t0)), ev.Event, ev.Asset, ev.Rule, ev.Priority)
}

func briefs(evs []rules.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = brief(ev)
	}
	return out
}

// checkEpisodes checks the invariants every event stream must keep: an
// incident's id is derived from (site, asset, rule, start); its events
// are numbered 1, 2, 3... from opened to cleared; and one (site, asset,
// rule) never has two incidents open at once.
func checkEpisodes(t testing.TB, evs []rules.Event) {
	t.Helper()
	type key struct{ site, asset, rule string }
	open := map[key]string{}
	seq := map[string]int{}
	for _, ev := range evs {
		if want := rules.IncidentID(ev.Site, ev.Asset, ev.Rule, ev.Started); ev.Incident != want {
			t.Errorf("%s: incident %s, want %s from (site, asset, rule, start)", brief(ev), ev.Incident, want)
		}
		if ev.Seq != seq[ev.Incident]+1 {
			t.Errorf("%s: seq %d after %d", brief(ev), ev.Seq, seq[ev.Incident])
		}
		seq[ev.Incident] = ev.Seq
		k := key{ev.Site, ev.Asset, ev.Rule}
		switch ev.Event {
		case rules.Opened:
			if id, dup := open[k]; dup {
				t.Errorf("%s: opened while %s is still open", brief(ev), id)
			}
			open[k] = ev.Incident
		case rules.Updated, rules.Cleared:
			if open[k] != ev.Incident {
				t.Errorf("%s: %s of incident %s, but the open one is %q", brief(ev), ev.Event, ev.Incident, open[k])
			}
			if ev.Event == rules.Cleared {
				delete(open, k)
			}
		}
		if ev.At.Before(ev.Started) {
			t.Errorf("%s: at %s before its start %s", brief(ev), ev.At, ev.Started)
		}
	}
}

// diffLines reports got and want side by side when they differ.
func diffLines(t testing.TB, got, want []string) {
	t.Helper()
	if slices.Equal(got, want) {
		return
	}
	var b strings.Builder
	for i := range max(len(got), len(want)) {
		g, w := "", ""
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		mark := " "
		if g != w {
			mark = "!"
		}
		fmt.Fprintf(&b, "%s %-50s | %s\n", mark, g, w)
	}
	t.Errorf("events differ (got | want):\n%s", b.String())
}
