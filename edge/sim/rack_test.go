package sim_test

import (
	"slices"
	"testing"
	"time"

	"github.com/frostline/frostline/edge/sim"
	"github.com/frostline/frostline/rules"
)

// rackStore is a store whose display cases are served by a compressor
// rack, as faults-hard's are.
func rackStore(t testing.TB, id string) *rules.Site {
	t.Helper()
	y := `site: ` + id + `
assets:
  - {id: waco-1, class: walk_in_cooler}
  - {id: wafr-2, class: walk_in_freezer}
  - {id: rack-9, class: compressor_rack}
  - {id: dimt-5, class: display_case_mt, served_by: rack-9}
  - {id: dimt-6, class: display_case_mt, served_by: rack-9}
  - {id: dilt-7, class: display_case_lt, served_by: rack-9}
  - {id: roun-8, class: rooftop_unit}
`
	s, err := rules.ParseSite(id+".yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// series collects one asset's readings of one metric.
func series(rs []sim.Reading, asset, metric string) []sim.Reading {
	var out []sim.Reading
	for _, r := range rs {
		if r.Asset == asset && r.Metric == metric {
			out = append(out, r)
		}
	}
	return out
}

// meanIn is the mean value of the readings in [from, to).
func meanIn(rs []sim.Reading, from, to time.Time) float64 {
	var sum float64
	n := 0
	for _, r := range rs {
		if !r.At.Before(from) && r.At.Before(to) {
			sum += r.Value
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}

func runSim(t testing.TB, cfg sim.Config, minutes int) ([]sim.Reading, sim.Labels) {
	t.Helper()
	s, err := sim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var all []sim.Reading
	for range minutes {
		all = s.Step(all)
	}
	return all, s.Labels()
}

// TestRackTrip: a tripped rack takes the cooling of every case it serves at
// once, their controllers still calling for it; the rack's compressor_on
// is 0 throughout; the other assets go on as before, and the labels name
// the rack and its cases.
func TestRackTrip(t *testing.T) {
	trip := sim.Fault{Site: "s1", Asset: "rack-9", Kind: sim.RackFailure, Start: start.Add(30 * time.Hour), Duration: 3 * time.Hour}
	end := trip.Start.Add(trip.Duration)
	cfg := sim.Config{Sites: []*rules.Site{rackStore(t, "s1")}, Start: start, Seed: 4, Faults: []sim.Fault{trip}}
	all, labels := runSim(t, cfg, 36*60)

	rack := series(all, "rack-9", "compressor_on")
	var before, during, after []float64
	for _, r := range rack {
		switch {
		case r.At.Before(trip.Start):
			before = append(before, r.Value)
		case r.At.Before(end):
			during = append(during, r.Value)
		default:
			after = append(after, r.Value)
		}
	}
	if !slices.Contains(before, 1) || !slices.Contains(before, 0) {
		t.Errorf("healthy rack never cycled: %v", before)
	}
	if len(during) < 12 || slices.Contains(during, 1) {
		t.Errorf("tripped rack reported %v, want only 0 (a heartbeat every 15 min)", during)
	}
	if len(after) == 0 || after[0] != 1 {
		t.Errorf("rack after the trip: %v, want running again", after)
	}

	hour := trip.Start.Add(time.Hour)
	for _, c := range []string{"dimt-5", "dimt-6", "dilt-7"} {
		air := series(all, c, "air_temp")
		pre := meanIn(air, trip.Start.Add(-3*time.Hour), trip.Start)
		post := meanIn(air, hour.Add(-5*time.Minute), hour.Add(5*time.Minute))
		if post-pre < 3 {
			t.Errorf("%s: air %.1f C before the trip, %.1f C an hour in: want it warming with the others", c, pre, post)
		}
		// A controller that reports says it is calling for cooling, except
		// while it defrosts.
		on, def := series(all, c, "compressor_on"), series(all, c, "defrost")
		for _, r := range on {
			if r.At.Before(trip.Start.Add(15*time.Minute)) || !r.At.Before(end) || r.Value == 1 {
				continue
			}
			defrosting := false
			for _, d := range def {
				if !d.At.After(r.At) {
					defrosting = d.Value == 1
				}
			}
			if !defrosting {
				t.Errorf("%s: compressor_on (the case's solenoid) 0 at %s during the trip, not defrosting: want 1, it calls and gets nothing", c, r.At.Format(time.RFC3339))
			}
		}
		if back := meanIn(air, end.Add(150*time.Minute), end.Add(3*time.Hour)); back > pre+1.5 {
			t.Errorf("%s: %.1f C three hours after the trip, want back near %.1f C", c, back, pre)
		}
	}
	// The assets not on the rack report exactly what they report without
	// the trip.
	healthy, _ := runSim(t, sim.Config{Sites: cfg.Sites, Start: start, Seed: 4}, 36*60)
	for _, c := range []string{"waco-1", "wafr-2", "roun-8"} {
		if got, want := series(all, c, "air_temp"), series(healthy, c, "air_temp"); c != "roun-8" && !slices.Equal(got, want) {
			t.Errorf("%s is not on the rack but its air differs from a run without the trip", c)
		}
		if got, want := series(all, c, "compressor_on"), series(healthy, c, "compressor_on"); !slices.Equal(got, want) {
			t.Errorf("%s is not on the rack but its compressor differs from a run without the trip", c)
		}
	}

	if len(labels.Faults) != 1 {
		t.Fatalf("labels: %+v", labels.Faults)
	}
	f := labels.Faults[0]
	if f.Fault != sim.RackFailure || f.Asset != "rack-9" || f.Class != "compressor_rack" ||
		!slices.Equal(f.Members, []string{"dimt-5", "dimt-6", "dilt-7"}) || !slices.Contains(f.Accept, "rack_failure") {
		t.Errorf("label %+v", f)
	}
	if f.Breach == nil || !f.Breach.After(trip.Start) || !f.Breach.Before(end) {
		t.Errorf("breach %v, want inside the trip", f.Breach)
	}
	if !slices.ContainsFunc(labels.Assets, func(a sim.LabelAsset) bool { return a.Asset == "rack-9" }) {
		t.Error("the rack is not among the labels' assets")
	}
}

// TestSilentRack: a rack that reports nothing still serves its cases and
// trips with them.
func TestSilentRack(t *testing.T) {
	trip := sim.Fault{Site: "s1", Asset: "rack-9", Kind: sim.RackFailure, Start: start.Add(30 * time.Hour), Duration: 3 * time.Hour}
	cfg := sim.Config{Sites: []*rules.Site{rackStore(t, "s1")}, Start: start, Seed: 4, Faults: []sim.Fault{trip}, Silent: []string{"s1/rack-9"}}
	all, labels := runSim(t, cfg, 32*60)
	for _, r := range all {
		if r.Asset == "rack-9" {
			t.Fatalf("the silent rack reported %+v", r)
		}
	}
	for _, c := range []string{"dimt-5", "dimt-6", "dilt-7"} {
		air := series(all, c, "air_temp")
		pre := meanIn(air, trip.Start.Add(-3*time.Hour), trip.Start)
		if post := meanIn(air, trip.Start.Add(55*time.Minute), trip.Start.Add(65*time.Minute)); post-pre < 3 {
			t.Errorf("%s: %.1f C before the trip, %.1f C an hour in", c, pre, post)
		}
	}
	if len(labels.Faults) != 1 || labels.Faults[0].Breach == nil {
		t.Errorf("labels %+v", labels.Faults)
	}
	if _, err := sim.New(sim.Config{Sites: cfg.Sites, Start: start, Silent: []string{"s1/nope"}}); err == nil {
		t.Error("an unknown silent asset is accepted")
	}
}

// TestRackConfigErrors: a rack trip needs a rack that serves cases, and a
// rack takes no other fault.
func TestRackConfigErrors(t *testing.T) {
	lone, err := rules.ParseSite("lone.yaml", []byte("site: s1\nassets:\n  - {id: rack-1, class: compressor_rack}\n  - {id: waco-1, class: walk_in_cooler}\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		site *rules.Site
		f    sim.Fault
	}{
		{"rack trip on a case", rackStore(t, "s1"), sim.Fault{Site: "s1", Asset: "dimt-5", Kind: sim.RackFailure, Start: start, Duration: time.Hour}},
		{"compressor failure on a rack", rackStore(t, "s1"), sim.Fault{Site: "s1", Asset: "rack-9", Kind: sim.CompressorFailure, Start: start, Duration: time.Hour}},
		{"rack serving nothing", lone, sim.Fault{Site: "s1", Asset: "rack-1", Kind: sim.RackFailure, Start: start, Duration: time.Hour}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := sim.New(sim.Config{Sites: []*rules.Site{tc.site}, Start: start, Faults: []sim.Fault{tc.f}}); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

// TestRandomRackTrips: a store with a rack gets at most one trip, clear of
// the faults on its cases (most seeds leave room for one); a store without
// one gets none, and the same faults as alone: the trips draw from their
// own stream.
func TestRandomRackTrips(t *testing.T) {
	from, to := start.Add(24*time.Hour), start.Add(96*time.Hour)
	placed := 0
	for seed := uint64(1); seed <= 10; seed++ {
		fs := sim.RandomFaults([]*rules.Site{store(t, "p"), rackStore(t, "r")}, 6, from, to, seed, nil)
		alone := sim.RandomFaults([]*rules.Site{store(t, "p")}, 6, from, to, seed, nil)
		var p []sim.Fault
		for _, f := range fs {
			if f.Site == "p" {
				p = append(p, f)
			}
		}
		if len(alone) == 0 || !slices.Equal(p, alone) {
			t.Errorf("seed %d: the store without a rack got %+v, alone %+v", seed, p, alone)
		}
		var trips []sim.Fault
		for _, f := range fs {
			if f.Kind == sim.RackFailure {
				trips = append(trips, f)
			}
		}
		if len(trips) == 0 {
			continue
		}
		placed++
		if len(trips) != 1 || trips[0].Site != "r" || trips[0].Asset != "rack-9" || trips[0].Duration < 2*time.Hour || trips[0].Duration > 8*time.Hour {
			t.Fatalf("seed %d: rack trips %+v", seed, trips)
		}
		tr := trips[0]
		for _, f := range fs {
			if f.Site == "r" && f.Kind != sim.RackFailure && slices.Contains([]string{"dimt-5", "dimt-6", "dilt-7", "rack-9", "*"}, f.Asset) &&
				f.Start.Before(tr.Start.Add(tr.Duration+2*time.Hour)) && tr.Start.Before(f.Start.Add(f.Duration+2*time.Hour)) {
				t.Errorf("seed %d: %s on %s overlaps the rack trip", seed, f.Kind, f.Asset)
			}
		}
	}
	if placed < 7 {
		t.Errorf("a rack trip placed for %d of 10 seeds, want most", placed)
	}
}
