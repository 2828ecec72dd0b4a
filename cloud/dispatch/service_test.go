package dispatch_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/dispatch"
	"github.com/frostline/frostline/cloud/sla"
	"github.com/frostline/frostline/cloud/sqlite"
	"github.com/frostline/frostline/cloud/store"
	"github.com/frostline/frostline/cloud/workorder"
	"github.com/frostline/frostline/rules"
)

// TestServiceDispatchesOnlyCompliantBestRanked is the property test of
// the running service: for random vendor registers in a real SQLite store,
// the vendor a P1 incident is dispatched to is always compliant on the day
// (Comply), works the trade, covers the site, is not barred, and no other
// compliant vendor covering the site holds a better explicit rank; when no
// vendor qualifies the work order stays READY.
func TestServiceDispatchesOnlyCompliantBestRanked(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 26, 14, 0, 0, 0, time.UTC)
	site := &cloud.Site{ID: "s1", Timezone: "America/Chicago", Location: &rules.Location{Lat: 41.9, Lon: -87.65}}
	var dispatched, ready int
	for seed := range uint64(40) {
		r := rand.New(rand.NewPCG(seed, 7))
		db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), fmt.Sprintf("p%d.db", seed)))
		if err != nil {
			t.Fatal(err)
		}
		if err := db.PutSite(ctx, site); err != nil {
			t.Fatal(err)
		}
		vendors := randomVendors(r, 5+r.IntN(25), t0)
		for i := range vendors {
			if err := db.PutVendor(ctx, &vendors[i], t0); err != nil {
				t.Fatal(err)
			}
		}
		rl := dispatch.DefaultRules()
		in := &workorder.Intake[store.Tx]{Policy: workorder.DefaultPolicy()}
		in.Dispatcher = dispatch.For[store.Tx](&dispatch.Service{Register: db, Rules: rl, Policy: &in.Policy, SLA: sla.DefaultPolicy(), Now: func() time.Time { return t0 }})
		var w *workorder.WorkOrder
		err = db.Update(ctx, func(tx store.Tx) error {
			res, err := in.Receive(ctx, tx, workorder.FromIncident(&rules.Event{Event: rules.Opened, Incident: "i1", Seq: 1, Site: "s1", Asset: "wic-1",
				AssetClass: "walk_in_cooler", Rule: "r", Problem: "no_cooling", Priority: "P1", Trade: "refrigeration", At: t0, Started: t0}))
			w = res.WorkOrder
			return err
		})
		db.Close()
		if err != nil {
			t.Fatal(err)
		}
		qualifies := func(v *dispatch.Vendor) bool {
			reason, _ := dispatch.Comply(v, "refrigeration", "", t0, &rl)
			covers := slices.Contains(v.Coverage.Sites, "s1")
			return reason == dispatch.Eligible && covers && slices.Contains(v.Trades, "refrigeration") && v.DoNotDispatch == nil
		}
		rank := func(v *dispatch.Vendor) int {
			if r := v.RankAt("s1", "refrigeration"); r > 0 {
				return r
			}
			return 1 << 30
		}
		best := 1 << 30
		for i := range vendors {
			if qualifies(&vendors[i]) {
				best = min(best, rank(&vendors[i]))
			}
		}
		if w.Status != workorder.Dispatched {
			ready++
			if best != 1<<30 {
				t.Errorf("seed %d: a qualifying vendor exists (rank %d) but the work order is %s", seed, best, w.Status)
			}
			continue
		}
		dispatched++
		i := slices.IndexFunc(vendors, func(v dispatch.Vendor) bool { return v.ID == w.Vendor })
		if i < 0 || !qualifies(&vendors[i]) {
			t.Errorf("seed %d: dispatched to %q, which does not qualify", seed, w.Vendor)
			continue
		}
		if got := rank(&vendors[i]); got != best {
			t.Errorf("seed %d: dispatched to %s ranked %d while a qualifying vendor ranks %d", seed, w.Vendor, got, best)
		}
	}
	if dispatched < 10 || ready < 1 {
		t.Errorf("the draws do not exercise both outcomes: %d dispatched, %d left READY", dispatched, ready)
	}
}

// randomVendors draws vendors where every filter bites sometimes.
func randomVendors(r *rand.Rand, n int, t0 time.Time) []dispatch.Vendor {
	trades := []string{"refrigeration", "hvac", "electrical"}
	exp := func() time.Time { return t0.Add(time.Duration(r.IntN(60)-15) * 24 * time.Hour) }
	out := make([]dispatch.Vendor, n)
	for i := range out {
		v := dispatch.Vendor{ID: fmt.Sprintf("v%02d", i), Name: fmt.Sprintf("Vendor %d", i), Kind: dispatch.External,
			Trades: []string{trades[r.IntN(len(trades))]}, Coverage: dispatch.Coverage{Sites: []string{"s1"}}}
		if r.IntN(4) == 0 {
			v.Coverage.Sites = []string{"s2"}
		}
		if r.IntN(5) > 0 {
			v.Documents = append(v.Documents, dispatch.Document{Type: dispatch.COIGeneralLiability, ExpiresAt: exp()})
		}
		if r.IntN(5) > 0 {
			v.Documents = append(v.Documents, dispatch.Document{Type: dispatch.COIWorkersComp, ExpiresAt: exp()})
		}
		if r.IntN(3) > 0 {
			v.Technicians = []dispatch.Technician{{ID: "t", Documents: []dispatch.Document{{Type: dispatch.EPA608, ExpiresAt: exp()}}}}
		}
		if r.IntN(10) == 0 {
			v.DoNotDispatch = &dispatch.DoNotDispatch{Reason: "audit"}
		}
		if r.IntN(2) == 0 && slices.Contains(v.Coverage.Sites, "s1") {
			v.Ranks = []dispatch.Rank{{Site: "s1", Trade: v.Trades[0], Rank: 1 + r.IntN(3)}}
		}
		out[i] = v
	}
	return out
}
