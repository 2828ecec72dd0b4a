package analytics_test

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
	"go.uber.org/goleak"

	"github.com/frostline/frostline/cloud/analytics"
	"github.com/frostline/frostline/cloud/dispatch"
	"github.com/frostline/frostline/cloud/telemetry"
	"github.com/frostline/frostline/cloud/telemetry/influxtest"
)

// fixtureDay is 2 March: A and G were completed, A and G accepted or on site.
var fixtureDay = at("2026-03-02 00:00")

func TestDailyPoints(t *testing.T) {
	db := openSQLite(t)
	loadFixture(t, db)
	d := &analytics.Daily{Source: db, Now: func() time.Time { return Now }}
	ks, err := d.Points(context.Background(), fixtureDay)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]telemetry.KPI{}
	for _, k := range ks {
		got[k.Scope+"/"+k.Site+"/"+k.Asset+k.Vendor] = k
		for name := range k.Values {
			if !strings.Contains(" "+strings.Join(telemetry.KPIFields[k.Scope], " ")+" ", " "+name+" ") {
				t.Errorf("%s point has field %q outside the schema", k.Scope, name)
			}
		}
		if !k.Day.Equal(fixtureDay) {
			t.Errorf("point at %s, want the day's start", k.Day)
		}
	}
	// 2 March at s1: A created, A and G completed (A 220 + G 130), A's
	// MTTR 1.5 h and G's 1 h.
	site := got["site/s1/"]
	if site.Region != "north" {
		t.Errorf("site s1's point has region %q, want north (the dashboards' region variable reads it)", site.Region)
	}
	for name, want := range map[string]float64{"created": 1, "completed": 2, "cost_per_wo": 175, "mttr_hours": 1.25, "first_time_fix_rate": 0.5} {
		if v, ok := site.Values[name]; !ok || v != want {
			t.Errorf("site s1 %s = %v (%v), want %v", name, v, ok, want)
		}
	}
	// a1 failed for 4 h 50 of the day: availability 19 h 10 / 24 h.
	a1 := got["asset/s1/a1"]
	if v := a1.Values["availability"]; v != (24-4-50.0/60)/24 {
		t.Errorf("a1 availability = %v", v)
	}
	if v := a1.Values["work_orders"]; v != 1 {
		t.Errorf("a1 work_orders = %v, want 1", v)
	}
	v1 := got["vendor/s1/v1"]
	if v := v1.Values["completed"]; v != 2 {
		t.Errorf("vendor v1 at s1 completed = %v, want 2", v)
	}
	if _, ok := got["vendor/s2/"]; ok {
		t.Error("a vendor point without a vendor")
	}
}

// TestDailyInfluxDB writes a day through the real writer into InfluxDB
// 1.6 twice, as two replicas would: the points are the same series and
// timestamps, so the second write overwrites the first.
func TestDailyInfluxDB(t *testing.T) {
	inf := influxtest.StartInfluxDB(t, "frostline")
	cfg := telemetry.DefaultConfig()
	cfg.URL, cfg.Token, cfg.Bucket = inf.WriteURL, inf.Token, inf.Bucket
	db := openSQLite(t)
	loadFixture(t, db)
	var want int
	for replica := 0; replica < 2; replica++ {
		w, err := telemetry.NewWriter(cfg)
		if err != nil {
			t.Fatal(err)
		}
		d := &analytics.Daily{Source: db, Sink: w, Now: func() time.Time { return Now }}
		n, err := d.WriteDay(context.Background(), fixtureDay)
		w.Close()
		if err != nil {
			t.Fatal(err)
		}
		want = n
	}
	if want < 5 {
		t.Fatalf("only %d points", want)
	}
	series, err := inf.Query(`SELECT count("created") FROM kpis WHERE scope = 'site'`)
	if err != nil {
		t.Fatal(err)
	}
	// Only s1 had work on 2 March: one point, though written twice.
	if len(series) != 1 || len(series[0].Values) != 1 || series[0].Values[0][1] != float64(1) {
		t.Errorf("site points with created: %+v, want 1 (s1, once)", series)
	}
	series, err = inf.Query(`SELECT "mttr_hours" FROM kpis WHERE scope = 'site' AND site = 's1'`)
	if err != nil {
		t.Fatal(err)
	}
	if len(series) != 1 || len(series[0].Values) != 1 || series[0].Values[0][1] != 1.25 {
		t.Errorf("s1 mttr_hours: %+v, want one point of 1.25", series)
	}
}

