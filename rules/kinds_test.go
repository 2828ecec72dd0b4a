package rules_test

import (
	"testing"

	"github.com/frostline/frostline/rules"
)

// kindCase is one rule file run over one series, with the events it must
// give, spelled "+<time since t0> <event> <asset> <rule> <priority>".
type kindCase struct {
	name  string
	rules string
	input []rules.Reading
	want  []string
	check func(t *testing.T, evs []rules.Event) // more to check, if any
}

func runKindCases(t *testing.T, cases []kindCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			eng := newEngine(t, tc.rules, testSites, rules.Options{})
			evs := observeAll(t, eng, tc.input)
			diffLines(t, briefs(evs), tc.want)
			checkEpisodes(t, evs)
			if tc.check != nil {
				tc.check(t, evs)
			}
		})
	}
}

// coolerHigh is a plain threshold: above 5 C for 10 min, cleared under
// 4 C, P1 once above 8 C. update_every is long so that the tables list
// only the events that matter.
const coolerHigh = `
rules:
  - id: cooler-high
    kind: threshold
    match: {class: walk_in_cooler, site: s1}
    metric: air_temp
    above: 5
    for: 10m
    clear: 4
    update_every: 1d
    escalate:
      - above: 8
        priority: P1
    problem: temp_high
    priority: P2
    trade: refrigeration
    title: "{{.AssetName}} above {{f1 .Limit}} C"
    summary: "{{f1 .Value}} C, peak {{f1 .Peak}} C, for {{dur .OutOfRange}}"
`

// coolerHighPlain is the same without hysteresis or escalation.
const coolerHighPlain = `
rules:
  - id: cooler-high
    kind: threshold
    match: {class: walk_in_cooler, site: s1}
    metric: air_temp
    above: 5
    for: 10m
    update_every: 1d
    problem: temp_high
    priority: P2
    trade: refrigeration
    title: cooler high
`

func cooler(f func(float64) float64, minutes float64) []rules.Reading {
	return merge(newStream("s1", "waco-1").analog("air_temp", 0, minutes, 1, f))
}

