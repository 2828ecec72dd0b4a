package pm_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/pm"
	"github.com/frostline/frostline/cloud/postgres"
	"github.com/frostline/frostline/cloud/postgres/pgtest"
	"github.com/frostline/frostline/cloud/sqlite"
	cloudstore "github.com/frostline/frostline/cloud/store"
	"github.com/frostline/frostline/cloud/workorder"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// store is what the tests need: pm's Store plus the writes.
type store interface {
	pm.Store
	pm.Updater[cloudstore.Tx]
	PutSite(ctx context.Context, s *cloud.Site) error
	PutAsset(ctx context.Context, a *cloud.Asset) error
	PutPMSchedule(ctx context.Context, s *pm.Schedule, seen int) error
	PutPMCalendar(ctx context.Context, c *pm.StoreCalendar) error
	RecordRuntime(ctx context.Context, site string, samples []pm.Sample) error
	WorkOrders(ctx context.Context, f workorder.Filter) ([]*workorder.WorkOrder, error)
	WorkOrder(ctx context.Context, id string) (*workorder.WorkOrder, error)
}

// assets is the register the testdata's oracle.py knows.
var assets = []cloud.Asset{
	{Site: "s1", ID: "wic1", Class: "walk_in_cooler"}, {Site: "s1", ID: "dc1", Class: "display_case_mt"},
	{Site: "s1", ID: "dc2", Class: "display_case_mt"}, {Site: "s1", ID: "rtu1", Class: "rooftop_unit"},
	{Site: "s1", ID: "rack1", Class: "compressor_rack"}, {Site: "s1", ID: "wif1", Class: "walk_in_freezer"},
	{Site: "s2", ID: "wic2", Class: "walk_in_cooler"},
}

func openSQLite(t testing.TB) store {
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "frostline.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	seed(t, db)
	return db
}

func seed(t testing.TB, db store) {
	ctx := context.Background()
	for _, s := range []string{"s1", "s2"} {
		if err := db.PutSite(ctx, &cloud.Site{ID: s, Name: "Store " + s}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range assets {
		if err := db.PutAsset(ctx, &assets[i]); err != nil {
			t.Fatal(err)
		}
	}
}

// yearCase is one testdata/year/<case>/case.json.
type yearCase struct {
	Schedule json.RawMessage   `json:"schedule"`
	Calendar *pm.StoreCalendar `json:"calendar"`
	From     time.Time         `json:"from"`
	To       time.Time         `json:"to"`
	Every    pm.Duration       `json:"every"`
	Grace    pm.Duration       `json:"grace"`
	Down     []struct {
		From time.Time `json:"from"`
		To   time.Time `json:"to"`
	} `json:"down"`
	// Duty feeds the asset's runtime counter every hour; DefrostsPerHour
	// its defrost count (one defrost each 1/rate hours).
	Duty            float64 `json:"duty"`
	DefrostsPerHour float64 `json:"defrosts_per_hour"`
	// Missed is how many visits the generator must count as missed and
	// skipped (frostline_pm_missed_total).
	Missed int `json:"missed"`
}

// TestYear runs the generator over a simulated year (the clock injected,
// ticking every few hours, down where the case says) and checks it opened
// exactly the work orders want.txt lists: calendar cases are computed by
// oracle.py with python-dateutil, runtime cases by hand (README).
func TestYear(t *testing.T) {
	dirs, err := filepath.Glob("testdata/year/*/case.json")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no cases: %v", err)
	}
	for _, path := range dirs {
		dir := filepath.Dir(path)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			t.Parallel()
			runYear(t, openSQLite(t), dir)
		})
	}
}

// TestYearPostgres runs the same cases on a real PostgreSQL.
func TestYearPostgres(t *testing.T) {
	dirs, err := filepath.Glob("testdata/year/*/case.json")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no cases: %v", err)
	}
	for _, path := range dirs {
		dir := filepath.Dir(path)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			db, err := postgres.Open(context.Background(), pgtest.DSN(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			seed(t, db)
			runYear(t, db, dir)
		})
	}
}