// sink is a hand-written Sink: it records, or fails while failing is set;
// each write, failed or not, is signalled on wrote.
type sink struct {
	mu      sync.Mutex
	days    []time.Time
	failing bool
	wrote   chan error
}

func (s *sink) WriteKPIs(ctx context.Context, ks ...telemetry.KPI) error {
	s.mu.Lock()
	var err error
	if s.failing {
		s.failing = false
		err = errors.New("influxdb down")
	} else {
		s.days = append(s.days, ks[0].Day)
	}
	s.mu.Unlock()
	s.wrote <- err
	return err
}

// TestDailyRun: a failed write ends the pass, and the next tick writes the
// days again, oldest first. The test is the writer's clock: it ticks by
// hand once the failure is in, and waits for events, not for time.
func TestDailyRun(t *testing.T) {
	db := openSQLite(t)
	loadFixture(t, db)
	// The writer's goroutine must be gone when Run returns (the store's
	// pools, opened above, are closed later by t.Cleanup).
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s := &sink{failing: true, wrote: make(chan error)}
	tick := make(chan time.Time)
	d := &analytics.Daily{Source: db, Sink: s, Tick: tick, Days: 3,
		Now: func() time.Time { return at("2026-03-03 15:00") }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- d.Run(ctx) }()
	// The first write fails and ends the pass: nothing more until a tick.
	if err := <-s.wrote; err == nil {
		t.Fatal("the first write did not fail")
	}
	tick <- at("2026-03-03 16:00") // received: the first pass is over
	// The tick writes 28 Feb .. 3 Mar.
	for range 4 {
		if err := <-s.wrote; err != nil {
			t.Fatalf("write after the tick: %v", err)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want nil on cancel", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	want := []string{"2026-02-28", "2026-03-01", "2026-03-02", "2026-03-03"}
	var got []string
	for _, d := range s.days {
		got = append(got, d.Format(time.DateOnly))
	}
	if !slices.Equal(got, want) {
		t.Errorf("days written %v, want %v", got, want)
	}
}

func TestCollector(t *testing.T) {
	db := openSQLite(t)
	loadFixture(t, db)
	c := &analytics.Collector{Source: db, Now: func() time.Time { return at("2026-03-03 00:00") }}
	problems, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) > 0 {
		t.Errorf("promlint: %+v", problems)
	}
	// On 2 March (the 24 h before): A and G completed, A created.
	want := `
# HELP frostline_kpi_last_day_workorders Work orders created, completed (WORK_COMPLETE) and avoided in the last 24 hours.
# TYPE frostline_kpi_last_day_workorders gauge
frostline_kpi_last_day_workorders{event="avoided"} 0
frostline_kpi_last_day_workorders{event="completed"} 2
frostline_kpi_last_day_workorders{event="created"} 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "frostline_kpi_last_day_workorders"); err != nil {
		t.Error(err)
	}
	// And Prometheus's own promtool on the exposition, as in production.
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&text, mf); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(influxtest.Binary(t, "promtool"), "check", "metrics")
	cmd.Stdin = &text
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s\n%s", err, out, text.String())
	}
	// The backlog at midnight on 3 March: H (P3, 11 days old) and B,
	// created at 08:00 on the 3rd, not yet.
	if n := testutil.CollectAndCount(c, "frostline_kpi_backlog_workorders"); n == 0 {
		t.Error("no backlog series")
	}
}

// roller signals each rollup the refresher makes, with the days it built.
type roller struct {
	analytics.Roller
	built chan int
}

func (r *roller) RollupFacts(ctx context.Context, until time.Time) (int, error) {
	n, err := r.Roller.RollupFacts(ctx, until)
	if err != nil {
		n = -1
	}
	r.built <- n
	return n, err
}

// TestRefresher: the refresher builds the rollup at once, again at each
// tick, and stops with its context. The test drives
// the ticks and waits for the refreshes: no time limit but go test's.
func TestRefresher(t *testing.T) {
	db := openSQLite(t)
	loadFixture(t, db)
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	tick := make(chan time.Time)
	store := &roller{Roller: db, built: make(chan int)}
	r := &analytics.Refresher{Store: store, Tick: tick, Now: func() time.Time { return Now }}
	go func() { done <- r.Run(ctx) }()
	if n := <-store.built; n < 60 { // 2 January to 9 March
		t.Fatalf("the first refresh built %d days, want at least 60", n)
	}
	var rolled int
	if err := db.Reader.QueryRow(`SELECT count(*) FROM wo_facts_rolled`).Scan(&rolled); err != nil {
		t.Fatal(err)
	}
	if rolled < 60 {
		t.Fatalf("%d days rolled up after the first refresh", rolled)
	}
	tick <- Now
	if n := <-store.built; n < 0 {
		t.Error("the refresh at the tick failed")
	}
	var again int
	if err := db.Reader.QueryRow(`SELECT count(*) FROM wo_facts_rolled`).Scan(&again); err != nil {
		t.Fatal(err)
	}
	if again != rolled {
		t.Errorf("%d days rolled up after the tick's refresh, %d before: nothing changed between", again, rolled)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want nil on cancel", err)
	}
}

// TestDailyPointsCarryStoreRatings: a vendor's point carries what the
// stores said of its verified visits, from its scorecard (mean score and
// the share called fixed); a vendor nobody rated has neither field.
func TestDailyPointsCarryStoreRatings(t *testing.T) {
	db := openSQLite(t)
	loadFixture(t, db)
	done := func(r *dispatch.StoreRating) dispatch.Outcome {
		return dispatch.Outcome{Vendor: "v1", Response: dispatch.Accepted, Completed: true, Visits: 1, Rating: r}
	}
	tests := []struct {
		name     string
		outcomes []dispatch.Outcome
		want     map[string]float64 // nil: neither field
	}{
		{"rated 5 fixed and 4 not fixed", []dispatch.Outcome{done(&dispatch.StoreRating{Fixed: true, Score: 5}), done(&dispatch.StoreRating{Score: 4})},
			map[string]float64{"store_rating": 4.5, "store_fixed_rate": 0.5}},
		{"never rated", []dispatch.Outcome{done(nil)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := dispatch.Score("v1", tt.outcomes, dispatch.DefaultWeights())
			d := &analytics.Daily{Source: db, Now: func() time.Time { return Now },
				Scores: func(context.Context) (map[string]*dispatch.Scorecard, error) {
					return map[string]*dispatch.Scorecard{"v1": &sc}, nil
				}}
			ks, err := d.Points(context.Background(), fixtureDay)
			if err != nil {
				t.Fatal(err)
			}
			var v1 *telemetry.KPI
			for i := range ks {
				if ks[i].Scope == telemetry.ScopeVendor && ks[i].Vendor == "v1" && ks[i].Site == "s1" {
					v1 = &ks[i]
				}
			}
			if v1 == nil {
				t.Fatal("no point for v1 at s1")
			}
			for _, name := range []string{"store_rating", "store_fixed_rate"} {
				got, ok := v1.Values[name]
				if want, wantOK := tt.want[name]; ok != wantOK || got != want {
					t.Errorf("%s = %v (%v), want %v (%v)", name, got, ok, want, wantOK)
				}
			}
		})
	}
}
