package rules

import (
	"testing"
	"unsafe"
)

// BenchmarkStateStructSizes reports the in-memory size of each kind's
// state, of an episode and of one held value: what one (series x rule)
// instance costs beside its snapshot. The numbers do not depend on b.N.
func BenchmarkStateStructSizes(b *testing.B) {
	for i := 0; i < b.N; i++ {
	}
	inst := unsafe.Sizeof(instance{}) + unsafe.Sizeof(episode{})
	for _, s := range []struct {
		kind string
		size uintptr
	}{
		{"threshold", unsafe.Sizeof(levelState{})},
		{"threshold+average", unsafe.Sizeof(levelState{}) + unsafe.Sizeof(avgRing{})},
		{"threshold+floor+baseline", unsafe.Sizeof(levelState{}) + unsafe.Sizeof(floorRing{}) + unsafe.Sizeof(baseRing{})},
		{"trend", unsafe.Sizeof(trendState{})},
		{"trend+baseline", unsafe.Sizeof(trendState{}) + unsafe.Sizeof(baseRing{})},
		{"state", unsafe.Sizeof(stateState{})},
		{"transitions", unsafe.Sizeof(transState{})},
		{"flatline", unsafe.Sizeof(flatState{})},
		{"missing", unsafe.Sizeof(missState{})},
		{"pulldown", unsafe.Sizeof(pulldownState{})},
		{"excursion", unsafe.Sizeof(excursionState{})},
		{"group", unsafe.Sizeof(groupState{})},
	} {
		b.ReportMetric(float64(s.size+inst), "B/"+s.kind)
	}
	b.ReportMetric(float64(unsafe.Sizeof(episode{})), "B/episode")
	b.ReportMetric(float64(unsafe.Sizeof(held{})), "B/held")
}
