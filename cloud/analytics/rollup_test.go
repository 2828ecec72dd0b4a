package analytics_test

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/analytics"
	"github.com/frostline/frostline/cloud/internal/sqldb"
	"github.com/frostline/frostline/cloud/postgres"
	"github.com/frostline/frostline/cloud/postgres/pgtest"
	cloudstore "github.com/frostline/frostline/cloud/store"
	"github.com/frostline/frostline/cloud/workorder"
)

// rollupStore is a store with its SQL exposed, for the rollup tests.
type rollupStore interface {
	kpiStore
	KPIsFromFacts(ctx context.Context, q analytics.Query) (*analytics.Report, error)
	RollupFacts(ctx context.Context, until time.Time) (int, error)
}

// rollupQueries are queries the rollup answers (whole days in them), with
// ragged ends so the facts fill in around the days.
func rollupQueries() []analytics.Query {
	var out []analytics.Query
	periods := [][2]string{
		{"2026-03-01 00:00", "2026-03-08 00:00"},
		{"2026-02-27 13:30", "2026-03-06 07:10"},
		{"2026-01-01 00:00", "2026-03-10 00:00"},
		{"2026-03-02 12:00", "2026-03-05 12:00"},
	}
	shapes := []analytics.Query{
		{Scope: cloud.Scope{All: true}},
		{Scope: cloud.Scope{All: true}, GroupBy: []analytics.Dimension{analytics.Region, analytics.Vendor}},
		{Scope: cloud.Scope{All: true}, GroupBy: []analytics.Dimension{analytics.Priority}, Filter: map[analytics.Dimension]string{analytics.Trade: "refrigeration"}},
		{Scope: cloud.Scope{Vendor: "v1"}, GroupBy: []analytics.Dimension{analytics.Source}},
		{Scope: cloud.Scope{All: true}, Filter: map[analytics.Dimension]string{analytics.Region: "north"}},
		{Scope: cloud.Scope{All: true}, Filter: map[analytics.Dimension]string{analytics.Priority: "P4"}}, // nothing
		// the rollup's rows by site
		{Scope: cloud.Scope{All: true}, GroupBy: []analytics.Dimension{analytics.Site}},
		{Scope: cloud.Scope{Sites: []string{"s1"}}},
		{Scope: cloud.Scope{Sites: []string{"s1", "s2"}}, GroupBy: []analytics.Dimension{analytics.Region}, Filter: map[analytics.Dimension]string{analytics.Site: "s2"}},
	}
	for _, p := range periods {
		for _, s := range shapes {
			s.From, s.To, s.Now = at(p[0]), at(p[1]), Now
			out = append(out, s)
		}
	}
	return out
}

// sameReports compares two reports KPI by KPI (sums in another order
// differ in the last bits).
func sameReports(t *testing.T, what string, got, want *analytics.Report) {
	t.Helper()
	if len(got.Rows) != len(want.Rows) {
		t.Fatalf("%s: %d rows, want %d", what, len(got.Rows), len(want.Rows))
	}
	for i := range want.Rows {
		g, w := got.Rows[i], want.Rows[i]
		if fmt.Sprint(g.Group) != fmt.Sprint(w.Group) {
			t.Fatalf("%s: row %d is %v, want %v", what, i, g.Group, w.Group)
		}
		for _, name := range analytics.Names {
			a, b := g.Values[name], w.Values[name]
			if (a == nil) != (b == nil) || (a != nil && math.Abs(*a-*b) > 1e-6*math.Max(1, math.Abs(*b))) {
				t.Errorf("%s %v %s: %v, want %v", what, w.Group, name, show(a), show(b))
			}
		}
	}
}

func show(v *float64) string {
	if v == nil {
		return "null"
	}
	return fmt.Sprint(*v)
}

func TestRollupSQLite(t *testing.T) {
	db := openSQLite(t)
	testRollup(t, db, db.DB)
}

