package dispatch

import (
	"math/rand/v2"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/workorder"
	"runtime"
	"slices"
	"testing"
	"time"
)

// densePool is the worst case: 10,000 vendors all within about 100 km of
// the site, so nearly every one is measured and checked document by
// document.
func densePool() []Standing {
	return randomPool(rand.New(rand.NewPCG(1, 2)), 10_000)
}

// nationalPool is what a national chain's vendor master looks like:
// 10,000 vendors spread over the continental US, each covering 20-120 km
// around its base, so a few dozen cover any one store.
func nationalPool() []Standing {
	r := rand.New(rand.NewPCG(3, 4))
	pool := randomPool(r, 10_000)
	for _, s := range pool {
		s.Vendor.Coverage.Center.Lat = 25 + r.Float64()*24
		s.Vendor.Coverage.Center.Lon = -124 + r.Float64()*57
		s.Vendor.Coverage.Sites = nil
	}
	// The area around the site is denser, as cities are.
	for _, s := range pool[:300] {
		s.Vendor.Coverage.Center.Lat = site1.Location.Lat + r.Float64() - 0.5
		s.Vendor.Coverage.Center.Lon = site1.Location.Lon + r.Float64() - 0.5
	}
	return pool
}

func BenchmarkCandidates10k(b *testing.B) {
	for _, p := range []struct {
		name string
		pool []Standing
	}{{"national", nationalPool()}, {"dense", densePool()}} {
		b.Run(p.name, func(b *testing.B) {
			rl := DefaultRules()
			wo := workOrder("refrigeration")
			b.ReportAllocs()
			for b.Loop() {
				d := Candidates(wo, site1, nil, p.pool, t0, &rl)
				if len(d.Eligible)+len(d.Excluded) != len(p.pool) {
					b.Fatal("vendors lost")
				}
			}
		})
	}
}

// BenchmarkCandidates10kTail reports the tail of single decisions over
// 10,000 vendors (the target is p99 <= 5 ms): each iteration is
// one decision, timed by the wall clock and by the thread's CPU time. On
// a shared machine the wall-clock tail is mostly time spent waiting for a
// core, which the decision does not control; the CPU tail is its own.
func BenchmarkCandidates10kTail(b *testing.B) {
	for _, p := range []struct {
		name   string
		pool   []Standing
		decide func(*workorder.WorkOrder, *cloud.Site, *cloud.Asset, []Standing, time.Time, *Rules) Decision
	}{
		{"national", nationalPool(), Candidates}, {"dense", densePool(), Candidates},
		// What the service runs: exclusions by trade and coverage only counted.
		{"national-compact", nationalPool(), CompactCandidates}, {"dense-compact", densePool(), CompactCandidates},
	} {
		b.Run(p.name, func(b *testing.B) {
			rl := DefaultRules()
			wo := workOrder("refrigeration")
			var took, cpu []time.Duration
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			for b.Loop() {
				c0 := threadCPU()
				began := time.Now()
				d := p.decide(wo, site1, nil, p.pool, t0, &rl)
				took = append(took, time.Since(began))
				cpu = append(cpu, threadCPU()-c0)
				omitted := 0
				for _, n := range d.Omitted {
					omitted += n
				}
				if len(d.Eligible)+len(d.Excluded)+omitted != len(p.pool) {
					b.Fatal("vendors lost")
				}
			}
			slices.Sort(took)
			slices.Sort(cpu)
			n := len(took)
			b.ReportMetric(float64(took[n/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(took[n*99/100].Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(cpu[n*99/100].Microseconds())/1000, "cpu-p99-ms")
		})
	}
}
