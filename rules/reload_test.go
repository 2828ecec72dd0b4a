package rules_test

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/frostline/frostline/rules"
)

// TestHotReload snapshots an engine with an episode open (the walk-in
// above 5 C since +1h, opened at +1h10m), and restores it into an engine
// with other rules, as the edge does when the rules change.
func TestHotReload(t *testing.T) {
	input := cooler(steps(2, 60, 6, 150, 3), 240)
	cut := 100 // readings, one a minute: cut at +1h40m
	for _, tc := range []struct {
		name     string
		rules    string
		sites    []string
		restored []string // events Restore returns
		want     []string // events after the restore
	}{{
		name:  "unchanged rule: continues",
		rules: coolerHighPlain,
		want:  []string{"+2h30m cleared waco-1 cooler-high P2"},
	}, {
		name:  "changed for and title: keeps the episode",
		rules: strings.NewReplacer("for: 10m", "for: 15m", "title: cooler high", "title: walk-in warm").Replace(coolerHighPlain),
		want:  []string{"+2h30m cleared waco-1 cooler-high P2"},
	}, {
		name:  "raised level: the episode ends at the next sample",
		rules: strings.Replace(coolerHighPlain, "above: 5", "above: 8", 1),
		want:  []string{"+1h40m cleared waco-1 cooler-high P2"},
	}, {
		name:     "removed rule: cleared by the restore",
		rules:    degreeMinutes,
		restored: []string{"+1h39m cleared waco-1 cooler-high P2"},
		// The new rule starts from the restore: 30 C-min at 1 C over.
		want: []string{
			"+2h10m opened waco-1 cooler-dm P2",
			"+2h30m cleared waco-1 cooler-dm P2",
		},
	}, {
		name:     "removed asset: cleared by the restore",
		rules:    coolerHighPlain,
		sites:    []string{"site: s1\nassets:\n  - {id: wafr-2, class: walk_in_freezer}\n"},
		restored: []string{"+1h39m cleared waco-1 cooler-high P2"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			eng := newEngine(t, coolerHighPlain, testSites, rules.Options{})
			before := observeAll(t, eng, input[:cut])
			diffLines(t, briefs(before), []string{"+1h10m opened waco-1 cooler-high P2"})
			snap, err := eng.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			sites := testSites
			if tc.sites != nil {
				sites = tc.sites
			}
			reloaded := newEngine(t, tc.rules, sites, rules.Options{})
			restored, err := reloaded.Restore(nil, snap)
			if err != nil {
				t.Fatal(err)
			}
			diffLines(t, briefs(restored), tc.restored)
			var after []rules.Event
			for _, r := range input[cut:] {
				if after, err = reloaded.Observe(after, r); err != nil && !errors.Is(err, rules.ErrUnknownAsset) {
					t.Fatal(err)
				}
			}
			diffLines(t, briefs(after), tc.want)
			checkEpisodes(t, append(append(before, restored...), after...))
		})
	}
}

func TestRestoreRefusesBadSnapshots(t *testing.T) {
	eng := newEngine(t, coolerHighPlain, testSites, rules.Options{})
	for _, data := range []string{"", "{", `{"version":99,"sites":{}}`, `[1,2]`} {
		if _, err := eng.Restore(nil, []byte(data)); err == nil {
			t.Errorf("Restore(%q): no error", data)
		}
	}
}

// TestLateness: a reading older than its series' newest is used when it
// is within the lateness, and counted and dropped beyond it. Readings the
// engine cannot use are refused with a reason and counted.
func TestLateness(t *testing.T) {
	eng := newEngine(t, coolerHighPlain, testSites, rules.Options{})
	r := func(asset, metric string, minute, v float64) rules.Reading {
		return rules.Reading{Site: "s1", Asset: asset, Metric: rules.LookupMetric(metric), At: at(minute), Value: v}
	}
	for m := range 11 {
		if _, err := eng.Observe(nil, r("waco-1", "air_temp", 600+float64(m), 3)); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		r    rules.Reading
		err  error
	}{
		{"3 min late: used", r("waco-1", "air_temp", 607, 3.1), nil},
		{"6 min late: dropped", r("waco-1", "air_temp", 604, 3.1), rules.ErrLate},
		{"another series' first reading, an hour back: used", r("waco-1", "door_open", 540, 0), nil},
		{"another asset's series: its own clock", r("wafr-2", "air_temp", 500, -20), nil},
		{"unknown site", rules.Reading{Site: "s9", Asset: "waco-1", Metric: 0, At: at(611), Value: 1}, rules.ErrUnknownSite},
		{"unknown asset", r("waco-9", "air_temp", 611, 1), rules.ErrUnknownAsset},
		{"unknown metric", rules.Reading{Site: "s1", Asset: "waco-1", Metric: 200, At: at(611), Value: 1}, rules.ErrUnknownMetric},
		{"NaN", r("waco-1", "air_temp", 611, math.NaN()), rules.ErrBadValue},
		{"+Inf", r("waco-1", "air_temp", 611, math.Inf(1)), rules.ErrBadValue},
	} {
		if _, err := eng.Observe(nil, tc.r); !errors.Is(err, tc.err) {
			t.Errorf("%s: Observe error %v, want %v", tc.name, err, tc.err)
		}
	}
	got := eng.Stats()
	want := rules.Stats{Readings: 14, Reordered: 1, Late: 1, UnknownSite: 1, UnknownAsset: 1, UnknownMetric: 1, BadValue: 2}
	got.Evaluations = 0
	if got != want {
		t.Errorf("Stats = %+v\nwant %+v", got, want)
	}
	if wm := eng.Watermark(); !wm.Equal(at(610)) {
		t.Errorf("Watermark = %s, want +10h10m", wm.Sub(t0))
	}

	// A longer lateness takes the 6 min late reading.
	eng = newEngine(t, coolerHighPlain, testSites, rules.Options{Lateness: 10 * time.Minute})
	for _, m := range []float64{600, 610, 604} {
		if _, err := eng.Observe(nil, r("waco-1", "air_temp", m, 3)); err != nil {
			t.Errorf("minute %v: %v", m, err)
		}
	}
	if s := eng.Stats(); s.Reordered != 1 || s.Late != 0 {
		t.Errorf("Lateness 10m: %+v", s)
	}
}

