package sim_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/frostline/frostline/edge/sim"
	"github.com/frostline/frostline/rules"
	"github.com/frostline/frostline/rules/packs"
)

var start = time.Date(2026, 7, 6, 0, 0, 0, 0, time.UTC)

func store(t testing.TB, id string) *rules.Site {
	t.Helper()
	y := fmt.Sprintf(`site: %s
assets:
  - {id: waco-1, class: walk_in_cooler}
  - {id: wafr-2, class: walk_in_freezer}
  - {id: reco-3, class: reach_in_cooler}
  - {id: refr-4, class: reach_in_freezer}
  - {id: dimt-5, class: display_case_mt}
  - {id: dilt-6, class: display_case_lt}
  - {id: roun-7, class: rooftop_unit}
`, id)
	s, err := rules.ParseSite(id+".yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// replay runs a simulation through the default pack and returns the
// incidents it opened.
func replay(t testing.TB, cfg sim.Config, days int) ([]rules.Event, sim.Labels) {
	t.Helper()
	s, err := sim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	set, err := packs.Default()
	if err != nil {
		t.Fatal(err)
	}
	eng, err := rules.NewEngine(set, cfg.Sites, rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var opened []rules.Event
	var buf []sim.Reading
	var evs []rules.Event
	for range days * 24 * 60 {
		buf = s.Step(buf[:0])
		for _, r := range buf {
			v := r.Value
			m := rules.LookupMetric(r.Metric)
			if r.Word != "" {
				v, _ = rules.WordValue(m, r.Word)
			}
			evs, err = eng.Observe(evs[:0], rules.Reading{Site: r.Site, Asset: r.Asset, Metric: m, At: r.At, Value: v})
			if err != nil {
				t.Fatalf("%s/%s %s: %v", r.Site, r.Asset, r.Metric, err)
			}
			for _, ev := range evs {
				if ev.Event == rules.Opened {
					opened = append(opened, ev)
				}
			}
		}
	}
	return opened, s.Labels()
}

func TestHealthyStoreRaisesNothing(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			cfg := sim.Config{Sites: []*rules.Site{store(t, "s1")}, Start: start, Seed: seed, Retrofit: 0.3, Glitches: 0.001}
			opened, _ := replay(t, cfg, 3)
			for _, ev := range opened {
				t.Errorf("healthy store raised %s on %s at %s: %s", ev.Rule, ev.Asset, ev.At.Format(time.RFC3339), ev.Summary)
			}
		})
	}
}

func TestEachFaultIsDetected(t *testing.T) {
	tests := []struct {
		kind, asset string
		after, dur  time.Duration
		want        []string // problem codes that name it
	}{
		{sim.CompressorFailure, "waco-1", 30 * time.Hour, 5 * time.Hour, []string{"no_cooling", "temp_high", "temp_trend", "long_runtime"}},
		{sim.CompressorFailure, "dilt-6", 30 * time.Hour, 5 * time.Hour, []string{"no_cooling", "temp_high", "temp_trend", "long_runtime"}},
		{sim.RefrigerantLeak, "refr-4", 26 * time.Hour, 40 * time.Hour, []string{"long_runtime", "no_cooling", "temp_high", "temp_trend"}},
		{sim.DoorAjar, "wafr-2", 34 * time.Hour, 90 * time.Minute, []string{"door_ajar"}},
		{sim.ShortCycling, "dimt-5", 28 * time.Hour, 6 * time.Hour, []string{"short_cycling"}},
		{sim.SensorStuck, "reco-3", 28 * time.Hour, 5 * time.Hour, []string{"sensor_stuck"}},
		{sim.SensorOffline, "dimt-5", 40 * time.Hour, 3 * time.Hour, []string{"sensor_offline"}},
		{sim.GatewayOffline, "*", 40 * time.Hour, 2 * time.Hour, []string{"gateway_offline"}},
		{sim.CoolingFailure, "roun-7", 35 * time.Hour, 5 * time.Hour, []string{"cooling_failure"}},
	}
	for _, tc := range tests {
		t.Run(tc.kind+"/"+tc.asset, func(t *testing.T) {
			s := store(t, "s1")
			f := sim.Fault{Site: "s1", Asset: tc.asset, Kind: tc.kind, Start: start.Add(tc.after), Duration: tc.dur}
			cfg := sim.Config{Sites: []*rules.Site{s}, Start: start, Seed: 5, Faults: []sim.Fault{f}}
			opened, labels := replay(t, cfg, 4)
			end := f.Start.Add(f.Duration + time.Hour)
			var hits []string
			for _, ev := range opened {
				onAsset := ev.Asset == tc.asset || tc.asset == "*"
				inWindow := !ev.At.Before(f.Start) && !ev.At.After(end)
				switch {
				case onAsset && inWindow:
					hits = append(hits, ev.Problem)
				default:
					t.Errorf("false alarm: %s on %s at %s", ev.Rule, ev.Asset, ev.At.Format(time.RFC3339))
				}
			}
			if !slices.ContainsFunc(hits, func(p string) bool { return slices.Contains(tc.want, p) }) {
				t.Errorf("%s on %s not detected (incidents in window: %v)", tc.kind, tc.asset, hits)
			}
			if len(labels.Faults) != 1 || labels.Faults[0].Fault != tc.kind {
				t.Errorf("labels: %+v", labels.Faults)
			}
			if tc.kind == sim.GatewayOffline && len(hits) != 1 {
				t.Errorf("whole-store outage raised %d incidents, want 1: %v", len(hits), hits)
			}
		})
	}
}

