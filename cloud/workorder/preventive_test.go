package workorder

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/frostline/frostline/cloud"
)

func ptrF(v float64) *float64 { return &v }
func ptrB(v bool) *bool       { return &v }

func planned(at time.Time) Planned {
	return Planned{
		Site: "s1", Asset: "wic-1", AssetClass: "walk_in_cooler", Trade: "refrigeration", Title: "Quarterly coil clean",
		At: at,
		Plan: Plan{
			Schedule: "sch_1", Occurrence: "2026-08-01T08:00", DueAt: at.Add(72 * time.Hour),
			Checklist: []CheckItem{
				{ID: "coil", Text: "Condenser coil clean", Kind: PassFail, Required: true, Problem: "other"},
				{ID: "suction", Text: "Suction pressure", Kind: Reading, Unit: "kPa", Min: ptrF(150), Max: ptrF(350), Required: true, Problem: "no_cooling"},
				{ID: "photo", Text: "Photo of the nameplate", Kind: PassFail},
			},
			LabourHours: 2.5, Parts: []PlannedPart{{Part: "FLT-20", Description: "filter drier", Quantity: 1}},
			Vendor: "coolco", Signature: true,
		},
	}
}

// TestPlanInheritsTemplate: the work order carries the template exactly,
// is preventive, goes through the same dispatch (to the template's vendor
// here, as no Dispatcher is set), and is not merged into reactive work on
// the asset.
func TestPlanInheritsTemplate(t *testing.T) {
	ctx := context.Background()
	tx := newMemTx()
	at := time.Date(2026, 7, 29, 8, 0, 0, 0, time.UTC)
	in := &Intake[Tx]{Policy: DefaultPolicy()}
	in.Policy.Vendors = []VendorRule{{Site: "*", Trade: "refrigeration", Vendor: "acme"}}
	// A reactive work order already open on the asset.
	if _, err := in.Receive(ctx, tx, Report{Source: Manual, Site: "s1", Asset: "wic-1", Problem: "noise", Reporter: "ann", At: at}); err != nil {
		t.Fatal(err)
	}
	p := planned(at)
	res, err := in.Plan(ctx, tx, p)
	if err != nil {
		t.Fatal(err)
	}
	w := res.WorkOrder
	if res.Reason != Opened || w.Source != Preventive || w.Problem != PreventiveProblem {
		t.Fatalf("reason %s, source %s, problem %s", res.Reason, w.Source, w.Problem)
	}
	if w.Status != Dispatched || w.Vendor != "coolco" || !res.Dispatched {
		t.Fatalf("status %s vendor %q: want DISPATCHED to the template's vendor", w.Status, w.Vendor)
	}
	if !reflect.DeepEqual(*w.Plan, p.Plan) {
		t.Fatalf("plan differs from the template:\n got %+v\nwant %+v", *w.Plan, p.Plan)
	}
	if len(tx.wos) != 2 {
		t.Fatalf("%d work orders, want the reactive one and the planned one apart", len(tx.wos))
	}
	// The events replay to the same work order (the plan is in the opening).
	re, err := Replay(tx.events[w.ID])
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(re.Plan, w.Plan) || re.Family != w.Family {
		t.Fatalf("replay lost the plan: %+v", re.Plan)
	}
	// Changing the caller's template afterwards does not reach the work order.
	p.Plan.Checklist[0].Text = "changed"
	if w.Plan.Checklist[0].Text == "changed" {
		t.Fatal("the work order shares the template's checklist")
	}
	// A second plan for another occurrence opens apart from the first.
	p2 := planned(at)
	p2.Plan.Occurrence = "2026-09-01T08:00"
	if res2, err := in.Plan(ctx, tx, p2); err != nil || res2.WorkOrder.ID == w.ID {
		t.Fatalf("second occurrence: %v", err)
	}
}

