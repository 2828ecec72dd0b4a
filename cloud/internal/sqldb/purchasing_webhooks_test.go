package sqldb_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/frostline/frostline/cloud/internal/sqldb"
	"github.com/frostline/frostline/cloud/notify"
	"github.com/frostline/frostline/cloud/purchasing"
	"github.com/frostline/frostline/cloud/store"
)

// TestPurchaseOrderWebhooks: a purchase order's events reach the webhooks
// that see its site and vendor, in the transaction that writes it, as a
// purchase_order event carrying the order; a webhook for another site or
// for work-order events only gets nothing.
func TestPurchaseOrderWebhooks(t *testing.T) {
	eachStore(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		seedSites(t, db)
		for _, h := range []*notify.Webhook{
			hook("h-s1", notify.WebhookScope{Sites: []string{"s1"}}),
			hook("h-s2", notify.WebhookScope{Sites: []string{"s2"}}),
			hook("h-vendor", notify.WebhookScope{Vendor: "coolco"}),
			hook("h-wo-only", notify.WebhookScope{All: true}, notify.WorkOrderCreated),
		} {
			if err := db.CreateWebhook(ctx, h); err != nil {
				t.Fatal(err)
			}
		}
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
