package rules_test

import (
	"encoding/json"
	"sort"
	"testing"
	"time"

	"github.com/frostline/frostline/rules"
)

// benchSite is one store as the sample has them: six refrigerated cases
// and an RTU.
const benchSite = `
site: bench
timezone: America/Chicago
assets:
  - {id: waco-1, class: walk_in_cooler}
  - {id: wafr-2, class: walk_in_freezer}
  - {id: reco-3, class: reach_in_cooler}
  - {id: refr-4, class: reach_in_freezer}
  - {id: dimt-5, class: display_case_mt}
  - {id: dimt-6, class: display_case_mt}
  - {id: dilt-7, class: display_case_lt}
  - {id: roun-8, class: rooftop_unit}
`

// storeStream is one healthy store day: case temperatures each minute,
// compressor, defrost and door signals on change and every 15 min, and
// the RTU's temperatures, mode and compressor.
func storeStream(days int) []rules.Reading {
	end := float64(days * 1440)
	defrost := func(m float64) float64 {
		if defrostAt(m) {
			return 1
		}
		return 0
	}
	doors := func(m float64) float64 { // a stocking opening of 3 min every 2 h
		if int(m)%120 < 3 {
			return 1
		}
		return 0
	}
	var ss []*stream
	for _, c := range []struct {
		id       string
		setpoint float64
	}{{"waco-1", 2}, {"wafr-2", -20}, {"reco-3", 3}, {"refr-4", -19}, {"dimt-5", 2.5}, {"dimt-6", 2.5}, {"dilt-7", -21}} {
		ss = append(ss, newStream("bench", c.id).
			analog("air_temp", 0, end, 1, boxTemp(c.setpoint, 0.6)).
			signal("compressor_on", 0, end, cycling(9, 11)).
			signal("defrost", 0, end, defrost).
			signal("door_open", 0, end, doors))
	}
	cool, _ := rules.WordValue(rules.LookupMetric("mode"), "cool")
	ss = append(ss, newStream("bench", "roun-8").
		analog("zone_temp", 0, end, 1, boxTemp(23, 0.4)).
		analog("zone_setpoint", 0, end, 1, constant(22)).
		analog("return_air_temp", 0, end, 1, boxTemp(24, 0.3)).
		analog("supply_air_temp", 0, end, 1, boxTemp(13, 0.5)).
		signal("mode", 0, end, constant(cool)).
		signal("compressor_on", 0, end, cycling(15, 10)).
		signal("fan_on", 0, end, constant(1)))
	return merge(ss...)
}

// BenchmarkObserve is the engine's cost per reading with the default pack
// in steady state: one store, warmed up for a day, then fed the next days
// (the same healthy day, moved on by a day each time round).
func BenchmarkObserve(b *testing.B) {
	day := storeStream(1)
	eng, err := rules.NewEngine(defaultPack(b), parseSites(b, []string{benchSite}), rules.Options{})
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]rules.Event, 0, 64)
	for _, r := range day { // warm-up: the first day
		buf, _ = eng.Observe(buf[:0], r)
	}
	events := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := day[i%len(day)]
		r.At = r.At.Add(time.Duration(1+i/len(day)) * 24 * time.Hour)
		buf, err = eng.Observe(buf[:0], r)
		if err != nil {
			b.Fatal(err)
		}
		events += len(buf)
	}
	b.StopTimer()
	b.ReportMetric(float64(events), "events")
	b.ReportMetric(float64(eng.Instances()), "instances")
}

