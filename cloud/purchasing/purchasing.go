// Package purchasing is parts and purchase orders: the parts catalogue
// (part number, description, unit cost, preferred supplier), stock on hand
// per site, and purchase orders for what a work order needs but the site
// does not have.
//
// A work order is about getting work done; a purchase order is about
// buying something. They are separate records that name each other: a
// purchase order carries the work order's id, and the work order waits
// ON_HOLD with the reason parts_on_order while its parts are bought.
// Receiving the last open purchase order of a work order resumes it (the
// Resume event reaches the vendor through the outbox and the event
// stream). Decisions are made here without I/O; a store keeps the records
// (cloud/internal/sqldb) and the API exposes them (cloud/http).
package purchasing

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/frostline/frostline/cloud"
)

// HoldReason is the reason a work order waits for its parts.
const HoldReason = "parts_on_order"

// Part is an entry of the parts catalogue.
type Part struct {
	Number      string  `json:"number"`
	Description string  `json:"description"`
	UnitCost    float64 `json:"unit_cost"`
	// Supplier is the preferred supplier, ordered from by default.
	Supplier  string    `json:"supplier"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Validate checks a catalogue entry, naming the field at fault.
func (p *Part) Validate() error {
	switch {
	case !validNumber(p.Number):
		return cloud.FieldError("number", "required: letters, digits and . _ - (at most 64)")
	case strings.TrimSpace(p.Description) == "" || utf8.RuneCountInString(p.Description) > 500 || !utf8.ValidString(p.Description):
		return cloud.FieldError("description", "required, at most 500 characters")
	case !money(p.UnitCost):
		return cloud.FieldError("unit_cost", "want a non-negative amount of USD below 10,000,000")
	case !cloud.ValidID(p.Supplier):
		return cloud.FieldError("supplier", "required: the preferred supplier's id")
	}
	return nil
}

func validNumber(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-", r)) {
			return false
		}
	}
	return true
}

func money(v float64) bool { return v >= 0 && v < 1e7 && !math.IsNaN(v) }

// Status is where a purchase order is.
type Status string

// Purchase-order statuses, in order.
const (
	Draft     Status = "draft"
	Approved  Status = "approved"
	Ordered   Status = "ordered"
	Received  Status = "received"
	Cancelled Status = "cancelled"
)

// Open reports whether the purchase order is still on its way.
func (s Status) Open() bool { return s == Draft || s == Approved || s == Ordered }

// Line is one part on a purchase order at the agreed price.
type Line struct {
	Part        string  `json:"part"`
	Description string  `json:"description"`
	Quantity    float64 `json:"quantity"`
	UnitPrice   float64 `json:"unit_price"`
	Amount      float64 `json:"amount"`
}

// Change is one step of a purchase order's history.
type Change struct {
	Status Status    `json:"status"`
	By     string    `json:"by"`
	Note   string    `json:"note,omitempty"`
	At     time.Time `json:"at"`
}

// PurchaseOrder is an order to a supplier, usually for one work order.
type PurchaseOrder struct {
	ID        string `json:"id"`
	WorkOrder string `json:"work_order,omitempty"`
	// WorkOrderNumber is the work order's number, for people.
	WorkOrderNumber int64  `json:"work_order_number,omitempty"`
	Site            string `json:"site"`
	// Vendor is the service provider on the work order, who is told when
	// the parts arrive; vendors see their work orders' purchase orders.
	Vendor    string    `json:"vendor,omitempty"`
	Supplier  string    `json:"supplier"`
	Lines     []Line    `json:"lines"`
	Total     float64   `json:"total"`
	Status    Status    `json:"status"`
	History   []Change  `json:"history"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	Version   int       `json:"version"`
}

// moves are the legal status changes and who may make them.
var moves = map[Status]struct {
	from []Status
	who  []cloud.Role
}{
	Approved:  {from: []Status{Draft}, who: []cloud.Role{cloud.RoleAdmin, cloud.RoleFM}},
	Ordered:   {from: []Status{Approved}, who: []cloud.Role{cloud.RoleAdmin, cloud.RoleFM}},
	Received:  {from: []Status{Ordered}, who: []cloud.Role{cloud.RoleAdmin, cloud.RoleFM, cloud.RoleVendor, cloud.RoleTechnician}},
	Cancelled: {from: []Status{Draft, Approved}, who: []cloud.Role{cloud.RoleAdmin, cloud.RoleFM}},
}

// Move changes the purchase order's status, if the move is legal and the
// role may make it.
func (po *PurchaseOrder) Move(to Status, by string, role cloud.Role, note string, at time.Time) error {
	m, ok := moves[to]
	if !ok {
		return cloud.FieldError("status", "cannot move a purchase order to %q (want approved, ordered, received or cancelled)", to)
	}
	if !slices.Contains(m.who, role) {
		return cloud.Errorf(cloud.EFORBIDDEN, "a %s may not mark a purchase order %s", role, to)
	}
	if !slices.Contains(m.from, po.Status) {
		return cloud.Errorf(cloud.ECONFLICT, "purchase order %s is %s; %s needs %s", po.ID, po.Status, to, joinStatus(m.from))
	}
	if len(note) > 2000 {
		return cloud.FieldError("note", "at most 2000 characters")
	}
	po.Status, po.UpdatedAt = to, at
	po.History = append(po.History, Change{Status: to, By: by, Note: note, At: at})
	po.Version++
	return nil
}

