package http

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/invoicing"
	"github.com/frostline/frostline/cloud/workorder"
)

// The work-order page's invoice section: the vendor's office submits an
// invoice after completion (prefilled from the computed one: the hours
// and parts recorded, the rate table's prices) and revises a disputed
// one; the FM sees each line with the checks it failed and approves,
// disputes lines with a reason each, or rejects it, and records a
// payment. The forms post to the same functions as the API.

// invoiceRow is one line of the submission form.
type invoiceRow struct {
	Kind, Description, PartNumber string
	Quantity, UnitPrice           string
}

// invoiceLineView is a line of a submitted invoice with what was found
// about it and the FM's dispute of it.
type invoiceLineView struct {
	Index    int
	Line     invoicing.Line
	Findings []invoicing.Finding
	Dispute  string
}

// invoiceView is an invoice on the page with what the caller may do.
type invoiceView struct {
	*invoicing.Invoice
	Rows []invoiceLineView
	// Whole are the findings and the dispute about the whole invoice.
	Whole        []invoicing.Finding
	WholeDispute string
	// Needs says who must still approve.
	Needs                                    string
	CanDecide, CanApprove, CanRevise, CanPay bool
	// Form is the revision form's rows (the invoice's lines, then blanks).
	Form    []invoiceRow
	FormTax string
}

// invoiceSection is the data of the page's invoice section.
type invoiceSection struct {
	Invoices []invoiceView
	// Expected is the computed invoice's total: what a submission is
	// checked against.
	Expected  float64
	CanSubmit bool
	Form      []invoiceRow
}

// extraRows are the blank rows a form offers for lines not prefilled.
const extraRows = 2

// money2 writes an amount for a form field.
func money2(x float64) string { return strconv.FormatFloat(math.Round(x*100)/100, 'f', -1, 64) }

// invoiceSectionOf reads the work order's invoices and the computed
// invoice for the caller's view of its page; nil when the caller has no
// business with invoices (a store, a technician) or there is no vendor.
func (s *Server) invoiceSectionOf(ctx context.Context, c *caller, w *workorder.WorkOrder) (*invoiceSection, error) {
	if w.Vendor == "" || !slices.Contains([]cloud.Role{cloud.RoleAdmin, cloud.RoleFM, cloud.RoleVendor}, c.Role) {
		return nil, nil
	}
	switch w.Status {
	case workorder.WorkComplete, workorder.Verifying, workorder.Verified, workorder.Closed:
	default:
		return nil, nil
	}
	f, err := s.facts(ctx, s.store, w, s.now().UTC())
	if err != nil {
		return nil, err
	}
	sec := &invoiceSection{}
	if f.Expected != nil {
		sec.Expected = f.Expected.Total
	}
	vendorSide := c.Role == cloud.RoleVendor || c.Role == cloud.RoleAdmin
	company := c.Role == cloud.RoleFM || c.Role == cloud.RoleAdmin
	open := false
	p := s.invoicePolicy()
	for _, inv := range f.Others {
		v := invoiceView{Invoice: inv, Whole: []invoicing.Finding{}}
		for i, l := range inv.Lines {
			v.Rows = append(v.Rows, invoiceLineView{Index: i, Line: l})
		}
		for _, fd := range inv.Findings {
			if fd.Line >= 0 && fd.Line < len(v.Rows) {
				v.Rows[fd.Line].Findings = append(v.Rows[fd.Line].Findings, fd)
			} else {
				v.Whole = append(v.Whole, fd)
			}
		}
		for _, d := range inv.Disputes {
			if d.Line >= 0 && d.Line < len(v.Rows) {
				v.Rows[d.Line].Dispute = d.Reason
			} else {
				v.WholeDispute = d.Reason
			}
		}
		var needs []string
		for _, l := range inv.Needs {
			roles := make([]string, len(l.Roles))
			for i, r := range l.Roles {
				roles[i] = string(r)
			}
			needs = append(needs, strings.Join(roles, " or "))
		}
		v.Needs = strings.Join(needs, ", then ")
		v.CanDecide = company && inv.State == invoicing.Submitted
		v.CanApprove = v.CanDecide && inv.Total <= p.Limits[c.Role] &&
			slices.ContainsFunc(inv.Needs, func(l invoicing.Level) bool { return slices.Contains(l.Roles, c.Role) }) &&
			!slices.ContainsFunc(inv.Approvals, func(a invoicing.Approval) bool { return a.By == c.actor() })
		v.CanRevise = vendorSide && inv.State == invoicing.Disputed
		v.CanPay = company && inv.State == invoicing.Approved
		if v.CanRevise {
			v.Form, v.FormTax = rowsOfLines(inv.Lines)
		}
		if inv.State != invoicing.Rejected && inv.State != invoicing.Paid {
			open = true
		}
		sec.Invoices = append(sec.Invoices, v)
	}
	sec.CanSubmit = vendorSide && !open
	if sec.CanSubmit {
		sec.Form = expectedRows(w, f.Expected)
	}
	return sec, nil
}