func runYear(t *testing.T, db store, dir string) {
	ctx := context.Background()
	var c yearCase
	readJSON(t, filepath.Join(dir, "case.json"), &c)
	s, err := pm.ParseSchedule(c.Schedule)
	if err != nil {
		t.Fatal(err)
	}
	s.Version, s.CreatedAt = 1, c.From
	if err := db.PutPMSchedule(ctx, s, 0); err != nil {
		t.Fatal(err)
	}
	if c.Calendar != nil {
		if err := c.Calendar.Compile(); err != nil {
			t.Fatal(err)
		}
		if err := db.PutPMCalendar(ctx, c.Calendar); err != nil {
			t.Fatal(err)
		}
	}
	now := c.From
	reg := prometheus.NewRegistry()
	g := pm.NewGenerator(db, &workorder.Intake[cloudstore.Tx]{Policy: workorder.DefaultPolicy()},
		pm.Config{Every: c.Every.D(), Grace: c.Grace.D()}, slog.New(slog.NewTextHandler(io.Discard, nil)), reg)
	g.Now = func() time.Time { return now }
	fed := c.From
	total := 0
	for ; now.Before(c.To); now = now.Add(c.Every.D()) {
		if c.Duty > 0 || c.DefrostsPerHour > 0 {
			feed(t, db, s, c, fed, now)
			fed = now
		}
		down := false
		for _, d := range c.Down {
			down = down || (!now.Before(d.From) && now.Before(d.To))
		}
		if down {
			continue
		}
		n, err := g.Tick(ctx)
		if err != nil {
			t.Fatalf("tick at %s: %v", now, err)
		}
		total += n
	}
	got := generated(t, db)
	want := readLines(t, filepath.Join(dir, "want.txt"))
	if !slices.Equal(got, want) {
		t.Errorf("generated %d work orders:\n%s\nwant %d:\n%s", len(got), strings.Join(got, "\n"), len(want), strings.Join(want, "\n"))
	}
	if total != len(want) {
		t.Errorf("ticks reported %d generated, want %d", total, len(want))
	}
	if got := counter(t, reg, "frostline_pm_missed_total"); got != float64(c.Missed) {
		t.Errorf("%v visits counted missed, want %d", got, c.Missed)
	}
}

// feed records the hourly runtime samples in (from, to].
func feed(t *testing.T, db store, s *pm.Schedule, c yearCase, from, to time.Time) {
	var samples []pm.Sample
	for at := from.Add(time.Hour); !at.After(to); at = at.Add(time.Hour) {
		sm := pm.Sample{Asset: s.Asset, At: at, Hours: 1, RunHours: c.Duty}
		if c.DefrostsPerHour > 0 {
			h := int(at.Sub(s.Start).Hours())
			if every := int(1 / c.DefrostsPerHour); h%every == 0 {
				sm.Defrosts = 1
			}
		}
		samples = append(samples, sm)
	}
	if err := db.RecordRuntime(context.Background(), s.Site, samples); err != nil {
		t.Fatal(err)
	}
}

// generated lists the preventive work orders as "site asset occurrence
// due", ordered as want.txt is (site, asset, due).
func generated(t testing.TB, db store) []string {
	ws, err := db.WorkOrders(context.Background(), workorder.Filter{Source: string(workorder.Preventive), Limit: 500, Scope: cloud.Scope{All: true}})
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, w := range ws {
		if w.Plan == nil {
			t.Fatalf("work order %d has no plan", w.Number)
		}
		out = append(out, fmt.Sprintf("%s %s %s %s", w.Site, w.Asset, w.Plan.Occurrence, w.Plan.DueAt.UTC().Format(time.RFC3339)))
	}
	slices.SortFunc(out, func(a, b string) int {
		fa, fb := strings.Fields(a), strings.Fields(b)
		return strings.Compare(fa[0]+fa[1]+fa[3], fb[0]+fb[1]+fb[3])
	})
	return out
}

func readJSON(t testing.TB, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func readLines(t testing.TB, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(data)), "\n")
}

func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}
