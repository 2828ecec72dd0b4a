package grafana_test

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/analytics"
	"github.com/frostline/frostline/cloud/dispatch"
	"github.com/frostline/frostline/cloud/invoicing"
	"github.com/frostline/frostline/cloud/sla"
	"github.com/frostline/frostline/cloud/sqlite"
	"github.com/frostline/frostline/cloud/store"
	"github.com/frostline/frostline/cloud/telemetry"
	"github.com/frostline/frostline/cloud/telemetry/influxtest"
	"github.com/frostline/frostline/cloud/workorder"
)

// kpiPoints makes the kpis points the KPI dashboards read the way the
// service does: work orders on the sample's sites and assets, recorded
// event by event in a real store (SQLite), and cloud/analytics' daily
// writer computing each day's points from them (analytics.Daily.Points).
// The replay of sensor data alone makes no completed, costed, preventive
// or recalled work, so each asset gets a day's typical work: a failure
// repaired by one of two vendors (some late, some over their NTE), a
// planned visit, a self-recovered alarm, and a recall of the day before's
// repair. Each repair's offer and how it went is recorded as the dispatch
// service records it (a vendor outcome), and the vendor points' scorecard
// fields come from cloud/dispatch's scorecards over those outcomes.
func kpiPoints(t *testing.T, s *influxtest.Sample) []telemetry.KPI {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "kpis.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	assets := map[[2]string]bool{}
	for i := range s.Telemetry {
		for _, r := range s.Telemetry[i].Rollups {
			assets[[2]string{s.Telemetry[i].Site, r.Asset}] = true
		}
	}
	keys := slices.SortedFunc(maps.Keys(assets), func(x, y [2]string) int { return strings.Compare(x[0]+x[1], y[0]+y[1]) })
	for _, k := range keys {
		if err := db.PutSite(ctx, &cloud.Site{ID: k[0], Region: "sample"}); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	var days []time.Time
	for day := s.From.Truncate(24 * time.Hour); day.Before(s.To); day = day.Add(24 * time.Hour) {
		days = append(days, day)
	}
	last := map[[2]string]string{} // the asset's previous repair, for recalls
	for _, day := range days {
		for i, k := range keys {
			n++
			vendor := []string{"coolco", "netfix"}[i%2]
			h := func(hh, mm int) time.Time {
				return day.Add(time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute)
			}
			id := fmt.Sprintf("wo-%d", n)
			// A failure, repaired in one visit, confirmed by the sensor;
			// every third arrives late, every fourth costs over its NTE.
			arrive := h(8, 0)
			if n%3 == 0 {
				arrive = h(16, 0)
			}
			parts := 100.0
			if n%4 == 0 {
				parts = 250
			}
			opening := &workorder.Opening{ID: id, Number: int64(n), Site: k[0], Asset: k[1], AssetClass: "walk_in_cooler",
				Source: workorder.Sensor, Problem: "temp_high", Trade: "refrigeration", Priority: "P2"}
			if prev, ok := last[k]; ok && n%5 == 0 {
				opening.RecallOf = prev
			}
			b := newBuilder(t, opening, h(6, 0)).
				incident("inc-"+id, "opened", h(5, 50), h(6, 0)).
				tr(workorder.Triage, workorder.Triaged, h(6, 0)).tr(workorder.Release, workorder.Ready, h(6, 0)).
				dispatch(vendor, h(6, 5), 300).tr(workorder.Accept, workorder.Accepted, h(6, 20)).
				checkIn(arrive).incident("inc-"+id, "cleared", h(5, 50), arrive.Add(time.Hour)).
				complete(arrive.Add(90*time.Minute), &workorder.Completion{Problem: "temp_high", Cause: "dirty_condenser", Remedy: "cleaned",
					Parts: []workorder.Part{{Description: "filter", Quantity: 1, UnitCost: parts}}, Labour: []workorder.Labour{{Hours: 1, Rate: 90}}}).
				tr(workorder.Verify, workorder.Verified, h(20, 0))
			// The store rates the visit that evening: fixed, 4 or 5 of
			// 5, except every sixth, "not fixed, 2 of 5".
			rating := &workorder.Rating{Fixed: n%6 != 0, Score: 4 + n%2, By: "store", Via: "link", At: h(20, 30), Vendor: vendor, Verified: h(20, 0)}
			if !rating.Fixed {
				rating.Score, rating.Outcome = 2, workorder.RatingFlagged
			}
			b.add(workorder.Event{Kind: workorder.Rated, Actor: "store", At: h(20, 30), Rating: rating})
			b.save(ctx, db)
			// The offer book's record of it: accepted; the check-in on
			// time unless late, outside the geofence every seventh time.
			arrival := sla.Result{Milestone: sla.Arrive, Due: h(10, 5), Done: arrive, Met: !arrive.After(h(10, 5)), Target: 4 * time.Hour}
			if !arrival.Met {
				arrival.Lateness = arrive.Sub(arrival.Due)
			}
			out := dispatch.Outcome{Vendor: vendor, Trade: "refrigeration", WorkOrder: id, Offered: h(6, 5), Response: dispatch.Accepted,
				SLA: []sla.Result{arrival}, Completed: true, Visits: 1, Recalled: false, Verification: dispatch.VerifyPassed,
				Cost: parts + 90, CheckIns: 1, CheckInsCompliant: 1}
			if n%7 == 0 {
				out.CheckInsCompliant = 0
			}
			// The vendor invoices the repair after verification; every
			// fifth invoice is disputed and revised before the FM
			// approves it the next morning.
			done := arrive.Add(90 * time.Minute)
			inv := &invoicing.Invoice{ID: "inv-" + id, WorkOrder: id, Vendor: vendor, Number: "N-" + id, Revision: 1, Total: parts + 90,
				State: invoicing.Submitted, SubmittedAt: h(21, 0), History: []invoicing.Change{{State: invoicing.Submitted, By: vendor, At: h(21, 0)}}}
			if n%5 == 0 {
				inv.History = append(inv.History, invoicing.Change{State: invoicing.Disputed, By: "fm", At: h(22, 0)},
					invoicing.Change{State: invoicing.Submitted, By: vendor, At: h(23, 0)})
			}
			inv.State = invoicing.Approved
			inv.History = append(inv.History, invoicing.Change{State: invoicing.Approved, By: "fm", At: done.Add(20 * time.Hour)})
			out.InvoiceDecided, out.InvoiceClean = true, n%5 != 0
			outcomes := []dispatch.Outcome{out}
			if n%6 == 0 { // the other vendor was offered it first and declined
				other := []string{"netfix", "coolco"}[i%2]
				outcomes = append(outcomes, dispatch.Outcome{Vendor: other, Trade: "refrigeration", WorkOrder: id, Offered: h(6, 1), Response: dispatch.Declined})
			}
			if err := db.Update(ctx, func(tx store.Tx) error {
				if err := tx.PutInvoice(ctx, inv); err != nil {
					return err
				}
				return tx.PutOutcomes(ctx, outcomes)
			}); err != nil {
				t.Fatal(err)
			}
			last[k] = id
			if i%4 != 0 {
				continue
			}
			// Once per few assets: a planned visit due at 18:00, done in
			// the morning, and an alarm that cleared before anyone went.
			pm := fmt.Sprintf("pm-%d", n)
			newBuilder(t, &workorder.Opening{ID: pm, Number: int64(100000 + n), Site: k[0], Asset: k[1], AssetClass: "walk_in_cooler",
				Source: workorder.Preventive, Problem: "pm", Trade: "refrigeration", Priority: "P4",
				Plan: &workorder.Plan{Schedule: "quarterly", Occurrence: day.Format(time.DateOnly), DueAt: h(18, 0)}}, h(0, 30)).
				tr(workorder.Triage, workorder.Triaged, h(0, 30)).tr(workorder.Release, workorder.Ready, h(0, 30)).
				dispatch(vendor, h(1, 0), 0).tr(workorder.Accept, workorder.Accepted, h(1, 10)).checkIn(h(9, 0)).
				complete(h(10, 0), &workorder.Completion{Problem: "pm", Cause: "planned", Remedy: "serviced",
					Parts: []workorder.Part{{Description: "belt", Quantity: 1, UnitCost: 40}}, Labour: []workorder.Labour{{Hours: 1, Rate: 80}}}).
				tr(workorder.Verify, workorder.Verified, h(11, 0)).save(ctx, db)
			av := fmt.Sprintf("av-%d", n)
			newBuilder(t, &workorder.Opening{ID: av, Number: int64(200000 + n), Site: k[0], Asset: k[1], AssetClass: "walk_in_cooler",
				Source: workorder.Sensor, Problem: "door_ajar", Trade: "refrigeration", Priority: "P3"}, h(13, 0)).
				incident("inc-"+av, "opened", h(12, 55), h(13, 0)).tr(workorder.Triage, workorder.Triaged, h(13, 0)).
				incident("inc-"+av, "cleared", h(12, 55), h(13, 10)).tr(workorder.Avoid, workorder.Avoided, h(13, 15)).save(ctx, db)
		}
	}
	svc := &dispatch.Service{Register: db, Rules: dispatch.DefaultRules(), Now: func() time.Time { return s.To.Add(time.Hour) }}
	d := &analytics.Daily{Source: db, Now: func() time.Time { return s.To.Add(time.Hour) }, Scores: svc.Scorecards}
	var out []telemetry.KPI
	for _, day := range days {
		ks, err := d.Points(ctx, day)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ks...)
	}
	return out
}

