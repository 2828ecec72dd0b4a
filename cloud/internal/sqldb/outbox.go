package sqldb

import (
	"context"
	"fmt"
	"time"

	"github.com/frostline/frostline/cloud/relay"
)

// Relay hands up to limit waiting messages, oldest first, to publish and
// deletes them if it succeeds, all in one transaction: a message leaves the
// outbox only once published. A crash after publishing and before commit
// publishes it again, with the same message id, which JetStream drops as
// a duplicate. Replicas on PostgreSQL skip each other's locked rows.
func (db *DB) Relay(ctx context.Context, limit int, publish func([]relay.Msg) error) (int, error) {
	tx, err := db.begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("%s: relay: %w", db.Dialect.Name, err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT id, subject, msg_id, data FROM outbox ORDER BY id LIMIT $1`+db.Dialect.SkipLocked, limit)
	if err != nil {
		return 0, fmt.Errorf("%s: relay: %w", db.Dialect.Name, err)
	}
	var msgs []relay.Msg
	for rows.Next() {
		var m relay.Msg
		if err := rows.Scan(&m.ID, &m.Subject, &m.MsgID, &m.Data); err != nil {
			rows.Close()
			return 0, err
		}
		msgs = append(msgs, m)
	}
	if err := rows.Close(); err != nil {
		return 0, err
	}
	if len(msgs) == 0 {
		return 0, nil
	}
	if err := publish(msgs); err != nil {
		return 0, err
	}
	ids := make([]any, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ID
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE id IN (`+placeholders(1, len(ids))+`)`, ids...); err != nil {
		return 0, fmt.Errorf("%s: relay: %w", db.Dialect.Name, err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("%s: relay: %w", db.Dialect.Name, err)
	}
	return len(msgs), nil
}

// PruneClaims forgets processed message ids recorded before t. Redeliveries
// come within the stream's retention, so ids older than it can go; this
// keeps the table from growing without bound under sustained intake.
func (db *DB) PruneClaims(ctx context.Context, before time.Time) (int64, error) {
	res, err := db.write().ExecContext(ctx, `DELETE FROM processed WHERE at < $1`, micros(before))
	if err != nil {
		return 0, fmt.Errorf("%s: prune: %w", db.Dialect.Name, err)
	}
	// Incidents untouched as long: their order rows go too, unless events
	// wait on them. A later event of such an incident finds its work order
	// and is in turn (workorder/order.go).
	if _, err := db.write().ExecContext(ctx, `DELETE FROM incident_order WHERE at < $1 AND held = 0`, micros(before)); err != nil {
		return 0, fmt.Errorf("%s: prune: %w", db.Dialect.Name, err)
	}
	return res.RowsAffected()
}
