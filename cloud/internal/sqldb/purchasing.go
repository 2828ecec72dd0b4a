package sqldb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/notify"
	"github.com/frostline/frostline/cloud/purchasing"
	"github.com/frostline/frostline/cloud/workorder"
)

// PutPart creates or replaces a catalogue entry.
func (db *DB) PutPart(ctx context.Context, p *purchasing.Part) error {
	data, err := json.Marshal(p)
	if err != nil {
		return err
	}
	put := Insert{Table: "parts", Columns: cols("number, data"), Conflict: cols("number"), Update: cols("data")}
	if _, err := db.write().ExecContext(ctx, put.SQL(), p.Number, string(data)); err != nil {
		return fmt.Errorf("%s: put part: %w", db.Dialect.Name, err)
	}
	return nil
}

// Part returns a catalogue entry, or ENOTFOUND.
func (db *DB) Part(ctx context.Context, number string) (*purchasing.Part, error) {
	ps, err := parts(ctx, db.read(), []string{number})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", db.Dialect.Name, err)
	}
	if p := ps[number]; p != nil {
		return p, nil
	}
	return nil, cloud.Errorf(cloud.ENOTFOUND, "part %s not found", number)
}

// Parts lists the catalogue by part number.
func (db *DB) Parts(ctx context.Context) ([]*purchasing.Part, error) {
	ps, err := jsonRows[*purchasing.Part](db.read().QueryContext(ctx, `SELECT data FROM parts ORDER BY number`))
	if err != nil {
		return nil, fmt.Errorf("%s: parts: %w", db.Dialect.Name, err)
	}
	return ps, nil
}

// DeletePart removes a catalogue entry; purchase orders keep their lines.
func (db *DB) DeletePart(ctx context.Context, number string) error {
	return db.deleteOne(ctx, "parts", "number", "part", number)
}

// SetStock records how many of a part a site has on hand.
func (db *DB) SetStock(ctx context.Context, site, part string, quantity float64) error {
	set := Insert{Table: "part_stock", Columns: cols("site, part, quantity"), Conflict: cols("site, part"), Update: cols("quantity")}
	if _, err := db.write().ExecContext(ctx, set.SQL(), site, part, quantity); err != nil {
		return fmt.Errorf("%s: set stock: %w", db.Dialect.Name, err)
	}
	return nil
}

// StockAt returns a site's parts on hand.
func (db *DB) StockAt(ctx context.Context, site string) (map[string]float64, error) {
	return stock(ctx, db.read(), site)
}