// expectedRows prefills a new invoice from the computed one: its labour
// and trips at the table's prices, and the parts recorded at completion
// with their part numbers.
func expectedRows(w *workorder.WorkOrder, exp *workorder.Invoice) []invoiceRow {
	var rows []invoiceRow
	if exp != nil {
		for _, l := range exp.Lines {
			if l.Kind == invoicing.Labour || l.Kind == invoicing.Trip {
				rows = append(rows, invoiceRow{Kind: l.Kind, Description: l.Description, Quantity: money2(l.Quantity), UnitPrice: money2(l.UnitPrice)})
			}
		}
	}
	if c := w.Completion; c != nil {
		for _, p := range c.Parts {
			rows = append(rows, invoiceRow{Kind: invoicing.Part, Description: p.Description, PartNumber: p.Code,
				Quantity: money2(p.Quantity), UnitPrice: money2(p.UnitCost)})
		}
	}
	return append(rows, make([]invoiceRow, extraRows)...)
}

// rowsOfLines is a submitted invoice's lines as form rows, and its tax.
func rowsOfLines(lines []invoicing.Line) ([]invoiceRow, string) {
	var rows []invoiceRow
	tax := 0.0
	for _, l := range lines {
		if l.Kind == invoicing.Tax {
			tax += l.Amount
			continue
		}
		rows = append(rows, invoiceRow{Kind: l.Kind, Description: l.Description, PartNumber: l.PartNumber,
			Quantity: money2(l.Quantity), UnitPrice: money2(l.UnitPrice)})
	}
	t := ""
	if tax > 0 {
		t = money2(tax)
	}
	return append(rows, make([]invoiceRow, extraRows)...), t
}

// maxFormRows bounds the rows a form may post.
const maxFormRows = 50

// submissionOf reads the submission form: rows kind_i, desc_i, part_i,
// qty_i, price_i (a row without a kind or a quantity is blank), the tax,
// the vendor's number and a note.
func submissionOf(f url.Values) (invoicing.Submission, error) {
	sub := invoicing.Submission{Number: strings.TrimSpace(f.Get("number")), Note: strings.TrimSpace(f.Get("note"))}
	num := func(name string) (float64, error) {
		x, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(f.Get(name)), "$")), 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			return 0, cloud.FieldError(name, "not a number")
		}
		return x, nil
	}
	var errs []error
	for i := range maxFormRows {
		k := strconv.Itoa(i)
		kind := f.Get("kind_" + k)
		if kind == "" || strings.TrimSpace(f.Get("qty_"+k)) == "" {
			continue
		}
		l := invoicing.Line{Kind: kind, Description: strings.TrimSpace(f.Get("desc_" + k)), PartNumber: strings.TrimSpace(f.Get("part_" + k))}
		var err error
		if l.Quantity, err = num("qty_" + k); err != nil {
			errs = append(errs, err)
		}
		if strings.TrimSpace(f.Get("price_"+k)) != "" {
			if l.UnitPrice, err = num("price_" + k); err != nil {
				errs = append(errs, err)
			}
		}
		sub.Lines = append(sub.Lines, l)
	}
	if strings.TrimSpace(f.Get("tax")) != "" {
		tax, err := num("tax")
		if err != nil {
			errs = append(errs, err)
		} else if tax != 0 {
			sub.Lines = append(sub.Lines, invoicing.Line{Kind: invoicing.Tax, Description: "tax", Amount: tax})
		}
	}
	return sub, errors.Join(errs...)
}

