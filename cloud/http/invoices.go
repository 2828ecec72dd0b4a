package http

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/dispatch"
	"github.com/frostline/frostline/cloud/invoicing"
	"github.com/frostline/frostline/cloud/notify"
	"github.com/frostline/frostline/cloud/store"
	"github.com/frostline/frostline/cloud/workorder"
)

func (s *Server) routesInvoices() {
	s.api("POST /api/v1/workorders/{id}/invoices", s.submitInvoice)
	s.api("GET /api/v1/workorders/{id}/invoices", s.listInvoices)
	s.api("POST /api/v1/invoices/{id}/{action}", s.invoiceAction)
	s.api("GET /api/v1/invoices/export", s.exportInvoices)
	s.api("POST /api/v1/invoices/payments", s.importPayments)
}

// invoicePolicy is the configured policy, or the default.
func (s *Server) invoicePolicy() *invoicing.Policy {
	if s.invoices != nil {
		return s.invoices
	}
	p := invoicing.DefaultPolicy()
	return &p
}

// factsReader is what the checks of an invoice read: a write
// transaction, for a submission, or the store itself, for a page that
// only shows them.
type factsReader interface {
	Site(ctx context.Context, id string) (*cloud.Site, error)
	Asset(ctx context.Context, site, id string) (*cloud.Asset, error)
	WorkOrderInvoices(ctx context.Context, wo string) ([]*invoicing.Invoice, error)
}

// facts gathers what a submission is checked against, from tx.
func (s *Server) facts(ctx context.Context, tx factsReader, w *workorder.WorkOrder, now time.Time) (*invoicing.Facts, error) {
	f := &invoicing.Facts{WorkOrder: w}
	var v *dispatch.Vendor
	v, err := s.store.Vendor(ctx, w.Vendor)
	if err != nil && cloud.ErrorCode(err) != cloud.ENOTFOUND {
		return nil, err
	}
	site, err := tx.Site(ctx, w.Site)
	if err != nil && cloud.ErrorCode(err) != cloud.ENOTFOUND {
		return nil, err
	}
	var rules *dispatch.Rules
	if s.dispatch != nil {
		rules = &s.dispatch.Rules
	}
	f.Rate, _ = dispatch.LabourRate(v, w, site, rules)
	if v != nil {
		f.TripCharge = v.Rates[w.Trade].TripCharge
	}
	if w.Invoice != nil { // computed at verification
		f.Expected = w.Invoice
	} else {
		inv := dispatch.MakeInvoice(v, w, site, rules, now)
		f.Expected = &inv
	}
	if a, err := tx.Asset(ctx, w.Site, w.Asset); err == nil && a.Warranty != nil && a.UnderWarranty(w.CreatedAt) {
		f.Warranty = a.Warranty.Provider == w.Vendor || w.Warranty == w.Vendor
	}
	if f.Others, err = tx.WorkOrderInvoices(ctx, w.ID); err != nil {
		return nil, err
	}
	return f, nil
}

// invoiceNote is the work order's history line for an invoice's change
// ch (one of inv.History).
func invoiceNote(inv *invoicing.Invoice, ch invoicing.Change) workorder.Note {
	text := fmt.Sprintf("Invoice %s (%s, revision %d) %s: $%.2f", inv.Number, inv.ID, inv.Revision, ch.State, inv.Total)
	if len(inv.Findings) > 0 && ch.State == invoicing.Submitted {
		text += fmt.Sprintf("; %d finding(s): %s", len(inv.Findings), inv.Findings[0].Message)
	}
	if ch.Note != "" {
		text += "; " + ch.Note
	}
	return workorder.Note{Author: ch.By, Text: text, Visibility: "shared", At: ch.At}
}

