package purchasing

import (
	"encoding/csv"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/workorder"
)

// Exports for accounting and ERP: flat rows, one per invoice line,
// purchase-order line or work order, each with a stable id an importer
// can de-duplicate on (the same record exported twice has the same id).
// The same rows are written as CSV (a header of the json names, then one
// record per row) and as JSON.

// InvoiceLineRow is one line of a vendor's invoice.
type InvoiceLineRow struct {
	ID              string    `json:"id"` // <invoice>:<line>
	Invoice         string    `json:"invoice"`
	WorkOrder       string    `json:"work_order"`
	WorkOrderNumber int64     `json:"work_order_number"`
	Site            string    `json:"site"`
	Asset           string    `json:"asset"`
	Vendor          string    `json:"vendor"`
	InvoicedAt      time.Time `json:"invoiced_at"`
	Line            int       `json:"line"`
	Kind            string    `json:"kind"`
	Description     string    `json:"description"`
	Quantity        float64   `json:"quantity"`
	UnitPrice       float64   `json:"unit_price"`
	Amount          float64   `json:"amount"`
	InvoiceTotal    float64   `json:"invoice_total"`
	WrittenOff      float64   `json:"written_off"`
}

// PurchaseOrderLineRow is one line of a purchase order.
type PurchaseOrderLineRow struct {
	ID              string    `json:"id"` // <purchase order>:<line>
	PurchaseOrder   string    `json:"purchase_order"`
	WorkOrder       string    `json:"work_order"`
	WorkOrderNumber int64     `json:"work_order_number"`
	Site            string    `json:"site"`
	Supplier        string    `json:"supplier"`
	Status          string    `json:"status"`
	CreatedAt       time.Time `json:"created_at"`
	Line            int       `json:"line"`
	Part            string    `json:"part"`
	Description     string    `json:"description"`
	Quantity        float64   `json:"quantity"`
	UnitPrice       float64   `json:"unit_price"`
	Amount          float64   `json:"amount"`
	OrderTotal      float64   `json:"order_total"`
}

// WorkOrderCostRow is a completed work order's recorded cost.
type WorkOrderCostRow struct {
	ID          string    `json:"id"` // the work order's id
	Number      int64     `json:"number"`
	Site        string    `json:"site"`
	Asset       string    `json:"asset"`
	Source      string    `json:"source"`
	Trade       string    `json:"trade"`
	Vendor      string    `json:"vendor"`
	Status      string    `json:"status"`
	CompletedAt time.Time `json:"completed_at"`
	PartsCost   float64   `json:"parts_cost"`
	LabourCost  float64   `json:"labour_cost"`
	Total       float64   `json:"total"`
	Invoiced    float64   `json:"invoiced"`
}

// InvoiceRows flattens the invoices of work orders made in [from, to).
func InvoiceRows(ws []*workorder.WorkOrder, from, to time.Time) []InvoiceLineRow {
	out := []InvoiceLineRow{}
	for _, w := range ws {
		inv := w.Invoice
		if inv == nil || inv.At.Before(from) || !inv.At.Before(to) {
			continue
		}
		for i, l := range inv.Lines {
			out = append(out, InvoiceLineRow{
				ID: fmt.Sprintf("%s:%d", inv.ID, i+1), Invoice: inv.ID, WorkOrder: w.ID, WorkOrderNumber: w.Number,
				Site: w.Site, Asset: w.Asset, Vendor: inv.Vendor, InvoicedAt: inv.At.UTC(), Line: i + 1, Kind: l.Kind,
				Description: l.Description, Quantity: l.Quantity, UnitPrice: l.UnitPrice, Amount: l.Amount,
				InvoiceTotal: inv.Total, WrittenOff: inv.WrittenOff,
			})
		}
	}
	return out
}

// PurchaseOrderRows flattens purchase orders into their lines.
func PurchaseOrderRows(pos []*PurchaseOrder) []PurchaseOrderLineRow {
	out := []PurchaseOrderLineRow{}
	for _, po := range pos {
		for i, l := range po.Lines {
			out = append(out, PurchaseOrderLineRow{
				ID: fmt.Sprintf("%s:%d", po.ID, i+1), PurchaseOrder: po.ID, WorkOrder: po.WorkOrder, WorkOrderNumber: po.WorkOrderNumber,
				Site: po.Site, Supplier: po.Supplier, Status: string(po.Status), CreatedAt: po.CreatedAt.UTC(), Line: i + 1,
				Part: l.Part, Description: l.Description, Quantity: l.Quantity, UnitPrice: l.UnitPrice, Amount: l.Amount,
				OrderTotal: po.Total,
			})
		}
	}
	return out
}

