package sla_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/dispatch"
	"github.com/frostline/frostline/cloud/postgres"
	"github.com/frostline/frostline/cloud/postgres/pgtest"
	"github.com/frostline/frostline/cloud/sla"
	"github.com/frostline/frostline/cloud/sqlite"
	cloudstore "github.com/frostline/frostline/cloud/store"
	"github.com/frostline/frostline/cloud/workorder"
	"github.com/frostline/frostline/rules"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// store is what the test needs of a real store.
type store interface {
	sla.Store[cloudstore.Tx]
	dispatch.Register
	PutSite(ctx context.Context, s *cloud.Site) error
	PutVendor(ctx context.Context, v *dispatch.Vendor, at time.Time) error
	WorkOrder(ctx context.Context, id string) (*workorder.WorkOrder, error)
}

// TestSweeperRemindsAndBreachesOnce runs two replicas' sweepers, and then
// a restarted one, on one real store: the vendor committed to acknowledge
// a P1 within 20 minutes, so there is one reminder 15 minutes before due
// and one breach, recorded on the work order exactly once each however
// often and by whomever the clocks are swept.
func TestSweeperRemindsAndBreachesOnce(t *testing.T) {
	ctx := context.Background()
	for name, open := range map[string]func(t *testing.T) store{
		"sqlite": func(t *testing.T) store {
			db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "sla.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		},
		"postgres": func(t *testing.T) store {
			db, err := postgres.Open(ctx, pgtest.DSN(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		},
	} {
		t.Run(name, func(t *testing.T) { sweepOnce(t, open(t)) })
	}
}

func sweepOnce(t *testing.T, db store) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 26, 14, 0, 0, 0, time.UTC)
	if err := db.PutSite(ctx, &cloud.Site{ID: "s1", Timezone: "America/Chicago"}); err != nil {
		t.Fatal(err)
	}
	valid := t0.AddDate(1, 0, 0)
	v := &dispatch.Vendor{ID: "polar", Name: "Polar", Kind: dispatch.External, Trades: []string{"refrigeration"},
		Coverage:    dispatch.Coverage{Sites: []string{"s1"}},
		Documents:   []dispatch.Document{{Type: dispatch.COIGeneralLiability, ExpiresAt: valid}, {Type: dispatch.COIWorkersComp, ExpiresAt: valid}},
		Technicians: []dispatch.Technician{{ID: "tom", Documents: []dispatch.Document{{Type: dispatch.EPA608, ExpiresAt: valid}}}},
		SLA:         map[string]sla.Targets{"P1": {Acknowledge: sla.Duration(20 * time.Minute)}}}
	if err := db.PutVendor(ctx, v, t0); err != nil {
		t.Fatal(err)
	}
	clock := t0
	in := &workorder.Intake[cloudstore.Tx]{Policy: workorder.DefaultPolicy()}
	svc := &dispatch.Service{Register: db, Rules: dispatch.DefaultRules(), Policy: &in.Policy, SLA: sla.DefaultPolicy(), Now: func() time.Time { return clock }}
	in.Dispatcher = dispatch.For[cloudstore.Tx](svc)
	var wo string
	err := db.Update(ctx, func(tx cloudstore.Tx) error {
		res, err := in.Receive(ctx, tx, workorder.FromIncident(&rules.Event{Event: rules.Opened, Incident: "i1", Seq: 1, Site: "s1", Asset: "wic-1",
			AssetClass: "walk_in_cooler", Rule: "r", Problem: "no_cooling", Priority: "P1", Trade: "refrigeration", At: t0, Started: t0}))
		if err == nil {
			wo = res.WorkOrder.ID
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	newSweeper := func() *sla.Sweeper[cloudstore.Tx] {
		return &sla.Sweeper[cloudstore.Tx]{Store: db, Policy: sla.DefaultPolicy(), Commitment: svc.Commitment,
			Now: func() time.Time { return clock }, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), M: sla.NewSweepMetrics(nil)}
	}
	a, b := newSweeper(), newSweeper()
	sweepBoth := func() int {
		var wg sync.WaitGroup
		var n [2]int
		for i, s := range []*sla.Sweeper[cloudstore.Tx]{a, b} {
			wg.Go(func() {
				var err error
				if n[i], err = s.Sweep(ctx); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		return n[0] + n[1]
	}
	for _, step := range []struct {
		at   time.Duration
		want int
	}{{time.Minute, 0}, {5 * time.Minute, 1}, {6 * time.Minute, 0}, {19 * time.Minute, 0}, {21 * time.Minute, 1}, {22 * time.Minute, 0}} {
		clock = t0.Add(step.at)
		if got := sweepBoth(); got != step.want {
			t.Errorf("at +%s: %d actions recorded, want %d", step.at, got, step.want)
		}
	}
	// A restarted replica rebuilds its clocks and finds nothing new to do.
	clock = t0.Add(25 * time.Minute)
	if n, err := newSweeper().Sweep(ctx); err != nil || n != 0 {
		t.Errorf("after a restart: %d actions, %v", n, err)
	}
	w, err := db.WorkOrder(ctx, wo)
	if err != nil {
		t.Fatal(err)
	}
	if len(w.SLA) != 2 || w.SLA[0].Kind != "remind" || w.SLA[1].Kind != "breach" || w.SLA[1].Milestone != "acknowledge" ||
		w.SLA[1].Lateness != time.Minute || !w.SLA[1].Due.Equal(t0.Add(20*time.Minute)) {
		t.Errorf("marks %+v", w.SLA)
	}
}
