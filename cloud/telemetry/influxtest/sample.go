package influxtest

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/frostline/frostline/edge/telemetry"
	"github.com/frostline/frostline/edge/wire"
	"github.com/frostline/frostline/rules"
	"github.com/frostline/frostline/rules/packs"
	"github.com/frostline/frostline/rules/replay"
	"github.com/frostline/frostline/rules/sample"
)

// Sample is what Frostline makes of the shared faults sample
// (../shared/data/faults-sample): the telemetry batches an edge agent
// would publish and the incident events its rule engine would raise.
type Sample struct {
	Telemetry []wire.Telemetry
	Incidents []wire.Incident
	Readings  int
	From, To  time.Time // the readings' time span
}

// Points is the number of points the telemetry batches make.
func (s *Sample) Points() (rollups, signals int) {
	for i := range s.Telemetry {
		rollups += len(s.Telemetry[i].Rollups)
		signals += len(s.Telemetry[i].Signals)
	}
	return rollups, signals
}

// SampleDir finds the shared faults sample beside the repository, or skips
// the test (fails it on CI).
func SampleDir(t testing.TB) string { return sample.Dir(t) }

// ReplaySample runs the first maxReadings readings of the shared sample (all
// of them when maxReadings <= 0) through Frostline as an edge agent does:
// replay.Reader -> default rule pack -> edge/telemetry Aggregator, with
// one-minute periods.
func ReplaySample(t testing.TB, maxReadings int) *Sample {
	t.Helper()
	dir := SampleDir(t)
	paths, err := filepath.Glob(filepath.Join(dir, "sites", "*.yaml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no site files in %s", dir)
	}
	var sites []*rules.Site
	classes := map[[2]string]string{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		s, err := rules.ParseSite(p, b)
		if err != nil {
			t.Fatal(err)
		}
		sites = append(sites, s)
		for _, a := range s.Assets {
			classes[[2]string{s.ID, a.ID}] = a.Class
		}
	}
	set, err := packs.Default()
	if err != nil {
		t.Fatal(err)
	}
	eng, err := rules.NewEngine(set, sites, rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, "readings.csv.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rd, err := replay.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()

	agg := telemetry.New(time.Minute, "gw-sample", func(site, asset string) string { return classes[[2]string{site, asset}] })
	out := &Sample{}
	var r rules.Reading
	var evs []rules.Event
	var flushed time.Time
	var preds []rules.Prediction
	for maxReadings <= 0 || out.Readings < maxReadings {
		err := rd.Next(&r)
		if errors.Is(err, io.EOF) {
			break
		}
		var le *replay.LineError
		if errors.As(err, &le) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		evs, err = eng.Observe(evs[:0], r)
		if err != nil {
			continue // refused by the engine: the agent leaves it out of rollups too
		}
		out.Readings++
		if out.From.IsZero() {
			out.From = r.At
		}
		out.To = r.At
		for _, ev := range evs {
			out.Incidents = append(out.Incidents, wire.NewIncident("gw-sample", ev))
		}
		// Readings arrive as they happened: their time is the wall clock.
		agg.Add(r, r.At)
		if r.At.Sub(flushed) >= time.Minute {
			// As the agent does: the engine's trend fits become signals.
			preds = eng.Predictions(preds[:0], flushed)
			agg.Predict(preds)
			out.Telemetry = agg.Flush(out.Telemetry, r.At)
			flushed = r.At
		}
	}
	out.Telemetry = agg.Flush(out.Telemetry, out.To.Add(time.Hour))
	return out
}
