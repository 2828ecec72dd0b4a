package sqldb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/dispatch"
	"github.com/frostline/frostline/cloud/sla"
	"github.com/frostline/frostline/cloud/workorder"
)

// The vendor register, offer books and vendor outcomes (cloud/dispatch).

// PutVendor creates or replaces a vendor and moves the register's
// revision on, in one transaction.
func (db *DB) PutVendor(ctx context.Context, v *dispatch.Vendor, at time.Time) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return db.registerTx(ctx, "put vendor", func(tx sqlTx) error {
		put := Insert{Table: "vendors", Columns: cols("id, name, data, updated_at"), Conflict: cols("id"), Update: cols("name, data, updated_at")}
		_, err := tx.ExecContext(ctx, put.SQL(),
			v.ID, v.Name, string(data), micros(at))
		return err
	})
}

// DeleteVendor removes a vendor, or answers ENOTFOUND.
func (db *DB) DeleteVendor(ctx context.Context, id string) error {
	return db.registerTx(ctx, "delete vendor", func(tx sqlTx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM vendors WHERE id = $1`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return cloud.Errorf(cloud.ENOTFOUND, "vendor %s not found", id)
		}
		return nil
	})
}

func (db *DB) registerTx(ctx context.Context, what string, fn func(sqlTx) error) error {
	tx, err := db.begin(ctx)
	if err != nil {
		return fmt.Errorf("%s: %s: %w", db.Dialect.Name, what, err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	if err := fn(tx); err != nil {
		var ce *cloud.Error
		if errors.As(err, &ce) {
			return err
		}
		return fmt.Errorf("%s: %s: %w", db.Dialect.Name, what, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE counters SET value = value + 1 WHERE name = 'vendors'`); err != nil {
		return fmt.Errorf("%s: %s: %w", db.Dialect.Name, what, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: %s: %w", db.Dialect.Name, what, err)
	}
	return nil
}

// Vendor returns a vendor, or ENOTFOUND.
func (db *DB) Vendor(ctx context.Context, id string) (*dispatch.Vendor, error) {
	v, err := jsonRow[dispatch.Vendor](db.read().QueryRowContext(ctx, `SELECT data FROM vendors WHERE id = $1`, id))
	if err != nil {
		return nil, fmt.Errorf("%s: vendor: %w", db.Dialect.Name, err)
	}
	if v == nil {
		return nil, cloud.Errorf(cloud.ENOTFOUND, "vendor %s not found", id)
	}
	return v, nil
}

// Vendors lists every vendor by id.
func (db *DB) Vendors(ctx context.Context) ([]dispatch.Vendor, error) {
	vs, err := jsonRows[dispatch.Vendor](db.read().QueryContext(ctx, `SELECT data FROM vendors ORDER BY id`))
	if err != nil {
		return nil, fmt.Errorf("%s: vendors: %w", db.Dialect.Name, err)
	}
	return vs, nil
}

// VendorsRevision implements dispatch.Register.
func (db *DB) VendorsRevision(ctx context.Context) (int64, error) {
	var n int64
	err := db.read().QueryRowContext(ctx, `SELECT value FROM counters WHERE name = 'vendors'`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("%s: vendors revision: %w", db.Dialect.Name, err)
	}
	return n, nil
}

// OpenByVendor implements dispatch.Register: open work orders a vendor
// holds (offered or accepted, not yet complete).
func (db *DB) OpenByVendor(ctx context.Context) (map[string]int, error) {
	rows, err := db.read().QueryContext(ctx, `SELECT vendor, count(*) FROM workorders
		WHERE vendor <> '' AND status IN ('dispatched', 'accepted', 'in_progress', 'on_hold') GROUP BY vendor`)
	if err != nil {
		return nil, fmt.Errorf("%s: open by vendor: %w", db.Dialect.Name, err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var v string
		var n int
		if err := rows.Scan(&v, &n); err != nil {
			return nil, err
		}
		out[v] = n
	}
	return out, rows.Err()
}

// VendorOutcomes implements dispatch.Register.
func (db *DB) VendorOutcomes(ctx context.Context, since time.Time) ([]dispatch.Outcome, error) {
	return scanOutcomes(db.read().QueryContext(ctx, `SELECT data FROM vendor_outcomes WHERE offered_at >= $1 ORDER BY vendor, offered_at`, micros(since)))
}

// OutcomesOf returns a vendor's outcomes since a time.
func (db *DB) OutcomesOf(ctx context.Context, vendor string, since time.Time) ([]dispatch.Outcome, error) {
	return scanOutcomes(db.read().QueryContext(ctx, `SELECT data FROM vendor_outcomes WHERE vendor = $1 AND offered_at >= $2 ORDER BY offered_at`, vendor, micros(since)))
}

func scanOutcomes(rows *sql.Rows, err error) ([]dispatch.Outcome, error) {
	outs, err := jsonRows[dispatch.Outcome](rows, err)
	if err != nil {
		return nil, fmt.Errorf("outcomes: %w", err)
	}
	return outs, nil
}

// DispatchBook returns a work order's offer book, or nil.
func (db *DB) DispatchBook(ctx context.Context, wo string) (*dispatch.Book, error) {
	return book(db.read().QueryRowContext(ctx, `SELECT data FROM dispatch_books WHERE wo = $1`, wo))
}

func book(row *sql.Row) (*dispatch.Book, error) {
	b, err := jsonRow[dispatch.Book](row)
	if err != nil {
		return nil, fmt.Errorf("dispatch book: %w", err)
	}
	return b, nil
}

// Site implements dispatch.Tx.
func (t *Tx) Site(ctx context.Context, id string) (*cloud.Site, error) {
	return getSite(ctx, t.tx, id)
}

// Events implements dispatch.Tx: a work order's saved events.
func (t *Tx) Events(ctx context.Context, wo string) ([]workorder.Event, error) {
	return eventsOf(ctx, t.tx, wo)
}

// Book implements dispatch.Tx.
func (t *Tx) Book(ctx context.Context, wo string) (*dispatch.Book, error) {
	return book(t.tx.QueryRowContext(ctx, `SELECT data FROM dispatch_books WHERE wo = $1`, wo))
}

// PutBook implements dispatch.Tx.
func (t *Tx) PutBook(ctx context.Context, b *dispatch.Book, at time.Time) error {
	data, err := json.Marshal(b)
	if err != nil {
		return err
	}
	put := Insert{Table: "dispatch_books", Columns: cols("wo, data, updated_at"), Conflict: cols("wo"), Update: cols("data, updated_at")}
	_, err = t.tx.ExecContext(ctx, put.SQL(), b.WorkOrder, string(data), micros(at))
	if err != nil {
		return fmt.Errorf("put dispatch book: %w", err)
	}
	return nil
}

// Outcomes implements dispatch.Tx: a work order's outcome records.
func (t *Tx) Outcomes(ctx context.Context, wo string) ([]dispatch.Outcome, error) {
	return scanOutcomes(t.tx.QueryContext(ctx, `SELECT data FROM vendor_outcomes WHERE wo = $1 ORDER BY offered_at`, wo))
}

// PutOutcomes implements dispatch.Tx.
func (t *Tx) PutOutcomes(ctx context.Context, outs []dispatch.Outcome) error {
	put := Insert{Table: "vendor_outcomes", Columns: cols("wo, vendor, offered_at, trade, data"), Conflict: cols("wo, vendor, offered_at"), Update: cols("data")}
	for _, o := range outs {
		data, err := json.Marshal(o)
		if err != nil {
			return err
		}
		_, err = t.tx.ExecContext(ctx, put.SQL(), o.WorkOrder, o.Vendor, micros(o.Offered), o.Trade, string(data))
		if err != nil {
			return fmt.Errorf("put outcome: %w", err)
		}
	}
	return nil
}

// Assigned implements sla.Store: open work orders with a vendor.
func (db *DB) Assigned(ctx context.Context) ([]sla.Ref, error) {
	rows, err := db.read().QueryContext(ctx, `SELECT id, site, vendor, version FROM workorders
		WHERE vendor <> '' AND status IN ('dispatched', 'accepted', 'in_progress', 'on_hold')`)
	if err != nil {
		return nil, fmt.Errorf("%s: assigned: %w", db.Dialect.Name, err)
	}
	defer rows.Close()
	var out []sla.Ref
	for rows.Next() {
		var r sla.Ref
		if err := rows.Scan(&r.ID, &r.Site, &r.Vendor, &r.Version); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