func TestThreshold(t *testing.T) {
	runKindCases(t, []kindCase{{
		name:  "opens after for, escalates above 8, clears under 4",
		rules: coolerHigh,
		input: cooler(steps(2, 60, 6, 120, 9, 150, 3), 240),
		want: []string{
			"+1h10m opened waco-1 cooler-high P2",
			"+2h updated waco-1 cooler-high P1",
			"+2h30m cleared waco-1 cooler-high P1",
		},
		check: func(t *testing.T, evs []rules.Event) {
			op, cl := evs[0], evs[2]
			if !op.Started.Equal(at(60)) || op.Value != 6 || op.Limit == nil || *op.Limit != 5 {
				t.Errorf("opened: started %s value %v limit %v; want started +1h, 6 C, limit 5", op.Started, op.Value, op.Limit)
			}
			if op.OutOfRange != 600 || op.Title != "walk in cooler above 5.0 C" || op.Summary != "6.0 C, peak 6.0 C, for 10m" {
				t.Errorf("opened: out of range %vs, title %q, summary %q", op.OutOfRange, op.Title, op.Summary)
			}
			if cl.Peak != 9 || cl.Value != 3 || cl.OutOfRange != 89*60 || cl.Summary != "cleared: 3.0 C, peak 9.0 C, for 1h29m" {
				t.Errorf("cleared: peak %v value %v out of range %vs summary %q", cl.Peak, cl.Value, cl.OutOfRange, cl.Summary)
			}
		},
	}, {
		name:  "a good sample restarts the for duration",
		rules: coolerHigh,
		input: cooler(steps(2, 60, 6, 65, 4.5, 66, 6), 120),
		want:  []string{"+1h16m opened waco-1 cooler-high P2"},
	}, {
		name:  "shorter than for: nothing",
		rules: coolerHigh,
		input: cooler(steps(2, 60, 7, 69, 2), 120),
		want:  nil,
	}, {
		name:  "hysteresis: stays open between the clear level and the alarm level",
		rules: coolerHigh,
		input: cooler(steps(2, 60, 6, 80, 4.5, 120, 6, 125, 4.5, 150, 3.5), 240),
		want: []string{
			"+1h10m opened waco-1 cooler-high P2",
			"+2h30m cleared waco-1 cooler-high P2",
		},
		check: func(t *testing.T, evs []rules.Event) {
			if n := evs[1].Occurrences; n != 2 {
				t.Errorf("cleared: %d occurrences, want 2 (back above 5 C once)", n)
			}
		},
	}, {
		name:  "without a clear level it clears at the alarm level",
		rules: coolerHighPlain,
		input: cooler(steps(2, 60, 6, 80, 4.5, 120, 6, 125, 4.5, 150, 3.5), 240),
		want: []string{
			"+1h10m opened waco-1 cooler-high P2",
			"+1h20m cleared waco-1 cooler-high P2",
		},
	}, {
		name: "clear_for: back under 4 C for 15 min, a bounce restarts it",
		rules: `
rules:
  - id: cooler-high
    kind: threshold
    match: {class: walk_in_cooler, site: s1}
    metric: air_temp
    above: 5
    for: 10m
    clear: 4
    clear_for: 15m
    update_every: 1d
    problem: temp_high
    priority: P2
    trade: refrigeration
    title: cooler high
`,
		input: cooler(steps(2, 60, 6, 150, 3, 155, 4.5, 160, 3), 240),
		want: []string{
			"+1h10m opened waco-1 cooler-high P2",
			"+2h55m cleared waco-1 cooler-high P2",
		},
	}, {
		// after counts from the episode's start, +1h (see
		// TestEscalationAfterCountsFromOpening: from the opening, +1h10m,
		// it would be +1h40m).
		name: "escalation after a time open",
		rules: `
rules:
  - id: cooler-high
    kind: threshold
    match: {class: walk_in_cooler, site: s1}
    metric: air_temp
    above: 5
    for: 10m
    update_every: 1d
    escalate:
      - after: 30m
        priority: P1
    problem: temp_high
    priority: P2
    trade: refrigeration
    title: cooler high
`,
		input: cooler(steps(2, 60, 6), 120),
		want: []string{
			"+1h10m opened waco-1 cooler-high P2",
			"+1h40m updated waco-1 cooler-high P1",
		},
	}, {
		name: "update_every: progress while open",
		rules: `
rules:
  - id: cooler-high
    kind: threshold
    match: {class: walk_in_cooler, site: s1}
    metric: air_temp
    above: 5
    for: 10m
    update_every: 10m
    problem: temp_high
    priority: P2
    trade: refrigeration
    title: cooler high
`,
		input: cooler(steps(2, 60, 6, 100, 3), 120),
		want: []string{
			"+1h10m opened waco-1 cooler-high P2",
			"+1h20m updated waco-1 cooler-high P2",
			"+1h30m updated waco-1 cooler-high P2",
			"+1h40m cleared waco-1 cooler-high P2",
		},
	}})
}

// degreeMinutes opens once the excursion beyond 5 C adds up to 30 C-min:
// 30 min at 1 C over, 10 min at 3 C over, never for a short spike.
const degreeMinutes = `
rules:
  - id: cooler-dm
    kind: threshold
    match: {class: walk_in_cooler, site: s1}
    metric: air_temp
    above: 5
    degree_minutes: 30
    update_every: 1d
    problem: temp_high
    priority: P2
    trade: refrigeration
    title: cooler high
`

func TestThresholdDegreeMinutes(t *testing.T) {
	runKindCases(t, []kindCase{{
		name:  "1 C over: 30 min",
		rules: degreeMinutes,
		input: cooler(steps(2, 60, 6), 120),
		want:  []string{"+1h30m opened waco-1 cooler-dm P2"},
	}, {
		name:  "3 C over: 10 min",
		rules: degreeMinutes,
		input: cooler(steps(2, 60, 8), 120),
		want:  []string{"+1h10m opened waco-1 cooler-dm P2"},
	}, {
		name:  "a 5 min spike to 10 C: 20 C-min, nothing",
		rules: degreeMinutes,
		input: cooler(steps(2, 60, 10, 65, 2), 120),
		want:  nil,
	}})
}

