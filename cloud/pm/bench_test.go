//go:build unix

package pm_test

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/pm"
	"github.com/frostline/frostline/cloud/sqlite"
)

// benchSites seeds sites sites, each with 20 assets and 20 schedules: 12
// for single assets (monthly, weekly, quarterly rules), 6 for an asset
// class at the site, and 2 every 2,000 run-hours on its racks, whose
// counters hold a week of hourly samples. Every site closes on Sundays.
func benchSites(b *testing.B, sites int) store {
	b.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	ctx := context.Background()
	classes := []string{"walk_in_cooler", "walk_in_freezer", "display_case_mt", "display_case_lt", "compressor_rack", "rooftop_unit"}
	rules := []string{"FREQ=MONTHLY;INTERVAL=1", "FREQ=WEEKLY;BYDAY=TU", "FREQ=MONTHLY;INTERVAL=3;BYMONTHDAY=1", "FREQ=YEARLY;BYMONTH=4,10;BYDAY=1MO"}
	start := time.Date(2026, 1, 1, 7, 0, 0, 0, time.UTC)
	now := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	for i := range sites {
		site := fmt.Sprintf("site-%04d", i)
		if err := db.PutSite(ctx, &cloud.Site{ID: site}); err != nil {
			b.Fatal(err)
		}
		cal := &pm.StoreCalendar{Site: site, ClosedWeekdays: []string{"sun"}}
		if err := cal.Compile(); err != nil {
			b.Fatal(err)
		}
		if err := db.PutPMCalendar(ctx, cal); err != nil {
			b.Fatal(err)
		}
		for a := range 20 {
			asset := cloud.Asset{Site: site, ID: fmt.Sprintf("a%02d", a), Class: classes[a%len(classes)]}
			if err := db.PutAsset(ctx, &asset); err != nil {
				b.Fatal(err)
			}
		}
		put := func(s *pm.Schedule) {
			s.Start, s.LeadTime, s.Template = start, pm.Duration(72*time.Hour), pm.Template{Trade: "refrigeration"}
			if err := s.Validate(); err != nil {
				b.Fatal(err)
			}
			if err := db.PutPMSchedule(ctx, s, 0); err != nil {
				b.Fatal(err)
			}
		}
		for k := range 12 {
			put(&pm.Schedule{ID: fmt.Sprintf("%s-a%d", site, k), Name: "asset", Site: site, Asset: fmt.Sprintf("a%02d", k), RRule: rules[k%len(rules)]})
		}
		for k := range 6 {
			put(&pm.Schedule{ID: fmt.Sprintf("%s-c%d", site, k), Name: "class", Site: site, AssetClass: classes[k], RRule: rules[k%len(rules)]})
		}
		racks := []string{"a04", "a10"} // compressor_rack
		var samples []pm.Sample
		for k, rack := range racks {
			put(&pm.Schedule{ID: fmt.Sprintf("%s-r%d", site, k), Name: "runtime", Site: site, Asset: rack, RuntimeHours: 2000})
			for h := range 24 * 7 {
				samples = append(samples, pm.Sample{Asset: rack, At: now.Add(-time.Duration(h) * time.Hour), Hours: 1, RunHours: 0.6})
			}
		}
		if err := db.RecordRuntime(ctx, site, samples); err != nil {
			b.Fatal(err)
		}
	}
	return db
}

// BenchmarkForecast: a year's forecast over 1,000 sites x 20 schedules,
// for every site at once and for one site.
func BenchmarkForecast(b *testing.B) {
	db := benchSites(b, 1000)
	ctx := context.Background()
	now := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	from, to := now, now.AddDate(1, 0, 0)
	for _, site := range []string{"", "site-0500"} {
		name := "all-sites"
		if site != "" {
			name = "one-site"
		}
		b.Run(name, func(b *testing.B) {
			var n, ops int
			cpu0 := processCPU()
			for b.Loop() {
				items, err := pm.Forecast(ctx, db, site, from, to, now)
				if err != nil {
					b.Fatal(err)
				}
				n, ops = len(items), ops+1
			}
			if n == 0 {
				b.Fatal("nothing forecast")
			}
			b.ReportMetric(float64(n), "visits")
			// The machine is shared: CPU time (all threads, GC included)
			// is the figure that does not depend on the neighbours.
			b.ReportMetric(float64((processCPU()-cpu0).Milliseconds())/float64(ops), "cpu-ms/op")
		})
	}
}

// processCPU is the CPU time (user and system) the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
