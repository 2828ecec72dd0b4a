package sqldb

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/frostline/frostline/edge/wire"
)

// PutWindow keeps the evidence window an incident event carried, for the
// chart of the work order its incident is attached to, inside the
// transaction that received the event. Per incident and event kind the
// newest sequence number wins: an older event arriving late does not
// replace a newer one.
func (t *Tx) PutWindow(ctx context.Context, inc *wire.Incident) error {
	if inc.Window == nil {
		return nil
	}
	data, err := json.Marshal(inc.Window)
	if err != nil {
		return fmt.Errorf("put window: %w", err)
	}
	put := Insert{Table: "wo_windows", Columns: cols("incident, event, site, asset, seq, at, data"),
		Conflict: cols("incident, event"), Update: cols("seq, at, data"), Where: "wo_windows.seq < excluded.seq"}
	_, err = t.tx.ExecContext(ctx, put.SQL(),
		inc.Incident, string(inc.Event.Event), inc.Site, inc.Asset, inc.Seq, micros(inc.At), string(data))
	if err != nil {
		return fmt.Errorf("put window: %w", err)
	}
	return nil
}

// Windows returns the evidence windows of incidents (a work order's),
// oldest event first.
func (db *DB) Windows(ctx context.Context, incidents []string) ([]*wire.Window, error) {
	var out []*wire.Window
	var at []int64
	for _, inc := range incidents {
		ws, ats, err := db.windows(ctx, `SELECT data, at FROM wo_windows WHERE incident = $1 ORDER BY at, seq`, inc)
		if err != nil {
			return nil, err
		}
		out, at = append(out, ws...), append(at, ats...)
	}
	idx := make([]int, len(out))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return at[idx[a]] < at[idx[b]] })
	sorted := make([]*wire.Window, len(out))
	for i, j := range idx {
		sorted[i] = out[j]
	}
	return sorted, nil
}

// AssetWindows returns the evidence windows of an asset's incident
// events from from to to, oldest first.
func (db *DB) AssetWindows(ctx context.Context, site, asset string, from, to time.Time) ([]*wire.Window, error) {
	ws, _, err := db.windows(ctx, `SELECT data, at FROM wo_windows WHERE site = $1 AND asset = $2 AND at >= $3 AND at < $4 ORDER BY at, seq`,
		site, asset, micros(from), micros(to))
	return ws, err
}

// windows runs a query of (data, at) rows.
func (db *DB) windows(ctx context.Context, query string, args ...any) ([]*wire.Window, []int64, error) {
	rows, err := db.read().QueryContext(ctx, query, args...)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: windows: %w", db.Dialect.Name, err)
	}
	defer rows.Close()
	var out []*wire.Window
	var ats []int64
	for rows.Next() {
		var data string
		var at int64
		if err := rows.Scan(&data, &at); err != nil {
			return nil, nil, fmt.Errorf("%s: windows: %w", db.Dialect.Name, err)
		}
		w := new(wire.Window)
		if err := json.Unmarshal([]byte(data), w); err != nil {
			return nil, nil, fmt.Errorf("%s: windows: %w", db.Dialect.Name, err)
		}
		out, ats = append(out, w), append(ats, at)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("%s: windows: %w", db.Dialect.Name, err)
	}
	return out, ats, nil
}
