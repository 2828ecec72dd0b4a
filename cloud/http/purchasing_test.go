package http

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/frostline/frostline/cloud/purchasing"
	"github.com/frostline/frostline/cloud/store"
	"github.com/frostline/frostline/cloud/workorder"
)

// TestPartsOnOrder: a technician needs parts the store has only some of;
// the rest are ordered from each part's supplier, the work order waits
// ON_HOLD (parts_on_order); receiving the last order resumes it and the
// resume and the orders' events go to the outbox for the event stream.
// Then the orders and the work order's cost export as CSV and JSON that
// agree, with stable ids.
func TestPartsOnOrder(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	must(t, 201)(f.do(t, "fm", "POST", "/api/v1/parts", `{"number":"FLT-20","description":"Filter drier, 3/8\"","unit_cost":12.5,"supplier":"sup-a"}`))
	must(t, 201)(f.do(t, "fm", "POST", "/api/v1/parts", `{"number":"FAN-7","description":"Evaporator fan motor","unit_cost":40,"supplier":"sup-b"}`))
	must(t, 409)(f.do(t, "fm", "POST", "/api/v1/parts", `{"number":"FAN-7","description":"again","unit_cost":1,"supplier":"sup-b"}`))
	must(t, 400)(f.do(t, "fm", "POST", "/api/v1/parts", `{"number":"X","description":"negative","unit_cost":-1,"supplier":"sup-b"}`))
	must(t, 200)(f.do(t, "fm", "PUT", "/api/v1/parts/FAN-7", `{"description":"Evaporator fan motor, 230 V","unit_cost":42,"supplier":"sup-b"}`))
	if p := decode[purchasing.Part](t, must(t, 200)(f.do(t, "vendor", "GET", "/api/v1/parts/FAN-7", ""))); p.UnitCost != 42 {
		t.Fatalf("part %+v", p)
	}
	must(t, 200)(f.do(t, "store", "PUT", "/api/v1/sites/s1/stock/FLT-20", `{"quantity":1}`))
	must(t, 404)(f.do(t, "store", "PUT", "/api/v1/sites/s2/stock/FLT-20", `{"quantity":1}`))
	// Parts are asked for while the work is under way.
	must(t, 409)(f.do(t, "tech", "POST", "/api/v1/workorders/"+f.own+"/parts", `{"parts":[{"part":"FLT-20","quantity":1}]}`))
	must(t, 200)(f.do(t, "tech", "POST", "/api/v1/workorders/"+f.own+"/actions/check_in", `{"override":"indoors"}`))
	must(t, 400)(f.do(t, "tech", "POST", "/api/v1/workorders/"+f.own+"/parts", `{"parts":[{"part":"NOPE","quantity":1}]}`))
	res := decode[PartsResponse](t, must(t, 200)(f.do(t, "tech", "POST", "/api/v1/workorders/"+f.own+"/parts",
		`{"parts":[{"part":"FLT-20","quantity":3},{"part":"FAN-7","quantity":1,"unit_price":39.5}]}`)))
	if !res.Held || res.WorkOrder.Status != workorder.OnHold || res.FromStock["FLT-20"] != 1 || len(res.PurchaseOrders) != 2 {
		t.Fatalf("request: held %v, status %s, from stock %v, %d orders", res.Held, res.WorkOrder.Status, res.FromStock, len(res.PurchaseOrders))
	}
	a, b := res.PurchaseOrders[0], res.PurchaseOrders[1]
	if a.Supplier != "sup-a" || a.Lines[0].Quantity != 2 || a.Total != 25 || a.WorkOrder != f.own || a.Status != purchasing.Draft {
		t.Fatalf("order a %+v", a)
	}
	if b.Supplier != "sup-b" || b.Total != 39.5 || b.Vendor != "coolco" {
		t.Fatalf("order b %+v (agreed price 39.50)", b)
	}
	stock := decode[struct{ Parts map[string]float64 }](t, must(t, 200)(f.do(t, "store", "GET", "/api/v1/sites/s1/stock", "")))
	if stock.Parts["FLT-20"] != 0 {
		t.Fatalf("stock %v after taking the one on hand", stock.Parts)
	}
	// Who sees the orders: the site's people and the work order's vendor.
	for who, want := range map[string]int{"fm": 2, "store": 2, "vendor": 2, "vendor2": 0, "fm-north": 2} {
		l := decode[struct{ Items []purchasing.PurchaseOrder }](t, must(t, 200)(f.do(t, who, "GET", "/api/v1/purchase-orders?work_order="+f.own, "")))
		if len(l.Items) != want {
			t.Errorf("%s sees %d orders, want %d", who, len(l.Items), want)
		}
	}
	must(t, 404)(f.do(t, "vendor2", "GET", "/api/v1/purchase-orders/"+a.ID, ""))
	// Draft -> approved -> ordered by the FM; received by the vendor.
	must(t, 409)(f.do(t, "vendor", "POST", "/api/v1/purchase-orders/"+a.ID+"/status", `{"status":"received"}`))
	must(t, 403)(f.do(t, "vendor", "POST", "/api/v1/purchase-orders/"+a.ID+"/status", `{"status":"approved"}`))
	for _, po := range []string{a.ID, b.ID} {
		must(t, 200)(f.do(t, "fm", "POST", "/api/v1/purchase-orders/"+po+"/status", `{"status":"approved"}`))
		must(t, 200)(f.do(t, "fm", "POST", "/api/v1/purchase-orders/"+po+"/status", `{"status":"ordered","note":"PO sent by email"}`))
	}
	type moved struct {
		PurchaseOrder purchasing.PurchaseOrder `json:"purchase_order"`
		Resumed       bool                     `json:"work_order_resumed"`
	}
	m := decode[moved](t, must(t, 200)(f.do(t, "vendor", "POST", "/api/v1/purchase-orders/"+a.ID+"/status", `{"status":"received"}`)))
	if m.Resumed || m.PurchaseOrder.Status != purchasing.Received {
		t.Fatalf("first receipt: %+v", m)
	}
	// Tom's colleague cannot mark tom's parts received; tom can.
	must(t, 404)(f.do(t, "tech2", "POST", "/api/v1/purchase-orders/"+b.ID+"/status", `{"status":"received"}`))
	m = decode[moved](t, must(t, 200)(f.do(t, "tech", "POST", "/api/v1/purchase-orders/"+b.ID+"/status", `{"status":"received"}`)))
	if !m.Resumed || len(m.PurchaseOrder.History) != 4 {
		t.Fatalf("last receipt: %+v", m)
	}
	wo, err := f.store.WorkOrder(ctx, f.own)
	if err != nil || wo.Status != workorder.InProgress {
		t.Fatalf("work order %v (%v) after the parts came", wo.Status, err)
	}
	ev, _ := f.store.Events(ctx, f.own)
	var hold, resume string
	for _, e := range ev {
		switch e.Action {
		case workorder.Hold:
			hold = e.Reason
		case workorder.Resume:
			resume = e.Reason
		}
	}
	if !strings.HasPrefix(hold, "parts_on_order: ") || !strings.Contains(resume, b.ID) {
		t.Fatalf("hold %q, resume %q", hold, resume)
	}
	var notices, resumes int
	if err := f.store.Reader.QueryRowContext(ctx, `SELECT count(*) FROM outbox WHERE subject = 'frostline.events.purchase_order.s1'`).Scan(&notices); err != nil {
		t.Fatal(err)
	}
	if err := f.store.Reader.QueryRowContext(ctx, `SELECT count(*) FROM outbox WHERE subject = 'frostline.events.workorder.s1' AND data LIKE '%"action":"resume"%'`).Scan(&resumes); err != nil {
		t.Fatal(err)
	}
	if notices != 2+2*2+2 || resumes != 1 {
		t.Fatalf("outbox: %d purchase-order notices (want 8: created, approved, ordered, received x2), %d resume notices", notices, resumes)
	}
	// The work is completed with its parts and labour (quoted and approved:
	// the fixture's vendor has no rate table); an invoice is made.
	must(t, 200)(f.do(t, "tech", "POST", "/api/v1/workorders/"+f.own+"/quote", `{"amount":314.5,"description":"fan, drier, 2.5 h"}`))
	must(t, 200)(f.do(t, "fm", "POST", "/api/v1/workorders/"+f.own+"/approvals", `{"amount":314.5}`))
	must(t, 200)(f.do(t, "tech", "POST", "/api/v1/workorders/"+f.own+"/actions/complete",
		`{"problem":"no_cooling","cause":"fan_failed","remedy":"replaced_fan","parts":[{"code":"FAN-7","description":"fan","quantity":1,"unit_cost":39.5},{"code":"FLT-20","description":"drier","quantity":3,"unit_cost":12.5}],"labour":[{"hours":2.5,"rate":95}]}`))
	invoice(t, f, f.own)
	q := "?site=s1&from=2026-06-01T00:00:00Z&to=2026-08-01T00:00:00Z"
	for _, kind := range []string{"purchase-orders", "workorder-costs", "invoices"} {
		var fromCSV, fromJSON any
		switch kind {
		case "purchase-orders":
			fromCSV, fromJSON = &[]purchasing.PurchaseOrderLineRow{}, &struct {
				Items []purchasing.PurchaseOrderLineRow
			}{}
		case "workorder-costs":
			fromCSV, fromJSON = &[]purchasing.WorkOrderCostRow{}, &struct{ Items []purchasing.WorkOrderCostRow }{}
		default:
			fromCSV, fromJSON = &[]purchasing.InvoiceLineRow{}, &struct{ Items []purchasing.InvoiceLineRow }{}
		}
		csvBody := must(t, 200)(f.do(t, "fm", "GET", "/api/v1/exports/"+kind+q+"&format=csv", ""))
		if err := purchasing.ReadCSV(strings.NewReader(csvBody), fromCSV); err != nil {
			t.Fatalf("%s: %v\n%s", kind, err, csvBody)
		}
		jsonBody := must(t, 200)(f.do(t, "fm", "GET", "/api/v1/exports/"+kind+q, ""))
		if err := decodeInto(jsonBody, fromJSON); err != nil {
			t.Fatal(err)
		}
		items := reflect.ValueOf(fromJSON).Elem().Field(0).Interface()
		if !reflect.DeepEqual(reflect.ValueOf(fromCSV).Elem().Interface(), items) {
			t.Fatalf("%s: CSV and JSON differ:\n%s\n%s", kind, csvBody, jsonBody)
		}
		if n := reflect.ValueOf(items).Len(); n == 0 {
			t.Fatalf("%s: nothing exported", kind)
		}
		// The same export again: the same rows, the same ids.
		if again := must(t, 200)(f.do(t, "fm", "GET", "/api/v1/exports/"+kind+q+"&format=csv", "")); again != csvBody {
			t.Fatalf("%s: a second export differs", kind)
		}
	}
	costs := decode[struct{ Items []purchasing.WorkOrderCostRow }](t, must(t, 200)(f.do(t, "fm", "GET", "/api/v1/exports/workorder-costs"+q, "")))
	if c := costs.Items[0]; c.ID != f.own || c.PartsCost != 77 || c.LabourCost != 237.5 || c.Total != 314.5 || c.Invoiced != 314.5 {
		t.Fatalf("cost row %+v", c)
	}
	// Scope: store staff of the other site export nothing of s1; vendor2 nothing at all.
	if body := must(t, 200)(f.do(t, "vendor2", "GET", "/api/v1/exports/purchase-orders?from=2026-06-01T00:00:00Z&to=2026-08-01T00:00:00Z", "")); !strings.Contains(body, `"items":[]`) {
		t.Fatalf("vendor2 export: %s", body)
	}
	must(t, 404)(f.do(t, "fm", "GET", "/api/v1/exports/receipts"+q, ""))
	must(t, 400)(f.do(t, "fm", "GET", "/api/v1/exports/invoices?from=2026-06-01T00:00:00Z&to=2028-06-01T00:00:00Z", ""))
}

