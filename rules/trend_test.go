package rules_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/frostline/frostline/rules"
)

const leakTrend = `
rules:
  - id: leak
    kind: trend
    match: {class: walk_in_cooler}
    metric: air_temp
    window: 4h
    sample: min
    limit: 5
    horizon: 6h
    min_slope: 0.15
    for: 30m
    update_every: 30m
    suppress:
      - metric: defrost
        eq: "1"
        recovery: 45m
    problem: temp_trend
    priority: P2
    trade: refrigeration
    title: trending
    summary: "reaches {{f1 .Limit}} C in {{printf \"%.1f\" .HoursToLimit}} h"
`

// defrostAt reports whether minute m is inside one of the four daily
// 30 min defrosts (at 01:30, 07:30, 13:30 and 19:30).
func defrostAt(m float64) bool { return math.Mod(m-90, 360) >= 0 && math.Mod(m-90, 360) < 30 }

// leakingCooler is a walk-in held at 2 C (+-0.5 C thermostat swing) whose
// refrigerant leaks from leakAt: the air climbs 0.4 C an hour until
// fixedAt. Each defrost heats the air by up to 6 C for 30 min, and it
// recovers over the next 20.
func leakingCooler(leakAt, fixedAt float64, withDefrost bool) []rules.Reading {
	temp := func(m float64) float64 {
		v := boxTemp(2, 0.5)(m)
		if m > leakAt && m < fixedAt {
			v += 0.4 * (m - leakAt) / 60
		}
		if !withDefrost {
			return v
		}
		switch d := math.Mod(m-90, 360); {
		case d >= 0 && d < 30:
			v += 6 * d / 30
		case d >= 30 && d < 50:
			v += 6 * (50 - d) / 20
		}
		return v
	}
	s := newStream("s1", "waco-1").analog("air_temp", 0, 1440, 1, temp)
	if withDefrost {
		s.signal("defrost", 0, 1440, func(m float64) float64 {
			if defrostAt(m) {
				return 1
			}
			return 0
		})
	}
	return merge(s)
}

// TestTrend: a leak from +8h takes the thermostat's low point (1.5 C) to
// the 5 C limit in 8.75 h, at +16h45m. The 4 h fit needs half its window
// of points and a slope of 0.15 C/h, and the crossing within 6 h: the
// rule must open hours before the breach, and predict it within the
// half-cycle of the thermostat swing (the bucket minimum sits between
// the low point and the setpoint).
func TestTrend(t *testing.T) {
	breach := at(16*60 + 45)
	for _, tc := range []struct {
		name    string
		defrost bool
	}{{"controller reports defrost", true}, {"no defrost", false}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Run("healthy", func(t *testing.T) {
				eng := newEngine(t, leakTrend, testSites, rules.Options{})
				if evs := observeAll(t, eng, leakingCooler(2000, 2000, tc.defrost)); len(evs) > 0 {
					t.Errorf("a healthy cooler raised %v", briefs(evs))
				}
			})
			eng := newEngine(t, leakTrend, testSites, rules.Options{})
			evs := observeAll(t, eng, leakingCooler(480, 1200, tc.defrost))
			checkEpisodes(t, evs)
			var opened, cleared *rules.Event
			for i := range evs {
				switch evs[i].Event {
				case rules.Opened:
					if opened != nil {
						t.Fatalf("opened twice: %v", briefs(evs))
					}
					opened = &evs[i]
				case rules.Cleared:
					cleared = &evs[i]
				}
			}
			if opened == nil {
				t.Fatalf("no incident; events %v", briefs(evs))
			}
			t.Logf("opened %s: %q", brief(*opened), opened.Summary)
			if lead := breach.Sub(opened.At); lead < 3*time.Hour || lead > 6*time.Hour {
				t.Errorf("opened at %s: %s before the breach at %s, want 3-6 h", brief(*opened), lead, breach.Sub(t0))
			}
			// The opened event should carry the prediction (see
			// TestTrendOpenedCarriesPrediction); the updates do.
			var predicted *time.Time
			for _, ev := range evs {
				if ev.PredictedAt != nil {
					predicted = ev.PredictedAt
					break
				}
			}
			if predicted == nil {
				t.Fatal("no event carries predicted_at")
			}
			if d := predicted.Sub(breach); d < -90*time.Minute || d > 30*time.Minute {
				t.Errorf("predicted_at %s, %s from the breach; want within -90..+30 min", predicted.Sub(t0), d)
			}
			// Fixed at +20h: the slope turns, and the incident clears
			// after its default clear_for of 1 h without a hit.
			if cleared == nil || cleared.At.Before(at(1200+60)) || cleared.At.After(at(1200+180)) {
				t.Errorf("cleared %v; want between +21h and +23h", cleared)
			}
		})
	}
}

// TestTrendOpenedCarriesPrediction: the opened event of a trend incident
// is the one a work order is made from, so it must say when the limit
// will be reached.
func TestTrendOpenedCarriesPrediction(t *testing.T) {
	eng := newEngine(t, leakTrend, testSites, rules.Options{})
	for _, ev := range observeAll(t, eng, leakingCooler(480, 1200, false)) {
		if ev.Event != rules.Opened {
			continue
		}
		if ev.PredictedAt == nil || !ev.PredictedAt.After(ev.At) {
			t.Errorf("opened %s: predicted_at %v, want a time after it", brief(ev), ev.PredictedAt)
		}
		if ev.Summary == "reaches 5.0 C in 0.0 h" {
			t.Errorf("opened: summary %q", ev.Summary)
		}
	}
}

// TestTrendDefrostExclusion: the leak rule's defrost suppression is what
// keeps a healthy cooler quiet. Without it, the climb of the first
// defrost (6 C in 30 min) fits as a steep trend toward the limit.
func TestTrendDefrostExclusion(t *testing.T) {
	noSuppress := strings.Replace(leakTrend, "    suppress:\n      - metric: defrost\n        eq: \"1\"\n        recovery: 45m\n", "", 1)
	noSuppress = strings.Replace(noSuppress, "sample: min", "sample: mean", 1)
	if noSuppress == leakTrend {
		t.Fatal("test setup: suppress not removed")
	}
	eng := newEngine(t, noSuppress, testSites, rules.Options{})
	evs := observeAll(t, eng, leakingCooler(2000, 2000, true))
	if len(evs) == 0 || evs[0].Event != rules.Opened || evs[0].At.After(at(4*60)) {
		t.Errorf("without defrost exclusion: events %v; want a (false) trend opened within the first defrost's window", briefs(evs))
	}
}
