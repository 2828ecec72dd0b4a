package wire

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// TestTelemetryAppendJSON holds AppendJSON to json.Marshal's bytes.
func TestTelemetryAppendJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	floats := []float64{0, 1, -1, 0.1, 3.4, -18.25, 1e-7, 1.5e-9, 1e21, 2.5e22, 123456789.125, math.SmallestNonzeroFloat64, math.MaxFloat64, -0.000001}
	strs := []string{"wic-1", "", "a<b>&c", `q"uote`, "ünï", "tab\there"}
	f := func() float64 {
		if rng.IntN(3) == 0 {
			return floats[rng.IntN(len(floats))]
		}
		return (rng.Float64() - 0.5) * math.Pow(10, float64(rng.IntN(30)-10))
	}
	for i := range 2000 {
		tel := Telemetry{Schema: TelemetrySchema, Site: strs[rng.IntN(len(strs))], Gateway: strs[rng.IntN(len(strs))], Batch: "b"}
		for range rng.IntN(4) {
			tel.Rollups = append(tel.Rollups, Rollup{
				Asset: strs[rng.IntN(len(strs))], Class: strs[rng.IntN(len(strs))], Metric: "air_temp",
				Start:  time.Unix(rng.Int64N(4e9), int64(rng.IntN(3))*int64(rng.IntN(1e9))).UTC(),
				Period: f(), Min: f(), Mean: f(), Max: f(), Last: f(), Count: rng.IntN(1000),
			})
			if n := len(tel.Rollups); n > 1 && rng.IntN(2) == 0 {
				// One period, a minute of one reading: the start and the
				// values that AppendJSON copies rather than formats.
				r := &tel.Rollups[n-1]
				r.Start = tel.Rollups[n-2].Start
				vs := []float64{f(), 0, math.Copysign(0, -1)}
				r.Min, r.Mean, r.Max, r.Last = vs[rng.IntN(3)], vs[rng.IntN(3)], vs[rng.IntN(3)], vs[rng.IntN(3)]
			}
		}
		if i%3 == 0 {
			d := f()
			tel.Signals = append(tel.Signals, Signal{Asset: "a", At: time.Unix(0, 0).UTC(), DutyCycle: &d})
		}
		want, werr := json.Marshal(&tel)
		got, gerr := tel.AppendJSON(nil)
		if (werr != nil) != (gerr != nil) || (werr == nil && !bytes.Equal(got, want)) {
			t.Fatalf("AppendJSON:\n%s (%v)\njson.Marshal:\n%s (%v)", got, gerr, want, werr)
		}
	}
	bad := Telemetry{Schema: TelemetrySchema, Site: "s", Batch: "b", Rollups: []Rollup{{Mean: math.Inf(1)}}}
	if _, err := bad.AppendJSON(nil); err == nil {
		t.Error("an infinite mean encoded; json.Marshal refuses it")
	}
}