func TestDeterministic(t *testing.T) {
	cfg := sim.Config{Sites: []*rules.Site{store(t, "s1")}, Start: start, Seed: 9, Retrofit: 0.3,
		Faults: sim.RandomFaults([]*rules.Site{store(t, "s1")}, 3, start.Add(24*time.Hour), start.Add(48*time.Hour), 9, nil)}
	run := func() []sim.Reading {
		s, err := sim.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		var all []sim.Reading
		for range 2 * 24 * 60 {
			all = s.Step(all)
		}
		return all
	}
	a, b := run(), run()
	if len(a) == 0 || !slices.Equal(a, b) {
		t.Fatalf("two runs with one seed differ (%d vs %d readings)", len(a), len(b))
	}
}

func TestConfigErrors(t *testing.T) {
	s := store(t, "s1")
	for _, tc := range []struct {
		name string
		f    sim.Fault
	}{
		{"unknown kind", sim.Fault{Site: "s1", Asset: "waco-1", Kind: "meltdown", Start: start, Duration: time.Hour}},
		{"unknown asset", sim.Fault{Site: "s1", Asset: "nope", Kind: sim.DoorAjar, Start: start, Duration: time.Hour}},
		{"rtu fault on a cooler", sim.Fault{Site: "s1", Asset: "waco-1", Kind: sim.CoolingFailure, Start: start, Duration: time.Hour}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := sim.New(sim.Config{Sites: []*rules.Site{s}, Start: start, Faults: []sim.Fault{tc.f}}); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

// TestDefaultPackOnSimulatedStores scores the default pack on stores it
// was not tuned on, with random faults, the way the held-out set judges it.
func TestDefaultPackOnSimulatedStores(t *testing.T) {
	if testing.Short() {
		t.Skip("long: simulates 3 stores for 4 days, 4 times")
	}
	var tp, fp, faults, found int
	for _, seed := range []uint64{21, 22, 23, 24} {
		sites := []*rules.Site{store(t, "a"), store(t, "b"), store(t, "c")}
		cfg := sim.Config{Sites: sites, Start: start, Seed: seed, Retrofit: 0.25, Glitches: 0.0007,
			Faults: sim.RandomFaults(sites, 6, start.Add(24*time.Hour), start.Add(96*time.Hour), seed,
				func(site, asset string) bool { return sim.Retrofitted(seed, 0.25, site, asset) })}
		opened, labels := replay(t, cfg, 4)
		hit := make([]bool, len(labels.Faults))
		for _, ev := range opened {
			matched := false
			for i, f := range labels.Faults {
				if f.Site == ev.Site && (f.Asset == ev.Asset || f.Asset == "*") && !ev.At.Before(f.Start) && !ev.At.After(f.End.Add(time.Hour)) {
					matched, hit[i] = true, true
					break
				}
			}
			if matched {
				tp++
			} else {
				fp++
				t.Logf("seed %d: false alarm %s on %s/%s at %s", seed, ev.Rule, ev.Site, ev.Asset, ev.At.Format(time.RFC3339))
			}
		}
		for i, f := range labels.Faults {
			faults++
			if hit[i] {
				found++
			} else {
				t.Logf("seed %d: missed %s on %s/%s at %s", seed, f.Fault, f.Site, f.Asset, f.Start.Format(time.RFC3339))
			}
		}
	}
	precision, recall := float64(tp)/float64(tp+fp), float64(found)/float64(faults)
	t.Logf("precision %.3f recall %.3f (%d incidents, %d faults)", precision, recall, tp+fp, faults)
	if precision < 0.95 || recall < 0.95 {
		t.Errorf("precision %.3f recall %.3f, want both >= 0.95", precision, recall)
	}
}
