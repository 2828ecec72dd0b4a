package dispatch_test

import (
	"context"
	"path/filepath"
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

// TestBacklogOffers: a P1 that reaches the cloud three hours after it
// opened (an edge back from an outage) is offered with a whole acceptance
// window from now, not one that ran out while nobody could see it; a sweep
// that comes late re-offers with a whole window too; and an FM who names a
// vendor whose offer lapsed can still send them by hand.
func TestBacklogOffers(t *testing.T) {
	ctx := context.Background()
	opened := time.Date(2026, 11, 26, 14, 0, 0, 0, time.UTC)
	now := opened.Add(3 * time.Hour)
	clock := func() time.Time { return now }
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "b.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.PutSite(ctx, &cloud.Site{ID: "s1", Timezone: "America/Chicago", Location: &rules.Location{Lat: 41.9, Lon: -87.65}}); err != nil {
		t.Fatal(err)
	}
	year := opened.AddDate(1, 0, 0)
	for i, id := range []string{"first", "second"} {
		v := dispatch.Vendor{ID: id, Name: id, Kind: dispatch.External, Trades: []string{"refrigeration"},
			Coverage:    dispatch.Coverage{Sites: []string{"s1"}},
			Ranks:       []dispatch.Rank{{Site: "s1", Trade: "refrigeration", Rank: i + 1}},
			Documents:   []dispatch.Document{{Type: dispatch.COIGeneralLiability, ExpiresAt: year}, {Type: dispatch.COIWorkersComp, ExpiresAt: year}},
			Technicians: []dispatch.Technician{{ID: id + "-t", Documents: []dispatch.Document{{Type: dispatch.EPA608, ExpiresAt: year}}}}}
		if err := db.PutVendor(ctx, &v, opened); err != nil {
			t.Fatal(err)
		}
	}
	in := &workorder.Intake[store.Tx]{Policy: workorder.DefaultPolicy()}
	svc := &dispatch.Service{Register: db, Rules: dispatch.DefaultRules(), Policy: &in.Policy, SLA: sla.DefaultPolicy(), Now: clock}
	in.Dispatcher = dispatch.For[store.Tx](svc)
	window := time.Duration(in.Policy.AcceptWithin["P1"])

	var w *workorder.WorkOrder
	update := func(fn func(tx store.Tx) error) {
		t.Helper()
		if err := db.Update(ctx, fn); err != nil {
			t.Fatal(err)
		}
	}
	update(func(tx store.Tx) error {
		res, err := in.Receive(ctx, tx, workorder.FromIncident(&rules.Event{Event: rules.Opened, Incident: "i1", Seq: 1, Site: "s1", Asset: "wic-1",
			AssetClass: "walk_in_cooler", Rule: "r", Problem: "no_cooling", Priority: "P1", Trade: "refrigeration", At: opened, Started: opened}))
		w = res.WorkOrder
		return err
	})
	if w.Status != workorder.Dispatched || w.Vendor != "first" || w.AcceptBy == nil || !w.AcceptBy.Equal(now.Add(window)) {
		t.Fatalf("the late P1: %s to %q, accept by %v; want DISPATCHED to first, accept by %v", w.Status, w.Vendor, w.AcceptBy, now.Add(window))
	}
	if w.DispatchedAt == nil || !w.DispatchedAt.Equal(opened) {
		t.Errorf("the dispatch event moved off event time: %v", w.DispatchedAt)
	}

	// The sweep comes an hour after first's deadline: second gets a
	// whole window from the sweep.
	now = w.AcceptBy.Add(time.Hour)
	update(func(tx store.Tx) error {
		cur, err := tx.WorkOrder(ctx, w.ID)
		if err != nil {
			return err
		}
		events, err := svc.Lapse(ctx, tx, cur, now)
		if err != nil {
			return err
		}
		w = cur
		return tx.Save(ctx, cur, events)
	})
	if w.Vendor != "second" || w.AcceptBy == nil || !w.AcceptBy.Equal(now.Add(window)) {
		t.Fatalf("after the late sweep: to %q, accept by %v; want second, accept by %v", w.Vendor, w.AcceptBy, now.Add(window))
	}
	var book *dispatch.Book
	update(func(tx store.Tx) error {
		var err error
		book, err = tx.Book(ctx, w.ID)
		return err
	})
	if book == nil || len(book.Offers.History) != 1 || book.Offers.History[0].Response != dispatch.TimedOut {
		t.Fatalf("the book: %+v", book)
	}
	if h := book.Offers.History[0]; !h.AnsweredAt.Equal(h.Deadline) {
		t.Errorf("first's lapse is answered at %v, want its deadline %v", h.AnsweredAt, h.Deadline)
	}

	// second declines: nobody is left, the work order waits READY. The
	// FM phones first and sends them by hand.
	update(func(tx store.Tx) error {
		cur, err := tx.WorkOrder(ctx, w.ID)
		if err != nil {
			return err
		}
		events, err := svc.Answer(ctx, tx, cur, workorder.Decline, workorder.Input{Actor: "second", Role: cloud.RoleVendor, Vendor: "second", At: now, Reason: "no one free"})
		if err != nil {
			return err
		}
		w = cur
		return tx.Save(ctx, cur, events)
	})
	if w.Status != workorder.Ready {
		t.Fatalf("after both vendors: %s, want READY", w.Status)
	}
	update(func(tx store.Tx) error {
		cur, err := tx.WorkOrder(ctx, w.ID)
		if err != nil {
			return err
		}
		events, err := svc.Answer(ctx, tx, cur, workorder.Dispatch, workorder.Input{Actor: "fay", Role: cloud.RoleFM, Vendor: "first", At: now, Reason: "phoned them"})
		if err != nil {
			return err
		}
		w = cur
		return tx.Save(ctx, cur, events)
	})
	if w.Status != workorder.Dispatched || w.Vendor != "first" {
		t.Errorf("sent by hand to first, whose offer lapsed: %s to %q", w.Status, w.Vendor)
	}
}
