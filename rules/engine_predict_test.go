package rules_test

import (
	"testing"
	"time"

	"github.com/frostline/frostline/rules"
)

func TestPredictionsFollowTheTrend(t *testing.T) {
	rs, err := rules.Parse("trend.yaml", []byte(`rules:
  - id: creep
    kind: trend
    match: {class: walk_in_cooler}
    metric: air_temp
    window: 2h
    limit: 5
    horizon: 6h
    problem: temp_trend
    priority: P2
    trade: refrigeration
    title: creeping
`))
	if err != nil {
		t.Fatal(err)
	}
	set, err := rules.Compile(rs)
	if err != nil {
		t.Fatal(err)
	}
	site, err := rules.ParseSite("s.yaml", []byte("site: s1\nassets: [{id: c1, class: walk_in_cooler}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := rules.NewEngine(set, []*rules.Site{site}, rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 7, 6, 0, 0, 0, 0, time.UTC)
	m := rules.LookupMetric("air_temp")
	for i := range 180 { // 3 h rising 0.5 C/h from 2 C
		at := start.Add(time.Duration(i) * time.Minute)
		if _, err := eng.Observe(nil, rules.Reading{Site: "s1", Asset: "c1", Metric: m, At: at, Value: 2 + 0.5*float64(i)/60}); err != nil {
			t.Fatal(err)
		}
	}
	ps := eng.Predictions(nil, time.Time{})
	if len(ps) != 1 {
		t.Fatalf("got %d predictions, want 1", len(ps))
	}
	p := ps[0]
	if p.Rule != "creep" || p.Asset != "c1" || p.Metric != "air_temp" || p.Limit != 5 {
		t.Errorf("prediction %+v", p)
	}
	if p.SlopePerHour < 0.45 || p.SlopePerHour > 0.55 {
		t.Errorf("slope %.3f C/h, want about 0.5", p.SlopePerHour)
	}
	// At 3 h the air is at about 3.5 C: 1.5 C to go at 0.5 C/h.
	if p.HoursToLimit < 2.5 || p.HoursToLimit > 3.5 {
		t.Errorf("hours to limit %.2f, want about 3", p.HoursToLimit)
	}
	if later := eng.Predictions(nil, p.At); len(later) != 0 {
		t.Errorf("predictions since the last fit: %d, want 0", len(later))
	}
}
