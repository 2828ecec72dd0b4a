package sqldb

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/invoicing"
)

// The two reads of invoices, in a transaction (Tx) or outside one (DB,
// for pages and lists that only show them).
const (
	workOrderInvoicesSQL = `SELECT data FROM invoices WHERE work_order = $1 ORDER BY submitted_at, id`
	invoiceSQL           = `SELECT data FROM invoices WHERE id = $1`
)

// WorkOrderInvoices returns a work order's invoices, oldest first, read in
// the transaction.
func (t *Tx) WorkOrderInvoices(ctx context.Context, wo string) ([]*invoicing.Invoice, error) {
	return workOrderInvoices(t.tx.QueryContext(ctx, workOrderInvoicesSQL, wo))
}

// WorkOrderInvoices returns a work order's invoices, oldest first.
func (db *DB) WorkOrderInvoices(ctx context.Context, wo string) ([]*invoicing.Invoice, error) {
	return workOrderInvoices(db.read().QueryContext(ctx, workOrderInvoicesSQL, wo))
}

func workOrderInvoices(rows *sql.Rows, err error) ([]*invoicing.Invoice, error) {
	invs, err := jsonRows[*invoicing.Invoice](rows, err)
	if err != nil {
		return nil, fmt.Errorf("invoices: %w", err)
	}
	return invs, nil
}

// Invoice returns an invoice read in the transaction, or ENOTFOUND.
func (t *Tx) Invoice(ctx context.Context, id string) (*invoicing.Invoice, error) {
	return invoice(t.tx.QueryRowContext(ctx, invoiceSQL, id), id)
}

// Invoice returns an invoice, or ENOTFOUND.
func (db *DB) Invoice(ctx context.Context, id string) (*invoicing.Invoice, error) {
	return invoice(db.read().QueryRowContext(ctx, invoiceSQL, id), id)
}

func invoice(row *sql.Row, id string) (*invoicing.Invoice, error) {
	inv, err := jsonRow[invoicing.Invoice](row)
	if err != nil {
		return nil, fmt.Errorf("invoice: %w", err)
	}
	if inv == nil {
		return nil, cloud.Errorf(cloud.ENOTFOUND, "invoice %s not found", id)
	}
	return inv, nil
}

// PutInvoice writes an invoice in the transaction: a new one (Version 0)
// is inserted, a changed one replaces the version read, or the
// transaction is run again on fresh reads (another writer moved it).
func (t *Tx) PutInvoice(ctx context.Context, inv *invoicing.Invoice) error {
	read := inv.Version
	inv.Version++
	data, err := json.Marshal(inv)
	if err != nil {
		inv.Version = read
		return err
	}
	updated := micros(inv.SubmittedAt)
	if n := len(inv.History); n > 0 {
		updated = micros(inv.History[n-1].At)
	}
	k := invoiceKPIFacts(inv)
	if read == 0 {
		_, err = t.tx.ExecContext(ctx, `INSERT INTO invoices (id, work_order, vendor, state, total, version, data, submitted_at, updated_at,
			first_at, approved_at, disputed) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			inv.ID, inv.WorkOrder, inv.Vendor, string(inv.State), inv.Total, inv.Version,
			string(data), micros(inv.SubmittedAt), updated, k.first, k.approved, k.disputed)
		if err != nil {
			inv.Version = read
			return fmt.Errorf("insert invoice: %w", err)
		}
		return nil
	}
	res, err := t.tx.ExecContext(ctx, `UPDATE invoices SET state = $2, total = $3, version = $4, data = $5, submitted_at = $6, updated_at = $7,
		first_at = $9, approved_at = $10, disputed = $11
		WHERE id = $1 AND version = $8`, inv.ID, string(inv.State), inv.Total, inv.Version, string(data), micros(inv.SubmittedAt), updated, read,
		k.first, k.approved, k.disputed)
	if err != nil {
		inv.Version = read
		return fmt.Errorf("update invoice: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		inv.Version = read
		return &staleError{id: inv.ID}
	}
	return nil
}

// Invoices lists invoices in a state ("" for all), oldest change first.
func (db *DB) Invoices(ctx context.Context, state invoicing.State) ([]*invoicing.Invoice, error) {
	q, args := `SELECT data FROM invoices ORDER BY updated_at, id`, []any(nil)
	if state != "" {
		q, args = `SELECT data FROM invoices WHERE state = $1 ORDER BY updated_at, id`, []any{string(state)}
	}
	invs, err := jsonRows[*invoicing.Invoice](db.read().QueryContext(ctx, q, args...))
	if err != nil {
		return nil, fmt.Errorf("%s: invoices: %w", db.Dialect.Name, err)
	}
	return invs, nil
}
