package rules_test

import (
	"math"
	"testing"

	"github.com/frostline/frostline/rules"
)

// TestConditionHoldTimes: a suppression that stops counting after max
// (a defrost signal stuck on is a fault, not a defrost), a gate that
// counts only after min (a door propped open, not a stocking run), and a
// gate on whether the asset reports a metric at all (retrofit probes
// report no defrost state).
func TestConditionHoldTimes(t *testing.T) {
	const stuckDefrost = `
rules:
  - id: no-cooling
    kind: threshold
    match: {class: [walk_in_cooler, reach_in_cooler]}
    metric: air_temp
    above: 7
    for: 10m
    update_every: 1d
    suppress:
      - metric: defrost
        eq: "1"
        max: 1h
        recovery: 45m
    problem: no_cooling
    priority: P2
    trade: refrigeration
    title: not cooling
`
	const doorFought = `
rules:
  - id: door-fought
    kind: threshold
    match: {class: walk_in_cooler}
    metric: air_temp
    above: 7
    for: 5m
    update_every: 1d
    when:
      - metric: door_open
        eq: "1"
        min: 10m
    problem: door_ajar
    priority: P2
    trade: general
    title: door open and the box warming
`
	const probeOnly = `
rules:
  - id: probe-warm
    kind: threshold
    match: {class: [walk_in_cooler, reach_in_cooler]}
    metric: air_temp
    above: 7
    for: 10m
    update_every: 1d
    when:
      - metric: defrost
        present: false
    problem: temp_high
    priority: P2
    trade: refrigeration
    title: warm
`
	box := func(asset string, defrost, door, temp func(float64) float64) []rules.Reading {
		s := newStream("s1", asset)
		if defrost != nil {
			s.signal("defrost", 0, 300, defrost)
		}
		if door != nil {
			s.signal("door_open", 0, 300, door)
		}
		return merge(s.analog("air_temp", 0, 300, 1, temp))
	}
	runKindCases(t, []kindCase{{
		name:  "max: a 30 min defrost is suppressed",
		rules: stuckDefrost,
		input: box("waco-1", steps(0, 60, 1, 90, 0), nil, steps(2, 60, 10, 90, 2)),
		want:  nil,
	}, {
		// Held more than 1 h at +2h1m: the suppression lets go, and the
		// rule waits its 10 min from there.
		name:  "max: a defrost signal stuck on from +1h",
		rules: stuckDefrost,
		input: box("waco-1", steps(0, 60, 1), nil, steps(2, 60, 10)),
		want:  []string{"+2h11m opened waco-1 no-cooling P2"},
	}, {
		name:  "min: a 5 min stocking run in a warm box: nothing",
		rules: doorFought,
		input: box("waco-1", nil, steps(0, 60, 1, 65, 0), steps(2, 60, 9, 70, 2)),
		want:  nil,
	}, {
		// The door has been open 10 min at +1h10m: the gate opens and
		// the rule waits its 5 min.
		name:  "min: the door propped open from +1h",
		rules: doorFought,
		input: box("waco-1", nil, steps(0, 60, 1), steps(2, 60, 9)),
		want:  []string{"+1h15m opened waco-1 door-fought P2"},
	}, {
		name:  "present: false: a controller reporting defrost is not watched",
		rules: probeOnly,
		input: box("waco-1", constant(0), nil, steps(2, 60, 9)),
		want:  nil,
	}, {
		name:  "present: false: a probe without a defrost signal is",
		rules: probeOnly,
		input: box("reco-3", nil, nil, steps(2, 60, 9)),
		want:  []string{"+1h10m opened reco-3 probe-warm P2"},
	}})
}

// TestThresholdFloorBaseline: the pack's loss-of-cooling shape. The
// lowest air temperature of the last 90 min, compared with the median of
// the asset's hourly means over 24 h: defrosts never lift the floor, and
// a box that cannot pull down any more does.
func TestThresholdFloorBaseline(t *testing.T) {
	const noPullDown = `
rules:
  - id: no-pull-down
    kind: threshold
    match: {class: [walk_in_cooler, reach_in_cooler]}
    metric: air_temp
    floor: 90m
    baseline: 24h
    above: 2
    for: 10m
    clear: 1
    clear_for: 30m
    update_every: 1d
    problem: no_cooling
    priority: P2
    trade: refrigeration
    title: not pulling down
`
	// A walk-in at 2 C with four 30 min defrosts a day (+6 C), whose
	// compressor fails at +30h (the air warms toward 12 C with a 1 h time
	// constant) and is repaired at +40h.
	temp := func(m float64) float64 {
		v := boxTemp(2, 0.5)(m)
		switch d := math.Mod(m-90, 360); {
		case d >= 0 && d < 30:
			v += 6 * d / 30
		case d >= 30 && d < 50:
			v += 6 * (50 - d) / 20
		}
		if m >= 1800 && m < 2400 {
			v += 10 * (1 - math.Exp(-(m-1800)/60))
		}
		return v
	}
	healthy := func(m float64) float64 { return temp(math.Mod(m, 1440)) }
	for _, tc := range []struct {
		name  string
		asset string
		step  float64
		temp  func(float64) float64
		// The floor passes the 2 C normal + 2 C once the whole 90 min
		// window is past +30h13m (10 (1 - e^(-13.4/60)) = 2), give or take
		// a 3.75 min bucket; the rule waits its 10 min from there.
		opened [2]float64
	}{
		{"controller, healthy for 2 days", "waco-1", 1, healthy, [2]float64{}},
		{"probe every 5 min, healthy for 2 days", "reco-3", 5, healthy, [2]float64{}},
		{"controller, compressor fails at +30h", "waco-1", 1, temp, [2]float64{1800 + 90 + 13 + 10, 1800 + 90 + 13 + 10 + 8}},
		{"probe every 5 min, compressor fails at +30h", "reco-3", 5, temp, [2]float64{1800 + 90 + 13 + 10, 1800 + 90 + 13 + 10 + 10}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eng := newEngine(t, noPullDown, testSites, rules.Options{})
			evs := observeAll(t, eng, merge(newStream("s1", tc.asset).analog("air_temp", 0, 2880, tc.step, tc.temp)))
			checkEpisodes(t, evs)
			if tc.opened == [2]float64{} {
				if len(evs) > 0 {
					t.Errorf("a healthy box raised %v", briefs(evs))
				}
				return
			}
			if len(evs) != 2 || evs[0].Event != rules.Opened || evs[1].Event != rules.Cleared {
				t.Fatalf("events %v, want opened and cleared", briefs(evs))
			}
			if evs[0].At.Before(at(tc.opened[0])) || evs[0].At.After(at(tc.opened[1])) {
				t.Errorf("opened %s, want between +%s and +%s", brief(evs[0]),
					rules.Duration(at(tc.opened[0]).Sub(t0)), rules.Duration(at(tc.opened[1]).Sub(t0)))
			}
			// Repaired at +40h: the floor is a minimum, so it is back at
			// the normal with the first cold sample (the baseline was
			// frozen while the incident was open), and the rule waits its
			// 30 min.
			if c := evs[1].At; c.Before(at(2400+30)) || c.After(at(2400+30+5)) {
				t.Errorf("cleared %s, want +40h30m (+5 min for the probe's cadence)", brief(evs[1]))
			}
		})
	}
}