// TestThresholdProductTau: a 45 min product filter rides through a
// 30 min defrost at 7 C (the product reaches 4.4 C) and trips on a real
// failure at 9 C: the product passes 5 C after 26 one-minute steps
// (9 - 7e^(-26/45) = 5.0), and the rule waits its 5 min.
func TestThresholdProductTau(t *testing.T) {
	const productTau = `
rules:
  - id: cooler-product
    kind: threshold
    match: {class: walk_in_cooler, site: s1}
    metric: air_temp
    product_tau: 45m
    above: 5
    for: 5m
    clear: 4
    update_every: 1d
    problem: temp_high
    priority: P1
    trade: refrigeration
    title: product high
`
	runKindCases(t, []kindCase{{
		name:  "a defrost excursion: nothing",
		rules: productTau,
		input: cooler(steps(2, 60, 7, 90, 2), 300),
		want:  nil,
	}, {
		name:  "a defrost then a failure",
		rules: productTau,
		input: cooler(steps(2, 60, 7, 90, 2, 300, 9), 400),
		want:  []string{"+5h30m opened waco-1 cooler-product P1"},
		check: func(t *testing.T, evs []rules.Event) {
			if !evs[0].Started.Equal(at(325)) {
				t.Errorf("started %s, want +5h25m", evs[0].Started)
			}
			if v := evs[0].Value; v <= 5 || v > 5.5 {
				t.Errorf("value %v: want the filtered product temperature just over 5", v)
			}
		},
	}})
}

// TestThresholdAverage: the duty cycle over 3 h of a compressor that
// cycles 50 % and then runs without stopping (a failing capacity). The
// 3 h mean passes 0.9 once the compressor has run 2.4 h straight
// (0.5 + 0.5*d/3h > 0.9), give or take the average's 7.5 min buckets, and
// the rule waits its 30 min on top.
func TestThresholdAverage(t *testing.T) {
	const duty = `
rules:
  - id: long-runtime
    kind: threshold
    match: {class: walk_in_cooler, site: s1}
    metric: compressor_on
    average: 3h
    above: 0.9
    for: 30m
    clear: 0.75
    update_every: 1d
    problem: long_runtime
    priority: P2
    trade: refrigeration
    title: long runtime
`
	input := func(failAt, fixAt float64) []rules.Reading {
		return merge(newStream("s1", "waco-1").
			signal("compressor_on", 0, 1200, during(failAt, fixAt, constant(1), cycling(10, 10))).
			analog("air_temp", 0, 1200, 1, boxTemp(3, 0.5)))
	}
	runKindCases(t, []kindCase{{
		name:  "50 % duty: nothing",
		rules: duty,
		input: input(2000, 2000),
		want:  nil,
	}, {
		// Fails at +4h: the mean passes 0.9 at +6h30m (2.5 h of
		// running, the bucket boundary after 2.4 h), opens 30 min later.
		// Fixed at +12h: the mean drops to 0.75 after 1.5 h of 50 %
		// cycling (1 - 0.5*d/3h), at +13h30m; the compressor's next
		// report (on change, every 10 min) and the buckets make it +13h40m.
		name:  "runs continuously from +4h, fixed at +12h",
		rules: duty,
		input: input(240, 720),
		want: []string{
			"+7h opened waco-1 long-runtime P2",
			"+13h40m cleared waco-1 long-runtime P2",
		},
	}})
}

// rtuSplit is the RTU cooling-failure rule: return minus supply air under
// 5 C for 20 min, counted only in cooling mode with the compressor on.
const rtuSplit = `
rules:
  - id: rtu-split
    kind: delta
    match: {class: rooftop_unit}
    metric: return_air_temp
    minus: supply_air_temp
    below: 5
    for: 20m
    clear: 7
    clear_for: 15m
    update_every: 1d
    when:
      - metric: mode
        eq: cool
      - metric: compressor_on
        eq: "1"
    problem: cooling_failure
    priority: P2
    trade: hvac
    title: not cooling
`