// tellInvoice tells people of an invoice's changes from History[from:]:
// its vendor's billing people of an approval, the FMs of an invoice
// (new or revised) that waits for a person. Disputes are told by the
// dispute itself, with its reasons.
func (s *Server) tellInvoice(ctx context.Context, tx store.Tx, w *workorder.WorkOrder, inv *invoicing.Invoice, from int, now time.Time) error {
	if s.planner == nil {
		return nil
	}
	for _, ch := range inv.History[min(from, len(inv.History)):] {
		d := notify.Disputed{Invoice: inv.Number, Total: inv.Total, At: ch.At}
		switch {
		case ch.State == invoicing.Approved:
			d.Topic, d.Event = notify.TopicInvoiceApproved, fmt.Sprintf("%s-%d-approved", inv.ID, inv.Revision)
			if inv.AutoApproved {
				d.Reasons = []string{"automatically: it matches the computed invoice"}
			} else {
				d.Reasons = []string{"by " + ch.By}
			}
		case ch.State == invoicing.Submitted && inv.State == invoicing.Submitted &&
			!slices.ContainsFunc(inv.Approvals, func(a invoicing.Approval) bool { return a.By == ch.By }):
			// A (re)submission that waits for a person, not an approval
			// on the way to the next level.
			d.Topic, d.Event = notify.TopicInvoiceWaiting, fmt.Sprintf("%s-%d-waiting", inv.ID, inv.Revision)
			for _, f := range inv.Findings {
				d.Reasons = append(d.Reasons, f.Message)
			}
		default:
			continue
		}
		if err := s.planner.PlanInvoice(ctx, tx, w, d, now); err != nil {
			return err
		}
	}
	return nil
}

// scoreInvoice counts an invoice decided by the changes from
// History[from:] in its vendor's scorecard (invoice accuracy).
func scoreInvoice(ctx context.Context, tx store.Tx, inv *invoicing.Invoice, from int) error {
	for _, ch := range inv.History[min(from, len(inv.History)):] {
		if ch.State == invoicing.Approved || ch.State == invoicing.Rejected {
			clean := ch.State == invoicing.Approved && !slices.ContainsFunc(inv.History, func(c invoicing.Change) bool { return c.State == invoicing.Disputed })
			return dispatch.InvoiceDecided(ctx, tx, inv.WorkOrder, inv.Vendor, clean)
		}
	}
	return nil
}

// invoiceEvents records an invoice's changes from History[from:] in the
// work order's history: a revision that is approved at once is two.
func invoiceEvents(w *workorder.WorkOrder, inv *invoicing.Invoice, from int) []workorder.Event {
	var out []workorder.Event
	for _, ch := range inv.History[min(from, len(inv.History)):] {
		out = append(out, w.AddNote(invoiceNote(inv, ch))...)
	}
	return out
}

// onInvoice runs fn on a work order the caller sees and its invoice
// store, in one transaction, and records the invoice's change in the
// work order's history.
func (s *Server) onInvoice(r *http.Request, c *caller, woID string, fn func(tx store.Tx, w *workorder.WorkOrder, now time.Time) (*invoicing.Invoice, error)) (*invoicing.Invoice, error) {
	var out *invoicing.Invoice
	err := s.store.Update(r.Context(), func(tx store.Tx) error {
		w, err := tx.WorkOrder(r.Context(), woID)
		if err != nil {
			return err
		}
		if w == nil || !c.scope.SeesWorkOrder(w.Site, w.Vendor, w.Technician) {
			return cloud.Errorf(cloud.ENOTFOUND, "work order %s not found", woID)
		}
		now := s.now().UTC()
		inv, err := fn(tx, w, now)
		if err != nil {
			return err
		}
		from := 0 // the changes fn made: all of a new invoice's
		if inv.Version > 0 {
			was, err := tx.Invoice(r.Context(), inv.ID)
			if err != nil {
				return err
			}
			from = len(was.History)
		}
		if err := tx.PutInvoice(r.Context(), inv); err != nil {
			return err
		}
		if err := scoreInvoice(r.Context(), tx, inv, from); err != nil {
			return err
		}
		if err := s.tellInvoice(r.Context(), tx, w, inv, from, now); err != nil {
			return err
		}
		out = inv
		return tx.Save(r.Context(), w, invoiceEvents(w, inv, from))
	})
	return out, err
}