// invoicePost takes the work-order page's invoice forms: a new invoice
// (no invoice id) or an action on one (approve, dispute, revise, reject,
// pay). A refusal is shown on the page, as the field actions' are.
func (s *Server) invoicePost(w http.ResponseWriter, r *http.Request, c *caller) error {
	r.Body = http.MaxBytesReader(w, r.Body, MaxFormBody)
	if err := r.ParseForm(); err != nil {
		return cloud.Errorf(cloud.EINVALID, "unreadable form")
	}
	woID, f := r.PathValue("id"), r.PostForm
	action := f.Get("action")
	var inv *invoicing.Invoice
	var err error
	if action != "submit" {
		// An action names its invoice: one of this work order's.
		var on string
		if on, err = s.invoiceWorkOrder(r.Context(), f.Get("invoice")); err == nil && on != woID {
			err = cloud.Errorf(cloud.ENOTFOUND, "invoice %s not found on this work order", f.Get("invoice"))
		}
	}
	switch {
	case err != nil:
	case action == "submit":
		var sub invoicing.Submission
		if sub, err = submissionOf(f); err == nil {
			inv, err = s.submit(r, c, woID, sub)
		}
	case action == "revise":
		var sub invoicing.Submission
		if sub, err = submissionOf(f); err == nil {
			inv, err = s.actOnInvoice(r, c, f.Get("invoice"), action, InvoiceActionRequest{Submission: &sub})
		}
	case action == "dispute":
		q := InvoiceActionRequest{}
		if why := strings.TrimSpace(f.Get("reason_all")); why != "" {
			q.Disputes = append(q.Disputes, invoicing.Dispute{Line: -1, Reason: why})
		}
		for i := range maxFormRows {
			if why := strings.TrimSpace(f.Get("reason_" + strconv.Itoa(i))); why != "" {
				q.Disputes = append(q.Disputes, invoicing.Dispute{Line: i, Reason: why})
			}
		}
		inv, err = s.actOnInvoice(r, c, f.Get("invoice"), action, q)
	case action == "approve" || action == "reject" || action == "pay":
		inv, err = s.actOnInvoice(r, c, f.Get("invoice"), action,
			InvoiceActionRequest{Reason: f.Get("reason"), PaymentRef: strings.TrimSpace(f.Get("payment_ref"))})
	default:
		err = cloud.FieldError("action", "want submit, revise, approve, dispute, reject or pay")
	}
	v := url.Values{}
	switch code := cloud.ErrorCode(err); {
	case err == nil:
		msg := fmt.Sprintf("Invoice %s: %s", inv.Number, inv.State)
		if inv.AutoApproved && inv.State == invoicing.Approved && (action == "submit" || action == "revise") {
			msg += " (matches the computed invoice)"
		}
		v.Set("flash", msg)
	case code == cloud.EINVALID || code == cloud.ECONFLICT || code == cloud.EFORBIDDEN || code == cloud.ENOTFOUND:
		v.Set("refused", cloud.ErrorMessage(err))
	default:
		return err
	}
	http.Redirect(w, r, "/workorders/"+url.PathEscape(woID)+"?"+v.Encode()+"#invoices", http.StatusSeeOther)
	return nil
}
