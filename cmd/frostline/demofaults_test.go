package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/frostline/frostline/edge/sim"
	"github.com/frostline/frostline/rules"
	"github.com/frostline/frostline/rules/packs"
)

// TestDemoFaultsClear plays the demo's simulated day through the default
// pack, without servers, for forty of the days a demo can start on (the
// seed is the minute it goes live), and checks the story the demo tells:
// the failed compressor is one incident on the walk-in cooler, the rack
// trip one on the rack for the whole trip, and once each fault is over
// every incident clears within hours, so that the demo's vendor can
// complete and the sensors verify, and no healthy asset raises one. Each
// of these once failed on some of these days: a long-run incident that
// forgot its short runs while it held a warm box's incident back never
// cleared (the demo waited for it in CI), a case whose solenoid closed on
// warm air mid-trip cleared the rack's incident and opened a second, and
// a retrofit probe judged against a normal learned over half a day called
// a healthy case's night-time runs lost capacity.
func TestDemoFaultsClear(t *testing.T) {
	var sites []*rules.Site
	for _, name := range []string{"store-101.yaml", "store-102.yaml"} {
		b, err := demodata.ReadFile("demodata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		s, err := rules.ParseSite(name, b)
		if err != nil {
			t.Fatal(err)
		}
		sites = append(sites, s)
	}
	set, err := packs.Default()
	if err != nil {
		t.Fatal(err)
	}
	const settled = 12 * time.Hour // after going live: every fault over and its box recovered
	first := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	for i := range 40 {
		live := first.Add(time.Duration(i*97) * time.Minute)
		t.Run(live.Format("15:04"), func(t *testing.T) {
			t.Parallel()
			st := newSimState(live, 13*time.Hour)
			s, err := demoSim(sites, st)
			if err != nil {
				t.Fatal(err)
			}
			eng, err := rules.NewEngine(set, sites, rules.Options{})
			if err != nil {
				t.Fatal(err)
			}
			opened := map[string][]string{} // site/asset -> problems opened
			open := map[string]string{}     // incident -> site/asset problem, while open
			var story []string
			var buf []sim.Reading
			var evs []rules.Event
			for s.Now().Before(live.Add(settled + 2*time.Hour)) {
				buf = s.Step(buf[:0])
				for _, r := range buf {
					rd := rules.Reading{Site: r.Site, Asset: r.Asset, Metric: rules.LookupMetric(r.Metric), At: r.At, Value: r.Value}
					if r.Word != "" {
						v, ok := rules.WordValue(rd.Metric, r.Word)
						if !ok {
							t.Fatalf("%s %s: word %q", r.Asset, r.Metric, r.Word)
						}
						rd.Value = v
					}
					if evs, err = eng.Observe(evs[:0], rd); err != nil {
						t.Fatalf("%+v: %v", rd, err)
					}
					for _, e := range evs {
						key := e.Site + "/" + e.Asset
						switch e.Event {
						case rules.Opened:
							opened[key] = append(opened[key], e.Problem)
							open[e.Incident] = key + " " + e.Problem
						case rules.Cleared:
							delete(open, e.Incident)
						default:
							continue
						}
						story = append(story, fmt.Sprintf("%+.1fh %s %s %s (%s)", e.At.Sub(live).Hours(), e.Event, key, e.Problem, e.Rule))
					}
				}
				if s.Now().Equal(live.Add(settled)) && len(open) > 0 {
					t.Errorf("still open %v after going live: %v", settled, open)
				}
			}
			if p := opened["store-101/waco-1"]; len(p) != 1 {
				t.Errorf("the failed compressor: incidents %q, want one", p)
			}
			if p := opened["store-101/rack-8"]; len(p) != 1 || p[0] != "rack_failure" {
				t.Errorf("the rack trip: incidents %q, want one rack_failure", p)
			}
			faulted := map[string]bool{} // the assets a fault touches: a tripped rack's cases too
			for _, f := range demoFaults(sites, live) {
				faulted[f.Site+"/"+f.Asset] = true
				for _, site := range sites {
					for _, a := range site.Assets {
						if site.ID == f.Site && a.ServedBy == f.Asset {
							faulted[f.Site+"/"+a.ID] = true
						}
					}
				}
			}
			for key, p := range opened {
				if !faulted[key] {
					t.Errorf("%s has no fault but raised %q", key, p)
				}
			}
			if t.Failed() {
				t.Logf("what the rules made of it:\n%s", strings.Join(story, "\n"))
			}
		})
	}
}
