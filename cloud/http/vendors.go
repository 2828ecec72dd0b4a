package http

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/dispatch"
	"github.com/frostline/frostline/cloud/store"
	"github.com/frostline/frostline/cloud/workorder"
	"github.com/frostline/frostline/rules"
)

// vendorStore is the vendor register and the dispatch records.
type vendorStore interface {
	PutVendor(ctx context.Context, v *dispatch.Vendor, at time.Time) error
	Vendor(ctx context.Context, id string) (*dispatch.Vendor, error)
	Vendors(ctx context.Context) ([]dispatch.Vendor, error)
	DeleteVendor(ctx context.Context, id string) error
	VendorOutcomes(ctx context.Context, since time.Time) ([]dispatch.Outcome, error)
	DispatchBook(ctx context.Context, wo string) (*dispatch.Book, error)
}

func (s *Server) routesVendors() {
	s.api("GET /api/v1/vendors", s.listVendors)
	s.api("POST /api/v1/vendors", s.createVendor)
	s.api("GET /api/v1/vendors/expiring", s.expiringDocuments)
	s.api("GET /api/v1/vendors/{id}", s.getVendor)
	s.api("PUT /api/v1/vendors/{id}", s.putVendor)
	s.api("DELETE /api/v1/vendors/{id}", s.deleteVendor)
	s.api("GET /api/v1/vendors/{id}/scorecard", s.vendorScorecard)
	s.api("GET /api/v1/workorders/{id}/dispatch", s.dispatchBook)
	s.api("POST /api/v1/workorders/{id}/quote", s.quote)
	s.api("POST /api/v1/workorders/{id}/approvals", s.approveNTE)
}

// editsRegisters: the company-wide registers (vendors with their
// insurance, rates and NTE; the parts catalogue) are edited by an admin or
// an FM for all regions, never by an FM scoped to some sites or a region:
// a store's FM could otherwise make an expired vendor eligible again.
func (c *caller) editsRegisters() error {
	if err := c.may(cloud.RoleAdmin, cloud.RoleFM); err != nil {
		return err
	}
	if c.Role == cloud.RoleFM && !c.scope.All {
		return cloud.Errorf(cloud.EFORBIDDEN, "only an admin or an FM for all regions may change a company-wide register")
	}
	return nil
}

// seesVendor: staff see every vendor; a vendor or its technicians their own.
func (c *caller) seesVendor(id string) bool {
	switch c.Role {
	case cloud.RoleAdmin, cloud.RoleFM:
		return true
	case cloud.RoleVendor, cloud.RoleTechnician:
		return c.Vendor == id
	}
	return false
}

func (s *Server) listVendors(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := c.may(cloud.RoleAdmin, cloud.RoleFM, cloud.RoleVendor, cloud.RoleTechnician); err != nil {
		return err
	}
	all, err := s.store.Vendors(r.Context())
	if err != nil {
		return err
	}
	q := r.URL.Query()
	out := []dispatch.Vendor{}
	for _, v := range all {
		if !c.seesVendor(v.ID) || (q.Get("trade") != "" && !slices.Contains(v.Trades, q.Get("trade"))) {
			continue
		}
		if site := q.Get("site"); site != "" && !slices.Contains(v.Coverage.Sites, site) {
			continue
		}
		out = append(out, v)
	}
	return writeJSON(w, http.StatusOK, map[string]any{"items": out})
}