func rtu(compressor, supply func(float64) float64) []rules.Reading {
	cool, _ := rules.WordValue(rules.LookupMetric("mode"), "cool")
	return merge(newStream("s1", "roun-8").
		signal("mode", 0, 240, constant(cool)).
		signal("compressor_on", 0, 240, compressor).
		analog("return_air_temp", 0, 240, 1, constant(24)).
		analog("supply_air_temp", 0, 240, 1, supply))
}

func TestDelta(t *testing.T) {
	runKindCases(t, []kindCase{{
		name:  "healthy 11 C split: nothing",
		rules: rtuSplit,
		input: rtu(constant(1), constant(13)),
		want:  nil,
	}, {
		name:  "supply air warms to 21 C at +1h: 20 min later",
		rules: rtuSplit,
		input: rtu(constant(1), steps(13, 60, 21, 150, 13)),
		want: []string{
			"+1h20m opened roun-8 rtu-split P2",
			"+2h45m cleared roun-8 rtu-split P2",
		},
		check: func(t *testing.T, evs []rules.Event) {
			if evs[0].Value != 3 || evs[0].Metric != "return_air_temp" {
				t.Errorf("opened: value %v metric %s, want the 3 C split of return_air_temp", evs[0].Value, evs[0].Metric)
			}
		},
	}, {
		// The compressor is off from +1h10m to +1h20m: the 10 min off
		// pause the count instead of restarting it, so 9 min before and
		// 11 after: +1h30m, with the episode still starting at +1h.
		name:  "when: compressor off pauses the for duration",
		rules: rtuSplit,
		input: rtu(steps(1, 70, 0, 80, 1), steps(13, 60, 21, 150, 13)),
		want: []string{
			"+1h30m opened roun-8 rtu-split P2",
			"+2h45m cleared roun-8 rtu-split P2",
		},
		check: func(t *testing.T, evs []rules.Event) {
			if !evs[0].Started.Equal(at(60)) {
				t.Errorf("started %s, want +1h", evs[0].Started)
			}
		},
	}, {
		name:  "when: compressor never on in cooling mode: nothing",
		rules: rtuSplit,
		input: rtu(constant(0), constant(24)),
		want:  nil,
	}})
}

func TestState(t *testing.T) {
	const doorAjar = `
rules:
  - id: door-ajar
    kind: state
    match: {class: walk_in_cooler}
    metric: door_open
    for: 15m
    update_every: 1d
    escalate:
      - after: 45m
        priority: P2
    problem: door_ajar
    priority: P3
    trade: general
    title: "{{.AssetName}}: door open"
    summary: "open for {{dur .Duration}}"
`
	door := func(f func(float64) float64) []rules.Reading {
		return merge(newStream("s1", "waco-1").
			signal("door_open", 0, 720, f).
			analog("air_temp", 0, 720, 1, boxTemp(3, 0.5)))
	}
	runKindCases(t, []kindCase{{
		name:  "stocking: 5 and 14 min open, nothing",
		rules: doorAjar,
		input: door(steps(0, 300, 1, 305, 0, 400, 1, 414, 0)),
		want:  nil,
	}, {
		name:  "propped open at +10h for an hour",
		rules: doorAjar,
		input: door(steps(0, 300, 1, 305, 0, 600, 1, 660, 0)),
		want: []string{
			"+10h15m opened waco-1 door-ajar P3",
			"+10h45m updated waco-1 door-ajar P2",
			"+11h cleared waco-1 door-ajar P2",
		},
		check: func(t *testing.T, evs []rules.Event) {
			if s := evs[0].Summary; s != "open for 15m" {
				t.Errorf("opened: summary %q", s)
			}
			if s := evs[2].Summary; s != "cleared: open for 1h" {
				t.Errorf("cleared: summary %q", s)
			}
		},
	}})
}

