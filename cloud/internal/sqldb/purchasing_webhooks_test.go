package sqldb_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/frostline/frostline/cloud/internal/sqldb"
	"github.com/frostline/frostline/cloud/notify"
	"github.com/frostline/frostline/cloud/purchasing"
	"github.com/frostline/frostline/cloud/store"
	"github.com/frostline/frostline/cloud/workorder"
)

// TestPurchaseOrderWebhooks: a purchase order's events reach the webhooks
// that see its site and vendor, in the transaction that writes it, as a
// purchase_order event carrying the order; a webhook for another site or
// for work-order events only gets nothing.
func TestPurchaseOrderWebhooks(t *testing.T) {
	eachStore(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		seedWebhooks(t, db,
			hook("h-s1", notify.WebhookScope{Sites: []string{"s1"}}),
			hook("h-s2", notify.WebhookScope{Sites: []string{"s2"}}),
			hook("h-vendor", notify.WebhookScope{Vendor: "coolco"}),
			hook("h-wo-only", notify.WebhookScope{All: true}, notify.WorkOrderCreated))
		po := &purchasing.PurchaseOrder{ID: "po_1", WorkOrder: "wo_1", Site: "s1", Vendor: "coolco", Supplier: "parts-r-us",
			Lines: []purchasing.Line{}, Status: purchasing.Draft, CreatedAt: t0, UpdatedAt: t0, Version: 1}
		if err := db.Update(ctx, func(tx store.Tx) error { return tx.PutPurchaseOrder(ctx, po, 0) }); err != nil {
			t.Fatal(err)
		}
		claims, err := db.ClaimDeliveries(ctx, "test", t0, time.Minute, 100)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		for _, c := range claims {
			got[c.Subscription.ID]++
			var env struct {
				ID, Type string
				Data     purchasing.Notice
			}
			if err := json.Unmarshal(c.Delivery.Body, &env); err != nil {
				t.Fatal(err)
			}
			if env.Type != notify.PurchaseOrder || env.ID != "po_1-1" || env.Data.PurchaseOrder.Supplier != "parts-r-us" {
				t.Errorf("%s: %+v", c.Subscription.ID, env)
			}
		}
		if len(got) != 2 || got["h-s1"] != 1 || got["h-vendor"] != 1 {
			t.Errorf("deliveries per webhook %v, want one each to h-s1 and h-vendor", got)
		}
	})
}

// records is a projector that keeps the records it is given.
type records struct{ got []sqldb.Record }

func (r *records) Project(context.Context, *sqldb.Tx, *workorder.WorkOrder, []workorder.Event) error {
	return nil
}
func (r *records) ProjectRecord(_ context.Context, _ *sqldb.Tx, rec sqldb.Record) error {
	r.got = append(r.got, rec)
	return nil
}
func (r *records) Flush(context.Context, *sqldb.Tx) error { return nil }

// TestPurchaseOrderProjected: a purchase order's change goes through the
// store's projectors, as a work order's does: each sees the record; the
// outbox row is Notices' and the deliveries Webhooks', so a pipeline
// without Notices writes no notice, and a rolled back transaction neither.
func TestPurchaseOrderProjected(t *testing.T) {
	eachStore(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		seedWebhooks(t, db, hook("h-s1", notify.WebhookScope{Sites: []string{"s1"}}))
		rec := &records{}
		db.Projectors = []sqldb.Projector{sqldb.Webhooks{}, sqldb.Facts{}, rec}
		po := &purchasing.PurchaseOrder{ID: "po_1", WorkOrder: "wo_1", Site: "s1", Vendor: "coolco", Supplier: "parts-r-us",
			Lines: []purchasing.Line{}, Status: purchasing.Draft, CreatedAt: t0, UpdatedAt: t0, Version: 1}
		put := func(po *purchasing.PurchaseOrder, seen int, fail error) error {
			return db.Update(ctx, func(tx store.Tx) error {
				if err := tx.PutPurchaseOrder(ctx, po, seen); err != nil {
					return err
				}
				return fail
			})
		}
		if err := put(po, 0, nil); err != nil {
			t.Fatal(err)
		}
		if len(rec.got) != 1 || rec.got[0].MsgID != "po_1-1" || rec.got[0].Subject != purchasing.NoticeSubject("s1") ||
			rec.got[0].WorkOrder != "wo_1" || rec.got[0].Envelope.Type != notify.PurchaseOrder || !rec.got[0].At.Equal(t0) {
			t.Errorf("projected %+v", rec.got)
		}
		if n := len(outbox(t, db)["s1"]); n != 0 {
			t.Errorf("%d notices without Notices in the pipeline", n)
		}
		if ds := deliveredEvents(t, db, "h-s1"); len(ds) != 1 {
			t.Errorf("deliveries %v, want the one purchase_order event", ds)
		}
		db.Projectors = append(sqldb.Projections(), rec)
		po2 := *po
		po2.Version, po2.Status = 2, purchasing.Approved
		if err := put(&po2, 1, errors.New("roll back")); err == nil {
			t.Fatal("rolled back: no error")
		}
		if got := outbox(t, db)["s1"]; len(got) != 0 {
			t.Errorf("notices %v from a rolled back transaction", got)
		}
		if err := put(&po2, 1, nil); err != nil {
			t.Fatal(err)
		}
		if got := outbox(t, db)["s1"]; len(got) != 1 || got[0] != "po_1-2" {
			t.Errorf("notices %v, want po_1-2", got)
		}
	})
}
