package http

import (
	"context"
	"testing"
	"time"

	"github.com/frostline/frostline/cloud/workorder"
	"github.com/frostline/frostline/rules"
)

// TestVerificationNeedsReadings is issue 15 item 12's last part: sensor
// verification refuses a window in which the asset sent nothing (its
// gateway's heartbeat names its newest reading). It waits one more window,
// then asks a person; with readings in the window it verifies; a site
// whose gateway sends no heartbeats is verified as before. Before, a fix
// was "verified by sensor" with no data in the window.
func TestVerificationNeedsReadings(t *testing.T) {
	for _, tc := range []struct {
		name     string
		readings func(now time.Time) (time.Time, bool)
		want     workorder.Status
		how      string
	}{
		{"readings through the window", func(now time.Time) (time.Time, bool) { return now.Add(-time.Minute), true }, workorder.Verified, "sensor"},
		{"silent since before the window", func(now time.Time) (time.Time, bool) { return now.Add(-3 * time.Hour), true }, workorder.Verifying, "extended"},
		{"never reported", func(time.Time) (time.Time, bool) { return time.Time{}, true }, workorder.Verifying, "extended"},
		{"no heartbeats from the site", func(time.Time) (time.Time, bool) { return time.Time{}, false }, workorder.Verified, "sensor"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDispatchFixture(t)
			d.in.Readings = func(_ context.Context, site, asset string) (time.Time, bool) {
				if site != "s1" || asset != "wic-1" {
					t.Errorf("readings asked for %s/%s", site, asset)
				}
				return tc.readings(d.clock)
			}
			w := d.incident(t, "i1", "wic-1", rules.Opened, "P1")
			d.act(t, "polar", w.ID, "accept", `{"technician":"tech-polar"}`, 200)
			d.act(t, "tech-polar", w.ID, "check_in", `{"lat":41.8801,"lon":-87.6301}`, 200)
			d.clock = t0.Add(time.Hour)
			d.act(t, "tech-polar", w.ID, "complete", `{"problem":"no_cooling","cause":"low_charge","remedy":"leak_repaired","labour":[{"hours":1,"rate":100}]}`, 200)
			d.clock = d.clock.Add(30 * time.Minute)
			d.incident(t, "i1", "wic-1", rules.Cleared, "P1")
			d.clock = t0.Add(3*time.Hour + 2*time.Minute)
			d.sweep(t)
			v := d.wo(t, w.ID)
			if v.Status != tc.want || v.Verification != tc.how {
				t.Fatalf("at the window's end: %s %q, want %s %q", v.Status, v.Verification, tc.want, tc.how)
			}
			if tc.how != "extended" {
				return
			}
			// Still nothing after one more window: a person must verify.
			d.clock = d.clock.Add(2*time.Hour + time.Minute)
			d.sweep(t)
			if v = d.wo(t, w.ID); v.Status != workorder.Verifying || v.Verification != "awaiting_person" {
				t.Errorf("after the extension with no readings: %s %q, want VERIFYING awaiting_person", v.Status, v.Verification)
			}
		})
	}
}
