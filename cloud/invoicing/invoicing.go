// Package invoicing is the invoice a vendor submits for a work order and
// what happens to it: checked line by line against what the cloud expects
// (the invoice it computes at verification from the vendor's rate table,
// the approved NTE and quotes, the parts recorded at completion, and
// warranty), refused as a duplicate, approved by roles whose limits cover
// it (more than one above thresholds), disputed with a reason per line and
// revised, rejected, and paid. It is pure: a store keeps the invoices and
// the HTTP layer calls these functions.
//
//	SUBMITTED -> APPROVED -> PAID
//	          -> DISPUTED -> (revise) SUBMITTED
//	          -> REJECTED
package invoicing

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/workorder"
)

// State is where an invoice is.
type State string

// Invoice states.
const (
	Submitted State = "submitted"
	Approved  State = "approved"
	Disputed  State = "disputed"
	Rejected  State = "rejected"
	Paid      State = "paid"
)

// Line kinds.
const (
	Labour = "labour"
	Trip   = "trip"
	Part   = "part"
	Tax    = "tax"
)

// Line is one line of a submitted invoice. Labour is Quantity hours at
// UnitPrice an hour; a part names its PartNumber; tax is an amount.
type Line struct {
	Kind        string  `json:"kind"`
	Description string  `json:"description,omitempty"`
	PartNumber  string  `json:"part_number,omitempty"`
	Quantity    float64 `json:"quantity"`
	UnitPrice   float64 `json:"unit_price"`
	Amount      float64 `json:"amount"`
}

// Submission is what the vendor sends.
type Submission struct {
	// Number is the vendor's own invoice number.
	Number string `json:"number"`
	Lines  []Line `json:"lines"`
	Note   string `json:"note,omitempty"`
}

