package main

import (
	"context"
	"fmt"
	"io"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/workorder"
)

// demoTally is what a demo's work orders came to, counted from the store
// when the demo stops.
type demoTally struct {
	Created, Dispatched, Verified, Avoided int
	// Duplicates are work orders closed as another's duplicate; Joined
	// are staff reports added to a work order already open, where
	// each would otherwise have been a work order of its own.
	Duplicates, Joined int
}

// TruckRolls is the visits nobody had to make: work orders that ended
// before anyone was sent (avoided), duplicates, and reports joined to
// work already under way.
func (t demoTally) TruckRolls() int { return t.Avoided + t.Duplicates + t.Joined }

// tally counts wos.
func tally(wos []*workorder.WorkOrder) demoTally {
	var t demoTally
	for _, wo := range wos {
		t.Created++
		if wo.DispatchedAt != nil {
			t.Dispatched++
		}
		if wo.VerifiedAt != nil {
			t.Verified++
		}
		switch wo.Status {
		case workorder.Avoided:
			t.Avoided++
		case workorder.Duplicate:
			t.Duplicates++
		}
		joined := wo.Reports
		if wo.Source == workorder.Manual {
			joined-- // the report that opened it
		}
		t.Joined += max(joined, 0)
	}
	return t
}

// workOrderLister is the one store call the summary needs.
type workOrderLister interface {
	WorkOrders(ctx context.Context, f workorder.Filter) ([]*workorder.WorkOrder, error)
}

// allWorkOrders reads every work order, a page at a time.
func allWorkOrders(ctx context.Context, st workOrderLister) ([]*workorder.WorkOrder, error) {
	const page = 500
	var out []*workorder.WorkOrder
	var before int64
	for {
		wos, err := st.WorkOrders(ctx, workorder.Filter{Scope: cloud.Scope{All: true}, Limit: page, Before: before})
		if err != nil {
			return nil, fmt.Errorf("demo: summary: %w", err)
		}
		out = append(out, wos...)
		if len(wos) < page {
			return out, nil
		}
		before = wos[len(wos)-1].Number
	}
}

// printSummary writes the one-screen summary a demo ends with.
func printSummary(w io.Writer, t demoTally) {
	fmt.Fprintf(w, `
Work orders in this demo's data folder:
  created      %4d
  dispatched   %4d   (a vendor was sent)
  verified     %4d   (the sensors proved the fix before anyone was paid)
  avoided      %4d   (the problem cleared before anyone was sent)
Truck rolls saved: %d   (%d avoided, %d duplicates, %d staff reports joined to work already open)
`, t.Created, t.Dispatched, t.Verified, t.Avoided, t.TruckRolls(), t.Avoided, t.Duplicates, t.Joined)
}