// TestTransitions: a compressor cycling 10 on / 10 off (3 starts an hour)
// starts short cycling 2 on / 2 off at +2h. The 11th start within an
// hour comes at +2h36m (the start at +1h40m plus ten fast ones), but at
// +2h40m the +1h40m start leaves the window an instant before the +2h40m
// start is counted, so the count is 11 for good from +2h40m; held 30 min,
// the incident opens at +3h10m. From +4h the compressor rests,
// then cycles normally from +4h20m; the count is back to 10 at +4h16m,
// and the incident clears half a window (30 min) later.
func TestTransitions(t *testing.T) {
	const shortCycling = `
rules:
  - id: short-cycling
    kind: transitions
    match: {class: walk_in_cooler}
    metric: compressor_on
    window: 1h
    max: 10
    for: 30m
    update_every: 1d
    problem: short_cycling
    priority: P3
    trade: refrigeration
    title: short cycling
    summary: "{{printf \"%.0f\" .Value}} starts in the last hour"
`
	compressor := func(m float64) float64 {
		switch {
		case m >= 120 && m < 240:
			return cycling(2, 2)(m)
		case m >= 240 && m < 260:
			return 0
		}
		return cycling(10, 10)(m)
	}
	runKindCases(t, []kindCase{{
		name:  "normal cycling: nothing",
		rules: shortCycling,
		input: merge(newStream("s1", "waco-1").
			signal("compressor_on", 0, 600, cycling(10, 10)).
			analog("air_temp", 0, 600, 1, boxTemp(3, 0.5))),
		want: nil,
	}, {
		name:  "short cycling for 2 h",
		rules: shortCycling,
		input: merge(newStream("s1", "waco-1").
			signal("compressor_on", 0, 400, compressor).
			analog("air_temp", 0, 400, 1, boxTemp(3, 0.5))),
		want: []string{
			"+3h10m opened waco-1 short-cycling P3",
			"+4h46m cleared waco-1 short-cycling P3",
		},
		check: func(t *testing.T, evs []rules.Event) {
			if !evs[0].Started.Equal(at(160)) || evs[0].Limit == nil || *evs[0].Limit != 10 {
				t.Errorf("opened: started %s, limit %v; want +2h40m, 10", evs[0].Started, evs[0].Limit)
			}
			if evs[0].Value != 15 || evs[0].Summary != "15 starts in the last hour" {
				t.Errorf("opened: value %v, summary %q; want 15 starts", evs[0].Value, evs[0].Summary)
			}
		},
	}})
}

// TestFlatline: the air temperature of a walk-in reads 3.2 C without
// change from +1h to +4h while the compressor cycles: stuck for 2 h at
// +3h, cleared when the value moves again at +4h.
func TestFlatline(t *testing.T) {
	const stuck = `
rules:
  - id: stuck
    kind: flatline
    match: {class: [walk_in_cooler, reach_in_cooler]}
    metric: air_temp
    tolerance: 0.01
    for: 2h
    activity: compressor_on
    min_activity: 4
    update_every: 1d
    problem: sensor_stuck
    priority: P3
    trade: controls
    title: stuck
`
	const stuckNoActivity = `
rules:
  - id: stuck
    kind: flatline
    match: {class: [walk_in_cooler, reach_in_cooler]}
    metric: air_temp
    tolerance: 0.01
    for: 2h
    update_every: 1d
    problem: sensor_stuck
    priority: P3
    trade: controls
    title: stuck
`
	temp := during(60, 240, constant(3.2), boxTemp(3, 0.5))
	controller := func(compressor func(float64) float64) []rules.Reading {
		return merge(newStream("s1", "waco-1").
			signal("compressor_on", 0, 300, compressor).
			analog("air_temp", 0, 300, 1, temp))
	}
	// A retrofit probe: air temperature every 5 min, no compressor signal.
	probe := merge(newStream("s1", "reco-3").analog("air_temp", 0, 300, 5, temp))
	runKindCases(t, []kindCase{{
		name:  "healthy sensor: nothing",
		rules: stuck,
		input: merge(newStream("s1", "waco-1").
			signal("compressor_on", 0, 300, cycling(10, 10)).
			analog("air_temp", 0, 300, 1, boxTemp(3, 0.5))),
		want: nil,
	}, {
		name:  "stuck while the compressor cycles",
		rules: stuck,
		input: controller(cycling(10, 10)),
		want: []string{
			"+3h opened waco-1 stuck P3",
			"+4h cleared waco-1 stuck P3",
		},
		check: func(t *testing.T, evs []rules.Event) {
			if !evs[0].Started.Equal(at(60)) || evs[0].OutOfRange != 7200 {
				t.Errorf("opened: started %s, out of range %vs; want +1h, 2h", evs[0].Started, evs[0].OutOfRange)
			}
		},
	}, {
		name:  "flat while the compressor is idle: a quiet box, not a fault",
		rules: stuck,
		input: controller(constant(0)),
		want:  nil,
	}, {
		name:  "probe without the activity signal: judged on the flat line",
		rules: stuck,
		input: probe,
		want: []string{
			"+3h opened reco-3 stuck P3",
			"+4h cleared reco-3 stuck P3",
		},
	}, {
		name:  "rule without an activity metric",
		rules: stuckNoActivity,
		input: controller(constant(0)),
		want: []string{
			"+3h opened waco-1 stuck P3",
			"+4h cleared waco-1 stuck P3",
		},
	}})
}

