package pm_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/frostline/frostline/cloud/pm"
	"github.com/frostline/frostline/cloud/postgres"
	"github.com/frostline/frostline/cloud/postgres/pgtest"
	cloudstore "github.com/frostline/frostline/cloud/store"
	"github.com/frostline/frostline/cloud/workorder"
)

// TestReplicasNeverDoubleGenerate runs two generators, each with its own
// connection pool (two cloud replicas), on one real PostgreSQL, ticking
// concurrently over a simulated year with the same clock: every visit is
// opened exactly once, and the two together open what one would.
func TestReplicasNeverDoubleGenerate(t *testing.T) {
	dsn := pgtest.DSN(t)
	ctx := context.Background()
	open := func() *postgres.DB {
		db, err := postgres.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	a, b := open(), open()
	seed(t, a)
	// Weekly on every cooler and case of both sites, monthly on one asset:
	// many visits, several per tick.
	for _, js := range []string{
		`{"id":"w","name":"Weekly","asset_class":"walk_in_cooler","rrule":"FREQ=WEEKLY;BYDAY=MO,TH","start":"2026-01-01T07:00:00Z","lead_time":"2d","template":{"trade":"refrigeration"}}`,
		`{"id":"c","name":"Cases","site":"s1","asset_class":"display_case_mt","rrule":"FREQ=DAILY;INTERVAL=3","start":"2026-01-01T07:00:00Z","lead_time":"1d","template":{"trade":"refrigeration"}}`,
		`{"id":"m","name":"Monthly","site":"s1","asset":"rtu1","rrule":"FREQ=MONTHLY;BYMONTHDAY=-1","start":"2026-01-01T07:00:00Z","lead_time":"7d","template":{"trade":"hvac"}}`,
	} {
		s, err := pm.ParseSchedule([]byte(js))
		if err != nil {
			t.Fatal(err)
		}
		if err := a.PutPMSchedule(ctx, s, 0); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex // guards now: both generators read the shared clock
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := pm.Config{Every: 12 * time.Hour, Grace: 24 * time.Hour}
	in := &workorder.Intake[cloudstore.Tx]{Policy: workorder.DefaultPolicy()}
	ga, gb := pm.NewGenerator(a, in, cfg, quiet, nil), pm.NewGenerator(b, in, cfg, quiet, nil)
	ga.Now, gb.Now = clock, clock
	end := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	var na, nb int
	for clock().Before(end) {
		var wg sync.WaitGroup
		var ea, eb error
		var xa, xb int
		wg.Add(2)
		go func() { defer wg.Done(); xa, ea = ga.Tick(ctx) }()
		go func() { defer wg.Done(); xb, eb = gb.Tick(ctx) }()
		wg.Wait()
		if ea != nil || eb != nil {
			t.Fatalf("at %s: %v / %v", clock(), ea, eb)
		}
		na, nb = na+xa, nb+xb
		mu.Lock()
		now = now.Add(cfg.Every)
		mu.Unlock()
	}
	var count, distinct int
	if err := a.Reader.QueryRowContext(ctx, `SELECT count(*), count(DISTINCT data::jsonb->'plan'->>'schedule' || site || asset || (data::jsonb->'plan'->>'occurrence'))
		FROM workorders WHERE source = 'preventive'`).Scan(&count, &distinct); err != nil {
		t.Fatal(err)
	}
	var occs, bound int
	if err := a.Reader.QueryRowContext(ctx, `SELECT count(*), count(*) FILTER (WHERE wo <> '') FROM pm_occurrences`).Scan(&occs, &bound); err != nil {
		t.Fatal(err)
	}
	if count == 0 {
		t.Fatal("nothing generated")
	}
	if count != distinct || count != occs || occs != bound {
		t.Fatalf("%d work orders, %d distinct visits, %d occurrences (%d bound): a visit was generated twice", count, distinct, occs, bound)
	}
	if na+nb != count {
		t.Fatalf("generators report %d + %d opened, the store has %d", na, nb, count)
	}
	if na == 0 || nb == 0 {
		t.Logf("one replica opened everything (%d, %d): the race was not exercised this run", na, nb)
	}
	// One generator alone, on a fresh database, opens the same number.
	single := pgtest.DSN(t)
	c, err := postgres.Open(ctx, single)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	seed(t, c)
	scheds, err := a.PMSchedules(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range scheds {
		if err := c.PutPMSchedule(ctx, s, 0); err != nil {
			t.Fatal(err)
		}
	}
	gc := pm.NewGenerator(c, in, cfg, quiet, nil)
	solo := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	gc.Now = func() time.Time { return solo }
	n := 0
	for ; solo.Before(end); solo = solo.Add(cfg.Every) {
		x, err := gc.Tick(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n += x
	}
	if n != count {
		t.Fatalf("two replicas opened %d work orders, one alone opens %d", count, n)
	}
	t.Logf("two replicas: %d + %d = %d work orders over the year, none twice", na, nb, count)
}

// TestGeneratorRunStops: Run generates on its ticker and returns when its
// context is cancelled, leaving no goroutine behind.
func TestGeneratorRunStops(t *testing.T) {
	db := openSQLite(t)
	ctx, cancel := context.WithCancel(context.Background())
	s, err := pm.ParseSchedule([]byte(`{"id":"d","name":"Daily","site":"s1","asset":"wic1","rrule":"FREQ=DAILY","start":"2026-01-01T07:00:00Z","lead_time":"1d","template":{"trade":"refrigeration"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.PutPMSchedule(ctx, s, 0); err != nil {
		t.Fatal(err)
	}
	g := pm.NewGenerator(db, &workorder.Intake[cloudstore.Tx]{Policy: workorder.DefaultPolicy()}, pm.Config{Every: 10 * time.Millisecond, Grace: time.Hour},
		slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	g.Now = func() time.Time { return time.Date(2026, 3, 1, 6, 0, 0, 0, time.UTC) }
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for len(generated(t, db)) < 1 { // 1 March, due at 07:00, within the day's lead
		if time.Now().After(deadline) {
			t.Fatalf("generated %v", generated(t, db))
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // ten more ticks
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if got := generated(t, db); len(got) != 1 {
		t.Fatalf("generated %v, want the visit of 1 March once (2 March is beyond the lead, 28 February missed and skipped)", got)
	}
}
