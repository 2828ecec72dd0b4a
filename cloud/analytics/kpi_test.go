package analytics_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/analytics"
	"github.com/frostline/frostline/cloud/sqlite"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// kpiStore is a store that answers KPI queries.
type kpiStore interface {
	store
	KPIs(ctx context.Context, q analytics.Query) (*analytics.Report, error)
}

func openSQLite(t testing.TB) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "kpi.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// nan marks a KPI that must be undefined (0/0, JSON null).
var nan = math.NaN()

const h = 1.0 / 60 // an hour's minute

// fixtureCases are the hand-computed answers for the fixture of
// fixture_test.go over [From, To) asked at Now. The arithmetic is in the
// comments; times are hours.
var fixtureCases = []struct {
	name  string
	q     analytics.Query
	group map[string]string // the row checked
	want  map[string]float64
}{
	{
		name: "all",
		q:    analytics.Query{Scope: cloud.Scope{All: true}},
		want: map[string]float64{
			// invoices first submitted in the period: A's, G's, B's (I's
			// in January); G's disputed. Approved in it: A's 24 h after
			// A's completion (03-02 14:20 to 03-03 14:20), G's 48 h
			// after G's (03-02 09:00 to 03-04 09:00).
			"invoices": 3, "invoice_dispute_rate": 1.0 / 3, "invoices_approved": 2, "invoice_cycle_hours": 36,
			// ratings given in the period: A's (not fixed, 2) and G's
			// (fixed, 5); I's in January.
			"ratings": 2, "store_rating": 3.5, "store_fixed_rate": 0.5,
			// created in the period: A B C D E F G (H is February's, I January's)
			"created": 7, "avoided": 1, "call_avoidance_rate": 1.0 / 7,
			// net of cancelled C and avoided D: A B E F G; verified: A G
			"completion_rate": 2.0 / 5,
			// WORK_COMPLETE in the period: A B G
			"completed": 3,
			// A recalled by F, B two visits, G one visit of an hour
			"first_time_fix_rate": 1.0 / 3,
			// none of A B G is itself a recall
			"recall_rate": 0, "recalls": 0,
			// cause, remedy and parts: A and G, not B
			"doc_completion": 2.0 / 3,
			// A 220 (100 part + 2 h x 60), B 0, G 130 (50 + 80)
			"cost_per_wo": 350.0 / 3, "cost_per_wo_nonzero": 350.0 / 2,
			// NTE on A (500, cost 220) and G (100, cost 130: over)
			"nte_overrun_rate": 0.5,
			// restored - first check-in: A 13:50-12:20 = 1.5 (sensor), B
			// 10:00-18:00 next day = 16 (completion), G 09:00-08:00 = 1
			"mttr_hours": (1.5 + 16 + 1) / 3,
			// restored - onset, corrective only: A 13:50-09:00 = 4 5/6,
			// B 03-04 10:00 - 03-03 07:00 = 27
			"time_to_restore_hours": (4 + 50*h + 27) / 2, "failures": 2,
			// accepted - dispatched: A 30 min, B 2 h, E 15 min, G 10 min
			"response_accept_hours": (0.5 + 2 + 0.25 + 10*h) / 4,
			// first on site - created: A 3 h 10, B 10 h, G 26 h
			"response_onsite_hours": (3 + 10*h + 10 + 26) / 3,
			// preventive G + condition-based B : corrective A E F
			"pm_ratio": 2.0 / 3,
			// by cost of the completed: (G 130 + B 0) : A 220
			"pm_ratio_cost": 130.0 / 220,
			// no preventive work order has a due time
			"pm_compliance": nan,
			// acknowledge: A, E, G met; B 1 h late
			"sla_ack": 3.0 / 4, "sla_ack_lateness_hours": 1,
			// arrive: A met; B 1 h late; G 17 h late (due 03-01 15:00);
			// E overdue, open: now - 03-06 12:05 = 83 h 55
			"sla_arrive": 1.0 / 4, "sla_arrive_lateness_hours": (1 + 17 + 83 + 55*h) / 3,
			// complete: A B G met; E overdue: now - 03-07 08:05 = 63 h 55
			"sla_complete": 3.0 / 4, "sla_complete_lateness_hours": 63 + 55*h,
			"sla_compliance": 7.0 / 12, "sla_lateness_hours": (1 + 1 + 17 + 83 + 55*h + 63 + 55*h) / 5,
			// open at the end (03-08): B (work complete, 4 d 16 h), E (1 d
			// 16 h), F (15 h), H (16 d)
			"backlog": 4, "backlog_age_0_2d": 2, "backlog_age_2_7d": 1, "backlog_age_7_30d": 1, "backlog_age_30d_plus": 0,
			"open_p1": 1, "open_p2": 2, "open_p3": 1, "open_p4": 0,
			// now: F new, H triaged; E accepted; B work complete
			"open_new": 2, "open_dispatched": 1, "open_in_progress": 0, "open_on_hold": 0, "open_verifying": 1,
			// incidents on the work orders created in the period: A B D E F
			"incidents": 5,
			// not grouped by asset: no MTBF
			"mtbf_hours": nan, "availability": nan,
		},
	},
	{
		name:  "by asset a1",
		q:     analytics.Query{Scope: cloud.Scope{All: true}, GroupBy: []analytics.Dimension{analytics.Site, analytics.Asset}},
		group: map[string]string{"site": "s1", "asset": "a1"},
		want: map[string]float64{
			// A, C, F created; A failed for 4 h 50 of the 168 h week
			"created": 3, "failures": 1,
			"mtbf_hours": 168 - 4 - 50*h, "availability": (168 - 4 - 50*h) / 168,
			"time_to_restore_hours": 4 + 50*h, "mttr_hours": 1.5,
		},
	},
	{
		name:  "by asset a2",
		q:     analytics.Query{Scope: cloud.Scope{All: true}, GroupBy: []analytics.Dimension{analytics.Site, analytics.Asset}},
		group: map[string]string{"site": "s1", "asset": "a2"},
		want:  map[string]float64{"mtbf_hours": 168 - 27, "availability": (168 - 27) / 168.0, "first_time_fix_rate": 0},
	},
	{
		name: "region south",
		q:    analytics.Query{Scope: cloud.Scope{All: true}, Filter: map[analytics.Dimension]string{analytics.Region: "south"}},
		want: map[string]float64{"created": 1, "backlog": 1, "open_p1": 1, "sla_ack": 1, "sla_arrive": 0, "completed": 0, "mttr_hours": nan},
	},
	{
		name:  "grouped by region",
		q:     analytics.Query{Scope: cloud.Scope{All: true}, GroupBy: []analytics.Dimension{analytics.Region}},
		group: map[string]string{"region": "north"},
		want:  map[string]float64{"created": 6, "completed": 3, "backlog": 3},
	},
	{
		name: "vendor v1 by its own scope",
		q:    analytics.Query{Scope: cloud.Scope{Vendor: "v1"}},
		want: map[string]float64{"created": 3, "completed": 3, "sla_ack": 2.0 / 3, "cost_per_wo": 350.0 / 3},
	},
	{
		name: "source preventive",
		q:    analytics.Query{Scope: cloud.Scope{All: true}, Filter: map[analytics.Dimension]string{analytics.Source: "preventive"}},
		want: map[string]float64{"created": 1, "pm_ratio": nan, "pm_compliance": nan, "completed": 1, "first_time_fix_rate": 1},
	},
	{
		name:  "priority P1 sliced",
		q:     analytics.Query{Scope: cloud.Scope{All: true}, GroupBy: []analytics.Dimension{analytics.Priority}},
		group: map[string]string{"priority": "P1"},
		want:  map[string]float64{"created": 1, "sla_complete_lateness_hours": 63 + 55*h},
	},
	{
		name: "a store sees only its site",
		q:    analytics.Query{Scope: cloud.Scope{Sites: []string{"s2"}}},
		want: map[string]float64{"created": 1, "invoices": 0, "invoice_dispute_rate": nan, "invoice_cycle_hours": nan,
			"ratings": 0, "store_rating": nan, "store_fixed_rate": nan},
	},
	{
		name:  "invoices by asset: G's at s1/a4, B's waiting at s1/a2",
		q:     analytics.Query{Scope: cloud.Scope{All: true}, GroupBy: []analytics.Dimension{analytics.Asset}},
		group: map[string]string{"asset": "a4"},
		want: map[string]float64{"invoices": 1, "invoice_dispute_rate": 1, "invoices_approved": 1, "invoice_cycle_hours": 48,
			"ratings": 1, "store_rating": 5, "store_fixed_rate": 1},
	},
	{
		name:  "an invoice waiting is counted, not yet timed",
		q:     analytics.Query{Scope: cloud.Scope{All: true}, GroupBy: []analytics.Dimension{analytics.Asset}},
		group: map[string]string{"asset": "a2"},
		want:  map[string]float64{"invoices": 1, "invoice_dispute_rate": 0, "invoices_approved": 0, "invoice_cycle_hours": nan},
	},
	{
		name: "a vendor's scope",
		q:    analytics.Query{Scope: cloud.Scope{Vendor: "v1"}},
		want: map[string]float64{"invoices": 3, "invoices_approved": 2, "invoice_cycle_hours": 36, "ratings": 2, "store_rating": 3.5},
	},
}