func parts(ctx context.Context, q querier, numbers []string) (map[string]*purchasing.Part, error) {
	out := map[string]*purchasing.Part{}
	if len(numbers) == 0 {
		return out, nil
	}
	var args params
	rows, err := q.QueryContext(ctx, `SELECT data FROM parts WHERE number IN (`+list(&args, numbers)+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("parts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var data []byte
		if err := rows.Scan(&data); err != nil {
			return nil, err
		}
		p := &purchasing.Part{}
		if err := json.Unmarshal(data, p); err != nil {
			return nil, err
		}
		out[p.Number] = p
	}
	return out, rows.Err()
}

func stock(ctx context.Context, q querier, site string) (map[string]float64, error) {
	rows, err := q.QueryContext(ctx, `SELECT part, quantity FROM part_stock WHERE site = $1`, site)
	if err != nil {
		return nil, fmt.Errorf("stock: %w", err)
	}
	defer rows.Close()
	out := map[string]float64{}
	for rows.Next() {
		var p string
		var n float64
		if err := rows.Scan(&p, &n); err != nil {
			return nil, err
		}
		out[p] = n
	}
	return out, rows.Err()
}

// Parts implements purchasing.Tx.
func (t *Tx) Parts(ctx context.Context, numbers []string) (map[string]*purchasing.Part, error) {
	return parts(ctx, t.tx, numbers)
}

// Stock implements purchasing.Tx.
func (t *Tx) Stock(ctx context.Context, site string) (map[string]float64, error) {
	return stock(ctx, t.tx, site)
}

// TakeStock implements purchasing.Tx: it refuses to go below zero, which a
// concurrent taker may have caused since Stock was read (the transaction
// is then run again).
func (t *Tx) TakeStock(ctx context.Context, site, part string, quantity float64) error {
	res, err := t.tx.ExecContext(ctx, `UPDATE part_stock SET quantity = quantity - $3 WHERE site = $1 AND part = $2 AND quantity >= $3`,
		site, part, quantity)
	if err != nil {
		return fmt.Errorf("take stock: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return &staleError{id: "stock " + site + "/" + part}
	}
	return nil
}

// PutPurchaseOrder implements purchasing.Tx: it inserts a new purchase
// order (seen 0) or updates one at the version the caller read, and puts
// its notice in the outbox in the same transaction.
func (t *Tx) PutPurchaseOrder(ctx context.Context, po *purchasing.PurchaseOrder, seen int) error {
	data, err := json.Marshal(po)
	if err != nil {
		return err
	}
	args := []any{po.ID, po.WorkOrder, po.Site, po.Vendor, po.Supplier, string(po.Status), micros(po.CreatedAt),
		micros(po.UpdatedAt), po.Version, string(data)}
	if seen == 0 {
		_, err = t.tx.ExecContext(ctx, `INSERT INTO purchase_orders (id, wo, site, vendor, supplier, status, created_at, updated_at, version, data)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, args...)
		if err != nil {
			return fmt.Errorf("insert purchase order: %w", err)
		}
	} else {
		res, err := t.tx.ExecContext(ctx, `UPDATE purchase_orders SET wo = $2, site = $3, vendor = $4, supplier = $5, status = $6,
			created_at = $7, updated_at = $8, version = $9, data = $10 WHERE id = $1 AND version = $11`, append(args, seen)...)
		if err != nil {
			return fmt.Errorf("update purchase order: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return &staleError{id: po.ID}
		}
	}
	// The change is projected as a work order's is (projector.go): a
	// notice in the outbox and the same event on the webhook stream, to
	// whoever sees the work order it was raised for (accounting, the FM,
	// the vendor).
	n := purchasing.Notice{Schema: purchasing.NoticeSchema, PurchaseOrder: *po}
	notice, err := json.Marshal(n)
	if err != nil {
		return err
	}
	msgID := fmt.Sprintf("%s-%d", po.ID, po.Version)
	return t.projectRecord(ctx, Record{Subject: purchasing.NoticeSubject(po.Site), MsgID: msgID, Notice: notice, At: po.UpdatedAt,
		Envelope:  notify.OtherEnvelope{ID: msgID, Type: notify.PurchaseOrder, CreatedAt: po.UpdatedAt, Data: n},
		WorkOrder: po.WorkOrder, Site: po.Site, Vendor: po.Vendor})
}

// PurchaseOrder implements purchasing.Tx.
func (t *Tx) PurchaseOrder(ctx context.Context, id string) (*purchasing.PurchaseOrder, error) {
	return onePO(t.tx.QueryRowContext(ctx, `SELECT data FROM purchase_orders WHERE id = $1`, id))
}

// PurchaseOrdersFor implements purchasing.Tx.
func (t *Tx) PurchaseOrdersFor(ctx context.Context, wo string) ([]*purchasing.PurchaseOrder, error) {
	return listPOs(ctx, t.tx, `SELECT data FROM purchase_orders WHERE wo = $1 ORDER BY created_at, id`, wo)
}

var _ purchasing.Tx = (*Tx)(nil)

func onePO(row *sql.Row) (*purchasing.PurchaseOrder, error) {
	var data []byte
	if err := row.Scan(&data); errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	po := &purchasing.PurchaseOrder{}
	return po, json.Unmarshal(data, po)
}

func listPOs(ctx context.Context, q querier, query string, args ...any) ([]*purchasing.PurchaseOrder, error) {
	pos, err := jsonRows[*purchasing.PurchaseOrder](q.QueryContext(ctx, query, args...))
	if err != nil {
		return nil, fmt.Errorf("purchase orders: %w", err)
	}
	return pos, nil
}

// PurchaseOrder returns a purchase order, or ENOTFOUND.
func (db *DB) PurchaseOrder(ctx context.Context, id string) (*purchasing.PurchaseOrder, error) {
	po, err := onePO(db.read().QueryRowContext(ctx, `SELECT data FROM purchase_orders WHERE id = $1`, id))
	if err != nil {
		return nil, fmt.Errorf("%s: purchase order: %w", db.Dialect.Name, err)
	}
	if po == nil {
		return nil, cloud.Errorf(cloud.ENOTFOUND, "purchase order %s not found", id)
	}
	return po, nil
}

// PurchaseOrders lists purchase orders created in [f.From, f.To), oldest
// first, within the scope.
func (db *DB) PurchaseOrders(ctx context.Context, f purchasing.Filter) ([]*purchasing.PurchaseOrder, error) {
	var where []string
	var args params
	arg := args.add
	if f.Site != "" {
		where = append(where, "site = "+arg(f.Site))
	}
	if f.WorkOrder != "" {
		where = append(where, "wo = "+arg(f.WorkOrder))
	}
	if f.Status != "" {
		where = append(where, "status = "+arg(string(f.Status)))
	}
	if !f.From.IsZero() {
		where = append(where, "created_at >= "+arg(micros(f.From)))
	}
	if !f.To.IsZero() {
		where = append(where, "created_at < "+arg(micros(f.To)))
	}
	if c, ok := scopeWhere(f.Scope, arg, "vendor"); !ok {
		return []*purchasing.PurchaseOrder{}, nil
	} else if c != "" {
		where = append(where, c)
	}
	q := `SELECT data FROM purchase_orders`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	limit := f.Limit
	if limit <= 0 || limit > 10000 {
		limit = 10000
	}
	out, err := listPOs(ctx, db.read(), q+" ORDER BY created_at, id LIMIT "+strconv.Itoa(limit), args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", db.Dialect.Name, err)
	}
	return out, nil
}

// scopeWhere is the condition that keeps rows inside a caller's scope:
// its sites, or its vendor's rows (in vendorCol). ok false: the scope sees
// nothing.
func scopeWhere(s cloud.Scope, arg func(any) string, vendorCol string) (string, bool) {
	if s.All {
		return "", true
	}
	var conds []string
	if s.Sites != nil {
		if len(s.Sites) == 0 {
			return "", false
		}
		ph := make([]string, len(s.Sites))
		for i, site := range s.Sites {
			ph[i] = arg(site)
		}
		conds = append(conds, "site IN ("+strings.Join(ph, ", ")+")")
	}
	if s.Vendor != "" {
		conds = append(conds, vendorCol+" = "+arg(s.Vendor))
	}
	if len(conds) == 0 {
		return "", false
	}
	return strings.Join(conds, " AND "), true
}

// WorkOrdersChangedSince lists the work orders (at a site, or every site
// in scope) changed at or after since, for exports: an invoice made or a
// completion recorded in a period changed its work order then.
func (db *DB) WorkOrdersChangedSince(ctx context.Context, site string, scope cloud.Scope, since time.Time) ([]*workorder.WorkOrder, error) {
	var where []string
	var args params
	arg := args.add
	where = append(where, "updated_at >= "+arg(micros(since)))
	if site != "" {
		where = append(where, "site = "+arg(site))
	}
	if c, ok := scopeWhere(scope, arg, "vendor"); !ok {
		return []*workorder.WorkOrder{}, nil
	} else if c != "" {
		where = append(where, c)
	}
	ws, err := jsonRows[*workorder.WorkOrder](db.read().QueryContext(ctx, `SELECT data FROM workorders WHERE `+strings.Join(where, " AND ")+` ORDER BY number`, args...))
	if err != nil {
		return nil, fmt.Errorf("%s: work orders: %w", db.Dialect.Name, err)
	}
	return ws, nil
}
