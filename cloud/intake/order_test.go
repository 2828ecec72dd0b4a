package intake_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/intake"
	"github.com/frostline/frostline/cloud/postgres"
	"github.com/frostline/frostline/cloud/postgres/pgtest"
	"github.com/frostline/frostline/cloud/sqlite"
	cloudstore "github.com/frostline/frostline/cloud/store"
	"github.com/frostline/frostline/cloud/storetest"
	"github.com/frostline/frostline/cloud/workorder"
	"github.com/frostline/frostline/rules"
)

// replica is one cloud replica's intake: its own store handle (its own
// connection pool) on the shared database, its own NATS connection, its
// own consumer on the shared durable.
type replica struct {
	m    *intake.Metrics
	stop func()
}

func startReplica(t *testing.T, nc *nats.Conn, s intake.Store) replica {
	t.Helper()
	in := &workorder.Intake[cloudstore.Tx]{Policy: workorder.DefaultPolicy()}
	in.Policy.Vendors = []workorder.VendorRule{{Vendor: "coolco"}} // a P1 goes out at once
	m := intake.NewMetrics(nil)
	// Small batches, so the two replicas share out one incident's events.
	c, err := intake.New(context.Background(), nc, s, in, m, quiet(), intake.Config{Batch: 2, Lanes: 1, AckWait: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := c.Run(ctx); err != nil {
			t.Error(err)
		}
	})
	return replica{m: m, stop: func() { cancel(); wg.Wait() }}
}

func orderEvents(id, asset, prio string) []*rules.Event {
	return []*rules.Event{
		storetest.Incident(rules.Opened, id, 1, storetest.T0.Add(time.Minute), "s1", asset, "temp_high", prio),
		storetest.Incident(rules.Updated, id, 2, storetest.T0.Add(2*time.Minute), "s1", asset, "temp_high", prio),
		storetest.Incident(rules.Cleared, id, 3, storetest.T0.Add(3*time.Minute), "s1", asset, "temp_high", prio),
	}
}