// CostRows lists the work orders completed in [from, to) with their
// parts and labour (Completion.Cost) and what was invoiced.
func CostRows(ws []*workorder.WorkOrder, completedAt func(*workorder.WorkOrder) *time.Time, from, to time.Time) []WorkOrderCostRow {
	out := []WorkOrderCostRow{}
	for _, w := range ws {
		at := completedAt(w)
		if w.Completion == nil || at == nil || at.Before(from) || !at.Before(to) {
			continue
		}
		var parts, labour float64
		c := w.Completion.Sane() // a stored out-of-range line counts as nothing
		for _, p := range c.Parts {
			parts += p.Quantity * p.UnitCost
		}
		for _, l := range c.Labour {
			labour += l.Hours * l.Rate
		}
		row := WorkOrderCostRow{ID: w.ID, Number: w.Number, Site: w.Site, Asset: w.Asset, Source: string(w.Source),
			Trade: w.Trade, Vendor: w.Vendor, Status: string(w.Status), CompletedAt: at.UTC(),
			PartsCost: round2(parts), LabourCost: round2(labour), Total: round2(w.Completion.Cost())}
		if w.Invoice != nil {
			row.Invoiced = w.Invoice.Total
		}
		out = append(out, row)
	}
	return out
}

// WriteCSV writes rows (a slice of one of the row types) as CSV: a header
// of the json field names, then one record per row. Times are RFC 3339
// in UTC, amounts as many digits as they need.
func WriteCSV(w io.Writer, rows any) error {
	v := reflect.ValueOf(rows)
	if v.Kind() != reflect.Slice || v.Type().Elem().Kind() != reflect.Struct {
		return fmt.Errorf("purchasing: WriteCSV wants a slice of rows, got %T", rows)
	}
	t := v.Type().Elem()
	cw := csv.NewWriter(w)
	if err := cw.Write(header(t)); err != nil {
		return err
	}
	rec := make([]string, t.NumField())
	for i := range v.Len() {
		row := v.Index(i)
		for j := range t.NumField() {
			rec[j] = format(row.Field(j))
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// ReadCSV reads what WriteCSV wrote into *dst (a pointer to a slice of the
// same row type), checking the header.
func ReadCSV(r io.Reader, dst any) error {
	p := reflect.ValueOf(dst)
	if p.Kind() != reflect.Pointer || p.Elem().Kind() != reflect.Slice {
		return fmt.Errorf("purchasing: ReadCSV wants a pointer to a slice, got %T", dst)
	}
	s := p.Elem()
	t := s.Type().Elem()
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = t.NumField()
	recs, err := cr.ReadAll()
	if err != nil {
		return fmt.Errorf("purchasing: csv: %w", err)
	}
	if len(recs) == 0 {
		return fmt.Errorf("purchasing: csv: no header")
	}
	want := header(t)
	for i, h := range recs[0] {
		if h != want[i] {
			return fmt.Errorf("purchasing: csv: column %d is %q, want %q", i+1, h, want[i])
		}
	}
	for n, rec := range recs[1:] {
		row := reflect.New(t).Elem()
		for j, cell := range rec {
			if err := parse(row.Field(j), cell); err != nil {
				return fmt.Errorf("purchasing: csv: line %d, %s: %w", n+2, want[j], err)
			}
		}
		s.Set(reflect.Append(s, row))
	}
	return nil
}

func header(t reflect.Type) []string {
	h := make([]string, t.NumField())
	for i := range t.NumField() {
		h[i] = t.Field(i).Tag.Get("json")
	}
	return h
}

var timeType = reflect.TypeOf(time.Time{})

func format(v reflect.Value) string {
	if v.Type() == timeType {
		return v.Interface().(time.Time).UTC().Format(time.RFC3339Nano)
	}
	switch v.Kind() {
	case reflect.String:
		return cloud.CSVCell(v.String())
	case reflect.Int, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'f', -1, 64)
	}
	panic(fmt.Sprintf("purchasing: no CSV form for %s", v.Type())) // the row types above only
}

func parse(v reflect.Value, s string) error {
	if v.Type() == timeType {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return err
		}
		v.Set(reflect.ValueOf(t.UTC()))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(strings.TrimPrefix(s, "'"))
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return err
		}
		v.SetInt(n)
	case reflect.Float64:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return err
		}
		v.SetFloat(f)
	default:
		return fmt.Errorf("no CSV form for %s", v.Type())
	}
	return nil
}
