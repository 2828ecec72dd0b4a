package pm_test

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/frostline/frostline/cloud/pm"
	"github.com/frostline/frostline/cloud/postgres"
	"github.com/frostline/frostline/cloud/postgres/pgtest"
)

// TestUsageWindows: the store's usage over any window (whole days from
// the daily sums, partial days from the samples) equals the sum of the
// samples in it, for single assets and in bulk; re-recording samples adds
// nothing.
func TestUsageWindows(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { usageWindows(t, openSQLite(t)) })
	t.Run("postgres", func(t *testing.T) {
		db, err := postgres.Open(context.Background(), pgtest.DSN(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		usageWindows(t, db)
	})
}

func usageWindows(t *testing.T, db store) {
	ctx := context.Background()
	bulk := db
	rng := rand.New(rand.NewPCG(1, 2))
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var samples []pm.Sample
	for i := range 24 * 40 { // 40 days of 20-minute periods, some missing
		if rng.IntN(10) == 0 {
			continue
		}
		at := t0.Add(time.Duration(i+1) * 20 * time.Minute)
		samples = append(samples, pm.Sample{Asset: "rack1", At: at, Hours: 1.0 / 3, RunHours: rng.Float64() / 3, Defrosts: rng.IntN(2)})
	}
	for _, half := range [][]pm.Sample{samples[:len(samples)/2], samples, samples[len(samples)/3:]} { // overlapping re-sends
		if err := db.RecordRuntime(ctx, "s1", half); err != nil {
			t.Fatal(err)
		}
	}
	for range 300 {
		since := t0.Add(time.Duration(rng.Int64N(int64(42 * 24 * time.Hour))))
		until := since.Add(time.Duration(rng.Int64N(int64(20 * 24 * time.Hour))))
		if rng.IntN(5) == 0 { // on day boundaries too
			since, until = since.Truncate(24*time.Hour), until.Truncate(24*time.Hour)
		}
		var want pm.Usage
		for _, s := range samples {
			if s.At.After(since) && !s.At.After(until) {
				want.Hours += s.Hours
				want.RunHours += s.RunHours
				want.Defrosts += s.Defrosts
			}
		}
		got, err := db.Usage(ctx, "s1", "rack1", since, until)
		if err != nil {
			t.Fatal(err)
		}
		all, err := bulk.UsageAll(ctx, "", since, until)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range []pm.Usage{got, all[[2]string{"s1", "rack1"}]} {
			if math.Abs(u.Hours-want.Hours) > 1e-6 || math.Abs(u.RunHours-want.RunHours) > 1e-6 || u.Defrosts != want.Defrosts {
				t.Fatalf("(%s, %s]: got %+v, want %+v", since, until, u, want)
			}
		}
	}
}
