package analytics_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/analytics"
	"github.com/frostline/frostline/cloud/internal/sqldb"
	"github.com/frostline/frostline/cloud/postgres"
	"github.com/frostline/frostline/cloud/postgres/pgtest"
	"github.com/frostline/frostline/cloud/sqlite"
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
	forget(t, db.DB)
	n, err := db.BackfillFacts(context.Background())
	if err != nil || n != 9 {
		t.Fatalf("BackfillFacts = %d, %v; want 9 work orders", n, err)
	}
	if got := report(t, db); got != want {
		t.Errorf("after backfill:\n%s\nwant:\n%s", got, want)
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