func joinStatus(ss []Status) string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return strings.Join(out, " or ")
}

// Need is a quantity of a part a work order needs.
type Need struct {
	Part     string  `json:"part"`
	Quantity float64 `json:"quantity"`
	// Supplier overrides the part's preferred supplier; UnitPrice the
	// catalogue cost (an agreed price), when set.
	Supplier  string   `json:"supplier,omitempty"`
	UnitPrice *float64 `json:"unit_price,omitempty"`
}

// Shortfall is what ordering decided: what comes from the site's stock,
// and the purchase orders (one per supplier) for the rest.
type Shortfall struct {
	FromStock map[string]float64
	Orders    []*PurchaseOrder
}

// WorkOrderRef is what a purchase order needs to know of its work order.
type WorkOrderRef struct {
	ID     string
	Number int64
	Site   string
	Vendor string
}

// Order decides how a work order's needs are met: from the site's stock
// where there is enough on hand, the rest ordered from each part's
// supplier at the catalogue cost (or the agreed price given), one draft
// purchase order per supplier. Every part must be in the catalogue.
func Order(wo WorkOrderRef, needs []Need, catalogue map[string]*Part, stock map[string]float64, by string, at time.Time, newID func() string) (Shortfall, error) {
	sf := Shortfall{FromStock: map[string]float64{}}
	if len(needs) == 0 || len(needs) > 100 {
		return sf, cloud.FieldError("parts", "list 1 to 100 parts")
	}
	bySupplier := map[string]*PurchaseOrder{}
	left := map[string]float64{}
	for k, v := range stock {
		left[k] = v
	}
	for i, n := range needs {
		f := fmt.Sprintf("parts[%d]", i)
		p := catalogue[n.Part]
		switch {
		case p == nil:
			return sf, cloud.FieldError(f+".part", "part %q is not in the catalogue", n.Part)
		case !(n.Quantity > 0 && n.Quantity <= 1e6):
			return sf, cloud.FieldError(f+".quantity", "want a positive quantity")
		case n.Supplier != "" && !cloud.ValidID(n.Supplier):
			return sf, cloud.FieldError(f+".supplier", "%q is not a valid supplier id", n.Supplier)
		case n.UnitPrice != nil && !money(*n.UnitPrice):
			return sf, cloud.FieldError(f+".unit_price", "want a non-negative amount below 10,000,000")
		}
		take := math.Min(left[n.Part], n.Quantity)
		if take > 0 {
			sf.FromStock[n.Part] += take
			left[n.Part] -= take
		}
		short := n.Quantity - take
		if short <= 0 {
			continue
		}
		sup := cmp.Or(n.Supplier, p.Supplier)
		price := p.UnitCost
		if n.UnitPrice != nil {
			price = *n.UnitPrice
		}
		po := bySupplier[sup]
		if po == nil {
			po = &PurchaseOrder{ID: newID(), WorkOrder: wo.ID, WorkOrderNumber: wo.Number, Site: wo.Site, Vendor: wo.Vendor,
				Supplier: sup, Status: Draft, CreatedAt: at, UpdatedAt: at, Version: 1,
				History: []Change{{Status: Draft, By: by, At: at, Note: fmt.Sprintf("parts for work order %d", wo.Number)}}}
			bySupplier[sup] = po
			sf.Orders = append(sf.Orders, po)
		}
		po.Lines = append(po.Lines, Line{Part: p.Number, Description: p.Description, Quantity: short, UnitPrice: price, Amount: round2(short * price)})
	}
	for _, po := range sf.Orders {
		for _, l := range po.Lines {
			po.Total += l.Amount
		}
		po.Total = round2(po.Total)
	}
	return sf, nil
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }

// HoldNote is the hold reason recorded on the work order, naming its
// purchase orders.
func HoldNote(orders []*PurchaseOrder) string {
	ids := make([]string, len(orders))
	for i, po := range orders {
		ids[i] = po.ID
	}
	return HoldReason + ": " + strings.Join(ids, ", ")
}

// Notice is a purchase-order event as published on the event stream
// ("frostline.events.purchase_order.<site>", Nats-Msg-Id "<id>-<version>").
type Notice struct {
	Schema        string        `json:"schema"`
	PurchaseOrder PurchaseOrder `json:"purchase_order"`
}

// NoticeSchema names the version of purchase-order notices.
const NoticeSchema = "frostline.purchase_order_event.v1"

// NoticeSubject is the subject a site's purchase-order notices go to.
func NoticeSubject(site string) string { return "frostline.events.purchase_order." + site }