// BenchmarkSnapshotBytes reports the snapshot size per (series x rule)
// instance, by kind, after two days of one store (every window of the
// pack, up to the 24 h baselines, full): the JSON an edge agent writes to
// keep its episodes across a restart.
func BenchmarkSnapshotBytes(b *testing.B) {
	eng, err := rules.NewEngine(defaultPack(b), parseSites(b, []string{benchSite}), rules.Options{})
	if err != nil {
		b.Fatal(err)
	}
	observeAll(b, eng, storeStream(2))
	var snap []byte
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if snap, err = eng.Snapshot(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	sizes, err := instanceSizes(snap)
	if err != nil {
		b.Fatal(err)
	}
	total, n := 0, 0
	for kind, ss := range sizes {
		sort.Ints(ss)
		b.ReportMetric(float64(ss[len(ss)-1]), "max-B/"+kind)
		for _, s := range ss {
			total += s
			n++
		}
	}
	b.ReportMetric(float64(len(snap))/float64(eng.Instances()), "snapshot-B/instance")
	b.ReportMetric(float64(total)/float64(n), "instance-B/instance")
}

// instanceSizes splits a snapshot into its rule instances and returns the
// JSON size of each (episode and state), by kind.
func instanceSizes(snap []byte) (map[string][]int, error) {
	var s struct {
		Sites map[string]struct {
			Rules  map[string]json.RawMessage `json:"rules"`
			Assets map[string]struct {
				Rules map[string]json.RawMessage `json:"rules"`
			} `json:"assets"`
		} `json:"sites"`
	}
	if err := json.Unmarshal(snap, &s); err != nil {
		return nil, err
	}
	sizes := map[string][]int{}
	add := func(raw json.RawMessage) error {
		var in struct {
			Kind string `json:"kind"`
		}
		if err := json.Unmarshal(raw, &in); err != nil {
			return err
		}
		sizes[in.Kind] = append(sizes[in.Kind], len(raw))
		return nil
	}
	for _, site := range s.Sites {
		for _, raw := range site.Rules {
			if err := add(raw); err != nil {
				return nil, err
			}
		}
		for _, a := range site.Assets {
			for _, raw := range a.Rules {
				if err := add(raw); err != nil {
					return nil, err
				}
			}
		}
	}
	return sizes, nil
}

// TestStateBytes holds the engine to its target: at most 2 KB of snapshot
// per (series x rule) instance, after two days of a store.
func TestStateBytes(t *testing.T) {
	eng, err := rules.NewEngine(defaultPack(t), parseSites(t, []string{benchSite}), rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	observeAll(t, eng, storeStream(2))
	snap, err := eng.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sizes, err := instanceSizes(snap)
	if err != nil {
		t.Fatal(err)
	}
	for kind, ss := range sizes {
		for _, s := range ss {
			if s > 2048 {
				t.Errorf("a %s instance takes %d bytes of snapshot, over the 2 KB target", kind, s)
				break
			}
		}
	}
}

// BenchmarkObserveSample is the engine alone over the whole labeled
// sample (3 stores, 4 days, 21 faults), held in memory: the cost per
// reading with incidents opening, updating and clearing. Each op is one
// reading.
func BenchmarkObserveSample(b *testing.B) {
	sites, input := loadSample(b)
	set := defaultPack(b)
	buf := make([]rules.Event, 0, 64)
	events := 0
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		b.StopTimer()
		eng, err := rules.NewEngine(set, sites, rules.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for _, r := range input[:min(len(input), b.N-done)] {
			buf, _ = eng.Observe(buf[:0], r)
			events += len(buf)
		}
		done += len(input)
	}
	b.StopTimer()
	b.ReportMetric(float64(events)/float64(b.N), "events/op")
}

// TestObserveAllocs holds the engine to zero allocations per reading in
// steady state (no incident events), with the default pack.
func TestObserveAllocs(t *testing.T) {
	day := storeStream(1)
	eng, err := rules.NewEngine(defaultPack(t), parseSites(t, []string{benchSite}), rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]rules.Event, 0, 64)
	for _, r := range day {
		buf, _ = eng.Observe(buf[:0], r)
	}
	i := 0
	allocs := testing.AllocsPerRun(5000, func() {
		r := day[i%len(day)]
		r.At = r.At.Add(24 * time.Hour)
		buf, _ = eng.Observe(buf[:0], r)
		i++
	})
	if allocs != 0 || len(buf) != 0 {
		t.Errorf("%v allocations per reading (events %d), want 0", allocs, len(buf))
	}
}
