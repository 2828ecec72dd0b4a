package workorder

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/frostline/frostline/cloud"
)

// Quote is a vendor's proposal: what the work will cost and why. A quote
// within the NTE needs nothing more; above it, someone with the authority
// approves it (raising the NTE) before the work may be completed at that
// cost.
type Quote struct {
	Amount      float64   `json:"amount"`
	Description string    `json:"description"`
	By          string    `json:"by"`
	At          time.Time `json:"at"`
}

// Approval is a recorded raise of a work order's NTE.
type Approval struct {
	Amount float64    `json:"amount"`
	From   float64    `json:"from"`
	By     string     `json:"by"`
	Role   cloud.Role `json:"role"`
	Reason string     `json:"reason,omitempty"`
	At     time.Time  `json:"at"`
}

// Invoice is what a vendor is paid for a work order, made from its rate
// table, the labour and parts recorded at completion, and never more than
// the approved NTE.
type Invoice struct {
	ID       string        `json:"id"`
	Vendor   string        `json:"vendor"`
	Lines    []InvoiceLine `json:"lines"`
	Subtotal float64       `json:"subtotal"`
	// WrittenOff is what the NTE cut from the subtotal.
	WrittenOff float64   `json:"written_off,omitempty"`
	Total      float64   `json:"total"`
	NTE        float64   `json:"nte,omitempty"`
	At         time.Time `json:"at"`
}

// InvoiceLine is one line of an invoice.
type InvoiceLine struct {
	Kind        string  `json:"kind"` // labour, trip, part
	Description string  `json:"description"`
	Quantity    float64 `json:"quantity"`
	UnitPrice   float64 `json:"unit_price"`
	Amount      float64 `json:"amount"`
}

// quotable are the states a vendor may price work in.
var quotable = []Status{Dispatched, Accepted, InProgress, OnHold}

// Propose records a vendor's quote. A quote above the NTE waits for
// approval (w.Quote); one within it is recorded and needs nothing.
func (w *WorkOrder) Propose(q Quote, role cloud.Role) ([]Event, error) {
	switch role {
	case cloud.RoleAdmin, cloud.RoleVendor, cloud.RoleTechnician, cloud.RoleFM:
	default:
		return nil, cloud.Errorf(cloud.EFORBIDDEN, "a %s may not quote", role)
	}
	if !slices.Contains(quotable, w.Status) {
		return nil, cloud.Errorf(cloud.ECONFLICT, "work order %d is %s: quotes are taken from dispatch until completion", w.Number, w.Status.Upper())
	}
	if q.Amount <= 0 || math.IsNaN(q.Amount) || math.IsInf(q.Amount, 0) || q.Amount > 1e7 {
		return nil, cloud.FieldError("amount", "amount must be a positive number of USD below 10,000,000")
	}
	if strings.TrimSpace(q.Description) == "" {
		return nil, cloud.FieldError("description", "say what the quote covers")
	}
	q.Amount = round2(q.Amount)
	var out []Event
	w.record(&out, Event{Kind: Quoted, Actor: q.By, At: q.At, Quote: &q,
		Reason: fmt.Sprintf("quote $%.2f against NTE $%.2f", q.Amount, w.NTE)})
	return out, nil
}

// ApproveNTE raises the NTE to amount (the pending quote's when amount is
// 0) for an approver whose limit covers it: limits maps a role to the
// largest NTE it may approve.
func (w *WorkOrder) ApproveNTE(amount float64, reason string, by string, role cloud.Role, limits map[cloud.Role]float64, at time.Time) ([]Event, error) {
	limit, ok := limits[role]
	if !ok || limit <= 0 {
		return nil, cloud.Errorf(cloud.EFORBIDDEN, "a %s may not approve spending", role)
	}
	if !w.Status.Open() {
		return nil, cloud.Errorf(cloud.ECONFLICT, "work order %d is %s", w.Number, w.Status.Upper())
	}
	if amount == 0 && w.Quote != nil {
		amount = w.Quote.Amount
	}
	if amount <= 0 || math.IsNaN(amount) || math.IsInf(amount, 0) {
		return nil, cloud.FieldError("amount", "no pending quote: give the amount to approve")
	}
	if amount <= w.NTE {
		return nil, cloud.FieldError("amount", "$%.2f is within the NTE of $%.2f already", amount, w.NTE)
	}
	if amount > limit {
		return nil, cloud.Errorf(cloud.EFORBIDDEN, "$%.2f is above a %s's approval limit of $%.2f; ask someone with more authority", amount, role, limit)
	}
	a := Approval{Amount: round2(amount), From: w.NTE, By: by, Role: role, Reason: reason, At: at}
	var out []Event
	w.record(&out, Event{Kind: Approved, Actor: by, At: at, Approval: &a,
		Reason: fmt.Sprintf("NTE raised from $%.2f to $%.2f", a.From, a.Amount)})
	return out, nil
}

// Bill records the invoice. It is made once, when the work is verified.
func (w *WorkOrder) Bill(inv Invoice) ([]Event, error) {
	if w.Invoice != nil {
		return nil, cloud.Errorf(cloud.ECONFLICT, "work order %d is invoiced already", w.Number)
	}
	if w.Status != Verified && w.Status != Closed {
		return nil, cloud.Errorf(cloud.ECONFLICT, "work order %d is %s: invoices are made when the fix is verified", w.Number, w.Status.Upper())
	}
	var out []Event
	w.record(&out, Event{Kind: Invoiced, Actor: string(System), At: inv.At, Invoice: &inv,
		Reason: fmt.Sprintf("invoice %s for $%.2f", inv.ID, inv.Total)})
	return out, nil
}

func round2(x float64) float64 { return math.Round(x*100) / 100 }