// Finding is a check a line failed: the line's index (-1 for the whole
// invoice), a code and a sentence.
type Finding struct {
	Line    int    `json:"line"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Finding codes.
const (
	OverRate       = "over_rate"       // labour above the vendor's rate table
	NoRate         = "no_rate"         // labour from a vendor with no rate for the trade
	OverHours      = "over_hours"      // more hours than recorded at completion
	OverTrip       = "over_trip"       // a trip charge above the table's, or more trips than visits
	PartNotUsed    = "part_not_used"   // a part not recorded at completion
	OverPartCost   = "over_part_cost"  // a part above its recorded cost, or more of it
	WarrantyLabour = "warranty_labour" // labour billed on an asset under the vendor's own warranty
	OverNTE        = "over_nte"        // the total above the approved NTE
	OverExpected   = "over_expected"   // the total above the computed invoice beyond tolerance
	TaxRate        = "tax_rate"        // tax above the policy's rate
)

// Approval is one approver's yes.
type Approval struct {
	By   string     `json:"by"`
	Role cloud.Role `json:"role"`
	At   time.Time  `json:"at"`
}

// Dispute is the FM's reason against one line (-1: the whole invoice).
type Dispute struct {
	Line   int    `json:"line"`
	Reason string `json:"reason"`
}

// Change is one step in an invoice's life, for the work order's history.
type Change struct {
	State State     `json:"state"`
	By    string    `json:"by"`
	At    time.Time `json:"at"`
	Note  string    `json:"note,omitempty"`
}

// Invoice is a vendor's invoice for a work order, as checked and decided.
type Invoice struct {
	ID        string `json:"id"`
	WorkOrder string `json:"work_order"`
	Vendor    string `json:"vendor"`
	Number    string `json:"number"`
	// Revision counts submissions: 1, then one more per revision.
	Revision int     `json:"revision"`
	Lines    []Line  `json:"lines"`
	Subtotal float64 `json:"subtotal"`
	Tax      float64 `json:"tax"`
	Total    float64 `json:"total"`
	// Expected is the computed invoice's total, the amount a submission
	// is checked against.
	Expected  float64    `json:"expected"`
	Findings  []Finding  `json:"findings"`
	State     State      `json:"state"`
	Approvals []Approval `json:"approvals,omitempty"`
	// Needs are the approvals still wanted: one role's per level whose
	// threshold the total passes.
	Needs      []Level   `json:"needs,omitempty"`
	Disputes   []Dispute `json:"disputes,omitempty"`
	PaymentRef string    `json:"payment_ref,omitempty"`
	// AutoApproved: it matched the computed invoice within tolerance.
	AutoApproved bool       `json:"auto_approved,omitempty"`
	SubmittedAt  time.Time  `json:"submitted_at"`
	DecidedAt    *time.Time `json:"decided_at,omitempty"`
	PaidAt       *time.Time `json:"paid_at,omitempty"`
	History      []Change   `json:"history"`
	// Version is the store's optimistic lock: the version read.
	Version int `json:"version"`
}

// Level is one approval a total above Above needs, from a role among
// Roles (each role approves up to its limit in Policy.Limits).
type Level struct {
	Above float64      `json:"above" yaml:"above"`
	Roles []cloud.Role `json:"roles" yaml:"roles"`
}

// Policy is the company's invoice rules (the invoices: block of the
// cloud's configuration).
type Policy struct {
	// Tolerance is how far above the computed invoice a submission may
	// be and still be approved without anyone (USD, and a share of it:
	// the larger counts).
	Tolerance    float64 `yaml:"tolerance"`
	TolerancePct float64 `yaml:"tolerance_pct"`
	// TaxRate is the highest tax, as a share of the subtotal, accepted
	// without a finding.
	TaxRate float64 `yaml:"tax_rate"`
	// Limits are the largest invoice each role may approve alone.
	Limits map[cloud.Role]float64 `yaml:"limits"`
	// Levels add approvals above thresholds: an invoice above 5,000
	// needs an FM's and then an admin's.
	Levels []Level `yaml:"levels"`
}

// DefaultPolicy: $5 or 2% tolerance, tax up to 10%, FMs approve up to
// $2,500 and admins anything, and above $5,000 an admin approves too.
func DefaultPolicy() Policy {
	return Policy{Tolerance: 5, TolerancePct: 0.02, TaxRate: 0.10,
		Limits: map[cloud.Role]float64{cloud.RoleFM: 2500, cloud.RoleAdmin: 1e9},
		Levels: []Level{{Above: 0, Roles: []cloud.Role{cloud.RoleFM, cloud.RoleAdmin}}, {Above: 5000, Roles: []cloud.Role{cloud.RoleAdmin}}}}
}

// Validate checks the policy, naming fields under invoices.
func (p *Policy) Validate() error {
	var errs []error
	if p.Tolerance < 0 || p.TolerancePct < 0 || p.TolerancePct > 0.5 {
		errs = append(errs, errors.New("invoices.tolerance: want tolerance >= 0 and 0 <= tolerance_pct <= 0.5"))
	}
	if p.TaxRate < 0 || p.TaxRate > 0.5 {
		errs = append(errs, errors.New("invoices.tax_rate: want 0-0.5"))
	}
	if len(p.Levels) == 0 {
		errs = append(errs, errors.New("invoices.levels: at least one level (above: 0) is needed"))
	}
	for i, l := range p.Levels {
		if len(l.Roles) == 0 || l.Above < 0 {
			errs = append(errs, fmt.Errorf("invoices.levels[%d]: want above >= 0 and at least one role", i))
		}
	}
	return errors.Join(errs...)
}

// Facts is what a submission is checked against.
type Facts struct {
	WorkOrder *workorder.WorkOrder
	// Expected is the computed invoice (dispatch.MakeInvoice): labour at
	// the table's rate, trips per visit, parts at their recorded cost.
	Expected *workorder.Invoice
	// Rate is the vendor's hourly rate for the work (after-hours
	// multiplier applied), nil when it has none; TripCharge its trip
	// charge.
	Rate       *float64
	TripCharge float64
	// Warranty: the asset is under warranty with this vendor as its
	// provider, so labour is owed by the warranty, not the customer.
	Warranty bool
	// Others are the work order's earlier invoices, for duplicates.
	Others []*Invoice
}

const maxAmount = 10_000_000

func round2(x float64) float64 { return math.Round(x*100) / 100 }

// normalise validates a submission's lines and fills each amount.
func normalise(sub *Submission) error {
	var errs []error
	if !cloud.PlainText(sub.Number, 64) || strings.TrimSpace(sub.Number) == "" {
		errs = append(errs, cloud.FieldError("number", "the vendor's invoice number: 1-64 characters of plain text"))
	}
	if len(sub.Lines) == 0 || len(sub.Lines) > 200 {
		errs = append(errs, cloud.FieldError("lines", "want 1-200 lines"))
	}
	for i := range sub.Lines {
		l := &sub.Lines[i]
		field := fmt.Sprintf("lines[%d]", i)
		switch l.Kind {
		case Labour, Trip, Part:
			if !(l.Quantity > 0 && l.Quantity <= 1000) || !(l.UnitPrice >= 0 && l.UnitPrice <= maxAmount) {
				errs = append(errs, cloud.FieldError(field, "want 0 < quantity <= 1000 and 0 <= unit_price <= 10,000,000"))
				continue
			}
			l.Amount = round2(l.Quantity * l.UnitPrice)
		case Tax:
			if !(l.Amount >= 0 && l.Amount <= maxAmount) {
				errs = append(errs, cloud.FieldError(field+".amount", "want 0-10,000,000"))
			}
			l.Quantity, l.UnitPrice = 0, 0
		default:
			errs = append(errs, cloud.FieldError(field+".kind", "want labour, trip, part or tax, got %q", l.Kind))
		}
		if l.Kind == Part && strings.TrimSpace(l.PartNumber) == "" {
			errs = append(errs, cloud.FieldError(field+".part_number", "a part line names its part number"))
		}
		if !cloud.PlainText(l.Description, 200) || !cloud.PlainText(l.PartNumber, 64) {
			errs = append(errs, cloud.FieldError(field+".description", "at most 200 characters of plain text"))
		}
	}
	return errors.Join(errs...)
}

// check returns the findings of a submission's lines.
func check(inv *Invoice, f *Facts, p *Policy) []Finding {
	w := f.WorkOrder
	out := []Finding{}
	add := func(line int, code, format string, args ...any) {
		out = append(out, Finding{Line: line, Code: code, Message: fmt.Sprintf(format, args...)})
	}
	var hours, recorded, trips float64
	if c := w.Completion; c != nil {
		for _, l := range c.Labour {
			recorded += l.Hours
		}
	}
	used := map[string]workorder.Part{}
	if c := w.Completion; c != nil {
		for _, pt := range c.Parts {
			k := strings.ToUpper(pt.Code)
			q := used[k]
			q.Quantity += pt.Quantity
			q.UnitCost = max(q.UnitCost, pt.UnitCost)
			used[k] = q
		}
	}
	billed := map[string]float64{}
	for i, l := range inv.Lines {
		switch l.Kind {
		case Labour:
			hours += l.Quantity
			switch {
			case f.Warranty:
				add(i, WarrantyLabour, "the asset is under warranty with %s: its labour is owed by the warranty ($0)", w.Vendor)
			case f.Rate == nil && !approvedAbove(w):
				add(i, NoRate, "no rate on the vendor's table for %s", w.Trade)
			case f.Rate != nil && l.UnitPrice > *f.Rate+0.005:
				add(i, OverRate, "$%.2f an hour is above the rate table's $%.2f", l.UnitPrice, *f.Rate)
			}
		case Trip:
			trips += l.Quantity
			if l.UnitPrice > f.TripCharge+0.005 {
				add(i, OverTrip, "a trip charge of $%.2f is above the table's $%.2f", l.UnitPrice, f.TripCharge)
			}
		case Part:
			k := strings.ToUpper(l.PartNumber)
			u, ok := used[k]
			billed[k] += l.Quantity
			switch {
			case !ok:
				add(i, PartNotUsed, "part %s was not recorded at completion", l.PartNumber)
			case billed[k] > u.Quantity+1e-9:
				add(i, OverPartCost, "%g of part %s billed, %g recorded at completion", billed[k], l.PartNumber, u.Quantity)
			case l.UnitPrice > u.UnitCost+0.005:
				add(i, OverPartCost, "part %s at $%.2f is above its recorded cost of $%.2f", l.PartNumber, l.UnitPrice, u.UnitCost)
			}
		case Tax:
			if inv.Subtotal > 0 && l.Amount > round2(inv.Subtotal*p.TaxRate)+0.005 {
				add(i, TaxRate, "tax of $%.2f is above %.0f%% of the subtotal", l.Amount, p.TaxRate*100)
			}
		}
	}
	if hours > recorded+1e-9 {
		add(-1, OverHours, "%g hours billed, %g recorded at completion", hours, recorded)
	}
	if visits := countVisits(w); trips > float64(visits) {
		add(-1, OverTrip, "%g trips billed, %d visits recorded", trips, visits)
	}
	if inv.Subtotal > w.NTE+0.005 {
		add(-1, OverNTE, "the subtotal $%.2f is above the approved NTE of $%.2f", inv.Subtotal, w.NTE)
	}
	if f.Expected != nil && inv.Subtotal > f.Expected.Total+tolerance(p, f.Expected.Total) {
		add(-1, OverExpected, "the subtotal $%.2f is above the computed $%.2f", inv.Subtotal, f.Expected.Total)
	}
	return out
}

func approvedAbove(w *workorder.WorkOrder) bool { return len(w.Approvals) > 0 }

func countVisits(w *workorder.WorkOrder) int { return len(w.Visits) }

func tolerance(p *Policy, expected float64) float64 {
	return math.Max(p.Tolerance, p.TolerancePct*expected)
}

// needs returns the levels a total passes.
func needs(p *Policy, total float64) []Level {
	var out []Level
	for _, l := range p.Levels {
		if total > l.Above || (l.Above == 0 && total >= 0) {
			out = append(out, l)
		}
	}
	return out
}

// ErrDuplicate is a submission with the same vendor, work order and
// amount as one not rejected.
var ErrDuplicate = &cloud.Error{Code: cloud.ECONFLICT, Message: "a duplicate: this vendor already invoiced this work order for this amount"}

// Submit checks a submission and returns the new invoice: auto-approved
// when it has no findings and is within tolerance of the computed
// invoice, else SUBMITTED for a person. A duplicate (same vendor, work
// order and total as an invoice not rejected) is refused.
func Submit(id string, sub Submission, f *Facts, p *Policy, by string, now time.Time) (*Invoice, error) {
	w := f.WorkOrder
	switch w.Status {
	case workorder.WorkComplete, workorder.Verifying, workorder.Verified, workorder.Closed:
	default:
		return nil, cloud.Errorf(cloud.ECONFLICT, "work order %d is %s: invoices are taken after completion", w.Number, w.Status.Upper())
	}
	inv := &Invoice{ID: id, WorkOrder: w.ID, Vendor: w.Vendor, Revision: 1, SubmittedAt: now}
	if err := inv.fill(sub, f, p); err != nil {
		return nil, err
	}
	for _, o := range f.Others {
		if o.State != Rejected && o.Vendor == inv.Vendor && math.Abs(o.Total-inv.Total) < 0.005 {
			return nil, fmt.Errorf("%w (%s, %s)", ErrDuplicate, o.ID, o.State)
		}
		if o.State != Rejected && o.State != Paid && o.Vendor == inv.Vendor {
			return nil, cloud.Errorf(cloud.ECONFLICT, "invoice %s is %s: revise it rather than submitting another", o.ID, o.State)
		}
	}
	inv.History = []Change{{State: Submitted, By: by, At: now, Note: sub.Note}}
	inv.decide(p, now)
	return inv, nil
}

// fill validates sub and sets the invoice's lines, totals and findings.
func (inv *Invoice) fill(sub Submission, f *Facts, p *Policy) error {
	if err := normalise(&sub); err != nil {
		return err
	}
	inv.Number, inv.Lines = sub.Number, sub.Lines
	inv.Subtotal, inv.Tax = 0, 0
	for _, l := range inv.Lines {
		if l.Kind == Tax {
			inv.Tax += l.Amount
		} else {
			inv.Subtotal += l.Amount
		}
	}
	inv.Subtotal, inv.Tax = round2(inv.Subtotal), round2(inv.Tax)
	inv.Total = round2(inv.Subtotal + inv.Tax)
	if f.Expected != nil {
		inv.Expected = f.Expected.Total
	}
	inv.Findings = check(inv, f, p)
	inv.Needs = needs(p, inv.Total)
	inv.Approvals, inv.Disputes = nil, nil
	return nil
}

// decide auto-approves a clean submission within tolerance. The match
// stands for the first level's approval (above $0) only: a total past a
// higher threshold still waits for the roles of those levels.
func (inv *Invoice) decide(p *Policy, now time.Time) {
	inv.State = Submitted
	if len(inv.Findings) > 0 || inv.Expected <= 0 || math.Abs(inv.Subtotal-inv.Expected) > tolerance(p, inv.Expected) {
		return
	}
	note := fmt.Sprintf("matches the computed invoice ($%.2f) within tolerance", inv.Expected)
	rest := slices.DeleteFunc(slices.Clone(inv.Needs), func(l Level) bool { return l.Above == 0 })
	if len(rest) > 0 && len(rest) < len(inv.Needs) {
		inv.Approvals, inv.Needs = append(inv.Approvals, Approval{By: "system", At: now}), rest
		inv.History = append(inv.History, Change{State: Submitted, By: "system", At: now,
			Note: note + fmt.Sprintf("; %d more approval(s) needed above $%.2f", len(rest), rest[0].Above)})
		return
	}
	if len(rest) > 0 {
		return // no level a match stands for
	}
	inv.State, inv.AutoApproved, inv.Needs = Approved, true, nil
	inv.DecidedAt = &now
	inv.History = append(inv.History, Change{State: Approved, By: "system", At: now, Note: note})
}

// Approve records role's approval. Each level the total passes needs one
// approval by a role among its roles whose limit covers the total; the
// invoice is APPROVED when none is left. An approver approves one level.
func (inv *Invoice) Approve(by string, role cloud.Role, p *Policy, now time.Time) error {
	if inv.State != Submitted {
		return cloud.Errorf(cloud.ECONFLICT, "invoice %s is %s: only a submitted invoice is approved", inv.ID, inv.State)
	}
	if slices.ContainsFunc(inv.Approvals, func(a Approval) bool { return a.By == by }) {
		return cloud.Errorf(cloud.ECONFLICT, "%s approved this invoice already; the next level needs someone else", by)
	}
	if limit := p.Limits[role]; inv.Total > limit {
		return cloud.Errorf(cloud.EFORBIDDEN, "$%.2f is above what a %s may approve ($%.2f): it needs a higher approver", inv.Total, role, limit)
	}
	i := slices.IndexFunc(inv.Needs, func(l Level) bool { return slices.Contains(l.Roles, role) })
	if i < 0 {
		return cloud.Errorf(cloud.EFORBIDDEN, "the approvals this invoice still needs are not a %s's", role)
	}
	inv.Approvals = append(inv.Approvals, Approval{By: by, Role: role, At: now})
	inv.Needs = slices.Delete(inv.Needs, i, i+1)
	note := fmt.Sprintf("approved by %s (%s)", by, role)
	if len(inv.Needs) == 0 {
		inv.State, inv.DecidedAt = Approved, &now
	} else {
		note += fmt.Sprintf("; %d more approval(s) needed above $%.2f", len(inv.Needs), inv.Needs[0].Above)
	}
	inv.History = append(inv.History, Change{State: inv.State, By: by, At: now, Note: note})
	return nil
}

// Dispute sends a submitted invoice back to the vendor with a reason per
// line (Line -1 for the whole invoice).
func (inv *Invoice) Dispute(by string, ds []Dispute, now time.Time) error {
	if inv.State != Submitted {
		return cloud.Errorf(cloud.ECONFLICT, "invoice %s is %s: only a submitted invoice is disputed", inv.ID, inv.State)
	}
	if len(ds) == 0 {
		return cloud.FieldError("disputes", "give at least one line and its reason")
	}
	for i, d := range ds {
		if d.Line < -1 || d.Line >= len(inv.Lines) {
			return cloud.FieldError(fmt.Sprintf("disputes[%d].line", i), "no line %d (the invoice has %d; -1 is the whole invoice)", d.Line, len(inv.Lines))
		}
		if strings.TrimSpace(d.Reason) == "" || !cloud.PlainText(d.Reason, 500) {
			return cloud.FieldError(fmt.Sprintf("disputes[%d].reason", i), "a reason: 1-500 characters of plain text")
		}
	}
	inv.State, inv.Disputes, inv.Approvals = Disputed, ds, nil
	inv.History = append(inv.History, Change{State: Disputed, By: by, At: now, Note: fmt.Sprintf("%d line(s) disputed", len(ds))})
	return nil
}

// Revise takes the vendor's corrected submission of a disputed invoice:
// checked again, the next revision, SUBMITTED (or auto-approved).
func (inv *Invoice) Revise(sub Submission, f *Facts, p *Policy, by string, now time.Time) error {
	if inv.State != Disputed {
		return cloud.Errorf(cloud.ECONFLICT, "invoice %s is %s: only a disputed invoice is revised", inv.ID, inv.State)
	}
	if err := inv.fill(sub, f, p); err != nil {
		return err
	}
	inv.Revision++
	inv.SubmittedAt, inv.DecidedAt = now, nil
	inv.History = append(inv.History, Change{State: Submitted, By: by, At: now, Note: fmt.Sprintf("revision %d: %s", inv.Revision, sub.Note)})
	inv.decide(p, now)
	return nil
}

// Reject refuses a submitted or disputed invoice for good.
func (inv *Invoice) Reject(by, reason string, now time.Time) error {
	if inv.State != Submitted && inv.State != Disputed {
		return cloud.Errorf(cloud.ECONFLICT, "invoice %s is %s: only a submitted or disputed invoice is rejected", inv.ID, inv.State)
	}
	if strings.TrimSpace(reason) == "" || !cloud.PlainText(reason, 500) {
		return cloud.FieldError("reason", "a reason: 1-500 characters of plain text")
	}
	inv.State, inv.DecidedAt = Rejected, &now
	inv.History = append(inv.History, Change{State: Rejected, By: by, At: now, Note: reason})
	return nil
}

// Pay records the payment of an approved invoice; paying it again with
// the same reference changes nothing (an AP file imported twice).
func (inv *Invoice) Pay(ref, by string, now time.Time) error {
	if inv.State == Paid && inv.PaymentRef == ref {
		return nil
	}
	if inv.State != Approved {
		return cloud.Errorf(cloud.ECONFLICT, "invoice %s is %s: only an approved invoice is paid", inv.ID, inv.State)
	}
	if strings.TrimSpace(ref) == "" || !cloud.PlainText(ref, 64) {
		return cloud.FieldError("payment_ref", "the payment reference: 1-64 characters of plain text")
	}
	inv.State, inv.PaymentRef, inv.PaidAt = Paid, ref, &now
	inv.History = append(inv.History, Change{State: Paid, By: by, At: now, Note: "payment " + ref})
	return nil
}

// Tx is what invoicing needs of a store's write transaction: a work
// order's invoices read and written beside its events.
type Tx interface {
	WorkOrderInvoices(ctx context.Context, wo string) ([]*Invoice, error)
	Invoice(ctx context.Context, id string) (*Invoice, error)
	// PutInvoice inserts a new invoice (Version 0) or replaces the
	// version read; a stale read fails the transaction as a conflict.
	PutInvoice(ctx context.Context, inv *Invoice) error
}

// Store reads invoices outside a transaction: the AP export's list, and
// the pages and lists that only show them.
type Store interface {
	Invoices(ctx context.Context, state State) ([]*Invoice, error)
	WorkOrderInvoices(ctx context.Context, wo string) ([]*Invoice, error)
	Invoice(ctx context.Context, id string) (*Invoice, error)
}
