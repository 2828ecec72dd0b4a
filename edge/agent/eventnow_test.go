package agent

import (
	"testing"
	"time"
)

// TestEventNow: the clock tick advances event time by the wall time that
// has passed since the newest reading arrived, so that a feed replaying
// its history (a backfill, the demo's simulator) is not called silent by
// a wall clock it never followed; and with no reading at all, silence is
// judged only after a grace.
func TestEventNow(t *testing.T) {
	wall := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	var p processor
	if _, ok := p.eventNow(wall); ok {
		t.Error("advanced at start with no reading")
	}
	if at, ok := p.eventNow(wall.Add(startupGrace)); !ok || !at.Equal(wall.Add(startupGrace)) {
		t.Errorf("after the grace with no reading: %v %v, want the wall clock", at, ok)
	}
	// Readings of yesterday arrive now: the tick follows them.
	p.lastEvent, p.lastArrival = wall.Add(-24*time.Hour), wall
	if at, ok := p.eventNow(wall.Add(30 * time.Second)); !ok || !at.Equal(wall.Add(-24*time.Hour+30*time.Second)) {
		t.Errorf("backfill: %v, want yesterday plus 30s", at)
	}
}
