package analytics_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/analytics"
	"github.com/frostline/frostline/cloud/internal/sqldb"
	"github.com/frostline/frostline/cloud/postgres"
	"github.com/frostline/frostline/cloud/postgres/pgtest"
	"github.com/frostline/frostline/cloud/sqlite"
	cloudstore "github.com/frostline/frostline/cloud/store"
	"github.com/frostline/frostline/cloud/workorder"
)

func TestMain(m *testing.M) {
	code := pgtest.Main(m)
	for _, dir := range benchDirs {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

// TestFixturePostgres runs the hand-computed fixture on PostgreSQL: the
// same SQL must give the same answers on both stores.
func TestFixturePostgres(t *testing.T) {
	db, err := postgres.Open(context.Background(), pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	loadFixture(t, db)
	checkFixture(t, db)
}

// forget drops every facts row and the backfill's mark, as a database
// from before the facts existed would be after migrations 0010 and 0011.
func forget(t *testing.T, db *sqldb.DB) {
	t.Helper()
	for _, q := range []string{`DELETE FROM wo_facts`, `UPDATE wo_facts_backfill SET done = 0`} {
		if _, err := db.Writer.ExecContext(context.Background(), q); err != nil {
			t.Fatal(err)
		}
	}
}

func report(t *testing.T, db kpiStore) string {
	t.Helper()
	rep, err := db.KPIs(context.Background(), analytics.Query{From: From, To: To, Now: Now, Scope: cloud.Scope{All: true},
		GroupBy: []analytics.Dimension{analytics.Site, analytics.Asset}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestBackfillOnOpen: work orders saved before the facts existed get them
// when the database is next opened (migrate), from their events, and the
// KPIs come out as if the facts had been kept all along.
func TestBackfillOnOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	loadFixture(t, db)
	want := report(t, db)
	wantRows := factsRows(t, db.DB)
	forget(t, db.DB)
	if got := report(t, db); got == want {
		t.Fatal("forgetting the facts changed nothing: the test proves nothing")
	}
	db.Close()
	db, err = sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got := report(t, db); got != want {
		t.Errorf("after backfill:\n%s\nwant:\n%s", got, want)
	}
	// Row for row: the facts kept step by step by Save (evidence updates
	// in place, work orders never sent computed from their projection)
	// are those computed from each whole history.
	if got := factsRows(t, db.DB); got != wantRows {
		t.Errorf("facts kept by Save differ from the backfill's:\n%s\nbackfill:\n%s", wantRows, got)
	}
	checkFixture(t, db)
	// Done once: a second open does not scan again, and an explicit
	// backfill finds nothing to fill.
	if n, err := db.BackfillFacts(context.Background()); err != nil || n != 0 {
		t.Errorf("BackfillFacts after backfill = %d, %v; want 0, nil", n, err)
	}
}

func TestBackfillPostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	db, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	loadFixture(t, db)
	want := report(t, db)
	wantRows := factsRows(t, db.DB)
	forget(t, db.DB)
	n, err := db.BackfillFacts(context.Background())
	if err != nil || n != 9 {
		t.Fatalf("BackfillFacts = %d, %v; want 9 work orders", n, err)
	}
	if got := report(t, db); got != want {
		t.Errorf("after backfill:\n%s\nwant:\n%s", got, want)
	}
	if got := factsRows(t, db.DB); got != wantRows {
		t.Errorf("facts kept by Save differ from the backfill's:\n%s\nbackfill:\n%s", wantRows, got)
	}
	db.Close()
	// Reopening (migrate with the mark set) leaves the facts alone.
	db, err = postgres.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got := report(t, db); got != want {
		t.Errorf("after reopen:\n%s\nwant:\n%s", got, want)
	}
}

// factsRows dumps every facts row but its write time, in work-order order.
func factsRows(t *testing.T, db *sqldb.DB) string {
	t.Helper()
	rows, err := db.Reader.Query(`SELECT * FROM wo_facts ORDER BY wo`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for i, c := range cols {
			if c != "changed_at" {
				fmt.Fprintf(&out, "%s=%v ", c, vals[i])
			}
		}
		out.WriteString("\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// TestFactsInOneTransaction: several saves of one work order in one
// transaction (as an intake batch makes them: opened, then cleared, then
// avoided) leave the same facts as its whole history.
func TestFactsInOneTransaction(t *testing.T) {
	ctx := context.Background()
	db := openSQLite(t)
	b := newWO(t, "T", "s1", "a1", workorder.Sensor, "temp_trend", "P3", "2026-03-02 09:00").
		incident("iT", "opened", "2026-03-02 08:50", "2026-03-02 09:00",
			func(e *workorder.Evidence) { e.PredictedAt = ptr(at("2026-03-02 15:00")) })
	err := db.Update(ctx, func(tx cloudstore.Tx) error {
		if err := tx.Save(ctx, b.w, b.evs); err != nil {
			return err
		}
		n := len(b.evs)
		b.incident("iT", "updated", "2026-03-02 08:50", "2026-03-02 09:05")
		if err := tx.Save(ctx, b.w, b.evs[n:]); err != nil {
			return err
		}
		n = len(b.evs)
		b.incident("iT", "cleared", "2026-03-02 08:50", "2026-03-02 09:20")
		if err := tx.Save(ctx, b.w, b.evs[n:]); err != nil {
			return err
		}
		n = len(b.evs)
		b.tr(workorder.Triage, workorder.Triaged, "2026-03-02 09:20").tr(workorder.Avoid, workorder.Avoided, "2026-03-02 09:25")
		return tx.Save(ctx, b.w, b.evs[n:])
	})
	if err != nil {
		t.Fatal(err)
	}
	want := factsRows(t, db.DB)
	if !strings.Contains(want, "status=avoided") || !strings.Contains(want, "cond=1") {
		t.Fatalf("facts: %s", want)
	}
	forget(t, db.DB)
	if _, err := db.BackfillFacts(ctx); err != nil {
		t.Fatal(err)
	}
	if got := factsRows(t, db.DB); got != want {
		t.Errorf("kept in one transaction:\n%s\nfrom the history:\n%s", want, got)
	}
}