// invoice records an invoice on a completed work order, as the dispatch
// service does when it bills (its rate tables are not this test's).
func invoice(t *testing.T, f *fixture, id string) {
	t.Helper()
	ctx := context.Background()
	err := f.store.Update(ctx, func(tx store.Tx) error {
		w, err := tx.WorkOrder(ctx, id)
		if err != nil {
			return err
		}
		inv := &workorder.Invoice{ID: "inv_" + id, Vendor: w.Vendor, At: f.srv.now(), Subtotal: 314.5, Total: 314.5, Lines: []workorder.InvoiceLine{
			{Kind: "labour", Description: "2.5 h at 95.00", Quantity: 2.5, UnitPrice: 95, Amount: 237.5},
			{Kind: "part", Description: "fan, \"230 V\", motor", Quantity: 1, UnitPrice: 39.5, Amount: 39.5},
			{Kind: "part", Description: "drier\nx3", Quantity: 3, UnitPrice: 12.5, Amount: 37.5},
		}}
		e := workorder.Event{Kind: workorder.Invoiced, Version: w.Version + 1, Actor: "system", At: inv.At, Invoice: inv}
		if err := w.Apply(&e); err != nil {
			return err
		}
		return tx.Save(ctx, w, []workorder.Event{e})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func decodeInto(body string, v any) error {
	return decodeBody(strings.NewReader(body), v)
}