// testReplicasRaceOnOneStore: two replicas on one database and one stream.
// First the clears and updates of P1 incidents are committed, by whichever
// replica takes them, before any opening is published; then the openings
// come. Then many incidents' events come at once in a shuffled order, each
// twice. A P1 is dispatched on opening, so no work order may end AVOIDED
// because its clear was committed first; every P3 ends AVOIDED once.
func testReplicasRaceOnOneStore(t *testing.T, open func() store) {
	ns := runNATS(t)
	nc := connect(t, ns)
	a, b := startReplica(t, connect(t, ns), open()), startReplica(t, connect(t, ns), open())
	check := open()
	msgID := func(e *rules.Event) string { return e.MsgID() }

	var first, later []*rules.Event
	for i := range 6 {
		evs := orderEvents(fmt.Sprintf("early-clear-%d", i), fmt.Sprintf("wic-%d", i), "P1")
		first = append(first, evs[2], evs[1])
		later = append(later, evs[0])
	}
	publish(t, nc, first, msgID)
	waitDrained(t, nc, "frostline-cloud-intake") // committed and acknowledged, every one
	if held := testutil.ToFloat64(a.m.Messages.WithLabelValues("held")) + testutil.ToFloat64(b.m.Messages.WithLabelValues("held")); held != 12 {
		t.Errorf("%v events held, want the 12 clears and updates", held)
	}
	publish(t, nc, later, msgID)

	var shuffled []*rules.Event
	want := map[string]workorder.Status{}
	for i := range 20 {
		id, prio, st := fmt.Sprintf("race-%d", i), "P1", workorder.Dispatched
		if i%2 == 1 {
			prio, st = "P3", workorder.Avoided
		}
		want[id] = st
		evs := orderEvents(id, fmt.Sprintf("case-%d", i), prio)
		shuffled = append(shuffled, evs...)
		shuffled = append(shuffled, evs...)
	}
	rand.New(rand.NewPCG(20, 6)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	// The second copy under another message id: JetStream cannot dedup
	// it, the store must.
	for i, ev := range shuffled {
		publish(t, nc, []*rules.Event{ev}, func(e *rules.Event) string { return fmt.Sprintf("%s-copy%d", e.MsgID(), i) })
	}
	waitDrained(t, nc, "frostline-cloud-intake")
	a.stop()
	b.stop()
	for i := range 6 {
		want[fmt.Sprintf("early-clear-%d", i)] = workorder.Dispatched
	}
	for id, st := range want {
		checkInOrder(t, check, id, st)
	}
	if got := testutil.ToFloat64(a.m.Avoided) + testutil.ToFloat64(b.m.Avoided); got != 10 {
		t.Errorf("avoided counted %v, want 10 (the P3s, once each)", got)
	}
	for _, r := range []replica{a, b} {
		if n := testutil.ToFloat64(r.m.Messages.WithLabelValues("opened")); n == 0 {
			t.Error("one replica opened nothing: the race was not run on both")
		}
	}
}

// checkInOrder: the incident's work order is in status want, and its
// evidence took the incident's events 1, 2, 3 in that order.
func checkInOrder(t *testing.T, s store, incident string, want workorder.Status) {
	t.Helper()
	ctx := context.Background()
	var w *workorder.WorkOrder
	if err := s.Update(ctx, func(tx cloudstore.Tx) error {
		var err error
		w, err = tx.ByIncident(ctx, incident)
		return err
	}); err != nil || w == nil {
		t.Fatalf("incident %s: work order %v (%v)", incident, w, err)
	}
	ev, err := s.Events(ctx, w.ID)
	if err != nil {
		t.Fatal(err)
	}
	var seqs []int
	for _, e := range ev {
		if e.Evidence != nil {
			seqs = append(seqs, e.Evidence.Seq)
		}
	}
	if w.Status != want || !slices.Equal(seqs, []int{1, 2, 3}) {
		t.Errorf("incident %s: WO %d %s with evidence seqs %v, want %s with [1 2 3]", incident, w.Number, w.Status, seqs, want)
	}
}

func TestReplicasRaceOnOneStoreSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.db")
	testReplicasRaceOnOneStore(t, func() store {
		db, err := sqlite.Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}

func TestReplicasRaceOnOneStorePostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	testReplicasRaceOnOneStore(t, func() store {
		db, err := postgres.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}

// TestReleaseOverdue: a clear whose opening never comes is applied by the
// sweeper once it has waited HoldFor, counted and AVOIDED once; before
// that it waits.
func TestReleaseOverdue(t *testing.T) {
	db := openSQLite(t)
	ctx := context.Background()
	in := &workorder.Intake[cloudstore.Tx]{Policy: workorder.DefaultPolicy()}
	clear := orderEvents("lost-opening", "wic-1", "P1")[2]
	if err := db.Update(ctx, func(tx cloudstore.Tx) error {
		res, err := in.Receive(ctx, tx, workorder.FromIncident(clear))
		if err == nil && res.Reason != workorder.Held {
			t.Errorf("clear before its opening: %s, want held", res.Reason)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	m := intake.NewMetrics(nil)
	now := time.Now()
	sw := &intake.Sweeper{Store: db, Intake: in, Now: func() time.Time { return now }, Log: quiet(), M: m, HoldFor: 10 * time.Minute}
	if n, err := sw.Sweep(ctx); err != nil || n != 0 || testutil.ToFloat64(m.Released) != 0 {
		t.Fatalf("sweep before hold_for moved %d (%v), released %v; want nothing", n, err, testutil.ToFloat64(m.Released))
	}
	now = now.Add(11 * time.Minute)
	if n, err := sw.Sweep(ctx); err != nil || n != 1 {
		t.Fatalf("sweep after hold_for moved %d (%v), want 1", n, err)
	}
	if n, err := sw.Sweep(ctx); err != nil || n != 0 {
		t.Fatalf("second sweep moved %d (%v), want 0", n, err)
	}
	if testutil.ToFloat64(m.Released) != 1 || testutil.ToFloat64(m.Avoided) != 1 {
		t.Errorf("released %v, avoided %v; want 1 and 1", testutil.ToFloat64(m.Released), testutil.ToFloat64(m.Avoided))
	}
	ws, err := db.WorkOrders(ctx, workorder.Filter{Scope: cloud.Scope{All: true}})
	if err != nil || len(ws) != 1 || ws[0].Status != workorder.Avoided {
		t.Fatalf("work orders %v (%v), want one AVOIDED", ws, err)
	}
}
