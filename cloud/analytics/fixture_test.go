package analytics_test

import (
	"context"
	"testing"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/invoicing"
	cloudstore "github.com/frostline/frostline/cloud/store"
	"github.com/frostline/frostline/cloud/workorder"
)

// store is what the fixture needs of a store.
type store interface {
	Update(ctx context.Context, fn func(cloudstore.Tx) error) error
	PutSite(ctx context.Context, s *cloud.Site) error
}

// wob builds a work order event by event, as the service would record it,
// and saves the events not yet saved in one transaction.
type wob struct {
	t     testing.TB
	w     *workorder.WorkOrder
	evs   []workorder.Event
	saved int
}

func at(s string) time.Time {
	t, err := time.Parse("2006-01-02 15:04", s)
	if err != nil {
		panic(err)
	}
	return t
}

func ptr[T any](v T) *T { return &v }

func newWO(t testing.TB, id, site, asset string, src workorder.Source, problem, prio, when string, mod ...func(*workorder.Opening)) *wob {
	o := &workorder.Opening{ID: id, Number: int64(len(id)*1000 + int(id[len(id)-1])), Site: site, Asset: asset, AssetClass: "walk_in_cooler",
		Source: src, Problem: problem, Trade: "refrigeration", Priority: prio}
	for _, m := range mod {
		m(o)
	}
	b := &wob{t: t, w: &workorder.WorkOrder{}}
	b.add(workorder.Event{Kind: workorder.Created, Actor: "system", At: at(when), Opening: o})
	return b
}