// offline is the pack's pair of missing-data rules: a sensor silent for
// 5 of its reporting intervals and at least 15 min, and a whole store
// silent for 10 min.
const offline = `
rules:
  - id: offline
    kind: missing
    match: {class: [walk_in_cooler, reach_in_cooler]}
    metric: air_temp
    factor: 5
    after: 15m
    update_every: 1d
    problem: sensor_offline
    priority: P3
    trade: controls
    title: offline
  - id: gateway
    kind: missing
    scope: site
    after: 10m
    update_every: 1d
    problem: gateway_offline
    priority: P2
    trade: controls
    title: "{{.Site}} offline"
`

// silentDuring drops the readings of a stream inside [from, to).
func silentDuring(s *stream, from, to float64) *stream {
	kept := s.rs[:0]
	for _, r := range s.rs {
		if r.At.Before(at(from)) || !r.At.Before(at(to)) {
			kept = append(kept, r)
		}
	}
	s.rs = kept
	return s
}

// storeOutage is two stores for 6 h; s1 is silent from +2h to +4h. Its
// probe reco-3 reports every 5 min, 3 min after the hour.
func storeOutage() []rules.Reading {
	return merge(
		silentDuring(newStream("s1", "waco-1").analog("air_temp", 0, 360, 1, boxTemp(3, 0.5)), 120, 240),
		silentDuring(newStream("s1", "wafr-2").analog("air_temp", 0, 360, 1, boxTemp(-20, 1)), 120, 240),
		silentDuring(newStream("s1", "reco-3").analog("air_temp", 3, 360, 5, boxTemp(3, 0.5)), 120, 240),
		newStream("s2", "waco-1").analog("air_temp", 0, 360, 1, boxTemp(3, 0.5)),
	)
}

func TestMissing(t *testing.T) {
	runKindCases(t, []kindCase{{
		// waco-1 reports each minute: 5 intervals is less than 15 min,
		// so 15 min: offline at +2h16m. reco-3, a probe reporting every
		// 5 min, has learned its cadence: 25 min, offline at +2h26m.
		name:  "sensors silent while the store talks",
		rules: offline,
		input: merge(
			silentDuring(newStream("s1", "waco-1").analog("air_temp", 0, 300, 1, boxTemp(3, 0.5)), 121, 180),
			silentDuring(newStream("s1", "reco-3").analog("air_temp", 0, 300, 5, boxTemp(3, 0.5)), 121, 240),
			newStream("s1", "wafr-2").analog("air_temp", 0, 300, 1, boxTemp(-20, 1)),
		),
		want: []string{
			"+2h16m opened waco-1 offline P3",
			"+2h26m opened reco-3 offline P3",
			"+3h cleared waco-1 offline P3",
			"+4h cleared reco-3 offline P3",
		},
	}, {
		// Store s1 goes silent after +1h59m for two hours while s2 goes
		// on: one gateway incident from +2h10m, no per-sensor ones, and
		// none when the store comes back, not even for the probe whose
		// next report is only due 3 min after the others.
		name:  "a whole store silent: one gateway incident",
		rules: offline,
		input: storeOutage(),
		want: []string{
			"+2h10m opened * gateway P2",
			"+4h cleared * gateway P2",
		},
		check: func(t *testing.T, evs []rules.Event) {
			if ev := evs[0]; ev.Site != "s1" || !ev.Started.Equal(at(119)) || ev.Title != "s1 offline" {
				t.Errorf("opened: site %s started %s title %q; want s1, +1h59m", ev.Site, ev.Started, ev.Title)
			}
		},
	}})
}

