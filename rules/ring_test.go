package rules

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
)

// The rings as they were before they kept Last and Has: the bucket number
// of every slot. The tests below hold the compact rings to the same
// answers, and restore these rings' JSON into them.

type idxAvgRing struct {
	Idx [avgBuckets]int64   `json:"idx"`
	Sum [avgBuckets]float64 `json:"sum"`
	Dur [avgBuckets]float64 `json:"dur"`
}

func (r *idxAvgRing) add(width, from, to int64, v float64) {
	for from < to {
		b := from / width
		end := min((b+1)*width, to)
		slot := b % avgBuckets
		if r.Idx[slot] != b {
			r.Idx[slot], r.Sum[slot], r.Dur[slot] = b, 0, 0
		}
		sec := float64(end-from) / 1e9
		r.Sum[slot] += v * sec
		r.Dur[slot] += sec
		from = end
	}
}

func (r *idxAvgRing) mean(width, t int64) (float64, float64) {
	cur := t / width
	var sum, dur float64
	for i := range avgBuckets {
		if r.Idx[i] > cur-avgBuckets && r.Idx[i] <= cur {
			sum += r.Sum[i]
			dur += r.Dur[i]
		}
	}
	if dur == 0 {
		return 0, 0
	}
	return sum / dur, dur / (float64(width*avgBuckets) / 1e9)
}

type idxFloorRing struct {
	Idx [avgBuckets]int64   `json:"idx"`
	Min [avgBuckets]float64 `json:"min"`
}

func (r *idxFloorRing) add(width, t int64, v float64) {
	b := t / width
	slot := b % avgBuckets
	if r.Idx[slot] != b {
		r.Idx[slot], r.Min[slot] = b, v
	} else if v < r.Min[slot] {
		r.Min[slot] = v
	}
}

func (r *idxFloorRing) min(width, t int64) (float64, float64) {
	cur := t / width
	lo, oldest := math.Inf(1), cur+1
	for i := range avgBuckets {
		if r.Idx[i] > cur-avgBuckets && r.Idx[i] <= cur {
			lo = math.Min(lo, r.Min[i])
			oldest = min(oldest, r.Idx[i])
		}
	}
	return lo, float64(cur-oldest+1) / avgBuckets
}

type idxBaseRing struct {
	Idx [avgBuckets]int64   `json:"idx"`
	Sum [avgBuckets]float64 `json:"sum"`
	N   [avgBuckets]int32   `json:"n"`
}

func (r *idxBaseRing) add(width, t int64, v float64) {
	b := t / width
	slot := b % avgBuckets
	if r.Idx[slot] != b {
		r.Idx[slot], r.Sum[slot], r.N[slot] = b, 0, 0
	}
	r.Sum[slot] += v
	r.N[slot]++
}

func (r *idxBaseRing) median(e *Engine, width, t int64) (float64, bool) {
	cur := t / width
	ms := e.scratch[:0]
	for i := range avgBuckets {
		if r.Idx[i] >= cur-avgBuckets && r.Idx[i] < cur && r.N[i] > 0 {
			ms = append(ms, r.Sum[i]/float64(r.N[i]))
		}
	}
	if len(ms) < avgBuckets/2 {
		return 0, false
	}
	return median(ms), true
}

// TestRingsMatchIndexedRings feeds the compact rings and the indexed ones
// the same series (regular, bursty, with gaps longer than the window) and
// compares every answer along the way, and again after a snapshot of the
// indexed rings is restored into compact ones.
func TestRingsMatchIndexedRings(t *testing.T) {
	e := &Engine{}
	for seed := range uint64(200) {
		rng := rand.New(rand.NewPCG(seed, 7))
		width := int64(1+rng.IntN(600)) * 1e9 // 1 s to 10 min buckets
		var (
			avg, oldAvg     = &avgRing{}, &idxAvgRing{}
			floor, oldFloor = &floorRing{}, &idxFloorRing{}
			base, oldBase   = &baseRing{}, &idxBaseRing{}
		)
		check := func(step int, at int64) {
			t.Helper()
			m1, c1 := avg.mean(width, at)
			m2, c2 := oldAvg.mean(width, at)
			if m1 != m2 || c1 != c2 {
				t.Fatalf("seed %d step %d: mean %v/%v, indexed %v/%v", seed, step, m1, c1, m2, c2)
			}
			l1, f1 := floor.min(width, at)
			l2, f2 := oldFloor.min(width, at)
			if l1 != l2 || f1 != f2 {
				t.Fatalf("seed %d step %d: min %v/%v, indexed %v/%v", seed, step, l1, f1, l2, f2)
			}
			b1, ok1 := base.median(e, width, at)
			b2, ok2 := oldBase.median(e, width, at)
			if b1 != b2 || ok1 != ok2 {
				t.Fatalf("seed %d step %d: median %v/%v, indexed %v/%v", seed, step, b1, ok1, b2, ok2)
			}
		}
		at := int64(1_780_000_000)*1e9 + rng.Int64N(int64(86400e9))
		prev, prevV := int64(0), 0.0
		for step := range 300 {
			switch rng.IntN(10) {
			case 0: // a silence up to twice the window
				at += rng.Int64N(2 * avgBuckets * width)
			case 1, 2: // a burst within one bucket
				at += rng.Int64N(width/4 + 1)
			default:
				at += rng.Int64N(2*width) + 1
			}
			v := rng.NormFloat64() * 5
			if prev != 0 {
				avg.add(width, prev, at, prevV)
				oldAvg.add(width, prev, at, prevV)
			}
			floor.add(width, at, v)
			oldFloor.add(width, at, v)
			check(step, at)
			base.add(width, at, v)
			oldBase.add(width, at, v)
			check(step, at)
			check(step, at+rng.Int64N(avgBuckets*width))
			prev, prevV = at, v
		}
		// What an earlier snapshot wrote restores to the same answers.
		restore := func(from, to any) {
			data, err := json.Marshal(from)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(data, to); err != nil {
				t.Fatal(err)
			}
		}
		avg, floor, base = &avgRing{}, &floorRing{}, &baseRing{}
		restore(oldAvg, avg)
		restore(oldFloor, floor)
		restore(oldBase, base)
		for k := range 30 {
			check(1000+k, at+int64(k)*width/2)
		}
		// And the compact rings round-trip through their own JSON.
		a2, f2, b2 := &avgRing{}, &floorRing{}, &baseRing{}
		restore(avg, a2)
		restore(floor, f2)
		restore(base, b2)
		b2.memo = base.memo // a cache of the median, not snapshotted
		if *a2 != *avg || *f2 != *floor || *b2 != *base {
			t.Fatalf("seed %d: rings changed through JSON", seed)
		}
	}
}