func TestRollupPostgres(t *testing.T) {
	db, err := postgres.Open(context.Background(), pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	testRollup(t, db, db.DB)
}

func testRollup(t *testing.T, db rollupStore, raw *sqldb.DB) {
	ctx := context.Background()
	loadFixture(t, db)
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := raw.Writer.ExecContext(ctx, q, args...); err != nil {
			t.Fatal(err)
		}
	}
	compare := func(stage string) {
		t.Helper()
		for i, q := range rollupQueries() {
			got, err := db.KPIs(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			want, err := db.KPIsFromFacts(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			sameReports(t, fmt.Sprintf("%s, query %d", stage, i), got, want)
		}
	}
	n, err := db.RollupFacts(ctx, Now)
	if err != nil {
		t.Fatal(err)
	}
	if n < 60 { // 2 January to 9 March
		t.Fatalf("RollupFacts built %d days", n)
	}
	// Fresh writes are within the grace of the build: everything is
	// rebuilt as asked, so the answers agree.
	compare("built")
	// Pretend every write was long before the build: the rollup is used
	// as it stands. Corrupting it must show, or the test proves nothing.
	exec(`UPDATE wo_facts SET changed_at = 0`)
	exec(`DELETE FROM wo_facts_moves`)
	compare("clean")
	exec(`UPDATE wo_facts_daily SET a00 = a00 + 100`)
	q := rollupQueries()[0]
	got, err := db.KPIs(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if v := got.Rows[0].Values["created"]; v == nil || *v < 100 {
		t.Fatalf("created = %v with the rollup corrupted: the rollup was not read", show(v))
	}
	var bySite analytics.Query
	for _, q := range rollupQueries() {
		if len(q.GroupBy) == 1 && q.GroupBy[0] == analytics.Site {
			bySite = q
			break
		}
	}
	got, err = db.KPIs(ctx, bySite) // the site rows
	if err != nil {
		t.Fatal(err)
	}
	if v := got.Rows[0].Values["created"]; v == nil || *v < 100 {
		t.Fatalf("created by site = %v with the rollup corrupted: the site rows were not read", show(v))
	}
	// A changed work order makes its days stale: G (completed 2 March)
	// is reopened and completed again on 4 March; the builds are older
	// than the change.
	exec(`UPDATE wo_facts_rolled SET built_at = built_at - 3600000000`)
	reopenG(t, db)
	exec(`UPDATE wo_facts_daily SET a00 = a00 - 100`) // repair the days not rebuilt
	exec(`UPDATE wo_facts_rolled SET built_at = built_at - 3600000000`)
	compare("after a change")
	// The change moved G's completion off 2 March, which the rollup of 2
	// March must no longer count.
	rep, err := db.KPIs(ctx, analytics.Query{From: at("2026-03-02 00:00"), To: at("2026-03-03 00:00"), Now: Now, Scope: cloud.Scope{All: true}})
	if err != nil {
		t.Fatal(err)
	}
	if v := rep.Rows[0].Values["completed"]; v == nil || *v != 1 {
		t.Errorf("2 March completed = %v, want 1 (A only, G moved to 4 March)", show(v))
	}
}

// reopenG reopens G and completes it again on 4 March, as a store would
// record it.
func reopenG(t *testing.T, db store) {
	ctx := context.Background()
	err := db.Update(ctx, func(tx cloudstore.Tx) error {
		w, err := tx.WorkOrder(ctx, "G")
		if err != nil || w == nil {
			return fmt.Errorf("G: %v", err)
		}
		b := &wob{t: t, w: w}
		b.tr(workorder.Reopen, workorder.Reopened, "2026-03-03 12:00", func(e *workorder.Event) { e.Reason = "failed again" }).
			tr(workorder.Release, workorder.Ready, "2026-03-03 12:05").
			dispatch("v1", "2026-03-03 12:10", 100).tr(workorder.Accept, workorder.Accepted, "2026-03-03 12:20").
			checkIn("2026-03-04 08:00").
			complete("2026-03-04 09:00", w.Completion).tr(workorder.Verify, workorder.Verified, "2026-03-04 10:00")
		return tx.Save(ctx, b.w, b.evs)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestRollupConcurrentPostgres builds the rollup from two replicas at once
// (two stores on one database), as two cloud replicas' daily writers may:
// neither fails, and the answers are the facts'.
func TestRollupConcurrentPostgres(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	var dbs []*postgres.DB
	for range 2 {
		db, err := postgres.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		dbs = append(dbs, db)
	}
	loadFixture(t, dbs[0])
	for round := 0; round < 3; round++ {
		if _, err := dbs[0].Writer.ExecContext(ctx, `DELETE FROM wo_facts_rolled`); err != nil {
			t.Fatal(err)
		}
		errs := make(chan error, 2)
		for _, db := range dbs {
			go func() { _, err := db.RollupFacts(ctx, Now); errs <- err }()
		}
		for range dbs {
			if err := <-errs; err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
	}
	if _, err := dbs[0].Writer.ExecContext(ctx, `UPDATE wo_facts SET changed_at = 0`); err != nil {
		t.Fatal(err)
	}
	for i, q := range rollupQueries() {
		got, err := dbs[1].KPIs(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		want, err := dbs[1].KPIsFromFacts(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		sameReports(t, fmt.Sprintf("query %d", i), got, want)
	}
}
