package invoicing

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// exportHeader is the AP export's columns; payment_ref is empty until AP
// fills it in and sends the file back.
var exportHeader = []string{"invoice_id", "work_order", "vendor", "vendor_invoice", "subtotal", "tax", "total", "approved_at", "payment_ref"}

// ExportCSV writes approved (and paid) invoices for accounts payable, one
// a row.
func ExportCSV(w io.Writer, invs []*Invoice) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(exportHeader); err != nil {
		return err
	}
	for _, inv := range invs {
		if inv.State != Approved && inv.State != Paid {
			continue
		}
		at := ""
		if inv.DecidedAt != nil {
			at = inv.DecidedAt.UTC().Format(time.RFC3339)
		}
		if err := cw.Write([]string{inv.ID, inv.WorkOrder, inv.Vendor, inv.Number, money(inv.Subtotal), money(inv.Tax), money(inv.Total), at, inv.PaymentRef}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func money(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }

// Payment is one paid invoice, from AP's file.
type Payment struct {
	Invoice string
	Ref     string
	// Total is what AP paid; it must be the invoice's.
	Total float64
}

// ReadPayments reads AP's returned export: the rows whose payment_ref is
// filled in. The header must name invoice_id, total and payment_ref (the
// other columns are ignored, in any order); each error names its line.
func ReadPayments(r io.Reader) ([]Payment, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("invoicing: payments: header: %w", err)
	}
	col := map[string]int{}
	for i, h := range head {
		col[strings.TrimSpace(strings.ToLower(strings.TrimPrefix(h, "\ufeff")))] = i
	}
	for _, need := range []string{"invoice_id", "total", "payment_ref"} {
		if _, ok := col[need]; !ok {
			return nil, fmt.Errorf("invoicing: payments: the header has no %s column", need)
		}
	}
	var out []Payment
	var errs []error
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("invoicing: payments: %w", err)
		}
		get := func(name string) string {
			if i := col[name]; i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		ref := get("payment_ref")
		if ref == "" {
			continue // not paid yet
		}
		total, err := strconv.ParseFloat(get("total"), 64)
		if err != nil || total < 0 || total > maxAmount {
			errs = append(errs, fmt.Errorf("line %d: total %q is not an amount", line, get("total")))
			continue
		}
		id := get("invoice_id")
		if id == "" || len(ref) > 64 {
			errs = append(errs, fmt.Errorf("line %d: want an invoice_id and a payment_ref of at most 64 characters", line))
			continue
		}
		if slices.ContainsFunc(out, func(p Payment) bool { return p.Invoice == id }) {
			errs = append(errs, fmt.Errorf("line %d: invoice %s appears twice", line, id))
			continue
		}
		out = append(out, Payment{Invoice: id, Ref: ref, Total: total})
		if len(out) > 10000 {
			return nil, errors.New("invoicing: payments: more than 10,000 rows")
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("invoicing: payments: %w", errors.Join(errs...))
	}
	return out, nil
}

// ApplyPayment pays inv from AP's row, which must carry its total.
func ApplyPayment(inv *Invoice, p Payment, by string, now time.Time) error {
	if p.Total < inv.Total-0.005 || p.Total > inv.Total+0.005 {
		return fmt.Errorf("invoicing: invoice %s: AP paid %s, the invoice is %s", inv.ID, money(p.Total), money(inv.Total))
	}
	return inv.Pay(p.Ref, by, now)
}
