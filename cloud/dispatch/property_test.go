package dispatch

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/frostline/frostline/rules"
)

// randomPool draws a vendor pool where every filter bites sometimes.
func randomPool(r *rand.Rand, n int) []Standing {
	trades := []string{"refrigeration", "hvac", "electrical", "controls"}
	pool := make([]Standing, n)
	for i := range pool {
		exp := func() time.Time { return t0.Add(time.Duration(r.IntN(60)-10) * 24 * time.Hour) }
		v := &Vendor{
			ID: fmt.Sprintf("v%04d", i), Name: fmt.Sprintf("Vendor %d", i), Kind: External,
			Trades:   []string{trades[r.IntN(len(trades))], trades[r.IntN(len(trades))]},
			Coverage: Coverage{Center: &rules.Location{Lat: 41.9 + r.Float64()*2 - 1, Lon: -87.6 + r.Float64()*2 - 1}, RadiusKM: 20 + r.Float64()*100},
			Rates:    map[string]Rate{"refrigeration": {Hourly: 60 + r.Float64()*100, TripCharge: r.Float64() * 150}},
			Capacity: r.IntN(4),
		}
		if r.IntN(4) == 0 {
			v.Coverage.Sites = []string{"s1"}
		}
		if r.IntN(5) > 0 {
			v.Documents = append(v.Documents, Document{Type: COIGeneralLiability, ExpiresAt: exp()})
		}
		if r.IntN(5) > 0 {
			v.Documents = append(v.Documents, Document{Type: COIWorkersComp, ExpiresAt: exp()})
		}
		for j := range r.IntN(3) {
			tc := Technician{ID: fmt.Sprintf("t%d", j)}
			if r.IntN(3) > 0 {
				tc.Documents = []Document{{Type: EPA608, ExpiresAt: exp()}}
			}
			v.Technicians = append(v.Technicians, tc)
		}
		if r.IntN(10) == 0 {
			v.DoNotDispatch = &DoNotDispatch{Reason: "audit"}
		}
		if r.IntN(8) == 0 {
			v.Kind = Internal
		}
		if r.IntN(3) == 0 {
			v.Ranks = []Rank{{Site: "s1", Rank: 1 + r.IntN(3)}}
		}
		s := Standing{Vendor: v, Open: r.IntN(4)}
		if r.IntN(2) == 0 {
			s.Scorecard = &Scorecard{Outcomes: r.IntN(20), Score: r.Float64(), Components: map[string]float64{"sla": 1}}
		}
		pool[i] = s
	}
	return pool
}

// compliantByHand is an independent statement of eligibility.
func compliantByHand(s Standing, trade string, at time.Time) bool {
	v := s.Vendor
	valid := func(docs []Document, t DocType) bool {
		for _, d := range docs {
			if d.Type == t && !at.After(d.ExpiresAt) {
				return true
			}
		}
		return false
	}
	hasTrade := false
	for _, t := range v.Trades {
		hasTrade = hasTrade || t == trade
	}
	if !hasTrade || v.DoNotDispatch != nil || (v.Capacity > 0 && s.Open >= v.Capacity) {
		return false
	}
	if v.Kind == External && !(valid(v.Documents, COIGeneralLiability) && valid(v.Documents, COIWorkersComp)) {
		return false
	}
	certified := false
	for _, t := range v.Technicians {
		certified = certified || valid(t.Documents, EPA608)
	}
	inSiteList := len(v.Coverage.Sites) > 0 && v.Coverage.Sites[0] == "s1"
	inRadius := haversineKM(*v.Coverage.Center, *site1.Location) <= v.Coverage.RadiusKM
	return certified && (inSiteList || inRadius)
}

// rankTuple is the ranking restated: smaller is better.
func rankTuple(c Candidate, r *Rules) [5]float64 {
	b := c.Breakdown
	rank := math.Inf(1)
	if b.Rank > 0 {
		rank = float64(b.Rank)
	}
	w := 1.0
	if b.Warranty {
		w = 0
	}
	return [5]float64{w, rank, -math.Floor(b.Score / r.Buckets.Score), math.Floor(*b.DistanceKM / r.Buckets.DistanceKM), math.Floor(*b.Cost / r.Buckets.CostUSD)}
}

func less(a, b [5]float64) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

// TestChosenIsCompliantAndBest: for random vendor sets, the vendor
// chosen is always compliant, and no eligible vendor ranks above it; and
// no compliant vendor is left out.
func TestChosenIsCompliantAndBest(t *testing.T) {
	rl := DefaultRules()
	for seed := range uint64(300) {
		r := rand.New(rand.NewPCG(seed, 0x5eed))
		pool := randomPool(r, 1+r.IntN(60))
		at := t0.Add(time.Duration(r.IntN(20*24)) * time.Hour)
		d := Candidates(workOrder("refrigeration"), site1, nil, pool, at, &rl)
		byID := map[string]Standing{}
		for _, s := range pool {
			byID[s.Vendor.ID] = s
		}
		for _, c := range d.Excluded {
			if compliantByHand(byID[c.Vendor], "refrigeration", at) {
				t.Fatalf("seed %d: %s excluded (%s: %s) but compliant", seed, c.Vendor, c.Reason, c.Detail())
			}
		}
		chosen, ok := d.Chosen()
		if !ok {
			continue
		}
		if !compliantByHand(byID[chosen.Vendor], "refrigeration", at) {
			t.Fatalf("seed %d: chose %s, which is not compliant", seed, chosen.Vendor)
		}
		top := rankTuple(chosen, &rl)
		for _, c := range d.Eligible[1:] {
			if !compliantByHand(byID[c.Vendor], "refrigeration", at) {
				t.Fatalf("seed %d: %s eligible but not compliant", seed, c.Vendor)
			}
			if less(rankTuple(c, &rl), top) {
				t.Fatalf("seed %d: %s (%v) ranks above chosen %s (%v)", seed, c.Vendor, rankTuple(c, &rl), chosen.Vendor, top)
			}
		}
	}
}

// TestCompactCandidatesIsCompactOfCandidates: the service's cheaper
// decision is exactly the compacted full one, for random pools, trades
// and times.
func TestCompactCandidatesIsCompactOfCandidates(t *testing.T) {
	rl := DefaultRules()
	for seed := range uint64(200) {
		r := rand.New(rand.NewPCG(seed, 0xc0ac7))
		pool := randomPool(r, 1+r.IntN(80))
		at := t0.Add(time.Duration(r.IntN(20*24)) * time.Hour)
		wo := workOrder([]string{"refrigeration", "hvac", "electrical"}[r.IntN(3)])
		full := Candidates(wo, site1, nil, pool, at, &rl)
		want, got := full.Compact(), CompactCandidates(wo, site1, nil, pool, at, &rl)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("seed %d: compact decision\n%+v\nwant\n%+v", seed, got, want)
		}
	}
}