// submitInvoice: the work order's vendor (or an admin on its behalf)
// submits an invoice after completion.
func (s *Server) submitInvoice(w http.ResponseWriter, r *http.Request, c *caller) error {
	var sub invoicing.Submission
	if err := decodeJSON(w, r, &sub); err != nil {
		return err
	}
	inv, err := s.submit(r, c, r.PathValue("id"), sub)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/workorders/"+inv.WorkOrder+"/invoices")
	return writeJSON(w, http.StatusCreated, inv)
}

// submit checks and keeps a vendor's invoice for a work order: the API's
// and the work-order page's.
func (s *Server) submit(r *http.Request, c *caller, woID string, sub invoicing.Submission) (*invoicing.Invoice, error) {
	if err := c.may(cloud.RoleVendor, cloud.RoleAdmin); err != nil {
		return nil, err
	}
	inv, err := s.onInvoice(r, c, woID, func(tx store.Tx, wo *workorder.WorkOrder, now time.Time) (*invoicing.Invoice, error) {
		if wo.Vendor == "" {
			return nil, cloud.Errorf(cloud.ECONFLICT, "work order %d has no vendor to invoice it", wo.Number)
		}
		f, err := s.facts(r.Context(), tx, wo, now)
		if err != nil {
			return nil, err
		}
		return invoicing.Submit(cloud.NewID("inv_"), sub, f, s.invoicePolicy(), c.actor(), now)
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("invoice submitted", "invoice", inv.ID, "work_order", inv.WorkOrder, "state", inv.State, "total", inv.Total, "findings", len(inv.Findings))
	return inv, nil
}

func (s *Server) listInvoices(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := c.may(cloud.RoleAdmin, cloud.RoleFM, cloud.RoleVendor); err != nil {
		return err
	}
	if _, err := s.visible(r, c, r.PathValue("id")); err != nil {
		return err
	}
	invs, err := s.store.WorkOrderInvoices(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"items": invs})
}

// InvoiceActionRequest carries what an action on an invoice needs:
// disputes (dispute), a revised submission (revise), a reason (reject),
// a payment reference (pay).
type InvoiceActionRequest struct {
	Disputes   []invoicing.Dispute   `json:"disputes,omitempty"`
	Submission *invoicing.Submission `json:"submission,omitempty"`
	Reason     string                `json:"reason,omitempty"`
	PaymentRef string                `json:"payment_ref,omitempty"`
}

// invoiceAction: approve, dispute, reject and pay are the company's
// (admins and FMs, approvals within their limits); revise is the vendor's.
func (s *Server) invoiceAction(w http.ResponseWriter, r *http.Request, c *caller) error {
	var q InvoiceActionRequest
	if r.ContentLength != 0 {
		if err := decodeJSON(w, r, &q); err != nil {
			return err
		}
	}
	inv, err := s.actOnInvoice(r, c, r.PathValue("id"), r.PathValue("action"), q)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, inv)
}

