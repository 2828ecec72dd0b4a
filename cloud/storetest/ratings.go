package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/dispatch"
	"github.com/frostline/frostline/cloud/sla"
	"github.com/frostline/frostline/cloud/store"
	"github.com/frostline/frostline/cloud/workorder"
	"github.com/frostline/frostline/rules"
)

// testRatings: the store's rating of a verified visit is kept in the
// rating's transaction: the event in the work order's history, a row of
// the ratings list, and the vendor's outcome its scorecard reads. Two
// answers racing for the same verification leave one. "Not fixed" within
// the recall window sends the work order back to the same vendor; after it
// the rating is flagged and listed for the FM.
func testRatings(t *testing.T, s Store) {
	ctx := context.Background()
	if err := s.PutSite(ctx, &cloud.Site{ID: "s1", Name: "One", Timezone: "America/Chicago"}); err != nil {
		t.Fatal(err)
	}
	docs := []dispatch.Document{{Type: dispatch.COIGeneralLiability, ExpiresAt: T0.AddDate(2, 0, 0)}, {Type: dispatch.COIWorkersComp, ExpiresAt: T0.AddDate(2, 0, 0)}}
	for _, id := range []string{"coolco", "frostco"} {
		if err := s.PutVendor(ctx, &dispatch.Vendor{ID: id, Name: id, Kind: dispatch.External, Trades: []string{"refrigeration"},
			Coverage: dispatch.Coverage{Sites: []string{"s1"}}, Documents: docs,
			Technicians: []dispatch.Technician{{ID: "t-" + id, Documents: []dispatch.Document{{Type: dispatch.EPA608, ExpiresAt: T0.AddDate(4, 0, 0)}}}},
			Ranks:       []dispatch.Rank{{Site: "s1", Trade: "refrigeration", Rank: map[string]int{"coolco": 1, "frostco": 2}[id]}}}, T0); err != nil {
			t.Fatal(err)
		}
	}
	clock := T0
	in := &workorder.Intake[store.Tx]{Policy: workorder.DefaultPolicy()}
	svc := &dispatch.Service{Register: s, Rules: dispatch.DefaultRules(), Policy: &in.Policy, SLA: sla.DefaultPolicy(), Now: func() time.Time { return clock }}
	in.Dispatcher = dispatch.For[store.Tx](svc)
	// verified takes a P1 on asset through coolco's visit to VERIFIED at T0+4h.
	verified := func(asset string) *workorder.WorkOrder {
		t.Helper()
		r := receive(t, s, in, workorder.FromIncident(Incident(rules.Opened, "inc-"+asset, 1, T0, "s1", asset, "temp_high", "P1")))
		if r.WorkOrder.Vendor != "coolco" {
			t.Fatalf("dispatched to %q, want coolco", r.WorkOrder.Vendor)
		}
		for _, st := range []struct {
			a  workorder.Action
			in workorder.Input
		}{
			{workorder.Accept, workorder.Input{Role: cloud.RoleVendor, Vendor: "coolco", At: T0.Add(10 * time.Minute)}},
			{workorder.CheckIn, workorder.Input{Role: cloud.RoleTechnician, Vendor: "coolco", Technician: "t-coolco", Override: "test", At: T0.Add(time.Hour)}},
			{workorder.Complete, workorder.Input{Role: cloud.RoleTechnician, Vendor: "coolco", At: T0.Add(2 * time.Hour),
				Completion: &workorder.Completion{Problem: "temp_high", Cause: "dirty_coil", Remedy: "cleaned_coil"}}},
			{workorder.Verify, workorder.Input{Role: cloud.RoleFM, At: T0.Add(4 * time.Hour)}},
		} {
			st.in.Actor = "someone"
			err := s.Update(ctx, func(tx store.Tx) error {
				w, err := tx.WorkOrder(ctx, r.WorkOrder.ID)
				if err != nil {
					return err
				}
				ev, err := in.Act(ctx, tx, w, st.a, st.in)
				if err != nil {
					return err
				}
				return tx.Save(ctx, w, ev)
			})
			if err != nil {
				t.Fatalf("%s: %v", st.a, err)
			}
		}
		w, err := s.WorkOrder(ctx, r.WorkOrder.ID)
		if err != nil || w.Status != workorder.Verified {
			t.Fatalf("work order %+v, %v", w, err)
		}
		return w
	}
	rate := func(id string, r workorder.Rating) (*workorder.WorkOrder, error) {
		var out *workorder.WorkOrder
		err := s.Update(ctx, func(tx store.Tx) error {
			w, err := tx.WorkOrder(ctx, id)
			if err != nil {
				return err
			}
			ev, err := in.Rate(ctx, tx, w, r)
			if err != nil {
				return err
			}
			out = w
			return tx.Save(ctx, w, ev)
		})
		return out, err
	}

	// Fixed, 4 of 5: two answers race; one stands, the other is told.
	a := verified("wic-1")
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, who := range []string{"Ann", "Bob"} {
		wg.Go(func() {
			_, errs[i] = rate(a.ID, workorder.Rating{Fixed: true, Score: 4, Comment: "cold again", By: who, Via: "link", At: T0.Add(5 * time.Hour)})
		})
	}
	wg.Wait()
	if (errs[0] == nil) == (errs[1] == nil) || cloud.ErrorCode(errs[0]) != cloud.ECONFLICT && cloud.ErrorCode(errs[1]) != cloud.ECONFLICT {
		t.Fatalf("two answers to one question: %v, %v; want one taken and one ECONFLICT", errs[0], errs[1])
	}
	a, _ = s.WorkOrder(ctx, a.ID)
	if a.Rating == nil || a.Rating.Score != 4 || !a.Rating.Fixed || a.Status != workorder.Verified {
		t.Fatalf("rating on the work order %+v, %s", a.Rating, a.Status)
	}
	events, err := s.Events(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range events {
		if e.Kind == workorder.Rated {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d rating events in the history, want 1", n)
	}

	// Not fixed within the recall window: back to coolco as a recall.
	clock = T0
	b := verified("wic-2")
	clock = T0.Add(48 * time.Hour)
	b, err = rate(b.ID, workorder.Rating{Score: 1, Comment: "still warm", By: "Ann", Via: "page", At: clock})
	if err != nil {
		t.Fatal(err)
	}
	if b.Status != workorder.Dispatched || b.Vendor != "coolco" || b.Rating.Outcome != workorder.RatingRecall {
		t.Errorf("not fixed in the window: %s to %q (%s), want dispatched to coolco as a recall", b.Status, b.Vendor, b.Rating.Outcome)
	}

	// Not fixed after the window: recorded and flagged, nobody recalled.
	clock = T0
	c := verified("wic-3")
	clock = T0.Add(40 * 24 * time.Hour)
	c, err = rate(c.ID, workorder.Rating{Score: 2, By: "Ann", Via: "api", At: clock})
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != workorder.Verified || c.Rating.Outcome != workorder.RatingFlagged {
		t.Errorf("not fixed after the window: %s (%s), want verified and flagged", c.Status, c.Rating.Outcome)
	}

	all, err := s.Ratings(ctx, workorder.RatingFilter{Vendor: "coolco"})
	if err != nil || len(all) != 3 || all[0].WorkOrder != c.ID || all[2].WorkOrder != a.ID || all[2].Number != a.Number || all[2].Site != "s1" {
		t.Fatalf("coolco's ratings, newest first: %+v, %v", all, err)
	}
	if flagged, err := s.Ratings(ctx, workorder.RatingFilter{Outcome: workorder.RatingFlagged}); err != nil || len(flagged) != 1 || flagged[0].WorkOrder != c.ID {
		t.Errorf("flagged for the FM: %+v, %v", flagged, err)
	}
	if none, err := s.Ratings(ctx, workorder.RatingFilter{Vendor: "frostco"}); err != nil || len(none) != 0 {
		t.Errorf("frostco's ratings: %+v, %v", none, err)
	}
	sc, err := svc.Scorecard(ctx, "coolco")
	if err != nil {
		t.Fatal(err)
	}
	if sc.Ratings.Count != 3 || sc.Ratings.Fixed.N != 1 || sc.Ratings.Fixed.Of != 3 || sc.Ratings.Average < 2.33 || sc.Ratings.Average > 2.34 {
		t.Errorf("coolco's scorecard ratings %+v, want 3 with a mean of 7/3, one fixed", sc.Ratings)
	}
	if sc.Recall.N != 1 {
		t.Errorf("coolco's recalls %+v, want the store's not-fixed one", sc.Recall)
	}
}
