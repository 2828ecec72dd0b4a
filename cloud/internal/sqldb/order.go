package sqldb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/frostline/frostline/cloud/workorder"
	"github.com/frostline/frostline/rules"
)

// Order within an incident (workorder/order.go): incident_order keeps each
// incident's last applied sequence, and is the row a transaction on the
// incident locks; incident_held keeps events that came before their turn.

// Sequence implements workorder.Tx. The upsert takes the row's lock on
// PostgreSQL (and, for a row another transaction is inserting, waits for
// it to commit and then reads what it committed), so two replicas'
// transactions on one incident run one after the other. SQLite has one
// writer: its transactions run one after the other anyway.
func (t *Tx) Sequence(ctx context.Context, incident string) (applied, held int, err error) {
	err = t.tx.QueryRowContext(ctx, `INSERT INTO incident_order (incident, applied, held, at) VALUES ($1, 0, 0, $2)
		ON CONFLICT (incident) DO UPDATE SET at = excluded.at RETURNING applied, held`, incident, micros(time.Now())).Scan(&applied, &held)
	if err != nil {
		return 0, 0, fmt.Errorf("incident order: %w", err)
	}
	return applied, held, nil
}

// Sequenced implements workorder.Tx.
func (t *Tx) Sequenced(ctx context.Context, incident string, applied, held int) error {
	if _, err := t.tx.ExecContext(ctx, `UPDATE incident_order SET applied = $2, held = $3 WHERE incident = $1`, incident, applied, held); err != nil {
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
	if _, err := t.tx.ExecContext(ctx, `INSERT INTO incident_held (incident, seq, data, held_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (incident, seq) DO NOTHING`, ev.Incident, ev.Seq, string(data), micros(time.Now())); err != nil {
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
	rows, err := db.Reader.QueryContext(ctx, `SELECT incident, min(seq), min(held_at) FROM incident_held
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