// TestSuppress: a defrost heats the walk-in to 10 C for 30 min and it
// recovers over the next 30; the rule is off during defrost and 45 min
// after it.
func TestSuppress(t *testing.T) {
	const noCooling = `
rules:
  - id: no-cooling
    kind: threshold
    match: {class: walk_in_cooler}
    metric: air_temp
    above: 7
    for: 10m
    update_every: 1d
    suppress:
      - metric: defrost
        eq: "1"
        recovery: 45m
    problem: no_cooling
    priority: P2
    trade: refrigeration
    title: not cooling
`
	defrost := steps(0, 60, 1, 90, 0)
	recovering := func(m float64) float64 {
		switch {
		case m < 60:
			return 2
		case m < 90:
			return 10
		case m < 120:
			return 10 - 8*(m-90)/30
		}
		return 2
	}
	box := func(temp func(float64) float64) []rules.Reading {
		return merge(newStream("s1", "waco-1").
			signal("defrost", 0, 300, defrost).
			analog("air_temp", 0, 300, 1, temp))
	}
	runKindCases(t, []kindCase{{
		name:  "defrost and its recovery: nothing",
		rules: noCooling,
		input: box(recovering),
		want:  nil,
	}, {
		name:  "the same without the defrost signal",
		rules: noCooling,
		input: cooler(recovering, 300),
		want: []string{
			"+1h10m opened waco-1 no-cooling P2",
			"+1h42m cleared waco-1 no-cooling P2",
		},
	}, {
		// The compressor fails during the defrost: the box stays at 10 C.
		// The rule wakes at +2h15m, the end of the recovery window, and
		// waits its 10 min from there.
		name:  "a failure during the defrost: after the recovery window",
		rules: noCooling,
		input: box(steps(2, 60, 10)),
		want:  []string{"+2h25m opened waco-1 no-cooling P2"},
		check: func(t *testing.T, evs []rules.Event) {
			if !evs[0].Started.Equal(at(135)) {
				t.Errorf("started %s, want +2h15m", evs[0].Started)
			}
		},
	}, {
		name:  "a failure well after the defrost",
		rules: noCooling,
		input: box(during(200, 300, constant(9), recovering)),
		want:  []string{"+3h30m opened waco-1 no-cooling P2"},
	}})
}

// TestSuppressClosed: s1 is open 07:00-22:00 New York time (UTC-4 in
// July), so closed from +2h to +11h after t0 (midnight UTC). A hot zone
// while closed raises nothing; one that is hot before opening raises an
// incident 10 min after the store opens.
func TestSuppressClosed(t *testing.T) {
	const hotZone = `
rules:
  - id: hot-zone
    kind: threshold
    match: {class: rooftop_unit}
    metric: zone_temp
    above: 27
    for: 10m
    update_every: 1d
    suppress:
      - closed: true
    problem: cooling_failure
    priority: P3
    trade: hvac
    title: hot sales floor
`
	zone := func(f func(float64) float64) []rules.Reading {
		return merge(newStream("s1", "roun-8").analog("zone_temp", 0, 800, 1, f))
	}
	runKindCases(t, []kindCase{{
		name:  "hot while closed: nothing",
		rules: hotZone,
		input: zone(steps(22, 150, 30, 240, 22)),
		want:  nil,
	}, {
		name:  "hot before opening: 10 min after opening",
		rules: hotZone,
		input: zone(steps(22, 630, 30, 700, 22)),
		want: []string{
			"+11h10m opened roun-8 hot-zone P3",
			"+11h40m cleared roun-8 hot-zone P3",
		},
	}, {
		name:  "hot in the evening: open before closing",
		rules: hotZone,
		input: zone(steps(22, 60, 30, 100, 22)),
		want: []string{
			"+1h10m opened roun-8 hot-zone P3",
			"+1h40m cleared roun-8 hot-zone P3",
		},
	}})
}