// builder records a work order event by event, as the service would.
type builder struct {
	t   *testing.T
	w   *workorder.WorkOrder
	evs []workorder.Event
}

func newBuilder(t *testing.T, o *workorder.Opening, at time.Time) *builder {
	b := &builder{t: t, w: &workorder.WorkOrder{}}
	return b.add(workorder.Event{Kind: workorder.Created, Actor: "system", At: at, Opening: o})
}

func (b *builder) add(e workorder.Event) *builder {
	b.t.Helper()
	e.WorkOrder, e.Version = b.w.ID, b.w.Version+1
	if e.Opening != nil {
		e.WorkOrder = e.Opening.ID
	}
	if err := b.w.Apply(&e); err != nil {
		b.t.Fatal(err)
	}
	b.evs = append(b.evs, e)
	return b
}

func (b *builder) tr(a workorder.Action, to workorder.Status, at time.Time, mod ...func(*workorder.Event)) *builder {
	e := workorder.Event{Kind: workorder.Transition, Action: a, From: b.w.Status, To: to, Actor: "x", At: at}
	for _, m := range mod {
		m(&e)
	}
	return b.add(e)
}

func (b *builder) incident(id, event string, started, at time.Time) *builder {
	return b.add(workorder.Event{Kind: workorder.Attached, Actor: "edge", At: at,
		Evidence: &workorder.Evidence{Incident: id, Event: event, Problem: b.w.Problem, Started: &started, At: at}})
}

func (b *builder) dispatch(vendor string, at time.Time, nte float64) *builder {
	return b.tr(workorder.Dispatch, workorder.Dispatched, at, func(e *workorder.Event) { e.Vendor, e.NTE = vendor, nte })
}

func (b *builder) checkIn(at time.Time) *builder {
	return b.tr(workorder.CheckIn, workorder.InProgress, at, func(e *workorder.Event) { e.Visit = &workorder.Visit{In: at} })
}

func (b *builder) complete(at time.Time, c *workorder.Completion) *builder {
	return b.tr(workorder.Complete, workorder.WorkComplete, at, func(e *workorder.Event) { e.Completion = c })
}

func (b *builder) save(ctx context.Context, db *sqlite.DB) *builder {
	b.t.Helper()
	if err := db.Update(ctx, func(tx store.Tx) error { return tx.Save(ctx, b.w, b.evs) }); err != nil {
		b.t.Fatal(err)
	}
	b.evs = nil
	return b
}
