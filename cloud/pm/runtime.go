package pm

import (
	"fmt"
	"math"
	"time"

	"github.com/frostline/frostline/edge/wire"
)

// Sample is what one asset did in one telemetry period ending At: how long
// it was watched, how long its compressor ran, how many defrosts it made.
// Samples are the runtime counters run-hour schedules count.
type Sample struct {
	Asset    string    `json:"asset"`
	At       time.Time `json:"at"`
	Hours    float64   `json:"hours"`
	RunHours float64   `json:"run_hours"`
	Defrosts int       `json:"defrosts,omitempty"`
}

// Validate checks a sample, naming the field.
func (s *Sample) Validate() error {
	switch {
	case s.Asset == "" || len(s.Asset) > 128:
		return fmt.Errorf("asset: required")
	case s.At.Year() < 2000 || s.At.Year() > 2200:
		return fmt.Errorf("at: want a time between 2000 and 2200")
	case !(s.Hours > 0 && s.Hours <= 24*31):
		return fmt.Errorf("hours: want more than 0, at most 744")
	case !(s.RunHours >= 0 && s.RunHours <= s.Hours):
		return fmt.Errorf("run_hours: want 0 to hours")
	case s.Defrosts < 0 || s.Defrosts > 10000:
		return fmt.Errorf("defrosts: want 0 to 10000")
	}
	return nil
}

// SamplesFrom turns a telemetry batch's signals into runtime samples: each
// signal's duty cycle over the batch's rollup period is run time, its
// defrost count is defrosts. Signals without a duty cycle or defrost count
// add nothing, and a batch without rollups has no known period.
func SamplesFrom(t wire.Telemetry) []Sample {
	period := map[string]float64{}
	for _, r := range t.Rollups {
		period[r.Asset] = math.Max(period[r.Asset], r.Period)
	}
	var out []Sample
	for _, sig := range t.Signals {
		p := period[sig.Asset]
		if p <= 0 || (sig.DutyCycle == nil && sig.DefrostCycles == nil) {
			continue
		}
		s := Sample{Asset: sig.Asset, At: sig.At.UTC(), Hours: p / 3600}
		if d := sig.DutyCycle; d != nil && *d >= 0 && *d <= 1 {
			s.RunHours = *d * s.Hours
		}
		if n := sig.DefrostCycles; n != nil && *n >= 0 {
			s.Defrosts = *n
		}
		if s.Validate() == nil {
			out = append(out, s)
		}
	}
	return out
}
