package agent

import (
	"slices"
	"testing"
	"time"

	"github.com/frostline/frostline/rules"
)

type offlineRec struct {
	site   string
	assets []string
	at     time.Time
}

// recorder keeps what an input log replays.
type recorder struct{ got []any }

func (r *recorder) reading(rd rules.Reading) { r.got = append(r.got, rd) }
func (r *recorder) advance(t time.Time)      { r.got = append(r.got, t) }
func (r *recorder) offline(site string, assets []string, at time.Time) {
	r.got = append(r.got, offlineRec{site, assets, at})
}

type closeRec struct {
	site string
	upTo time.Time
}

func (r *recorder) closeTelemetry(site string, upTo time.Time) {
	r.got = append(r.got, closeRec{site, upTo})
}

type clockRec struct{ at, wall time.Time }

func (r *recorder) clock(at, wall time.Time) { r.got = append(r.got, clockRec{at, wall}) }

func TestInputRoundTrip(t *testing.T) {
	rs := []rules.Reading{
		{Site: "s1", Asset: "wic1", Metric: rules.LookupMetric("air_temp"), At: time.Date(2026, 7, 6, 10, 0, 0, 5, time.UTC), Value: -3.25},
		{Site: "s1", Asset: "rtu1", Metric: rules.LookupMetric("mode"), At: time.Date(2026, 7, 6, 10, 0, 1, 0, time.UTC), Value: 1},
	}
	adv := time.Date(2026, 7, 6, 10, 5, 0, 0, time.UTC)
	var b []byte
	b = appendReading(b, &rs[0])
	b = appendAdvance(b, adv)
	b = appendReading(b, &rs[1])
	b = appendOffline(b, "s1", []string{"wic1", "wic2"}, adv)
	b = appendOffline(b, "s2", nil, adv)
	b = appendTelemetryClose(b, "s1", adv)
	b = appendClock(b, adv, adv.Add(-3*time.Hour))
	rec := &recorder{}
	if err := replayInput(b, rec); err != nil {
		t.Fatal(err)
	}
	got := rec.got
	want := []any{rs[0], adv, rs[1], offlineRec{"s1", []string{"wic1", "wic2"}, adv}, offlineRec{"s2", nil, adv}, closeRec{"s1", adv}, clockRec{adv, adv.Add(-3 * time.Hour)}}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		switch w := want[i].(type) {
		case rules.Reading:
			g, ok := got[i].(rules.Reading)
			if !ok || g.Site != w.Site || g.Asset != w.Asset || g.Metric != w.Metric || !g.At.Equal(w.At) || g.Value != w.Value {
				t.Errorf("record %d = %+v, want %+v", i, got[i], w)
			}
		case time.Time:
			if g, ok := got[i].(time.Time); !ok || !g.Equal(w) {
				t.Errorf("record %d = %v, want %v", i, got[i], w)
			}
		case offlineRec:
			if g, ok := got[i].(offlineRec); !ok || g.site != w.site || !slices.Equal(g.assets, w.assets) || !g.at.Equal(w.at) {
				t.Errorf("record %d = %v, want %v", i, got[i], w)
			}
		case closeRec:
			if g, ok := got[i].(closeRec); !ok || g.site != w.site || !g.upTo.Equal(w.upTo) {
				t.Errorf("record %d = %v, want %v", i, got[i], w)
			}
		case clockRec:
			if g, ok := got[i].(clockRec); !ok || !g.at.Equal(w.at) || !g.wall.Equal(w.wall) {
				t.Errorf("record %d = %v, want %v", i, got[i], w)
			}
		}
	}
	for n := range len(b) - 1 {
		// Truncated logs are reported, never a crash.
		_ = replayInput(b[:n], &recorder{})
	}
}

func FuzzReplayInput(f *testing.F) {
	r := rules.Reading{Site: "s", Asset: "a", Metric: 1, At: time.Unix(1, 0), Value: 2}
	f.Add(appendAdvance(appendReading(nil, &r), time.Unix(5, 0)))
	f.Add(appendOffline(nil, "s", []string{"a", "b"}, time.Unix(5, 0)))
	f.Add(appendTelemetryClose(nil, "s", time.Unix(60, 0)))
	f.Add(appendClock(nil, time.Unix(60, 0), time.Unix(50, 0)))
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = replayInput(data, &recorder{})
	})
}
