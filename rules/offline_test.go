package rules_test

import (
	"errors"
	"testing"
	"time"

	"github.com/frostline/frostline/rules"
)

// TestMarkOffline: a last will or a Sparkplug DEATH opens the missing-data
// incident at once, as the same incident the silence threshold would have
// opened later (same start, same id), and a reading clears it as usual.
func TestMarkOffline(t *testing.T) {
	type death struct {
		at     float64 // minutes
		late   float64 // delivered this many minutes after at
		site   string
		assets []string
	}
	cases := []struct {
		name   string
		input  []rules.Reading
		deaths []death
		want   []string
		start  float64 // the first event's Started, minutes
	}{{
		// waco-1 is silent from +2h1m to +3h: without the will it opens
		// at +2h16m (TestMissing).
		name: "a device's will: at once, not after 15 min",
		input: merge(
			silentDuring(newStream("s1", "waco-1").analog("air_temp", 0, 300, 1, boxTemp(3, 0.5)), 121, 180),
			newStream("s1", "wafr-2").analog("air_temp", 0, 300, 1, boxTemp(-20, 1)),
		),
		deaths: []death{{at: 120.5, site: "s1", assets: []string{"waco-1"}}},
		want: []string{
			"+2h30s opened waco-1 offline P3",
			"+3h cleared waco-1 offline P3",
		},
		start: 120,
	}, {
		name:   "the gateway's will: one site incident, none per sensor",
		input:  storeOutage(),
		deaths: []death{{at: 119.5, site: "s1"}},
		want: []string{
			"+1h59m30s opened * gateway P2",
			"+4h cleared * gateway P2",
		},
		start: 119,
	}, {
		// An NDEATH of the node that serves every device that reported
		// is the whole store.
		name:   "every reporting device dead: the site incident",
		input:  storeOutage(),
		deaths: []death{{at: 119.5, site: "s1", assets: []string{"waco-1", "wafr-2", "reco-3"}}},
		want: []string{
			"+1h59m30s opened * gateway P2",
			"+4h cleared * gateway P2",
		},
		start: 119,
	}, {
		// A will the broker delivers late, after the device is back
		// and has reported again, is news of an old session.
		name: "a death older than the newest reading: nothing",
		input: merge(
			newStream("s1", "waco-1").analog("air_temp", 0, 300, 1, boxTemp(3, 0.5)),
			newStream("s1", "wafr-2").analog("air_temp", 0, 300, 1, boxTemp(-20, 1)),
		),
		deaths: []death{{at: 99.5, late: 5, site: "s1", assets: []string{"waco-1"}}},
		want:   nil,
	}, {
		name: "twice: one incident",
		input: merge(
			silentDuring(newStream("s1", "waco-1").analog("air_temp", 0, 300, 1, boxTemp(3, 0.5)), 121, 180),
			newStream("s1", "wafr-2").analog("air_temp", 0, 300, 1, boxTemp(-20, 1)),
		),
		deaths: []death{{at: 121, site: "s1", assets: []string{"waco-1"}}, {at: 125, site: "s1", assets: []string{"waco-1"}}},
		want: []string{
			"+2h1m opened waco-1 offline P3",
			"+3h cleared waco-1 offline P3",
		},
		start: 120,
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			eng := newEngine(t, offline, testSites, rules.Options{})
			var evs []rules.Event
			deaths := tc.deaths
			for _, r := range tc.input {
				for len(deaths) > 0 && !r.At.Before(at(deaths[0].at+deaths[0].late)) {
					var err error
					d := deaths[0]
					if evs, err = eng.MarkOffline(evs, d.site, d.assets, at(d.at)); err != nil {
						t.Fatalf("MarkOffline: %v", err)
					}
					deaths = deaths[1:]
				}
				var err error
				if evs, err = eng.Observe(evs, r); err != nil {
					t.Fatalf("Observe: %v", err)
				}
			}
			diffLines(t, briefs(evs), tc.want)
			checkEpisodes(t, evs)
			if len(evs) > 0 && !evs[0].Started.Equal(at(tc.start)) {
				t.Errorf("started %s, want +%v min: the id the silence threshold would give", evs[0].Started, tc.start)
			}
		})
	}
}

func TestMarkOfflineRefuses(t *testing.T) {
	eng := newEngine(t, offline, testSites, rules.Options{})
	if _, err := eng.Observe(nil, rules.Reading{Site: "s1", Asset: "waco-1", Metric: rules.LookupMetric("air_temp"), At: at(0), Value: 3}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		site   string
		assets []string
		at     time.Time
		want   error
	}{
		{"nowhere", nil, at(1), rules.ErrUnknownSite},
		{"s1", []string{"nope"}, at(1), rules.ErrUnknownAsset},
		{"s1", []string{"waco-1"}, time.Date(2199, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(10, 0, 0), rules.ErrBadTime},
	} {
		evs, err := eng.MarkOffline(nil, tc.site, tc.assets, tc.at)
		if !errors.Is(err, tc.want) || len(evs) != 0 {
			t.Errorf("MarkOffline(%s, %v): %d events, err %v; want none and %v", tc.site, tc.assets, len(evs), err, tc.want)
		}
	}
}
