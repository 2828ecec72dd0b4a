package purchasing

import (
	"context"
	"fmt"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/workorder"
)

// Tx is what ordering and receiving need of a store transaction: the work
// order's own transaction, plus the catalogue, stock and purchase orders,
// so a hold and its purchase orders commit together.
type Tx interface {
	workorder.Tx
	Parts(ctx context.Context, numbers []string) (map[string]*Part, error)
	Stock(ctx context.Context, site string) (map[string]float64, error)
	TakeStock(ctx context.Context, site, part string, quantity float64) error
	// PutPurchaseOrder inserts (seen 0) or updates at version seen, and
	// publishes the purchase order's notice through the outbox.
	PutPurchaseOrder(ctx context.Context, po *PurchaseOrder, seen int) error
	PurchaseOrder(ctx context.Context, id string) (*PurchaseOrder, error)
	PurchaseOrdersFor(ctx context.Context, workOrder string) ([]*PurchaseOrder, error)
}

// Filter selects purchase orders for lists and exports.
type Filter struct {
	Site, WorkOrder string
	Status          Status
	// From and To bound created_at: [From, To).
	From, To time.Time
	Limit    int
	// Scope is the caller's: sites, or a vendor's work orders.
	Scope cloud.Scope
}

// Actor is who acts, with their role.
type Actor struct {
	Name string
	Role cloud.Role
}

// Requested is what Request did.
type Requested struct {
	WorkOrder *workorder.WorkOrder
	FromStock map[string]float64
	Orders    []*PurchaseOrder
	Held      bool
}

// Request meets a work order's needs in one transaction: parts on hand at
// the site are taken from stock; the rest are ordered (draft purchase
// orders, one per supplier, naming the work order) and the work order,
// being worked, goes ON_HOLD with the reason parts_on_order. sees is the
// caller's scope check.
func Request(ctx context.Context, tx Tx, woID string, needs []Need, by Actor, at time.Time, sees func(*workorder.WorkOrder) bool, newID func() string) (Requested, error) {
	w, err := tx.WorkOrder(ctx, woID)
	if err != nil {
		return Requested{}, fmt.Errorf("purchasing: work order %s: %w", woID, err)
	}
	if w == nil || !sees(w) {
		return Requested{}, cloud.Errorf(cloud.ENOTFOUND, "work order %s not found", woID)
	}
	if w.Status != workorder.InProgress && w.Status != workorder.OnHold {
		return Requested{}, cloud.Errorf(cloud.ECONFLICT, "work order %d is %s: parts are requested while it is being worked (IN_PROGRESS or ON_HOLD)", w.Number, w.Status.Upper())
	}
	numbers := make([]string, 0, len(needs))
	for _, n := range needs {
		numbers = append(numbers, n.Part)
	}
	cat, err := tx.Parts(ctx, numbers)
	if err != nil {
		return Requested{}, fmt.Errorf("purchasing: %w", err)
	}
	stock, err := tx.Stock(ctx, w.Site)
	if err != nil {
		return Requested{}, fmt.Errorf("purchasing: %w", err)
	}
	sf, err := Order(WorkOrderRef{ID: w.ID, Number: w.Number, Site: w.Site, Vendor: w.Vendor}, needs, cat, stock, by.Name, at, newID)
	if err != nil {
		return Requested{}, err
	}
	for part, q := range sf.FromStock {
		if err := tx.TakeStock(ctx, w.Site, part, q); err != nil {
			return Requested{}, err
		}
	}
	for _, po := range sf.Orders {
		if err := tx.PutPurchaseOrder(ctx, po, 0); err != nil {
			return Requested{}, fmt.Errorf("purchasing: %w", err)
		}
	}
	res := Requested{WorkOrder: w, FromStock: sf.FromStock, Orders: sf.Orders}
	if len(sf.Orders) > 0 && w.Status == workorder.InProgress {
		ev, err := workorder.Act(w, workorder.Hold, workorder.Input{Actor: by.Name, Role: by.Role, Reason: HoldNote(sf.Orders), At: at})
		if err != nil {
			return Requested{}, err
		}
		if err := tx.Save(ctx, w, ev); err != nil {
			return Requested{}, fmt.Errorf("purchasing: hold work order %d: %w", w.Number, err)
		}
		res.Held = true
	}
	return res, nil
}

// Receipt is what Receive did.
type Receipt struct {
	PurchaseOrder *PurchaseOrder
	WorkOrder     *workorder.WorkOrder // nil when the order names none
	Resumed       bool
}

// Receive marks a purchase order received. When it was the last open
// purchase order of a work order waiting for parts, the work order resumes
// with a reason naming the order: the Resume event is what tells the
// vendor (the outbox publishes it, and the purchase order's own notice).
func Receive(ctx context.Context, tx Tx, poID string, by Actor, note string, at time.Time, sees func(*PurchaseOrder) bool) (Receipt, error) {
	po, err := tx.PurchaseOrder(ctx, poID)
	if err != nil {
		return Receipt{}, fmt.Errorf("purchasing: purchase order %s: %w", poID, err)
	}
	if po == nil || !sees(po) {
		return Receipt{}, cloud.Errorf(cloud.ENOTFOUND, "purchase order %s not found", poID)
	}
	seen := po.Version
	if err := po.Move(Received, by.Name, by.Role, note, at); err != nil {
		return Receipt{}, err
	}
	if err := tx.PutPurchaseOrder(ctx, po, seen); err != nil {
		return Receipt{}, fmt.Errorf("purchasing: %w", err)
	}
	res := Receipt{PurchaseOrder: po}
	if po.WorkOrder == "" {
		return res, nil
	}
	w, err := tx.WorkOrder(ctx, po.WorkOrder)
	if err != nil || w == nil {
		return res, err
	}
	res.WorkOrder = w
	if w.Status != workorder.OnHold {
		return res, nil
	}
	others, err := tx.PurchaseOrdersFor(ctx, w.ID)
	if err != nil {
		return Receipt{}, fmt.Errorf("purchasing: %w", err)
	}
	for _, o := range others {
		if o.ID != po.ID && o.Status.Open() {
			return res, nil // still waiting for another order
		}
	}
	// The work order is resumed on the receiver's behalf; the system
	// receives for whoever may (an FM or the vendor).
	role := by.Role
	if !workorder.Allowed(workorder.Resume, role) {
		return res, nil
	}
	ev, err := workorder.Act(w, workorder.Resume, workorder.Input{Actor: by.Name, Role: role, At: at,
		Reason: fmt.Sprintf("parts received: purchase order %s from %s", po.ID, po.Supplier)})
	if err != nil {
		return res, nil
	}
	if err := tx.Save(ctx, w, ev); err != nil {
		return Receipt{}, fmt.Errorf("purchasing: resume work order %d: %w", w.Number, err)
	}
	res.Resumed = true
	return res, nil
}
