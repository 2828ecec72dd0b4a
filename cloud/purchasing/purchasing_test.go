package purchasing

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/frostline/frostline/cloud"
)

var at = time.Date(2026, 7, 1, 8, 0, 0, 123456789, time.UTC)

func catalogue() map[string]*Part {
	return map[string]*Part{
		"A": {Number: "A", Description: "filter", UnitCost: 0.1, Supplier: "s1"},
		"B": {Number: "B", Description: "fan", UnitCost: 40, Supplier: "s2"},
		"C": {Number: "C", Description: "gasket", UnitCost: 3.3, Supplier: "s1"},
	}
}

func TestOrder(t *testing.T) {
	n := 0
	newID := func() string { n++; return fmt.Sprintf("po_%d", n) }
	wo := WorkOrderRef{ID: "wo_1", Number: 7, Site: "x", Vendor: "coolco"}
	for _, tc := range []struct {
		name   string
		needs  []Need
		stock  map[string]float64
		stockW map[string]float64
		orders string // supplier:part*qty@price ... per order
		field  string
	}{
		{name: "all on hand", needs: []Need{{Part: "A", Quantity: 2}}, stock: map[string]float64{"A": 5}, stockW: map[string]float64{"A": 2}},
		{name: "some on hand", needs: []Need{{Part: "A", Quantity: 3}, {Part: "B", Quantity: 1}, {Part: "C", Quantity: 3}}, stock: map[string]float64{"A": 1},
			stockW: map[string]float64{"A": 1}, orders: "s1:A*2@0.1,C*3@3.3=10.1 s2:B*1@40=40"},
		{name: "same part twice uses stock once", needs: []Need{{Part: "A", Quantity: 1}, {Part: "A", Quantity: 1}}, stock: map[string]float64{"A": 1},
			stockW: map[string]float64{"A": 1}, orders: "s1:A*1@0.1=0.1"},
		{name: "agreed price and other supplier", needs: []Need{{Part: "B", Quantity: 2, Supplier: "s9", UnitPrice: ptr(35)}}, stockW: map[string]float64{}, orders: "s9:B*2@35=70"},
		{name: "unknown part", needs: []Need{{Part: "Z", Quantity: 1}}, field: "parts[0].part"},
		{name: "zero quantity", needs: []Need{{Part: "A", Quantity: 0}}, field: "parts[0].quantity"},
		{name: "none", field: "parts"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sf, err := Order(wo, tc.needs, catalogue(), tc.stock, "tom", at, newID)
			if tc.field != "" {
				var ce *cloud.Error
				if !errors.As(err, &ce) || ce.Field != tc.field {
					t.Fatalf("error %v, want on %s", err, tc.field)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(sf.FromStock, tc.stockW) {
				t.Errorf("from stock %v, want %v", sf.FromStock, tc.stockW)
			}
			var got []string
			for _, po := range sf.Orders {
				var ls []string
				for _, l := range po.Lines {
					ls = append(ls, fmt.Sprintf("%s*%g@%g", l.Part, l.Quantity, l.UnitPrice))
				}
				got = append(got, fmt.Sprintf("%s:%s=%g", po.Supplier, strings.Join(ls, ","), po.Total))
				if po.WorkOrder != "wo_1" || po.Vendor != "coolco" || po.Status != Draft || po.Version != 1 {
					t.Errorf("order %+v", po)
				}
			}
			if g := strings.Join(got, " "); g != tc.orders {
				t.Errorf("orders %q, want %q", g, tc.orders)
			}
		})
	}
}

func ptr(v float64) *float64 { return &v }

func TestMove(t *testing.T) {
	po := &PurchaseOrder{ID: "po_1", Status: Draft, Version: 1}
	steps := []struct {
		to   Status
		role cloud.Role
		code string
	}{
		{Received, cloud.RoleFM, cloud.ECONFLICT},
		{Approved, cloud.RoleVendor, cloud.EFORBIDDEN},
		{Approved, cloud.RoleFM, ""},
		{Ordered, cloud.RoleAdmin, ""},
		{Cancelled, cloud.RoleFM, cloud.ECONFLICT},
		{Received, cloud.RoleTechnician, ""},
		{Draft, cloud.RoleFM, cloud.EINVALID},
	}
	for i, s := range steps {
		err := po.Move(s.to, "x", s.role, "", at)
		if got := cloud.ErrorCode(err); (s.code == "" && err != nil) || (s.code != "" && got != s.code) {
			t.Fatalf("step %d (%s by %s): %v, want %q", i, s.to, s.role, err, s.code)
		}
	}
	if po.Status != Received || po.Version != 4 || len(po.History) != 3 {
		t.Fatalf("%+v", po)
	}
}

// TestCSVRoundTrip: what WriteCSV writes, ReadCSV reads back exactly,
// including commas, quotes, newlines, non-ASCII text, amounts that are not
// exact in binary and times to the nanosecond.
func TestCSVRoundTrip(t *testing.T) {
	rows := []InvoiceLineRow{
		{ID: "inv_1:1", Invoice: "inv_1", WorkOrder: "wo_1", WorkOrderNumber: 42, Site: "s1", Asset: "wic-1", Vendor: "coolco",
			InvoicedAt: at, Line: 1, Kind: "part", Description: `Fan, "230 V"` + "\nsecond line, café", Quantity: 3, UnitPrice: 0.1, Amount: 0.30000000000000004, InvoiceTotal: 1e6 + 0.01},
		{ID: "inv_1:2", Invoice: "inv_1", Description: "", Quantity: -0, UnitPrice: 12345678.9, InvoicedAt: at.Add(time.Hour)},
		// Text a spreadsheet would run as a formula, and text that starts
		// with the apostrophe that defuses it.
		{ID: "inv_1:3", Invoice: "inv_1", Description: `=HYPERLINK("http://x","y")`, Vendor: "@coolco", Kind: "-part", InvoicedAt: at},
		{ID: "inv_1:4", Invoice: "inv_1", Description: "'quoted", Vendor: "+1", InvoicedAt: at},
	}
	var buf bytes.Buffer
	if err := WriteCSV(&buf, rows); err != nil {
		t.Fatal(err)
	}
	var back []InvoiceLineRow
	if err := ReadCSV(bytes.NewReader(buf.Bytes()), &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, rows) {
		t.Fatalf("round trip:\n%+v\n%+v\n%s", rows, back, buf.String())
	}
	for _, cell := range []string{`'=HYPERLINK`, "'@coolco", "'-part", "''quoted", "'+1"} {
		if !strings.Contains(buf.String(), cell) {
			t.Errorf("the CSV does not defuse %q:\n%s", cell, buf.String())
		}
	}
	if !strings.HasPrefix(buf.String(), "id,invoice,work_order,work_order_number,site,") {
		t.Fatalf("header: %s", strings.SplitN(buf.String(), "\n", 2)[0])
	}
	for _, rows := range []any{[]PurchaseOrderLineRow{{ID: "po_1:1", CreatedAt: at, Quantity: 2.5}}, []WorkOrderCostRow{{ID: "wo_1", CompletedAt: at, Total: 314.5}}} {
		buf.Reset()
		if err := WriteCSV(&buf, rows); err != nil {
			t.Fatal(err)
		}
		back := reflect.New(reflect.TypeOf(rows))
		if err := ReadCSV(bytes.NewReader(buf.Bytes()), back.Interface()); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back.Elem().Interface(), rows) {
			t.Fatalf("round trip of %T", rows)
		}
	}
	// A file with the wrong columns is refused, naming the column.
	var pos []PurchaseOrderLineRow
	if err := ReadCSV(strings.NewReader("id,nope\n"), &pos); err == nil {
		t.Fatal("wrong header accepted")
	}
}
