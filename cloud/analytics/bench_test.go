package analytics_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/analytics"
	"github.com/frostline/frostline/cloud/postgres"
	"github.com/frostline/frostline/cloud/postgres/pgtest"
	"github.com/frostline/frostline/cloud/sqlite"
)

type seeder interface {
	kpiStore
	SeedFacts(ctx context.Context, from, to int64) error
	RollupFacts(ctx context.Context, until time.Time) (int, error)
}

// seeded keeps each store's seeded database across the runs of one
// benchmark (the testing package calls it with b.N = 1 first): seeding a
// million rows takes far longer than the queries.
var seeded = map[string]seeder{}

func BenchmarkKPIsSQLite(b *testing.B) {
	benchKPIs(b, "sqlite", func() seeder {
		db, err := sqlite.Open(context.Background(), filepath.Join(benchDir(b), "bench.db"))
		if err != nil {
			b.Fatal(err)
		}
		return db
	})
}

func BenchmarkKPIsPostgres(b *testing.B) {
	benchKPIs(b, "postgres", func() seeder {
		db, err := postgres.Open(context.Background(), pgtest.DSN(b))
		if err != nil {
			b.Fatal(err)
		}
		return db
	})
}

// benchDirs are directories that outlive one run of a benchmark
// (b.TempDir is removed after each); TestMain removes them at exit.
var benchDirs []string

func benchDir(b *testing.B) string {
	dir, err := os.MkdirTemp("", "frostline-kpi-bench-")
	if err != nil {
		b.Fatal(err)
	}
	benchDirs = append(benchDirs, dir)
	return dir
}

// benchKPIs seeds n work orders' facts (FROSTLINE_BENCH_WORKORDERS,
// default 1,000,000: a year, one every 30 s, over 500 sites in 10
// regions) and runs a mix of KPI queries as the API and the daily writer
// ask them, reporting p50 and p99 latency over the mix and the p99 of
// each query.
func benchKPIs(b *testing.B, name string, open func() seeder) {
	ctx := context.Background()
	n := int64(1_000_000)
	if v, err := strconv.ParseInt(os.Getenv("FROSTLINE_BENCH_WORKORDERS"), 10, 64); err == nil && v > 0 {
		n = v
	}
	db, ok := seeded[name]
	if !ok {
		db = open()
		start := time.Now()
		if err := db.SeedFacts(ctx, 1, n); err != nil {
			b.Fatal(err)
		}
		b.Logf("seeded %d work orders' facts in %s", n, time.Since(start).Round(time.Second))
		start = time.Now()
		days, err := db.RollupFacts(ctx, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(n)*30*time.Second+time.Hour))
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("rolled up %d days in %s", days, time.Since(start).Round(time.Second))
		seeded[name] = db
	}
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	end := base.Add(time.Duration(n) * 30 * time.Second)
	now := end.Add(time.Hour)
	day := end.Truncate(24 * time.Hour).Add(-24 * time.Hour)
	month := end.AddDate(0, -1, 0)
	quarter := end.AddDate(0, -3, 0)
	year := end.AddDate(-1, 0, 0)
	all := cloud.Scope{All: true}
	f := func(kv ...string) map[analytics.Dimension]string {
		m := map[analytics.Dimension]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[analytics.Dimension(kv[i])] = kv[i+1]
		}
		return m
	}
	g := func(ds ...analytics.Dimension) []analytics.Dimension { return ds }
	queries := []struct {
		name string
		q    analytics.Query
	}{
		{"last 30 days", analytics.Query{From: month, To: now, Scope: all}},
		{"quarter by vendor", analytics.Query{From: quarter, To: now, Scope: all, GroupBy: g(analytics.Vendor)}},
		{"month, one site", analytics.Query{From: month, To: now, Scope: all, Filter: f("site", "site-42")}},
		{"month, one region", analytics.Query{From: month, To: now, Scope: all, Filter: f("region", "r3")}},
		{"month by site", analytics.Query{From: month, To: now, Scope: all, GroupBy: g(analytics.Site)}},
		{"month, vendor's own", analytics.Query{From: month, To: now, Scope: cloud.Scope{Vendor: "coolco"}}},
		{"quarter, P2 sensor", analytics.Query{From: quarter, To: now, Scope: all, Filter: f("priority", "P2", "source", "sensor")}},
		{"quarter, hvac by asset class", analytics.Query{From: quarter, To: now, Scope: all, Filter: f("trade", "hvac"), GroupBy: g(analytics.AssetClass)}},
		{"day by site (daily writer)", analytics.Query{From: day, To: day.Add(24 * time.Hour), Scope: all, GroupBy: g(analytics.Site)}},
		{"day by site and asset (daily writer)", analytics.Query{From: day, To: day.Add(24 * time.Hour), Scope: all, GroupBy: g(analytics.Site, analytics.Asset)}},
		{"year, a store's 3 sites", analytics.Query{From: year, To: now, Scope: cloud.Scope{Sites: []string{"site-3", "site-77", "site-401"}}}},
		{"year, region by priority", analytics.Query{From: year, To: now, Scope: all, Filter: f("region", "r7"), GroupBy: g(analytics.Priority)}},
		{"year, whole history, no filter", analytics.Query{From: year, To: now, Scope: all}},
	}
	lat := make([]time.Duration, 0, b.N)
	per := make([][]time.Duration, len(queries))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := i % len(queries)
		q := queries[k].q
		q.Now = now
		t0 := time.Now()
		rep, err := db.KPIs(ctx, q)
		d := time.Since(t0)
		if err != nil {
			b.Fatal(err)
		}
		if len(rep.Rows) == 0 {
			b.Fatalf("%s: no rows", queries[k].name)
		}
		lat = append(lat, d)
		per[k] = append(per[k], d)
	}
	b.StopTimer()
	pct := func(ds []time.Duration, p float64) time.Duration {
		if len(ds) == 0 {
			return 0
		}
		s := slices.Clone(ds)
		slices.Sort(s)
		return s[min(len(s)-1, int(float64(len(s))*p))]
	}
	b.ReportMetric(float64(pct(lat, 0.5).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(pct(lat, 0.99).Microseconds())/1000, "p99-ms")
	for k, q := range queries {
		b.Logf("%-40s runs %4d  p50 %7.1f ms  p99 %7.1f ms", q.name, len(per[k]),
			float64(pct(per[k], 0.5).Microseconds())/1000, float64(pct(per[k], 0.99).Microseconds())/1000)
	}
}