func (b *wob) add(e workorder.Event) *wob {
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

// tr records a transition to a state.
func (b *wob) tr(a workorder.Action, to workorder.Status, when string, mod ...func(*workorder.Event)) *wob {
	e := workorder.Event{Kind: workorder.Transition, Action: a, From: b.w.Status, To: to, Actor: "x", At: at(when)}
	for _, m := range mod {
		m(&e)
	}
	return b.add(e)
}

// incident attaches an incident event (opened, updated or cleared).
func (b *wob) incident(id, event, started, when string, mod ...func(*workorder.Evidence)) *wob {
	ev := &workorder.Evidence{Incident: id, Event: event, Problem: b.w.Problem, Started: ptr(at(started)), At: at(when)}
	for _, m := range mod {
		m(ev)
	}
	return b.add(workorder.Event{Kind: workorder.Attached, Actor: "edge", At: at(when), Evidence: ev})
}

func (b *wob) dispatch(vendor, when string, nte float64) *wob {
	return b.tr(workorder.Dispatch, workorder.Dispatched, when, func(e *workorder.Event) { e.Vendor, e.NTE = vendor, nte })
}

func (b *wob) checkIn(when string) *wob {
	return b.tr(workorder.CheckIn, workorder.InProgress, when, func(e *workorder.Event) { e.Visit = &workorder.Visit{In: at(when)} })
}

func (b *wob) complete(when string, c *workorder.Completion) *wob {
	return b.tr(workorder.Complete, workorder.WorkComplete, when, func(e *workorder.Event) { e.Completion = c })
}

func (b *wob) save(ctx context.Context, s store) *wob {
	b.t.Helper()
	evs := b.evs[b.saved:]
	if err := s.Update(ctx, func(tx cloudstore.Tx) error { return tx.Save(ctx, b.w, evs) }); err != nil {
		b.t.Fatalf("save %s: %v", b.w.ID, err)
	}
	b.saved = len(b.evs)
	return b
}

// Fixture period and the moment the queries are asked.
var (
	From = at("2026-03-01 00:00")
	To   = at("2026-03-08 00:00")
	Now  = at("2026-03-10 00:00")
)

// loadFixture saves the hand-computed fixture (see kpi_test.go for the
// arithmetic): nine work orders at two sites, saved in several steps each
// so the store's incremental facts are exercised, not only whole
// histories.
func loadFixture(t testing.TB, s store) {
	ctx := context.Background()
	for _, site := range []*cloud.Site{{ID: "s1", Region: "north"}, {ID: "s2", Region: "south"}} {
		if err := s.PutSite(ctx, site); err != nil {
			t.Fatal(err)
		}
	}
	full := &workorder.Completion{Problem: "temp_high", Cause: "dirty_condenser", Remedy: "cleaned",
		Parts:  []workorder.Part{{Description: "filter", Quantity: 1, UnitCost: 100}},
		Labour: []workorder.Labour{{Hours: 2, Rate: 60}}}

	// A: sensor failure at s1/a1, repaired in one visit, the sensor
	// confirms recovery; verified. Recalled later by F.
	a := newWO(t, "A", "s1", "a1", workorder.Sensor, "temp_high", "P2", "2026-03-02 09:10").
		incident("iA", "opened", "2026-03-02 09:00", "2026-03-02 09:10").save(ctx, s)
	a.tr(workorder.Triage, workorder.Triaged, "2026-03-02 09:10").tr(workorder.Release, workorder.Ready, "2026-03-02 09:15").
		dispatch("v1", "2026-03-02 09:20", 500).save(ctx, s)
	a.incident("iA", "updated", "2026-03-02 09:00", "2026-03-02 09:40").save(ctx, s) // irrelevant to facts
	a.tr(workorder.Accept, workorder.Accepted, "2026-03-02 09:50").checkIn("2026-03-02 12:20").save(ctx, s)
	a.incident("iA", "cleared", "2026-03-02 09:00", "2026-03-02 13:50").save(ctx, s)
	a.complete("2026-03-02 14:20", full).tr(workorder.Verify, workorder.Verified, "2026-03-03 10:00").save(ctx, s)

	// B: condition-based (a predicted breach) at s1/a2: late to accept
	// and to arrive, a 5-minute first visit, a second to finish at $0.
	b := newWO(t, "B", "s1", "a2", workorder.Sensor, "temp_trend", "P2", "2026-03-03 08:00").
		incident("iB", "opened", "2026-03-03 07:00", "2026-03-03 08:00",
			func(e *workorder.Evidence) { e.PredictedAt = ptr(at("2026-03-03 20:00")) }).
		tr(workorder.Triage, workorder.Triaged, "2026-03-03 08:00").tr(workorder.Release, workorder.Ready, "2026-03-03 08:30").save(ctx, s)
	b.dispatch("v1", "2026-03-03 09:00", 0).tr(workorder.Accept, workorder.Accepted, "2026-03-03 11:00").save(ctx, s)
	b.checkIn("2026-03-03 18:00").tr(workorder.CheckOut, workorder.Accepted, "2026-03-03 18:05").save(ctx, s)
	b.checkIn("2026-03-04 09:00").complete("2026-03-04 10:00", &workorder.Completion{Problem: "temp_trend", Cause: "ice", Remedy: "defrost"}).save(ctx, s)

	// C: a manual report, cancelled before dispatch.
	newWO(t, "C", "s1", "a1", workorder.Manual, "leak", "P2", "2026-03-05 10:00").
		add(workorder.Event{Kind: workorder.Attached, Actor: "store", At: at("2026-03-05 10:00"),
			Evidence: &workorder.Evidence{Event: "report", Problem: "leak", At: at("2026-03-05 10:00")}}).save(ctx, s).
		tr(workorder.Cancel, workorder.Cancelled, "2026-03-05 11:00").save(ctx, s)

	// D: recovered on its own before dispatch: AVOIDED.
	newWO(t, "D", "s1", "a3", workorder.Sensor, "temp_high", "P3", "2026-03-04 12:00").
		incident("iD", "opened", "2026-03-04 11:50", "2026-03-04 12:00").tr(workorder.Triage, workorder.Triaged, "2026-03-04 12:00").save(ctx, s).
		incident("iD", "cleared", "2026-03-04 11:50", "2026-03-04 12:25").save(ctx, s).
		tr(workorder.Avoid, workorder.Avoided, "2026-03-04 12:30").save(ctx, s)

	// E: a P1 at s2 (region south), vendor v2: accepted in time, nobody
	// on site yet, so arrive and complete are overdue now.
	newWO(t, "E", "s2", "a3", workorder.Sensor, "temp_high", "P1", "2026-03-06 08:00").
		incident("iE", "opened", "2026-03-06 07:45", "2026-03-06 08:00").
		tr(workorder.Triage, workorder.Triaged, "2026-03-06 08:00").tr(workorder.Release, workorder.Ready, "2026-03-06 08:00").
		dispatch("v2", "2026-03-06 08:05", 0).save(ctx, s).
		tr(workorder.Accept, workorder.Accepted, "2026-03-06 08:20").save(ctx, s)

	// F: the problem came back on s1/a1: a recall of A, still new.
	newWO(t, "F", "s1", "a1", workorder.Sensor, "temp_high", "P2", "2026-03-07 09:00",
		func(o *workorder.Opening) { o.RecallOf = "A" }).
		incident("iF", "opened", "2026-03-07 08:50", "2026-03-07 09:00").save(ctx, s)

	// G: preventive maintenance at s1/a4: late on site, done in one hour
	// above its NTE, verified.
	g := newWO(t, "G", "s1", "a4", workorder.Preventive, "pm", "P2", "2026-03-01 06:00").
		tr(workorder.Triage, workorder.Triaged, "2026-03-01 06:00").tr(workorder.Release, workorder.Ready, "2026-03-01 06:00").
		dispatch("v1", "2026-03-01 07:00", 100).tr(workorder.Accept, workorder.Accepted, "2026-03-01 07:10").save(ctx, s).
		checkIn("2026-03-02 08:00").save(ctx, s).
		complete("2026-03-02 09:00", &workorder.Completion{Problem: "pm", Cause: "planned", Remedy: "serviced",
			Parts:  []workorder.Part{{Description: "belt", Quantity: 1, UnitCost: 50}},
			Labour: []workorder.Labour{{Hours: 1, Rate: 80}}}).
		tr(workorder.Verify, workorder.Verified, "2026-03-03 07:00").save(ctx, s)

	// H: an old report at s1, triaged and waiting since February.
	newWO(t, "H", "s1", "a5", workorder.Manual, "noise", "P3", "2026-02-20 10:00").
		tr(workorder.Triage, workorder.Triaged, "2026-02-20 10:00").save(ctx, s)

	// I: January's, closed in January: outside the period entirely.
	i := newWO(t, "I", "s1", "a1", workorder.Sensor, "temp_high", "P2", "2026-01-02 10:00").
		incident("iI", "opened", "2026-01-02 09:00", "2026-01-02 10:00").
		tr(workorder.Triage, workorder.Triaged, "2026-01-02 10:00").tr(workorder.Release, workorder.Ready, "2026-01-02 10:00").
		dispatch("v1", "2026-01-02 10:05", 0).tr(workorder.Accept, workorder.Accepted, "2026-01-02 10:10").
		checkIn("2026-01-02 11:00").complete("2026-01-02 12:00", full).
		tr(workorder.Verify, workorder.Verified, "2026-01-03 10:00").tr(workorder.Close, workorder.Closed, "2026-01-05 10:00").save(ctx, s)

	// The vendors' invoices (issue 17). A's, approved a day after its
	// completion; G's disputed, revised, approved two days after; B's
	// still waiting; I's, January's.
	invoice(t, s, "inv-A", "A", "v1", "2026-03-02 16:00", invoicing.Approved, "2026-03-03 14:20")
	invoice(t, s, "inv-G", "G", "v1", "2026-03-02 10:00", invoicing.Disputed, "2026-03-02 12:00", invoicing.Submitted, "2026-03-03 09:00",
		invoicing.Approved, "2026-03-04 09:00")
	invoice(t, s, "inv-B", "B", "v1", "2026-03-05 10:00")
	invoice(t, s, "inv-I", "I", "v1", "2026-01-03 10:00", invoicing.Approved, "2026-01-04 10:00")

	// The stores' ratings: A's "not fixed, 2 of 5" the day after its
	// verification (F, its recall, followed), G's "fixed, 5 of 5"; I's
	// in January.
	rate(t, ctx, s, a, "2026-03-03 10:00", "2026-03-04 10:00", false, 2)
	rate(t, ctx, s, g, "2026-03-03 07:00", "2026-03-03 12:00", true, 5)
	rate(t, ctx, s, i, "2026-01-03 10:00", "2026-01-03 15:00", true, 4)
}

// rate saves the store's rating of a work order's verification.
func rate(t testing.TB, ctx context.Context, s store, b *wob, verified, when string, fixed bool, score int) {
	t.Helper()
	b.add(workorder.Event{Kind: workorder.Rated, Actor: "store", At: at(when),
		Rating: &workorder.Rating{Fixed: fixed, Score: score, By: "store", Via: "api", At: at(when), Vendor: b.w.Vendor, Verified: at(verified)}}).save(ctx, s)
}

// invoice keeps a vendor's invoice for a work order, submitted at first
// and then changed as steps say (a state, then its time, ...).
func invoice(t testing.TB, s store, id, wo, vendor, first string, steps ...any) {
	t.Helper()
	inv := &invoicing.Invoice{ID: id, WorkOrder: wo, Vendor: vendor, Number: id, Revision: 1, Total: 100, State: invoicing.Submitted,
		SubmittedAt: at(first), History: []invoicing.Change{{State: invoicing.Submitted, By: vendor, At: at(first)}}}
	for i := 0; i+1 < len(steps); i += 2 {
		st, when := steps[i].(invoicing.State), at(steps[i+1].(string))
		inv.State = st
		inv.History = append(inv.History, invoicing.Change{State: st, By: "fm", At: when})
	}
	err := s.Update(context.Background(), func(tx cloudstore.Tx) error { return tx.PutInvoice(context.Background(), inv) })
	if err != nil {
		t.Fatal(err)
	}
}
