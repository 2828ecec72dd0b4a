package purchasing_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/postgres"
	"github.com/frostline/frostline/cloud/postgres/pgtest"
	"github.com/frostline/frostline/cloud/purchasing"
	"github.com/frostline/frostline/cloud/sqlite"
	cloudstore "github.com/frostline/frostline/cloud/store"
	"github.com/frostline/frostline/cloud/workorder"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// store is what the flow needs of either store.
type store interface {
	Update(ctx context.Context, fn func(cloudstore.Tx) error) error
	PutSite(ctx context.Context, s *cloud.Site) error
	PutPart(ctx context.Context, p *purchasing.Part) error
	SetStock(ctx context.Context, site, part string, quantity float64) error
	StockAt(ctx context.Context, site string) (map[string]float64, error)
	PurchaseOrders(ctx context.Context, f purchasing.Filter) ([]*purchasing.PurchaseOrder, error)
	WorkOrder(ctx context.Context, id string) (*workorder.WorkOrder, error)
}

var t0 = time.Date(2026, 7, 1, 8, 0, 0, 0, time.UTC)

// TestHoldAndResumeOnBothStores runs the parts-on-order flow through each
// store's transaction: SQLite and a real PostgreSQL.
func TestHoldAndResumeOnBothStores(t *testing.T) {
	for name, open := range map[string]func(t *testing.T) store{
		"sqlite": func(t *testing.T) store {
			db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "p.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		},
		"postgres": func(t *testing.T) store {
			db, err := postgres.Open(context.Background(), pgtest.DSN(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		},
	} {
		t.Run(name, func(t *testing.T) { holdAndResume(t, open(t)) })
	}
}

func holdAndResume(t *testing.T, db store) {
	ctx := context.Background()
	if err := db.PutSite(ctx, &cloud.Site{ID: "s1"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []purchasing.Part{{Number: "A", Description: "drier", UnitCost: 12.5, Supplier: "sup-a"}, {Number: "B", Description: "fan", UnitCost: 40, Supplier: "sup-b"}} {
		if err := db.PutPart(ctx, &p); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.SetStock(ctx, "s1", "A", 1); err != nil {
		t.Fatal(err)
	}
	in := &workorder.Intake[cloudstore.Tx]{Policy: workorder.DefaultPolicy()}
	in.Policy.Vendors = []workorder.VendorRule{{Site: "*", Vendor: "coolco"}}
	var id string
	tech := workorder.Input{Actor: "tom", Role: cloud.RoleTechnician, Technician: "tom", Override: "indoors", At: t0}
	err := db.Update(ctx, func(tx cloudstore.Tx) error {
		res, err := in.Receive(ctx, tx, workorder.Report{Source: workorder.Manual, Site: "s1", Asset: "wic-1", Problem: "noise", Reporter: "ann", At: t0})
		if err != nil {
			return err
		}
		w := res.WorkOrder
		id = w.ID
		var evs []workorder.Event
		for _, a := range []workorder.Action{workorder.Accept, workorder.CheckIn} {
			ev, err := workorder.Act(w, a, tech)
			if err != nil {
				return err
			}
			evs = append(evs, ev...)
		}
		return tx.Save(ctx, w, evs)
	})
	if err != nil {
		t.Fatal(err)
	}
	by := purchasing.Actor{Name: "tom", Role: cloud.RoleTechnician}
	all := func(*workorder.WorkOrder) bool { return true }
	n := 0
	newID := func() string { n++; return "po_" + string(rune('0'+n)) }
	var req purchasing.Requested
	err = db.Update(ctx, func(tx cloudstore.Tx) error {
		var err error
		req, err = purchasing.Request(ctx, tx, id, []purchasing.Need{{Part: "A", Quantity: 2}, {Part: "B", Quantity: 1}}, by, t0, all, newID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !req.Held || len(req.Orders) != 2 {
		t.Fatalf("held %v, %d orders", req.Held, len(req.Orders))
	}
	if st, _ := db.StockAt(ctx, "s1"); st["A"] != 0 {
		t.Fatalf("stock %v", st)
	}
	if w, _ := db.WorkOrder(ctx, id); w.Status != workorder.OnHold {
		t.Fatalf("status %s", w.Status)
	}
	fm := purchasing.Actor{Name: "fran", Role: cloud.RoleFM}
	for i, po := range req.Orders {
		err := db.Update(ctx, func(tx cloudstore.Tx) error {
			p, err := tx.PurchaseOrder(ctx, po.ID)
			if err != nil {
				return err
			}
			for _, s := range []purchasing.Status{purchasing.Approved, purchasing.Ordered} {
				seen := p.Version
				if err := p.Move(s, fm.Name, fm.Role, "", t0); err != nil {
					return err
				}
				if err := tx.PutPurchaseOrder(ctx, p, seen); err != nil {
					return err
				}
			}
			rec, err := purchasing.Receive(ctx, tx, po.ID, fm, "delivered", t0.Add(time.Hour), func(*purchasing.PurchaseOrder) bool { return true })
			if err != nil {
				return err
			}
			if rec.Resumed != (i == len(req.Orders)-1) {
				t.Errorf("order %d: resumed %v", i, rec.Resumed)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if w, _ := db.WorkOrder(ctx, id); w.Status != workorder.InProgress {
		t.Fatalf("status %s after the last receipt", w.Status)
	}
	pos, err := db.PurchaseOrders(ctx, purchasing.Filter{WorkOrder: id, Scope: cloud.Scope{Vendor: "coolco"}})
	if err != nil || len(pos) != 2 || pos[0].Status != purchasing.Received {
		t.Fatalf("the vendor sees %d orders (%v)", len(pos), err)
	}
	if pos, _ := db.PurchaseOrders(ctx, purchasing.Filter{Scope: cloud.Scope{Vendor: "other"}}); len(pos) != 0 {
		t.Fatalf("another vendor sees %d orders", len(pos))
	}
	// A stale version is refused (optimistic lock), on either store.
	err = db.Update(ctx, func(tx cloudstore.Tx) error {
		p := *req.Orders[0]
		p.Version = 99
		return tx.PutPurchaseOrder(ctx, &p, 1)
	})
	if cloud.ErrorCode(err) != cloud.ECONFLICT {
		t.Fatalf("stale update: %v", err)
	}
}
