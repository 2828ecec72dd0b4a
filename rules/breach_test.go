package rules

import (
	"math"
	"testing"
)

// TestTimeToLevel checks the product model's time to breach against a
// step-by-step simulation of the same filter, with and without a rising
// air, and the cases that never breach.
func TestTimeToLevel(t *testing.T) {
	simulate := func(y, a, r, level, tau, horizon float64) (float64, bool) {
		const dt = 1.0 / 3600 // one second, in hours
		for s := 0.0; s <= horizon; s += dt {
			if y >= level {
				return s, true
			}
			y += (a + r*s - y) * (1 - math.Exp(-dt/tau))
		}
		return 0, false
	}
	for _, tc := range []struct {
		name                       string
		y, a, r, level, tau, horiz float64
		breach                     bool
	}{
		{"air held above the limit", 3, 8, 0, 5, 1.5, 6, true},
		{"air rising from below the limit", 2.5, 3.5, 4, 5, 1.5, 6, true},
		{"a freezer warming", -20, -15, 3, -12, 1.5, 6, true},
		{"air held under the limit", 2, 4.5, 0, 5, 1.5, 6, false},
		{"too slow for the horizon", 2, 3, 0.1, 5, 1.5, 6, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := timeToLevel(tc.y, tc.a, tc.r, tc.level, tc.tau, tc.horiz)
			want, wok := simulate(tc.y, tc.a, tc.r, tc.level, tc.tau, tc.horiz)
			if ok != tc.breach || wok != tc.breach {
				t.Fatalf("breach %v (simulated %v), want %v", ok, wok, tc.breach)
			}
			if ok && math.Abs(got-want) > 2.0/60 {
				t.Errorf("%.3f h to the limit, simulated %.3f h", got, want)
			}
		})
	}
}