func (s *Server) getVendor(w http.ResponseWriter, r *http.Request, c *caller) error {
	id := r.PathValue("id")
	if !c.seesVendor(id) {
		return cloud.Errorf(cloud.ENOTFOUND, "vendor %s not found", id)
	}
	v, err := s.store.Vendor(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

func (s *Server) createVendor(w http.ResponseWriter, r *http.Request, c *caller) error {
	return s.saveVendor(w, r, c, "")
}

func (s *Server) putVendor(w http.ResponseWriter, r *http.Request, c *caller) error {
	return s.saveVendor(w, r, c, r.PathValue("id"))
}

// saveVendor creates (id "") or replaces a vendor after validating it.
func (s *Server) saveVendor(w http.ResponseWriter, r *http.Request, c *caller, id string) error {
	if err := c.editsRegisters(); err != nil {
		return err
	}
	var v dispatch.Vendor
	if err := decodeJSON(w, r, &v); err != nil {
		return err
	}
	status := http.StatusOK
	switch {
	case id == "":
		if v.ID == "" {
			v.ID = cloud.NewID("v_")
		}
		if _, err := s.store.Vendor(r.Context(), v.ID); err == nil {
			return cloud.Errorf(cloud.ECONFLICT, "vendor %s exists; PUT /api/v1/vendors/%s replaces it", v.ID, v.ID)
		}
		status = http.StatusCreated
	case v.ID == "":
		v.ID = id
	case v.ID != id:
		return cloud.FieldError("id", "the body's id %q is not the path's %q", v.ID, id)
	}
	if err := v.Validate(); err != nil {
		return err
	}
	if err := s.store.PutVendor(r.Context(), &v, s.now().UTC()); err != nil {
		return err
	}
	if s.dispatch != nil {
		s.dispatch.Invalidate()
	}
	s.log.Info("vendor saved", "vendor", v.ID, "by", c.actor())
	if status == http.StatusCreated {
		w.Header().Set("Location", "/api/v1/vendors/"+v.ID)
	}
	return writeJSON(w, status, v)
}

func (s *Server) deleteVendor(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := c.editsRegisters(); err != nil {
		return err
	}
	if err := s.store.DeleteVendor(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	if s.dispatch != nil {
		s.dispatch.Invalidate()
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// expiringDocuments reports documents that expire within ?within (30d by
// default), and those expired already: what is or soon will be blocking
// dispatch.
func (s *Server) expiringDocuments(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := c.may(cloud.RoleAdmin, cloud.RoleFM, cloud.RoleVendor); err != nil {
		return err
	}
	within := 30 * 24 * time.Hour
	if q := r.URL.Query().Get("within"); q != "" {
		d, err := rules.ParseDuration(q)
		if err != nil || d < 0 || time.Duration(d) > 5*365*24*time.Hour {
			return cloud.FieldError("within", "want a duration such as 30d, up to 5 years")
		}
		within = time.Duration(d)
	}
	all, err := s.store.Vendors(r.Context())
	if err != nil {
		return err
	}
	mine := all[:0]
	for _, v := range all {
		if c.seesVendor(v.ID) {
			mine = append(mine, v)
		}
	}
	items := dispatch.ExpiringDocuments(mine, s.now().UTC(), within)
	if items == nil {
		items = []dispatch.Expiring{}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"within": rules.Duration(within).String(), "items": items})
}

// vendorScorecard scores a vendor over ?from..?to (the last 365 days by
// default), for one ?trade or all.
func (s *Server) vendorScorecard(w http.ResponseWriter, r *http.Request, c *caller) error {
	id := r.PathValue("id")
	if !c.seesVendor(id) {
		return cloud.Errorf(cloud.ENOTFOUND, "vendor %s not found", id)
	}
	if _, err := s.store.Vendor(r.Context(), id); err != nil {
		return err
	}
	to := s.now().UTC()
	from := to.AddDate(-1, 0, 0)
	q := r.URL.Query()
	for _, p := range []struct {
		name string
		t    *time.Time
	}{{"from", &from}, {"to", &to}} {
		if v := q.Get(p.name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return cloud.FieldError(p.name, "want an RFC 3339 time such as 2026-01-01T00:00:00Z")
			}
			*p.t = t
		}
	}
	if !from.Before(to) {
		return cloud.FieldError("from", "from must be before to")
	}
	trade := q.Get("trade")
	if trade != "" && !slices.Contains(rules.Trades, trade) {
		return cloud.FieldError("trade", "unknown trade %q", trade)
	}
	outs, err := s.store.VendorOutcomes(r.Context(), from)
	if err != nil {
		return err
	}
	kept := outs[:0]
	for _, o := range outs {
		if o.Offered.Before(to) && (trade == "" || o.Trade == trade) {
			kept = append(kept, o)
		}
	}
	weights := dispatch.DefaultWeights()
	if s.dispatch != nil {
		weights = s.dispatch.Rules.Weights
	}
	card := dispatch.Score(id, nil, weights)
	if got := dispatch.Scorecards(kept, weights)[id]; got != nil {
		card = *got
	}
	return writeJSON(w, http.StatusOK, map[string]any{
		"vendor": id, "trade": trade, "from": from, "to": to, "scorecard": card,
	})
}

// dispatchBook shows why a work order went where it went: the decision
// (every candidate's exclusion or rank) and the offers made.
func (s *Server) dispatchBook(w http.ResponseWriter, r *http.Request, c *caller) error {
	wo, err := s.visible(r, c, r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := c.may(cloud.RoleAdmin, cloud.RoleFM); err != nil {
		return cloud.Errorf(cloud.EFORBIDDEN, "only facilities staff see dispatch decisions")
	}
	b, err := s.store.DispatchBook(r.Context(), wo.ID)
	if err != nil {
		return err
	}
	if b == nil {
		return cloud.Errorf(cloud.ENOTFOUND, "work order %d has not been through dispatch", wo.Number)
	}
	return writeJSON(w, http.StatusOK, b)
}

// QuoteRequest is a vendor's price for the work.
type QuoteRequest struct {
	Amount      float64 `json:"amount"`
	Description string  `json:"description"`
}

func (s *Server) quote(w http.ResponseWriter, r *http.Request, c *caller) error {
	var q QuoteRequest
	if err := decodeJSON(w, r, &q); err != nil {
		return err
	}
	wo, err := s.change(r, c, func(wo *workorder.WorkOrder, at time.Time) ([]workorder.Event, error) {
		return wo.Propose(workorder.Quote{Amount: q.Amount, Description: q.Description, By: c.actor(), At: at}, c.Role)
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, view(c, wo))
}

// ApprovalRequest raises a work order's NTE: to amount, or to the pending
// quote's amount when amount is 0.
type ApprovalRequest struct {
	Amount float64 `json:"amount,omitempty"`
	Reason string  `json:"reason,omitempty"`
}

func (s *Server) approveNTE(w http.ResponseWriter, r *http.Request, c *caller) error {
	var q ApprovalRequest
	if r.ContentLength != 0 {
		if err := decodeJSON(w, r, &q); err != nil {
			return err
		}
	}
	wo, err := s.change(r, c, func(wo *workorder.WorkOrder, at time.Time) ([]workorder.Event, error) {
		return wo.ApproveNTE(q.Amount, q.Reason, c.actor(), c.Role, s.intake.Policy.ApprovalLimits, at)
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, view(c, wo))
}

// change applies fn to a work order the caller sees, in one transaction.
func (s *Server) change(r *http.Request, c *caller, fn func(*workorder.WorkOrder, time.Time) ([]workorder.Event, error)) (*workorder.WorkOrder, error) {
	id := r.PathValue("id")
	var out *workorder.WorkOrder
	err := s.store.Update(r.Context(), func(tx store.Tx) error {
		wo, err := tx.WorkOrder(r.Context(), id)
		if err != nil {
			return err
		}
		if wo == nil || !c.scope.SeesWorkOrder(wo.Site, wo.Vendor, wo.Technician) {
			return cloud.Errorf(cloud.ENOTFOUND, "work order %s not found", id)
		}
		if v := r.URL.Query().Get("version"); v != "" && v != strconv.Itoa(wo.Version) {
			return cloud.Errorf(cloud.ECONFLICT, "work order %d is at version %d, not %s; reload and try again", wo.Number, wo.Version, v)
		}
		ev, err := fn(wo, s.now().UTC())
		if err != nil {
			return err
		}
		out = wo
		return tx.Save(r.Context(), wo, ev)
	})
	return out, err
}
