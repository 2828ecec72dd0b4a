package sqldb

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/frostline/frostline/edge/wire"
)

// PutWindow keeps the evidence window an incident event carried, for the
// chart of the work order it went to, inside the transaction that
// attached the event. Per incident and event kind the newest sequence
// number wins: an older event arriving late does not replace a newer one.
func (t *Tx) PutWindow(ctx context.Context, workOrder string, inc *wire.Incident) error {
	if inc.Window == nil {
		return nil
	}
	data, err := json.Marshal(inc.Window)
	if err != nil {
		return fmt.Errorf("put window: %w", err)
	}
	_, err = t.tx.ExecContext(ctx, `INSERT INTO wo_windows (incident, event, wo, site, asset, seq, at, data)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (incident, event) DO UPDATE SET wo = excluded.wo, seq = excluded.seq, at = excluded.at, data = excluded.data
		WHERE wo_windows.seq < excluded.seq`,
		inc.Incident, string(inc.Event.Event), workOrder, inc.Site, inc.Asset, inc.Seq, micros(inc.At), string(data))
	if err != nil {
		return fmt.Errorf("put window: %w", err)
	}
	return nil
}

// Windows returns the evidence windows of a work order's incidents,
// oldest event first.
func (db *DB) Windows(ctx context.Context, workOrder string) ([]*wire.Window, error) {
	return db.windows(ctx, `SELECT data FROM wo_windows WHERE wo = $1 ORDER BY at, seq`, workOrder)
}

// AssetWindows returns the evidence windows of an asset's incident
// events from from to to, oldest first.
func (db *DB) AssetWindows(ctx context.Context, site, asset string, from, to time.Time) ([]*wire.Window, error) {
	return db.windows(ctx, `SELECT data FROM wo_windows WHERE site = $1 AND asset = $2 AND at >= $3 AND at < $4 ORDER BY at, seq`,
		site, asset, micros(from), micros(to))
}

func (db *DB) windows(ctx context.Context, query string, args ...any) ([]*wire.Window, error) {
	rows, err := db.Reader.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: windows: %w", db.Dialect.Name, err)
	}
	defer rows.Close()
	var out []*wire.Window
	for rows.Next() {
		var data string
		if err := rows.Scan(&data); err != nil {
			return nil, fmt.Errorf("%s: windows: %w", db.Dialect.Name, err)
		}
		w := new(wire.Window)
		if err := json.Unmarshal([]byte(data), w); err != nil {
			return nil, fmt.Errorf("%s: windows: %w", db.Dialect.Name, err)
		}
		out = append(out, w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: windows: %w", db.Dialect.Name, err)
	}
	return out, nil
}
