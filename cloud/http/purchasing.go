package http

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/purchasing"
	"github.com/frostline/frostline/cloud/store"
	"github.com/frostline/frostline/cloud/workorder"
)

// purchasingStore is what the parts, purchase-order and export routes need
// of a store.
type purchasingStore interface {
	PutPart(ctx context.Context, p *purchasing.Part) error
	Part(ctx context.Context, number string) (*purchasing.Part, error)
	Parts(ctx context.Context) ([]*purchasing.Part, error)
	DeletePart(ctx context.Context, number string) error
	SetStock(ctx context.Context, site, part string, quantity float64) error
	StockAt(ctx context.Context, site string) (map[string]float64, error)
	PurchaseOrder(ctx context.Context, id string) (*purchasing.PurchaseOrder, error)
	PurchaseOrders(ctx context.Context, f purchasing.Filter) ([]*purchasing.PurchaseOrder, error)
	WorkOrdersChangedSince(ctx context.Context, site string, scope cloud.Scope, since time.Time) ([]*workorder.WorkOrder, error)
}

// MaxExport bounds an export's period.
const MaxExport = 366 * 24 * time.Hour

func (s *Server) routesPurchasing() {
	s.api("GET /api/v1/parts", s.listParts)
	s.api("POST /api/v1/parts", s.createPart)
	s.api("GET /api/v1/parts/{number}", s.getPart)
	s.api("PUT /api/v1/parts/{number}", s.putPart)
	s.api("DELETE /api/v1/parts/{number}", s.deletePart)
	s.api("GET /api/v1/sites/{site}/stock", s.getStock)
	s.api("PUT /api/v1/sites/{site}/stock/{part}", s.putStock)
	s.api("POST /api/v1/workorders/{id}/parts", s.requestParts)
	s.api("GET /api/v1/purchase-orders", s.listPurchaseOrders)
	s.api("GET /api/v1/purchase-orders/{id}", s.getPurchaseOrder)
	s.api("POST /api/v1/purchase-orders/{id}/status", s.movePurchaseOrder)
	s.api("GET /api/v1/exports/{kind}", s.export)
}

// The catalogue is the organisation's: everyone but technicians may read
// it (vendors quote against it), FMs and admins change it.

func (s *Server) listParts(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := c.may(cloud.RoleAdmin, cloud.RoleFM, cloud.RoleStore, cloud.RoleVendor); err != nil {
		return err
	}
	ps, err := s.store.Parts(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"items": ps})
}

func (s *Server) createPart(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := c.editsRegisters(); err != nil {
		return err
	}
	var p purchasing.Part
	if err := decodeJSON(w, r, &p); err != nil {
		return err
	}
	if err := p.Validate(); err != nil {
		return err
	}
	if _, err := s.store.Part(r.Context(), p.Number); err == nil {
		return cloud.Errorf(cloud.ECONFLICT, "part %s exists; PUT /parts/%s replaces it", p.Number, p.Number)
	}
	p.UpdatedAt = s.now().UTC()
	if err := s.store.PutPart(r.Context(), &p); err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/parts/"+p.Number)
	return writeJSON(w, http.StatusCreated, &p)
}

func (s *Server) getPart(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := c.may(cloud.RoleAdmin, cloud.RoleFM, cloud.RoleStore, cloud.RoleVendor); err != nil {
		return err
	}
	p, err := s.store.Part(r.Context(), r.PathValue("number"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, p)
}

func (s *Server) putPart(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := c.editsRegisters(); err != nil {
		return err
	}
	var p purchasing.Part
	if err := decodeJSON(w, r, &p); err != nil {
		return err
	}
	if p.Number == "" {
		p.Number = r.PathValue("number")
	}
	if p.Number != r.PathValue("number") {
		return cloud.FieldError("number", "the part number is the path's")
	}
	if err := p.Validate(); err != nil {
		return err
	}
	p.UpdatedAt = s.now().UTC()
	if err := s.store.PutPart(r.Context(), &p); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, &p)
}

func (s *Server) deletePart(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := c.editsRegisters(); err != nil {
		return err
	}
	if err := s.store.DeletePart(r.Context(), r.PathValue("number")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) getStock(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := c.may(cloud.RoleAdmin, cloud.RoleFM, cloud.RoleStore); err != nil {
		return err
	}
	site := r.PathValue("site")
	if !c.scope.SeesSite(site) {
		return cloud.Errorf(cloud.ENOTFOUND, "site %s not found", site)
	}
	stock, err := s.store.StockAt(r.Context(), site)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"site": site, "parts": stock})
}

