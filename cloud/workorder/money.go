package workorder

import (
	"encoding/json"
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
	if !(q.Amount > 0 && q.Amount <= MaxNTE) {
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

// ApproveNTE sets the NTE to amount (the pending quote's when amount is
// 0) for an approver whose limit covers it: limits maps a role to the
// largest NTE it may approve. Usually it raises the NTE; an amount within
// it approves that spend exactly (labour off the vendor's rate table needs
// an approval even within the NTE), and the NTE becomes the amount.
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
	if amount == 0 {
		return nil, cloud.FieldError("amount", "no pending quote: give the amount to approve")
	}
	if !(amount > 0 && amount <= MaxNTE) {
		return nil, cloud.FieldError("amount", "amount must be a positive number of USD up to %d", MaxNTE)
	}
	if amount > limit {
		return nil, cloud.Errorf(cloud.EFORBIDDEN, "$%.2f is above a %s's approval limit of $%.2f; ask someone with more authority", amount, role, limit)
	}
	a := Approval{Amount: round2(amount), From: w.NTE, By: by, Role: role, Reason: reason, At: at}
	why := fmt.Sprintf("NTE raised from $%.2f to $%.2f", a.From, a.Amount)
	if a.Amount <= a.From {
		why = fmt.Sprintf("spend of $%.2f approved (NTE was $%.2f)", a.Amount, a.From)
	}
	var out []Event
	w.record(&out, Event{Kind: Approved, Actor: by, At: at, Approval: &a, Reason: why})
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

// Limits on the numbers a completion records. A part above MaxUnitCost or
// a quantity above MaxQuantity is a typing mistake (or an attack), and
// their product stays far from overflow.
const (
	MaxQuantity   = 10_000
	MaxUnitCost   = 1_000_000
	MaxHourlyRate = 10_000
	// MaxReading bounds a checklist reading (a pressure in kPa, a
	// temperature, a current): beyond it is a typing mistake.
	MaxReading = 1_000_000
)

// Sane returns the completion as reports may use it: a part or labour
// line whose numbers are outside the ranges completion accepts today (a
// value stored before it checked them, such as a quantity of 1e154 whose
// cost overflows to +Inf) is kept but counted as nothing, and says so.
// Every report (asset history, KPIs, cost export) and the invoice read the
// projection, so one bad stored value cannot break them.
func (c *Completion) Sane() *Completion {
	if c == nil {
		return nil
	}
	const note = " [out-of-range amount not counted]"
	var cp *Completion
	clone := func() {
		if cp == nil {
			v := *c
			v.Parts, v.Labour = slices.Clone(c.Parts), slices.Clone(c.Labour)
			cp = &v
		}
	}
	for i, p := range c.Parts {
		if !cloud.InRange(p.Quantity, 0, MaxQuantity) || !cloud.InRange(p.UnitCost, 0, MaxUnitCost) {
			clone()
			cp.Parts[i].Quantity, cp.Parts[i].UnitCost, cp.Parts[i].Description = 0, 0, p.Description+note
		}
	}
	for i, l := range c.Labour {
		if !cloud.InRange(l.Hours, 0, 24) || !cloud.InRange(l.Rate, 0, MaxHourlyRate) {
			clone()
			cp.Labour[i].Hours, cp.Labour[i].Rate, cp.Labour[i].Technician = 0, 0, l.Technician+note
		}
	}
	if cp == nil {
		return c
	}
	return cp
}

// UnmarshalJSON reads a stored completion (an event's or a projection's)
// through Sane: whatever an older release stored, what the service works
// with is finite and in range. Requests do not decode into a Completion
// (the API checks its parts and labour with ValidLines and refuses).
func (c *Completion) UnmarshalJSON(b []byte) error {
	type plain Completion // no UnmarshalJSON: no recursion
	if err := json.Unmarshal(b, (*plain)(c)); err != nil {
		return err
	}
	*c = *c.Sane()
	return nil
}

// BilledRate is the hourly rate a labour line is billed at: the table
// rate (the vendor's for the trade, after-hours applied) when the line's
// typed rate is not above it, else the typed rate, which then needs an
// approval (onTable false). Labour typed at $0 with no table costs
// nothing and needs none.
func BilledRate(l Labour, table *float64) (hourly float64, onTable bool) {
	if table != nil && l.Rate <= *table+0.005 {
		return *table, true
	}
	return l.Rate, l.Rate == 0
}

// Billable prices a completion as it will be invoiced: parts at their
// recorded cost, labour at BilledRate. offTable lists the labour lines
// priced off the rate table, which need an approved NTE.
func (c *Completion) Billable(table *float64) (cost float64, offTable []int) {
	if c == nil {
		return 0, nil
	}
	for _, p := range c.Parts {
		cost += round2(p.Quantity * round2(p.UnitCost))
	}
	for i, l := range c.Labour {
		hourly, on := BilledRate(l, table)
		if !on {
			offTable = append(offTable, i)
		}
		cost += round2(l.Hours * round2(hourly))
	}
	return round2(cost), offTable
}

func round2(x float64) float64 { return math.Round(x*100) / 100 }
