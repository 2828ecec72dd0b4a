package evidence

import (
	"testing"
	"time"

	"github.com/frostline/frostline/edge/wire"
	"github.com/frostline/frostline/rules"
)

// model is a product model that follows the air with a fixed lag.
type model struct {
	y      float64
	metric rules.MetricID
	ok     bool
}

func (m *model) Product(site, asset string) (float64, float64, rules.MetricID, bool) {
	return m.y, 5, m.metric, m.ok
}

var t0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

func reading(metric string, at time.Time, v float64) *rules.Reading {
	return &rules.Reading{Site: "s1", Asset: "wic-1", Metric: rules.LookupMetric(metric), At: at, Value: v}
}

func TestWindow(t *testing.T) {
	r := New(5*time.Minute, 6*time.Hour)
	m := &model{metric: rules.LookupMetric("air_temp"), ok: true}
	// Eight hours of a reading a minute: the air at 3 C, 4 C and 5 C in
	// turn, so that each 5-minute step's min, mean and max are known;
	// the door opens at each hour and closes a minute later; the
	// compressor cycles every 20 minutes.
	for i := range 8 * 60 {
		at := t0.Add(time.Duration(i) * time.Minute)
		m.y = 2 + float64(i)/100
		r.Observe(reading("air_temp", at, 3+float64(i%3)), m)
		r.Observe(reading("door_open", at, b(i%60 == 0)), m)
		r.Observe(reading("compressor_on", at, b(i%20 < 10)), m)
		r.Observe(reading("suction_pressure", at, 300), m) // not charted
	}
	end := t0.Add(8*time.Hour - time.Minute)
	w := r.Window("s1", "wic-1", end, m)
	if w == nil {
		t.Fatal("no window")
	}
	if w.Metric != "air_temp" || w.Unit != "C" || w.Step != 300 || w.Limit == nil || *w.Limit != 5 {
		t.Errorf("window header %+v", w)
	}
	if len(w.Points) != 72 {
		t.Fatalf("%d points, want 72 (6 h at 5 min)", len(w.Points))
	}
	first, last := w.Points[0], w.Points[71]
	if !first.At.Equal(t0.Add(2*time.Hour)) || !last.At.Equal(t0.Add(8*time.Hour-5*time.Minute)) {
		t.Errorf("points from %s to %s", first.At, last.At)
	}
	for _, p := range w.Points {
		if p.Min != 3 || p.Max != 5 || p.Mean < 3.8 || p.Mean > 4.2 || p.Product == nil {
			t.Fatalf("point %+v: want min 3, max 5, mean about 4, a product temperature", p)
		}
	}
	if got, want := *last.Product, 2+float64(8*60-1)/100; got != want {
		t.Errorf("product at the end %v, want %v", got, want)
	}
	doors, compressor := 0, 0
	for _, c := range w.Changes {
		if c.At.Before(t0.Add(2 * time.Hour)) {
			t.Fatalf("change %+v before the window", c)
		}
		switch c.Signal {
		case wire.SignalDoor:
			doors++
		case wire.SignalCompressor:
			compressor++
		}
	}
	// The door opens and closes six times in the window; the compressor
	// changes 36 times (every 10 minutes for 6 hours).
	if doors != 12 || compressor != 36 {
		t.Errorf("%d door and %d compressor changes, want 12 and 36", doors, compressor)
	}
	if r.Window("s1", "other", end, m) != nil {
		t.Error("a window for an asset without readings")
	}
}

// TestWindowWithoutModel charts the first temperature when the asset has
// no product model, and keeps the ring to its span when readings leave a
// gap of more than the span.
func TestWindowWithoutModel(t *testing.T) {
	r := New(5*time.Minute, time.Hour)
	m := &model{metric: rules.NoMetric}
	for i := range 30 {
		r.Observe(reading("zone_temp", t0.Add(time.Duration(i)*time.Minute), 21), m)
		r.Observe(reading("air_temp", t0.Add(time.Duration(i)*time.Minute), 9), m) // second: not charted
	}
	later := t0.Add(5 * time.Hour)
	r.Observe(reading("zone_temp", later, 25), m)
	w := r.Window("s1", "wic-1", later, m)
	if w == nil || w.Metric != "zone_temp" || w.Limit != nil {
		t.Fatalf("window %+v", w)
	}
	if len(w.Points) != 1 || w.Points[0].Max != 25 {
		t.Errorf("points %+v, want only the reading within the hour", w.Points)
	}
}

func b(on bool) float64 {
	if on {
		return 1
	}
	return 0
}

func BenchmarkObserve(b *testing.B) {
	r := New(5*time.Minute, 6*time.Hour)
	m := &model{metric: rules.LookupMetric("air_temp"), ok: true}
	rd := reading("air_temp", t0, 3)
	b.ReportAllocs()
	for i := range b.N {
		rd.At = t0.Add(time.Duration(i) * time.Second)
		r.Observe(rd, m)
	}
}
