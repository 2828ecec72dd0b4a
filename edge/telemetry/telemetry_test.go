package telemetry

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/frostline/frostline/edge/wire"
	"github.com/frostline/frostline/rules"
)

var t0 = time.Date(2026, 7, 6, 10, 0, 0, 0, time.UTC)

func reading(asset, metric string, at time.Duration, v float64) rules.Reading {
	return rules.Reading{Site: "s1", Asset: asset, Metric: rules.LookupMetric(metric), At: t0.Add(at), Value: v}
}

func classOf(_, asset string) string { return "walk_in_cooler" }

func TestRollupsAndSignals(t *testing.T) {
	a := New(time.Minute, "gw", classOf)
	in := []rules.Reading{
		reading("wic1", "air_temp", 0, 3),
		reading("wic1", "compressor_on", 0, 0),
		reading("wic1", "door_open", 0, 0),
		reading("wic1", "air_temp", 20*time.Second, 5),
		reading("wic1", "compressor_on", 15*time.Second, 1), // start; on for 45 s of minute 0
		reading("wic1", "door_open", 30*time.Second, 1),     // open 30 s in minute 0
		reading("wic1", "air_temp", 40*time.Second, 4),
		reading("wic1", "air_temp", 60*time.Second, 6),
		reading("wic1", "door_open", 75*time.Second, 0),
		reading("wic1", "compressor_on", 90*time.Second, 0),
		reading("wic1", "air_temp", 125*time.Second, 2), // closes minute 0 (grace 30 s)
	}
	arrived := time.Unix(0, 0)
	for _, r := range in {
		a.Add(r, arrived)
	}
	got := a.Flush(nil, arrived)
	if len(got) != 1 {
		t.Fatalf("got %d batches, want 1 (minute 0 only): %+v", len(got), got)
	}
	b := got[0]
	if b.Batch != "s1-20260706T100000Z" || b.Schema != wire.TelemetrySchema || b.Site != "s1" || b.Gateway != "gw" {
		t.Errorf("batch header = %+v", b)
	}
	var air *wire.Rollup
	for i := range b.Rollups {
		if b.Rollups[i].Metric == "air_temp" {
			air = &b.Rollups[i]
		}
	}
	if air == nil || air.Min != 3 || air.Max != 5 || air.Mean != 4 || air.Last != 4 || air.Count != 3 || air.Period != 60 || air.Class != "walk_in_cooler" {
		t.Errorf("air_temp rollup = %+v", air)
	}
	if len(b.Signals) != 1 {
		t.Fatalf("signals = %+v", b.Signals)
	}
	s := b.Signals[0]
	if s.DutyCycle == nil || *s.DutyCycle != 0.75 || *s.CompressorStarts != 1 {
		t.Errorf("duty cycle %v starts %v, want 0.75 and 1", deref(s.DutyCycle), s.CompressorStarts)
	}
	if s.DoorOpenMinutes == nil || *s.DoorOpenMinutes != 0.5 {
		t.Errorf("door-open minutes = %v, want 0.5", deref(s.DoorOpenMinutes))
	}
	if !s.At.Equal(t0.Add(time.Minute)) {
		t.Errorf("signal at %v", s.At)
	}

	// A reading for the emitted minute is late: counted, left out.
	a.Add(reading("wic1", "air_temp", 10*time.Second, 9), arrived)
	if a.Late != 1 {
		t.Errorf("late = %d, want 1", a.Late)
	}
	// The site goes quiet: the wall clock closes the rest.
	rest := a.Flush(nil, arrived.Add(time.Minute))
	if len(rest) != 2 || rest[0].Batch != "s1-20260706T100100Z" || rest[1].Batch != "s1-20260706T100200Z" {
		t.Fatalf("after quiet: %+v", rest)
	}
	m1 := rest[0].Signals[0]
	// Minute 1: compressor on 30 s of 60, door open 15 s.
	if *m1.DutyCycle != 0.5 || *m1.CompressorStarts != 0 || *m1.DoorOpenMinutes != 0.25 {
		t.Errorf("minute 1 signals: duty %v starts %v door %v", *m1.DutyCycle, *m1.CompressorStarts, *m1.DoorOpenMinutes)
	}
	data, err := json.Marshal(rest[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wire.DecodeTelemetry(data); err != nil {
		t.Fatalf("batch does not decode: %v", err)
	}
	if again := a.Flush(nil, arrived.Add(time.Hour)); len(again) != 0 {
		t.Errorf("a period was emitted twice: %+v", again)
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

// BenchmarkAdd adds readings of one asset, and of a store's 1,390 assets
// (5,560 series) in turn, each series every 30 s of event time.
func BenchmarkAdd(b *testing.B) {
	metrics := []string{"air_temp", "compressor_on", "door_open", "defrost"}
	for _, assets := range []int{1, 1390} {
		b.Run(fmt.Sprintf("assets=%d", assets), func(b *testing.B) {
			a := New(time.Minute, "gw", classOf)
			ids := make([]string, assets)
			for i := range ids {
				ids[i] = fmt.Sprintf("asset-%04d", i)
			}
			series := assets * len(metrics)
			step := 30 * time.Second / time.Duration(series)
			i := 0
			for b.Loop() {
				r := reading(ids[i/len(metrics)%assets], metrics[i%len(metrics)], time.Duration(i)*step, float64(i/series%2))
				a.Add(r, t0)
				if i%600 == 0 {
					a.Flush(nil, t0)
				}
				i++
			}
		})
	}
}

func TestLargeMinuteIsSplit(t *testing.T) {
	a := New(time.Minute, "gw", classOf)
	n := MaxRollups*2 + 10
	for i := range n {
		a.Add(rules.Reading{Site: "s1", Asset: fmt.Sprintf("a%05d", i), Metric: rules.LookupMetric("air_temp"), At: t0, Value: 1}, t0)
	}
	got := a.Flush(nil, t0.Add(time.Hour))
	if len(got) != 3 || len(got[0].Rollups) != MaxRollups || len(got[2].Rollups) != 10 {
		t.Fatalf("got %d batches", len(got))
	}
	ids := []string{got[0].Batch, got[1].Batch, got[2].Batch}
	want := []string{"s1-20260706T100000Z", "s1-20260706T100000Z-2", "s1-20260706T100000Z-3"}
	if fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Errorf("batch ids %v, want %v", ids, want)
	}
	data, _ := json.Marshal(got[0])
	if len(data) > 512<<10 {
		t.Errorf("a batch of %d rollups is %d bytes", MaxRollups, len(data))
	}
}

func TestTrendSignals(t *testing.T) {
	a := New(time.Minute, "gw", classOf)
	a.Add(reading("wic1", "air_temp", 0, 2.4), t0)
	// Two trend rules fit the walk-in; the one nearer its limit is the
	// asset's signal. One not heading to its limit gives a slope only.
	a.Predict([]rules.Prediction{
		{Site: "s1", Asset: "wic1", Rule: "slow", SlopePerHour: 0.1, HoursToLimit: 26},
		{Site: "s1", Asset: "wic1", Rule: "fast", SlopePerHour: 0.6, HoursToLimit: 4.35},
		{Site: "s1", Asset: "wif1", Rule: "flat", SlopePerHour: -0.05, HoursToLimit: -1},
	})
	signals := map[string]wire.Signal{}
	for _, b := range a.Flush(nil, t0.Add(time.Hour)) {
		for _, s := range b.Signals {
			signals[s.Asset] = s
		}
	}
	wic := signals["wic1"]
	if wic.SlopePerHour == nil || *wic.SlopePerHour != 0.6 || wic.HoursToLimit == nil || *wic.HoursToLimit != 4.35 {
		t.Errorf("wic1 signal %+v: want the nearer fit, 0.6 C/h and 4.35 h", wic)
	}
	wif := signals["wif1"]
	if wif.SlopePerHour == nil || *wif.SlopePerHour != -0.05 || wif.HoursToLimit != nil {
		t.Errorf("wif1 signal %+v: want a slope and no hours to limit", wif)
	}
	// A fit is reported once.
	for _, b := range a.Flush(nil, t0.Add(2*time.Hour)) {
		for _, s := range b.Signals {
			if s.SlopePerHour != nil {
				t.Errorf("fit reported again: %+v", s)
			}
		}
	}
}

var update = flag.Bool("update", false, "rewrite the golden batches")

// TestStreamGolden feeds a seeded stream (two sites, a dozen assets, every
// kind of series, readings out of order, late ones, gaps longer than a
// binary value holds, trend fits) and compares every batch with the golden
// file: how the aggregator keeps its series is free to change, what it
// emits is not.
func TestStreamGolden(t *testing.T) {
	a := New(time.Minute, "gw", func(site, asset string) string { return site + "/" + asset[:1] })
	rng := rand.New(rand.NewPCG(7, 11))
	metrics := []string{"air_temp", "compressor_on", "door_open", "defrost", "supply_air_temp", "evap_temp"}
	var out []wire.Telemetry
	at := time.Duration(0)
	for i := range 1000 {
		site := []string{"s1", "s2"}[rng.IntN(2)]
		asset := fmt.Sprintf("%c%d", "wcr"[rng.IntN(3)], rng.IntN(4))
		metric := metrics[rng.IntN(len(metrics))]
		at += time.Duration(rng.IntN(4000)) * time.Millisecond
		if rng.IntN(40) == 0 {
			at += 25 * time.Minute // longer than a binary value holds
		}
		when := at - time.Duration(rng.IntN(50))*time.Second // out of order; some late
		v := math.Round(rng.NormFloat64()*300) / 100
		if id := rules.LookupMetric(metric); id == compressor || id == door || id == defrost {
			v = float64(rng.IntN(2))
		}
		a.Add(rules.Reading{Site: site, Asset: asset, Metric: rules.LookupMetric(metric), At: t0.Add(when), Value: v}, time.Unix(0, 0).Add(at))
		if i%97 == 0 {
			a.Predict([]rules.Prediction{{Site: site, Asset: asset, Rule: "r", SlopePerHour: v, HoursToLimit: float64(rng.IntN(300)) - 20}})
		}
		if i%250 == 0 {
			out = a.Flush(out, time.Unix(0, 0).Add(at))
		}
	}
	out = a.Flush(out, time.Unix(0, 0).Add(at+time.Hour))
	var got []byte
	for _, b := range out { // a batch a line
		line, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		got = append(append(got, line...), '\n')
	}
	golden := filepath.Join("testdata", "stream.golden.jsonl")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("batches differ from %s (go test -update to accept): %d bytes, want %d", golden, len(got), len(want))
	}
	if a.Late == 0 || len(out) < 30 {
		t.Errorf("the stream covers too little: %d late, %d batches", a.Late, len(out))
	}
}

// TestSnapshotRestore feeds TestStreamGolden's stream, moving the state
// into a fresh aggregator through AppendSnapshot and Restore every few
// readings (between a reading and a Flush too, with closed periods not yet
// emitted): the batches must be the golden file's, byte for byte.
func TestSnapshotRestore(t *testing.T) {
	for _, every := range []int{1, 37, 250} {
		t.Run(fmt.Sprint(every), func(t *testing.T) {
			newAgg := func() *Aggregator {
				return New(time.Minute, "gw", func(site, asset string) string { return site + "/" + asset[:1] })
			}
			a := newAgg()
			rng := rand.New(rand.NewPCG(7, 11))
			metrics := []string{"air_temp", "compressor_on", "door_open", "defrost", "supply_air_temp", "evap_temp"}
			var out []wire.Telemetry
			var snap []byte
			at := time.Duration(0)
			restores := 0
			for i := range 1000 {
				site := []string{"s1", "s2"}[rng.IntN(2)]
				asset := fmt.Sprintf("%c%d", "wcr"[rng.IntN(3)], rng.IntN(4))
				metric := metrics[rng.IntN(len(metrics))]
				at += time.Duration(rng.IntN(4000)) * time.Millisecond
				if rng.IntN(40) == 0 {
					at += 25 * time.Minute
				}
				when := at - time.Duration(rng.IntN(50))*time.Second
				v := math.Round(rng.NormFloat64()*300) / 100
				if id := rules.LookupMetric(metric); id == compressor || id == door || id == defrost {
					v = float64(rng.IntN(2))
				}
				a.Add(rules.Reading{Site: site, Asset: asset, Metric: rules.LookupMetric(metric), At: t0.Add(when), Value: v}, time.Unix(0, 0).Add(at))
				if i%97 == 0 {
					a.Predict([]rules.Prediction{{Site: site, Asset: asset, Rule: "r", SlopePerHour: v, HoursToLimit: float64(rng.IntN(300)) - 20}})
				}
				if i%every == 0 {
					snap = a.AppendSnapshot(snap[:0])
					late := a.Late
					a = newAgg()
					if err := a.Restore(snap, time.Time{}); err != nil {
						t.Fatalf("reading %d: %v", i, err)
					}
					a.Late = late
					restores++
				}
				if i%250 == 0 {
					out = a.Flush(out, time.Unix(0, 0).Add(at))
				}
			}
			out = a.Flush(out, time.Unix(0, 0).Add(at+time.Hour))
			var got []byte
			for _, b := range out {
				line, err := json.Marshal(b)
				if err != nil {
					t.Fatal(err)
				}
				got = append(append(got, line...), '\n')
			}
			want, err := os.ReadFile(filepath.Join("testdata", "stream.golden.jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("after %d restores the batches differ from the golden file: %d bytes, want %d\n%s", restores, len(got), len(want), firstDiff(got, want))
			}
		})
	}
}

// firstDiff shows the first line where got and want differ.
func firstDiff(got, want []byte) string {
	g, w := bytes.Split(got, []byte("\n")), bytes.Split(want, []byte("\n"))
	for i := range min(len(g), len(w)) {
		if !bytes.Equal(g[i], w[i]) {
			return fmt.Sprintf("line %d:\ngot  %s\nwant %s", i+1, g[i], w[i])
		}
	}
	return fmt.Sprintf("%d lines, want %d", len(g), len(w))
}

// TestCloseSiteReplays checks that closing a site by the wall clock
// (CloseIdle), logged and replayed with CloseSite onto a snapshot taken
// before it, leaves the same state: a reading for a period closed that way
// is late in both.
func TestCloseSiteReplays(t *testing.T) {
	a := New(time.Minute, "gw", classOf)
	a.Add(reading("wic1", "air_temp", 10*time.Second, 3), t0)
	snap := a.AppendSnapshot(nil)
	type closing struct {
		site string
		t    time.Time
	}
	var logged []closing
	a.CloseIdle(t0.Add(time.Minute), func(site string, at time.Time) { logged = append(logged, closing{site, at}) })
	if len(logged) != 1 || logged[0].site != "s1" {
		t.Fatalf("closings logged: %v", logged)
	}
	a.CloseIdle(t0.Add(2*time.Minute), func(site string, at time.Time) { t.Errorf("closed again: %s %v", site, at) })

	b := New(time.Minute, "gw", classOf)
	if err := b.Restore(snap, t0); err != nil {
		t.Fatal(err)
	}
	for _, c := range logged {
		b.CloseSite(c.site, c.t)
	}
	for _, agg := range []*Aggregator{a, b} {
		agg.Add(reading("wic1", "air_temp", 50*time.Second, 4), t0.Add(time.Minute))
	}
	ga, gb := a.Flush(nil, t0.Add(time.Minute)), b.Flush(nil, t0.Add(time.Minute))
	ja, _ := json.Marshal(ga)
	jb, _ := json.Marshal(gb)
	if !bytes.Equal(ja, jb) || a.Late != 1 || b.Late != 1 || len(ga) != 1 || ga[0].Rollups[0].Count != 1 {
		t.Errorf("replayed closing differs:\nlive     %s (late %d)\nreplayed %s (late %d)", ja, a.Late, jb, b.Late)
	}
}

func TestRestoreRefuses(t *testing.T) {
	a := New(time.Minute, "gw", classOf)
	a.Add(reading("wic1", "air_temp", 0, 3), t0)
	a.Add(reading("wic1", "door_open", 0, 1), t0)
	good := a.AppendSnapshot(nil)
	for name, data := range map[string][]byte{
		"empty":     nil,
		"version":   append([]byte{9}, good[1:]...),
		"truncated": good[:len(good)-3],
		"trailing":  append(append([]byte{}, good...), 0),
		"period":    New(time.Hour, "gw", classOf).AppendSnapshot(nil),
	} {
		b := New(time.Minute, "gw", classOf)
		if err := b.Restore(data, t0); err == nil {
			t.Errorf("%s: restored", name)
		}
		if len(b.sites) != 0 {
			t.Errorf("%s: %d sites left after a refused restore", name, len(b.sites))
		}
	}
}

func FuzzRestore(f *testing.F) {
	a := New(time.Minute, "gw", classOf)
	a.Add(reading("wic1", "air_temp", 0, 3), t0)
	a.Add(reading("wic1", "compressor_on", 0, 1), t0)
	a.Add(reading("wic1", "compressor_on", 20*time.Second, 0), t0)
	a.Predict([]rules.Prediction{{Site: "s1", Asset: "wic1", SlopePerHour: 1, HoursToLimit: 3}})
	f.Add(a.AppendSnapshot(nil))
	f.Add([]byte{1, 0x80})
	f.Fuzz(func(t *testing.T, data []byte) {
		b := New(time.Minute, "gw", classOf)
		if err := b.Restore(data, t0); err != nil {
			return
		}
		// Whatever restored must snapshot and flush without panicking.
		b.AppendSnapshot(nil)
		b.Add(reading("wic1", "air_temp", time.Hour, 3), t0)
		b.Flush(nil, t0.Add(time.Hour))
	})
}