func (s *Server) putStock(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := c.may(cloud.RoleAdmin, cloud.RoleFM, cloud.RoleStore); err != nil {
		return err
	}
	site, part := r.PathValue("site"), r.PathValue("part")
	if !c.scope.SeesSite(site) {
		return cloud.Errorf(cloud.ENOTFOUND, "site %s not found", site)
	}
	var q struct {
		Quantity float64 `json:"quantity"`
	}
	if err := decodeJSON(w, r, &q); err != nil {
		return err
	}
	if !(q.Quantity >= 0 && q.Quantity <= 1e6) {
		return cloud.FieldError("quantity", "want 0 to 1,000,000")
	}
	if _, err := s.store.Part(r.Context(), part); err != nil {
		return err
	}
	if _, err := s.store.Site(r.Context(), site); err != nil {
		return err
	}
	if err := s.store.SetStock(r.Context(), site, part, q.Quantity); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"site": site, "part": part, "quantity": q.Quantity})
}

// PartsRequest lists the parts a work order needs.
type PartsRequest struct {
	Parts []purchasing.Need `json:"parts"`
}

// PartsResponse is what requesting parts did.
type PartsResponse struct {
	WorkOrder      woView                      `json:"work_order"`
	FromStock      map[string]float64          `json:"from_stock"`
	PurchaseOrders []*purchasing.PurchaseOrder `json:"purchase_orders"`
	Held           bool                        `json:"held"`
}

// requestParts takes what the site has from stock and orders the rest;
// a work order being worked waits ON_HOLD (parts_on_order) for them.
func (s *Server) requestParts(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := c.may(cloud.RoleAdmin, cloud.RoleFM, cloud.RoleVendor, cloud.RoleTechnician); err != nil {
		return err
	}
	var q PartsRequest
	if err := decodeJSON(w, r, &q); err != nil {
		return err
	}
	var res purchasing.Requested
	err := s.store.Update(r.Context(), func(tx store.Tx) error {
		var err error
		res, err = purchasing.Request(r.Context(), tx, r.PathValue("id"), q.Parts,
			purchasing.Actor{Name: c.actor(), Role: c.Role}, s.now().UTC(),
			func(wo *workorder.WorkOrder) bool { return c.scope.SeesWorkOrder(wo.Site, wo.Vendor, wo.Technician) },
			func() string { return cloud.NewID("po_") })
		return err
	})
	if err != nil {
		return err
	}
	out := PartsResponse{WorkOrder: view(c, res.WorkOrder), FromStock: res.FromStock, PurchaseOrders: res.Orders, Held: res.Held}
	if out.PurchaseOrders == nil {
		out.PurchaseOrders = []*purchasing.PurchaseOrder{}
	}
	return writeJSON(w, http.StatusOK, out)
}

// seesPO: a purchase order is seen by those who see its site, and by the
// vendor of its work order.
func (c *caller) seesPO(po *purchasing.PurchaseOrder) bool {
	if c.scope.All || (c.scope.Sites != nil && c.scope.SeesSite(po.Site)) {
		return true
	}
	return c.scope.Vendor != "" && c.scope.Vendor == po.Vendor && c.scope.Technician == ""
}

func (s *Server) listPurchaseOrders(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := c.may(cloud.RoleAdmin, cloud.RoleFM, cloud.RoleStore, cloud.RoleVendor); err != nil {
		return err
	}
	f, err := poFilter(r, c)
	if err != nil {
		return err
	}
	pos, err := s.store.PurchaseOrders(r.Context(), f)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"items": pos})
}

func poFilter(r *http.Request, c *caller) (purchasing.Filter, error) {
	q := r.URL.Query()
	f := purchasing.Filter{Site: q.Get("site"), WorkOrder: q.Get("work_order"), Status: purchasing.Status(q.Get("status")), Scope: c.scope}
	switch f.Status {
	case "", purchasing.Draft, purchasing.Approved, purchasing.Ordered, purchasing.Received, purchasing.Cancelled:
	default:
		return f, cloud.FieldError("status", "want draft, approved, ordered, received or cancelled")
	}
	for _, t := range []struct {
		name string
		dst  *time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		if v := q.Get(t.name); v != "" {
			tm, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return f, cloud.FieldError(t.name, "want an RFC 3339 time, got %q", v)
			}
			*t.dst = tm
		}
	}
	return f, nil
}