// TestChecklistGuardsComplete: completion is refused while a required
// item is unanswered or the signature is missing; a failed reading raises
// one corrective work order linked to the PM.
func TestChecklistGuardsComplete(t *testing.T) {
	ctx := context.Background()
	tx := newMemTx()
	at := time.Date(2026, 7, 29, 8, 0, 0, 0, time.UTC)
	in := &Intake[Tx]{Policy: DefaultPolicy()}
	res, err := in.Plan(ctx, tx, planned(at))
	if err != nil {
		t.Fatal(err)
	}
	w := res.WorkOrder
	step := func(a Action, in Input) {
		t.Helper()
		in.At, in.Actor = at, "tech"
		if in.Role == "" {
			in.Role = cloud.RoleVendor
		}
		ev, err := Act(w, a, in)
		if err != nil {
			t.Fatalf("%s: %v", a, err)
		}
		if err := tx.Save(ctx, w, ev); err != nil {
			t.Fatal(err)
		}
	}
	step(Accept, Input{})
	step(CheckIn, Input{Override: "indoors"})
	done := &Completion{Problem: "pm", Cause: "planned", Remedy: "serviced"}
	refused := func(want string) {
		t.Helper()
		_, err := Act(w, Complete, Input{Actor: "tech", Role: cloud.RoleVendor, Completion: done, At: at})
		var ce *cloud.Error
		if !errors.As(err, &ce) || ce.Field != want {
			t.Fatalf("complete: %v, want refused on %s", err, want)
		}
	}
	refused("checklist")
	if _, err := w.Checked([]Answer{{Item: "coil", Reading: ptrF(3)}}, "", "tech", cloud.RoleVendor, at); err == nil {
		t.Fatal("a reading for a pass_fail item was accepted")
	}
	for _, r := range []float64{1e300, -1e7, math.Inf(1), math.NaN()} {
		if _, err := w.Checked([]Answer{{Item: "suction", Reading: ptrF(r)}}, "", "tech", cloud.RoleVendor, at); cloud.ErrorCode(err) != cloud.EINVALID {
			t.Fatalf("a reading of %v: %v", r, err)
		}
	}
	if _, err := w.Checked([]Answer{{Item: "nope", Pass: ptrB(true)}}, "", "tech", cloud.RoleVendor, at); err == nil {
		t.Fatal("an answer to no item was accepted")
	}
	if _, err := w.Checked([]Answer{{Item: "coil", Pass: ptrB(true)}}, "", "ann", cloud.RoleStore, at); err == nil {
		t.Fatal("store staff answered a checklist")
	}
	ev, err := w.Checked([]Answer{{Item: "coil", Pass: ptrB(true)}, {Item: "suction", Reading: ptrF(120), Note: "low"}}, "", "tech", cloud.RoleVendor, at)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Save(ctx, w, ev); err != nil {
		t.Fatal(err)
	}
	refused("signed_by")
	ev, err = w.Checked(nil, "Pat Lee", "tech", cloud.RoleVendor, at)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Save(ctx, w, ev); err != nil {
		t.Fatal(err)
	}
	// The failed reading raises corrective work, once, linked to the PM.
	cr, err := in.Corrective(ctx, tx, w, "suction", "tech", at)
	if err != nil {
		t.Fatal(err)
	}
	c := cr.WorkOrder
	if cr.Reason != Opened || c.Origin != w.ID || c.Source != Manual || c.Problem != "no_cooling" {
		t.Fatalf("corrective: reason %s origin %q source %s problem %s", cr.Reason, c.Origin, c.Source, c.Problem)
	}
	if again, err := in.Corrective(ctx, tx, w, "suction", "tech", at); err != nil || again.Reason != Repeat {
		t.Fatalf("raised twice: %v %v", again.Reason, err)
	}
	if _, err := in.Corrective(ctx, tx, w, "coil", "tech", at); err == nil {
		t.Fatal("a passed item raised corrective work")
	}
	re, err := Replay(tx.events[c.ID])
	if err != nil || re.Origin != w.ID {
		t.Fatalf("replayed origin %q (%v)", re.Origin, err)
	}
	step(Complete, Input{Completion: done})
	if w.Status != WorkComplete || w.Plan.SignedBy != "Pat Lee" || len(w.Plan.Answers) != 2 {
		t.Fatalf("status %s, signed %q, answers %d", w.Status, w.Plan.SignedBy, len(w.Plan.Answers))
	}
	// Reactive work orders have no checklist and are not guarded by one.
	if err := checklistDone(&WorkOrder{}, nil); err != nil {
		t.Fatal(err)
	}
	// The answers survive a JSON round trip of the projection (stores keep it so).
	data, _ := json.Marshal(w)
	var back WorkOrder
	if err := json.Unmarshal(data, &back); err != nil || !reflect.DeepEqual(back.Plan, w.Plan) {
		t.Fatalf("plan lost in JSON: %v", err)
	}
}
