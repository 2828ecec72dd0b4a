package sqldb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/frostline/frostline/cloud/workorder"
	"github.com/frostline/frostline/rules"
)

// Order within an incident (workorder/order.go): incident_order keeps each
// incident's last applied sequence, and is the row a transaction on the
// incident locks; incident_held keeps events that came before their turn.

// order is an incident's order row as this transaction holds it; dirty
// rows are written back once, before commit (flushOrder).
type order struct {
	applied, held int
	dirty         bool
}

var orderColumns = cols("incident, applied, held, at")

// Sequence implements workorder.Tx. The upsert takes the row's lock on
// PostgreSQL (and, for a row another transaction is inserting, waits for
// it to commit and then reads what it committed), so two replicas'
// transactions on one incident run one after the other. SQLite has one
// writer: its transactions run one after the other anyway.
func (t *Tx) Sequence(ctx context.Context, incident string) (applied, held int, err error) {
	if o, ok := t.order[incident]; ok {
		return o.applied, o.held, nil
	}
	if err := t.SequenceAll(ctx, []string{incident}); err != nil {
		return 0, 0, err
	}
	o := t.order[incident]
	return o.applied, o.held, nil
}

// SequenceAll locks a batch's incidents' order rows in one statement, in
// a fixed order (so two replicas' batches do not deadlock), and keeps them
// for the rest of the transaction.
func (t *Tx) SequenceAll(ctx context.Context, incidents []string) error {
	if t.order == nil {
		t.order = map[string]*order{}
	}
	todo := slices.DeleteFunc(slices.Clone(incidents), func(i string) bool { _, ok := t.order[i]; return ok })
	slices.Sort(todo)
	todo = slices.Compact(todo)
	now := micros(t.db.now())
	const chunk = 500 // stay far below parameter limits
	for lo := 0; lo < len(todo); lo += chunk {
		part := todo[lo:min(lo+chunk, len(todo))]
		lock := Insert{Table: "incident_order", Columns: orderColumns, Rows: len(part),
			Conflict: cols("incident"), Update: cols("at"), Returning: cols("incident, applied, held")}
		args := make([]any, 0, 4*len(part))
		for _, inc := range part {
			args = append(args, inc, 0, 0, now)
		}
		rows, err := t.tx.QueryContext(ctx, lock.SQL(), args...)
		if err != nil {
			return fmt.Errorf("incident order: %w", err)
		}
		for rows.Next() {
			var inc string
			o := &order{}
			if err := rows.Scan(&inc, &o.applied, &o.held); err != nil {
				rows.Close()
				return err
			}
			t.order[inc] = o
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("incident order: %w", err)
		}
	}
	return nil
}

// Sequenced implements workorder.Tx: it is written with the rest before
// commit.
func (t *Tx) Sequenced(ctx context.Context, incident string, applied, held int) error {
	o, ok := t.order[incident]
	if !ok {
		if _, _, err := t.Sequence(ctx, incident); err != nil {
			return err
		}
		o = t.order[incident]
	}
	o.applied, o.held, o.dirty = applied, held, true
	return nil
}

// flushOrder writes the transaction's changed order rows, locked since
// Sequence, in one statement.
func (t *Tx) flushOrder(ctx context.Context) error {
	var args []any
	now := micros(t.db.now())
	n := 0
	for _, inc := range slices.Sorted(maps.Keys(t.order)) {
		o := t.order[inc]
		if !o.dirty {
			continue
		}
		args = append(args, inc, o.applied, o.held, now)
		o.dirty = false
		n++
	}
	if n == 0 {
		return nil
	}
	write := Insert{Table: "incident_order", Columns: orderColumns, Rows: n, Conflict: cols("incident"), Update: cols("applied, held, at")}
	if _, err := t.tx.ExecContext(ctx, write.SQL(), args...); err != nil {
		return fmt.Errorf("incident order: %w", err)
	}
	return nil
}

// Hold implements workorder.Tx.
func (t *Tx) Hold(ctx context.Context, ev *rules.Event) error {
	data, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	hold := Insert{Table: "incident_held", Columns: cols("incident, seq, data, held_at"), Conflict: cols("incident, seq"), DoNothing: true}
	if _, err := t.tx.ExecContext(ctx, hold.SQL(), ev.Incident, ev.Seq, string(data), micros(t.db.now())); err != nil {
		return fmt.Errorf("hold: %w", err)
	}
	return nil
}

// Unhold implements workorder.Tx.
func (t *Tx) Unhold(ctx context.Context, incident string, seq int) (*rules.Event, error) {
	var data []byte
	err := t.tx.QueryRowContext(ctx, `DELETE FROM incident_held WHERE incident = $1 AND seq = $2 RETURNING data`, incident, seq).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("unhold: %w", err)
	}
	ev := &rules.Event{}
	if err := json.Unmarshal(data, ev); err != nil {
		return nil, fmt.Errorf("unhold %s-%d: %w", incident, seq, err)
	}
	return ev, nil
}

// Overdue lists, per incident, the first event held since before t: the
// ones whose predecessors are late beyond any redelivery.
func (db *DB) Overdue(ctx context.Context, before time.Time, limit int) ([]workorder.HeldEvent, error) {
	rows, err := db.read().QueryContext(ctx, `SELECT incident, min(seq), min(held_at) FROM incident_held
		GROUP BY incident HAVING min(held_at) < $1 ORDER BY min(held_at) LIMIT $2`, micros(before), limit)
	if err != nil {
		return nil, fmt.Errorf("%s: overdue: %w", db.Dialect.Name, err)
	}
	defer rows.Close()
	var out []workorder.HeldEvent
	for rows.Next() {
		var h workorder.HeldEvent
		var at int64
		if err := rows.Scan(&h.Incident, &h.Seq, &at); err != nil {
			return nil, err
		}
		h.HeldAt = time.UnixMicro(at).UTC()
		out = append(out, h)
	}
	return out, rows.Err()
}