func (s *Server) getPurchaseOrder(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := c.may(cloud.RoleAdmin, cloud.RoleFM, cloud.RoleStore, cloud.RoleVendor); err != nil {
		return err
	}
	po, err := s.store.PurchaseOrder(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if !c.seesPO(po) {
		return cloud.Errorf(cloud.ENOTFOUND, "purchase order %s not found", po.ID)
	}
	return writeJSON(w, http.StatusOK, po)
}

// MoveRequest changes a purchase order's status.
type MoveRequest struct {
	Status  purchasing.Status `json:"status"`
	Note    string            `json:"note,omitempty"`
	Version int               `json:"version,omitempty"`
}

// movePurchaseOrder approves, orders, receives or cancels a purchase
// order; receiving the last one a work order waits for resumes it.
func (s *Server) movePurchaseOrder(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := c.may(cloud.RoleAdmin, cloud.RoleFM, cloud.RoleVendor, cloud.RoleTechnician); err != nil {
		return err
	}
	var q MoveRequest
	if err := decodeJSON(w, r, &q); err != nil {
		return err
	}
	id, at := r.PathValue("id"), s.now().UTC()
	by := purchasing.Actor{Name: c.actor(), Role: c.Role}
	var out map[string]any
	err := s.store.Update(r.Context(), func(tx store.Tx) error {
		po, err := tx.PurchaseOrder(r.Context(), id)
		if err != nil {
			return err
		}
		if po == nil {
			return cloud.Errorf(cloud.ENOTFOUND, "purchase order %s not found", id)
		}
		if !c.seesPO(po) {
			// A technician receives the parts of their own work orders
			// only, not a colleague's.
			mine := false
			if c.Role == cloud.RoleTechnician && po.WorkOrder != "" {
				wo, err := tx.WorkOrder(r.Context(), po.WorkOrder)
				if err != nil && cloud.ErrorCode(err) != cloud.ENOTFOUND {
					return err
				}
				mine = wo != nil && wo.Vendor == po.Vendor && c.scope.SeesWorkOrder(wo.Site, wo.Vendor, wo.Technician)
			}
			if !mine {
				return cloud.Errorf(cloud.ENOTFOUND, "purchase order %s not found", id)
			}
		}
		if q.Version != 0 && q.Version != po.Version {
			return cloud.Errorf(cloud.ECONFLICT, "purchase order %s is at version %d, not %d", id, po.Version, q.Version)
		}
		if q.Status == purchasing.Received {
			rec, err := purchasing.Receive(r.Context(), tx, id, by, q.Note, at, func(*purchasing.PurchaseOrder) bool { return true })
			if err != nil {
				return err
			}
			out = map[string]any{"purchase_order": rec.PurchaseOrder, "work_order_resumed": rec.Resumed}
			return nil
		}
		seen := po.Version
		if err := po.Move(q.Status, by.Name, by.Role, q.Note, at); err != nil {
			return err
		}
		out = map[string]any{"purchase_order": po, "work_order_resumed": false}
		return tx.PutPurchaseOrder(r.Context(), po, seen)
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out)
}

// export answers invoices, purchase orders or work-order costs in a
// period (from, to; by invoice time, order time and completion time) at a
// site or every site in scope, as CSV (format=csv or Accept: text/csv) or
// JSON ({"items": [...]}: the same rows).
func (s *Server) export(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := c.may(cloud.RoleAdmin, cloud.RoleFM, cloud.RoleStore, cloud.RoleVendor); err != nil {
		return err
	}
	from, to, err := period(r, MaxExport)
	if err != nil {
		return err
	}
	site := r.URL.Query().Get("site")
	if site != "" && !c.scope.SeesSite(site) && c.scope.Vendor == "" {
		return cloud.Errorf(cloud.ENOTFOUND, "site %s not found", site)
	}
	csvOut := r.URL.Query().Get("format") == "csv" || strings.Contains(r.Header.Get("Accept"), "text/csv")
	if f := r.URL.Query().Get("format"); f != "" && f != "csv" && f != "json" {
		return cloud.FieldError("format", "want csv or json")
	}
	var rows any
	switch kind := r.PathValue("kind"); kind {
	case "invoices", "workorder-costs":
		ws, err := s.store.WorkOrdersChangedSince(r.Context(), site, c.scope, from)
		if err != nil {
			return err
		}
		if kind == "invoices" {
			rows = purchasing.InvoiceRows(ws, from, to)
		} else {
			rows = purchasing.CostRows(ws, completed, from, to)
		}
	case "purchase-orders":
		pos, err := s.store.PurchaseOrders(r.Context(), purchasing.Filter{Site: site, From: from, To: to, Scope: c.scope})
		if err != nil {
			return err
		}
		rows = purchasing.PurchaseOrderRows(pos)
	default:
		return &cloud.Error{Code: cloud.ENOTFOUND, Field: "kind", Message: "no export " + kind + " (invoices, purchase-orders, workorder-costs)"}
	}
	if !csvOut {
		return writeJSON(w, http.StatusOK, map[string]any{"items": rows})
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+r.PathValue("kind")+`.csv"`)
	return purchasing.WriteCSV(w, rows)
}