// TestLateReadingOpensNothingTwice: a storm of out-of-order readings
// within the lateness must not open an episode twice or move one back.
func TestLateReadingOpensNothingTwice(t *testing.T) {
	eng := newEngine(t, coolerHigh, testSites, rules.Options{})
	in := cooler(steps(2, 60, 6, 150, 3), 240)
	// Swap neighbours: every other reading arrives a minute late.
	for i := 0; i+1 < len(in); i += 2 {
		in[i], in[i+1] = in[i+1], in[i]
	}
	evs := observeAll(t, eng, in)
	checkEpisodes(t, evs)
	if n := openAt(evs); n != 0 || len(evs) < 2 || evs[0].Event != rules.Opened {
		t.Errorf("events %v", briefs(evs))
	}
	if s := eng.Stats(); s.Reordered != 120 || s.Late != 0 {
		t.Errorf("Stats = %+v; want 120 reordered, none late", s)
	}
}

// TestLateGoodReadingKeepsTheRun: the good reading of +59m arrives after
// the bad ones of +1h and +1h1m (within the 5 min lateness). It is older
// than the bad run, so the run started at +1h all the same, and the
// incident must be the one an in-order delivery gives: same time, same
// start, same id.
func TestLateGoodReadingKeepsTheRun(t *testing.T) {
	in := cooler(steps(2, 60, 6), 120)
	late := append(append(append([]rules.Reading{}, in[:59]...), in[60], in[61], in[59]), in[62:]...)
	want := observeAll(t, newEngine(t, coolerHighPlain, testSites, rules.Options{}), in)
	got := observeAll(t, newEngine(t, coolerHighPlain, testSites, rules.Options{}), late)
	diffLines(t, briefs(got), briefs(want))
	if len(got) > 0 && len(want) > 0 && got[0].Incident != want[0].Incident {
		t.Errorf("incident %s, in order %s", got[0].Incident, want[0].Incident)
	}
}

// TestFutureReadingDoesNotBlindASeries: one reading whose clock is a year
// ahead (a sensor that lost its time) must not make every later reading
// of its series "late", nor move the whole engine a year on. The walk-in
// goes to 9 C at +2h30m; the incident must open as it does without the
// glitch, and the glitch must be held, then dropped and counted.
func TestFutureReadingDoesNotBlindASeries(t *testing.T) {
	clean := merge(newStream("s1", "waco-1").analog("air_temp", 0, 300, 1, steps(2, 150, 9)),
		newStream("s1", "reco-3").analog("air_temp", 0, 300, 1, boxTemp(3, 0.5)))
	glitch := clean[200] // waco-1 at +1h40m
	glitch.At = glitch.At.Add(365 * 24 * time.Hour)
	in := append(append(append([]rules.Reading{}, clean[:201]...), glitch), clean[201:]...)
	want := observeAll(t, newEngine(t, coolerHigh+offline[len("\nrules:"):], testSites, rules.Options{}), clean)
	eng := newEngine(t, coolerHigh+offline[len("\nrules:"):], testSites, rules.Options{})
	var got []rules.Event
	refused := 0
	for _, r := range in {
		var err error
		if got, err = eng.Observe(got, r); err != nil {
			refused++
		}
	}
	diffLines(t, briefs(got), briefs(want))
	if refused != 0 {
		t.Errorf("%d readings refused, want 0: the one from the future is held, then dropped", refused)
	}
	if st := eng.Stats(); st.Held != 1 || st.Future != 1 {
		t.Errorf("held %d, dropped as future %d; want 1 and 1", st.Held, st.Future)
	}
}
