package sla_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/frostline/frostline/cloud/sla"
	"github.com/frostline/frostline/cloud/sqlite"
	cloudstore "github.com/frostline/frostline/cloud/store"
)

// BenchmarkSweeperSQLite100k is the service's SLA sweep as it runs, over
// 100,000 work orders with a vendor in a real SQLite store: list them,
// find the clocks unchanged since the last sweep, sweep the clocks. The
// first sweep, which builds every clock from its events, is reported
// separately as build-s.
func BenchmarkSweeperSQLite100k(b *testing.B) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "sla.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	const n = 100_000
	at := "2026-11-26T14:00:00Z"
	id := `'wo_b' || CAST(n AS TEXT)`
	ev := func(version int, body string) string {
		return `INSERT INTO wo_events (wo, version, at, data) SELECT ` + id + `, ` + itoa(version) + `, 0, '{"work_order":"' || ` + id +
			` || '","version":` + itoa(version) + `,"at":"` + at + `",` + body + `}' FROM (` + db.Dialect.Series + `) AS s`
	}
	for _, q := range []string{
		`INSERT INTO workorders (id, number, site, asset, family, problem, source, trade, priority, status, vendor, technician,
			is_open, created_at, updated_at, version, data)
			SELECT ` + id + `, n, 's1', 'a' || CAST(n AS TEXT), 'temperature', 'temp_high', 'sensor', 'refrigeration', 'P2', 'dispatched', 'v1', '',
			1, 0, 0, 4, '{"id":"' || ` + id + ` || '","number":' || CAST(n AS TEXT) || ',"site":"s1","status":"dispatched","vendor":"v1","version":4}'
			FROM (` + db.Dialect.Series + `) AS s`,
		ev(1, `"kind":"created","actor":"sensor","opening":{"id":"' || `+id+` || '","number":' || CAST(n AS TEXT) || ',"site":"s1","asset":"a","source":"sensor","problem":"temp_high","trade":"refrigeration","priority":"P2"}`),
		ev(2, `"kind":"transition","action":"triage","from":"new","to":"triaged","actor":"system"`),
		ev(3, `"kind":"transition","action":"release","from":"triaged","to":"ready","actor":"system"`),
		ev(4, `"kind":"transition","action":"dispatch","from":"ready","to":"dispatched","actor":"system","vendor":"v1"`),
	} {
		if _, err := db.Writer.ExecContext(ctx, q, 1, n); err != nil {
			b.Fatal(err)
		}
	}
	// A minute after dispatch nothing is due yet: the steady state.
	now := time.Date(2026, 11, 26, 14, 1, 0, 0, time.UTC)
	s := &sla.Sweeper[cloudstore.Tx]{Store: db, Policy: sla.DefaultPolicy(), Now: func() time.Time { return now },
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), M: sla.NewSweepMetrics(nil)}
	began := time.Now()
	if _, err := s.Sweep(ctx); err != nil {
		b.Fatal(err)
	}
	build := time.Since(began)
	began = time.Now()
	if _, err := db.Assigned(ctx); err != nil {
		b.Fatal(err)
	}
	list := time.Since(began)
	for b.Loop() {
		if k, err := s.Sweep(ctx); err != nil || k != 0 {
			b.Fatalf("%d actions, %v", k, err)
		}
	}
	b.ReportMetric(build.Seconds(), "build-s")
	b.ReportMetric(float64(list.Milliseconds()), "list-ms")
	b.ReportMetric(float64(n), "work-orders")
}

func itoa(i int) string { return string(rune('0' + i)) }