func TestFixture(t *testing.T) {
	db := openSQLite(t)
	loadFixture(t, db)
	checkFixture(t, db)
}

// checkFixture runs every fixture case against a loaded store.
func checkFixture(t *testing.T, db kpiStore) {
	ctx := context.Background()
	for _, tc := range fixtureCases {
		t.Run(tc.name, func(t *testing.T) {
			q := tc.q
			q.From, q.To, q.Now = From, To, Now
			rep, err := db.KPIs(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			row := findRow(rep, tc.group)
			if row == nil {
				t.Fatalf("no row %v in %d rows", tc.group, len(rep.Rows))
			}
			for name, want := range tc.want {
				got := row.Values[name]
				switch {
				case math.IsNaN(want):
					if got != nil {
						t.Errorf("%s = %v, want undefined", name, *got)
					}
				case got == nil:
					t.Errorf("%s undefined, want %v", name, want)
				case math.Abs(*got-want) > 1e-9:
					t.Errorf("%s = %v, want %v", name, *got, want)
				}
			}
		})
	}
}

func findRow(rep *analytics.Report, group map[string]string) *analytics.Row {
	for i := range rep.Rows {
		ok := true
		for k, v := range group {
			ok = ok && rep.Rows[i].Group[k] == v
		}
		if ok {
			return &rep.Rows[i]
		}
	}
	return nil
}

// TestGolden keeps whole reports (every KPI of every group) in
// testdata/<case>/want.json, so any change in a formula shows up as a diff
// to review; -update rewrites them.
func TestGolden(t *testing.T) {
	db := openSQLite(t)
	loadFixture(t, db)
	ctx := context.Background()
	cases := map[string]analytics.Query{
		"total":              {},
		"by_site":            {GroupBy: []analytics.Dimension{analytics.Site}},
		"by_asset":           {GroupBy: []analytics.Dimension{analytics.Site, analytics.Asset}},
		"by_vendor_priority": {GroupBy: []analytics.Dimension{analytics.Vendor, analytics.Priority}},
	}
	for name, q := range cases {
		t.Run(name, func(t *testing.T) {
			q.From, q.To, q.Now, q.Scope = From, To, Now, cloud.Scope{All: true}
			rep, err := db.KPIs(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.MarshalIndent(rep, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			file := filepath.Join("testdata", name, "want.json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(file, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("report differs from %s (-update to accept):\n%s", file, got)
			}
		})
	}
}