// actOnInvoice runs an action on an invoice: the API's and the work-order
// page's.
func (s *Server) actOnInvoice(r *http.Request, c *caller, id, action string, q InvoiceActionRequest) (*invoicing.Invoice, error) {
	switch action {
	case "approve", "dispute", "reject", "pay":
		if err := c.may(cloud.RoleAdmin, cloud.RoleFM); err != nil {
			return nil, err
		}
	case "revise":
		if err := c.may(cloud.RoleVendor, cloud.RoleAdmin); err != nil {
			return nil, err
		}
	default:
		return nil, cloud.Errorf(cloud.ENOTFOUND, "no invoice action %q (want approve, dispute, revise, reject or pay)", action)
	}
	// The invoice names its work order; the transaction reads both.
	woID, err := s.invoiceWorkOrder(r.Context(), id)
	if err != nil {
		return nil, err
	}
	inv, err := s.onInvoice(r, c, woID, func(tx store.Tx, wo *workorder.WorkOrder, now time.Time) (*invoicing.Invoice, error) {
		inv, err := tx.Invoice(r.Context(), id)
		if err != nil {
			return nil, err
		}
		p := s.invoicePolicy()
		switch action {
		case "approve":
			err = inv.Approve(c.actor(), c.Role, p, now)
		case "dispute":
			if err = inv.Dispute(c.actor(), q.Disputes, now); err == nil && s.planner != nil {
				err = s.planner.PlanDispute(r.Context(), tx, wo, disputed(inv, now), now)
			}
		case "reject":
			err = inv.Reject(c.actor(), q.Reason, now)
		case "pay":
			err = inv.Pay(q.PaymentRef, c.actor(), now)
		case "revise":
			if q.Submission == nil {
				return nil, cloud.FieldError("submission", "the revised invoice")
			}
			var f *invoicing.Facts
			if f, err = s.facts(r.Context(), tx, wo, now); err == nil {
				others := f.Others[:0]
				for _, o := range f.Others {
					if o.ID != inv.ID {
						others = append(others, o)
					}
				}
				f.Others = others
				err = inv.Revise(*q.Submission, f, p, c.actor(), now)
			}
		}
		return inv, err
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("invoice "+action, "invoice", inv.ID, "state", inv.State, "by", c.actor())
	return inv, nil
}

// invoiceWorkOrder returns the work order an invoice belongs to.
func (s *Server) invoiceWorkOrder(ctx context.Context, id string) (string, error) {
	inv, err := s.store.Invoice(ctx, id)
	if err != nil {
		return "", err
	}
	return inv.WorkOrder, nil
}

// exportInvoices is accounts payable's file: approved invoices (and paid
// ones, with their references), as CSV or JSON (?format=json).
func (s *Server) exportInvoices(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := c.editsRegisters(); err != nil {
		return err
	}
	st := s.store
	var invs []*invoicing.Invoice
	for _, state := range []invoicing.State{invoicing.Approved, invoicing.Paid} {
		some, err := st.Invoices(r.Context(), state)
		if err != nil {
			return err
		}
		invs = append(invs, some...)
	}
	if r.URL.Query().Get("format") == "json" {
		return writeJSON(w, http.StatusOK, map[string]any{"items": invs})
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="frostline-invoices.csv"`)
	return invoicing.ExportCSV(w, invs)
}

// importPayments reads accounts payable's returned export and pays every
// invoice it names with a reference. All rows are checked first; a bad
// file pays nothing.
func (s *Server) importPayments(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := c.editsRegisters(); err != nil {
		return err
	}
	pays, err := invoicing.ReadPayments(http.MaxBytesReader(w, r.Body, 4<<20))
	if err != nil {
		return cloud.Errorf(cloud.EINVALID, "%v", err)
	}
	now := s.now().UTC()
	paid := 0
	err = s.store.Update(r.Context(), func(tx store.Tx) error {
		paid = 0
		for _, p := range pays {
			inv, err := tx.Invoice(r.Context(), p.Invoice)
			if err != nil {
				return err
			}
			if inv.State == invoicing.Paid && inv.PaymentRef == p.Ref {
				continue // imported before
			}
			if err := invoicing.ApplyPayment(inv, p, c.actor(), now); err != nil {
				return cloud.Errorf(cloud.EINVALID, "%v", err)
			}
			if err := tx.PutInvoice(r.Context(), inv); err != nil {
				return err
			}
			wo, err := tx.WorkOrder(r.Context(), inv.WorkOrder)
			if err != nil || wo == nil {
				return fmt.Errorf("invoice %s: work order %s: %v", inv.ID, inv.WorkOrder, err)
			}
			if err := tx.Save(r.Context(), wo, invoiceEvents(wo, inv, len(inv.History)-1)); err != nil {
				return err
			}
			paid++
		}
		return nil
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"paid": paid, "rows": len(pays)})
}

// disputed is an invoice's dispute as the vendor is told it.
func disputed(inv *invoicing.Invoice, at time.Time) notify.Disputed {
	d := notify.Disputed{Invoice: inv.Number, Total: inv.Total, At: at, Event: fmt.Sprintf("%s-%d-dispute", inv.ID, inv.Revision)}
	for _, x := range inv.Disputes {
		what := "the whole invoice"
		if x.Line >= 0 {
			l := inv.Lines[x.Line]
			what = fmt.Sprintf("line %d (%s, $%.2f)", x.Line+1, l.Kind, l.Amount)
		}
		d.Reasons = append(d.Reasons, what+": "+x.Reason)
	}
	return d
}
