package sla

import (
	"fmt"
	"testing"
	"time"
)

// openTimers builds n open timers spread over a day of dispatches, a
// quarter of them in business hours and a tenth with a closed pause.
func openTimers(n int) []Timer {
	cal := DefaultCalendar()
	start := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	ts := make([]Timer, n)
	remind := []time.Duration{time.Hour, 15 * time.Minute}
	for i := range ts {
		s := start.Add(time.Duration(i%1440) * time.Minute)
		ts[i] = Timer{WorkOrder: fmt.Sprintf("wo_%06d", i), Site: "s1", Milestone: Milestones[i%3], Start: s,
			Target: time.Duration(1+i%8) * time.Hour, Location: chicago, Remind: remind}
		if i%4 == 0 {
			ts[i].Calendar = cal
		}
		if i%10 == 0 {
			ts[i].Pauses = []Interval{{Start: s.Add(10 * time.Minute), End: s.Add(40 * time.Minute)}}
		}
	}
	return ts
}

func BenchmarkSweep100k(b *testing.B) {
	ts := openTimers(100_000)
	now := time.Date(2026, 11, 26, 18, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	var n int
	for b.Loop() {
		n = len(Sweep(now, ts))
	}
	b.ReportMetric(float64(n), "actions")
}
