package sqldb

import (
	"context"
	"fmt"
	"time"
)

// SeedHistory inserts work orders numbered from..to (inclusive) straight
// into the database, built by SQL from a series: a history of closed work
// orders over 500 sites, for benchmarks of the list queries at millions of
// rows. None is open, so the one-open-per-problem rule is untouched.
func (db *DB) SeedHistory(ctx context.Context, from, to int64) error {
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	n := "CAST(n AS TEXT)"
	mod := func(k int) string { return fmt.Sprintf("CAST(n %% %d AS TEXT)", k) }
	status := `CASE n % 10 WHEN 6 THEN 'verified' WHEN 7 THEN 'avoided' WHEN 8 THEN 'cancelled' WHEN 9 THEN 'duplicate' ELSE 'closed' END`
	priority := `'P' || CAST(n % 4 + 1 AS TEXT)`
	trade := `CASE n % 5 WHEN 0 THEN 'hvac' ELSE 'refrigeration' END`
	vendor := `CASE n % 3 WHEN 0 THEN 'coolco' WHEN 1 THEN 'frostfix' ELSE 'airco' END`
	source := `CASE n % 4 WHEN 0 THEN 'manual' ELSE 'sensor' END`
	created := fmt.Sprintf("(%d + n * 30000000)", base)
	data := `'{"id":"wo_s' || ` + n + ` || '","number":' || ` + n + ` || ',"site":"site-' || ` + mod(500) + ` || '","asset":"a' || ` + mod(20) +
		` || '","asset_class":"walk_in_cooler","source":"' || ` + source + ` || '","problem":"temp_high","family":"temperature","trade":"' || ` + trade +
		` || '","priority":"' || ` + priority + ` || '","status":"' || ` + status + ` || '","vendor":"' || ` + vendor +
		` || '","title":"temp high on a' || ` + mod(20) + ` || '","incidents":["inc-' || ` + n + ` || '"],"evidence":[{"incident":"inc-' || ` + n +
		` || '","seq":3,"event":"cleared","rule":"cooler_temp_high","problem":"temp_high","priority":"P2","metric":"air_temp","value":4.1,"peak":9.3,"limit":5,"out_of_range_s":2400,"occurrences":1,"at":"2025-06-01T10:00:00Z"}],"occurrences":1,"completion":{"problem":"temp_high","cause":"dirty_condenser","remedy":"cleaned_condenser","labour":[{"hours":1.5,"rate":95}]},"created_at":"2025-06-01T09:00:00Z","updated_at":"2025-06-02T09:00:00Z","version":9}'`
	q := `INSERT INTO workorders (id, number, site, asset, family, problem, source, trade, priority, status, vendor, technician,
		is_open, hold_until, verified_at, created_at, updated_at, version, data)
		SELECT 'wo_s' || ` + n + `, n, 'site-' || ` + mod(500) + `, 'a' || ` + mod(20) + `, 'temperature', 'temp_high', ` + source + `, ` + trade + `, ` +
		priority + `, ` + status + `, ` + vendor + `, '', 0, NULL, NULL, ` + created + `, ` + created + `, 9, ` + data +
		` FROM (` + db.Dialect.Series + `) AS s`
	const chunk = 100_000
	for lo := from; lo <= to; lo += chunk {
		hi := min(lo+chunk-1, to)
		if _, err := db.write().ExecContext(ctx, q, lo, hi); err != nil {
			return fmt.Errorf("%s: seed: %w", db.Dialect.Name, err)
		}
	}
	if _, err := db.write().ExecContext(ctx, db.Dialect.SetNumber, to); err != nil {
		return fmt.Errorf("%s: seed: %w", db.Dialect.Name, err)
	}
	// Fresh statistics, as autovacuum (PostgreSQL) or a periodic ANALYZE
	// (SQLite) would have after a load this size.
	if _, err := db.write().ExecContext(ctx, `ANALYZE workorders`); err != nil {
		return fmt.Errorf("%s: seed: %w", db.Dialect.Name, err)
	}
	return nil
}