// TestOverrides: a site file adjusts a rule per asset: another level,
// another for, another priority, or off.
func TestOverrides(t *testing.T) {
	sites := []string{`
site: s1
assets:
  - id: waco-1
    class: walk_in_cooler
    overrides:
      cooler-high: {above: 7, priority: P1}
  - id: waco-2
    class: walk_in_cooler
    overrides:
      cooler-high: {disabled: true}
  - id: waco-3
    class: walk_in_cooler
    overrides:
      cooler-high: {for: 30m}
  - id: waco-4
    class: walk_in_cooler
  - id: waco-5
    class: walk_in_cooler
    overrides:
      cooler-high: {above: 9}
`}
	var streams []*stream
	for _, id := range []string{"waco-1", "waco-2", "waco-3", "waco-4", "waco-5"} {
		streams = append(streams, newStream("s1", id).analog("air_temp", 0, 240, 1, steps(2, 60, 8, 150, 3)))
	}
	eng := newEngine(t, coolerHighPlain, sites, rules.Options{})
	evs := observeAll(t, eng, merge(streams...))
	checkEpisodes(t, evs)
	diffLines(t, briefs(evs), []string{
		"+1h10m opened waco-1 cooler-high P1",
		"+1h10m opened waco-4 cooler-high P2",
		"+1h30m opened waco-3 cooler-high P2",
		"+2h30m cleared waco-1 cooler-high P1",
		"+2h30m cleared waco-3 cooler-high P2",
		"+2h30m cleared waco-4 cooler-high P2",
	})
	if n := eng.Instances(); n != 4 {
		t.Errorf("Instances = %d, want 4 (waco-2's rule is off)", n)
	}
	if evs[0].Limit == nil || *evs[0].Limit != 7 {
		t.Errorf("waco-1 limit %v, want its own 7", evs[0].Limit)
	}
}

// TestMissingCadenceAfterOutage: a store outage is not the probe's
// cadence. After s1's 4 h outage, probe reco-3 (every 5 min) reports
// three times and dies at +6h13m; it must be called offline 25 min later
// as before the outage, not hours later.
func TestMissingCadenceAfterOutage(t *testing.T) {
	in := merge(
		silentDuring(newStream("s1", "waco-1").analog("air_temp", 0, 600, 1, boxTemp(3, 0.5)), 120, 360),
		silentDuring(newStream("s1", "reco-3").analog("air_temp", 3, 374, 5, boxTemp(3, 0.5)), 120, 360),
		newStream("s2", "waco-1").analog("air_temp", 0, 600, 1, boxTemp(3, 0.5)),
	)
	evs := observeAll(t, newEngine(t, offline, testSites, rules.Options{}), in)
	checkEpisodes(t, evs)
	diffLines(t, briefs(evs), []string{
		"+2h10m opened * gateway P2",
		"+6h cleared * gateway P2",
		"+6h39m opened reco-3 offline P3",
	})
}

// TestEscalationAfterCountsFromOpening: a no-cooling rule (the pack's
// first shape) waits 40 min, then escalates to P1 "above 10 C after 30m".
// Escalation.After is
// documented as "the episode open for at least that long": 30 min after
// the incident opened, not 30 min after the first warm sample, which the
// 40 min wait has always passed.
func TestEscalationAfterCountsFromOpening(t *testing.T) {
	const noCooling = `
rules:
  - id: no-cooling
    kind: threshold
    match: {class: walk_in_cooler}
    metric: air_temp
    above: 7
    for: 40m
    update_every: 1d
    escalate:
      - above: 10
        after: 30m
        priority: P1
    problem: no_cooling
    priority: P2
    trade: refrigeration
    title: not cooling
`
	runKindCases(t, []kindCase{{
		name:  "12 C from +1h",
		rules: noCooling,
		input: cooler(steps(2, 60, 12), 240),
		want: []string{
			"+1h40m opened waco-1 no-cooling P2",
			"+2h10m updated waco-1 no-cooling P1",
		},
	}})
}
