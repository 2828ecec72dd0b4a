package intake_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/intake"
	"github.com/frostline/frostline/cloud/postgres"
	"github.com/frostline/frostline/cloud/postgres/pgtest"
	"github.com/frostline/frostline/cloud/sqlite"
	cloudstore "github.com/frostline/frostline/cloud/store"
	"github.com/frostline/frostline/cloud/storetest"
	"github.com/frostline/frostline/cloud/workorder"
	"github.com/frostline/frostline/edge/wire"
	"github.com/frostline/frostline/edge/wire/wiretest"
	"github.com/frostline/frostline/rules"
)

func TestMain(m *testing.M) {
	code := pgtest.Main(m)
	if code == 0 {
		// Connections closed by the last tests may take a moment to wind
		// down: look a few times before calling a goroutine leaked.
		var err error
		for range 5 {
			if err = goleak.Find(goleak.IgnoreAnyFunction("github.com/jackc/pgx/v5/stdlib.(*Driver).OpenConnector"),
				goleak.IgnoreTopFunction("database/sql.(*DB).connectionOpener")); err == nil {
				break
			}
			time.Sleep(time.Second)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// runNATS starts an in-process NATS server with JetStream on a random port.
func runNATS(t testing.TB) *server.Server { return wiretest.JetStream(t) }

func connect(t testing.TB, s *server.Server) *nats.Conn { return wiretest.Connect(t, s) }

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// publish sends incident events as an edge agent does.
func publish(t testing.TB, nc *nats.Conn, evs []*rules.Event, msgID func(*rules.Event) string) {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, ev := range evs {
		inc := wire.NewIncident("gw-1", *ev)
		data, _ := json.Marshal(inc)
		msg := nats.NewMsg(wire.IncidentSubject(ev.Site))
		msg.Data = data
		msg.Header.Set(wire.MsgIDHeader, msgID(ev))
		if _, err := js.PublishMsg(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}
}

// incidents makes n incidents over a few sites, assets and problems, each
// opened and then updated: plenty of dedup merges.
func incidents(n int) []*rules.Event {
	var out []*rules.Event
	problems := []string{"temp_trend", "temp_high", "door_ajar", "no_cooling"}
	for i := range n {
		at := storetest.T0.Add(time.Duration(i) * time.Second)
		site, asset := fmt.Sprintf("s%d", i%5), fmt.Sprintf("a%d", i%13)
		id := fmt.Sprintf("inc-%d", i)
		out = append(out, storetest.Incident(rules.Opened, id, 1, at, site, asset, problems[i%4], "P3"))
		u := storetest.Incident(rules.Updated, id, 2, at.Add(time.Minute), site, asset, problems[i%4], "P3")
		u.Occurrences = 2
		out = append(out, u)
	}
	return out
}

func waitDrained(t testing.TB, nc *nats.Conn, durable string) {
	t.Helper()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		c, err := js.Consumer(ctx, wire.IncidentStream, durable)
		if err == nil {
			info, err := c.Info(ctx)
			if err == nil && info.NumPending == 0 && info.NumAckPending == 0 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("consumer not drained in time")
}

type store interface {
	intake.Store
	WorkOrders(ctx context.Context, f workorder.Filter) ([]*workorder.WorkOrder, error)
	Events(ctx context.Context, id string) ([]workorder.Event, error)
}

// checkExactlyOnce: every incident is attached to exactly one work order,
// each incident's latest event is its seq 2, one open work order per
// problem, and every work order's events replay to its projection.
func checkExactlyOnce(t *testing.T, s store, n int) {
	t.Helper()
	ctx := context.Background()
	seen := map[string]int{}
	open := map[string]bool{}
	var total int
	var before int64
	for {
		ws, err := s.WorkOrders(ctx, workorder.Filter{Scope: cloud.Scope{All: true}, Limit: 500, Before: before})
		if err != nil {
			t.Fatal(err)
		}
		if len(ws) == 0 {
			break
		}
		for _, w := range ws {
			total++
			before = w.Number
			key := w.Site + "/" + w.Asset + "/" + w.Family
			if w.Status.Open() {
				if open[key] {
					t.Errorf("two open work orders for %s", key)
				}
				open[key] = true
			}
			for _, e := range w.Evidence {
				seen[e.Incident]++
				if e.Seq != 2 {
					t.Errorf("WO %d: incident %s at seq %d, want 2", w.Number, e.Incident, e.Seq)
				}
			}
			ev, err := s.Events(ctx, w.ID)
			if err != nil {
				t.Fatal(err)
			}
			r, err := workorder.Replay(ev)
			if err != nil || r.Status != w.Status || r.Version != w.Version {
				t.Errorf("WO %d: replay %v, %v", w.Number, r, err)
			}
			// opened + updated per incident: one evidence event each, never more.
			evidence := 0
			for _, e := range ev {
				if e.Kind == workorder.Attached {
					evidence++
				}
			}
			if evidence > 2*len(w.Incidents) {
				t.Errorf("WO %d: %d evidence events for %d incidents: some processed twice", w.Number, evidence, len(w.Incidents))
			}
		}
	}
	if len(seen) != n {
		t.Errorf("%d incidents attached, want %d", len(seen), n)
	}
	for id, c := range seen {
		if c != 1 {
			t.Errorf("incident %s on %d work orders", id, c)
		}
	}
	t.Logf("%d incidents made %d work orders", n, total)
}

func run(t *testing.T, ctx context.Context, nc *nats.Conn, s intake.Store, reg prometheus.Registerer) (*intake.Metrics, func()) {
	t.Helper()
	m := intake.NewMetrics(reg)
	c, err := intake.New(ctx, nc, s, &workorder.Intake[cloudstore.Tx]{Policy: workorder.DefaultPolicy()}, m, quiet(), intake.Config{Batch: 64, AckWait: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := c.Run(ctx); err != nil {
			t.Error(err)
		}
	})
	return m, func() { cancel(); wg.Wait() }
}

func openSQLite(t *testing.T) *sqlite.DB {
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "f.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestExactlyOnceSQLite(t *testing.T) {
	ns := runNATS(t)
	nc := connect(t, ns)
	db := openSQLite(t)
	ctx := context.Background()
	m1, stop1 := run(t, ctx, nc, db, nil)
	_, stop2 := run(t, ctx, connect(t, ns), db, nil)
	evs := incidents(200)
	publish(t, nc, evs, func(e *rules.Event) string { return e.MsgID() })
	// The same events again under other message ids: JetStream cannot
	// dedup these, the database must.
	publish(t, nc, evs[:100], func(e *rules.Event) string { return "again-" + e.MsgID() })
	waitDrained(t, nc, "frostline-cloud-intake")
	stop1()
	stop2()
	checkExactlyOnce(t, db, 200)
	_ = m1
}

// TestTwoReplicasPostgres: two replicas on one PostgreSQL and one NATS; one
// is killed while messages are in flight; every incident is processed
// exactly once.
func TestTwoReplicasPostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	ns := runNATS(t)
	nc := connect(t, ns)
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
	_, stopA := run(t, ctx, connect(t, ns), a, nil)
	_, stopB := run(t, ctx, connect(t, ns), b, nil)
	evs := incidents(300)
	publish(t, nc, evs[:300], func(e *rules.Event) string { return e.MsgID() })
	stopA() // replica A dies mid-stream; its unacked messages go to B
	publish(t, nc, evs[300:], func(e *rules.Event) string { return e.MsgID() })
	publish(t, nc, evs[:50], func(e *rules.Event) string { return "again-" + e.MsgID() })
	waitDrained(t, nc, "frostline-cloud-intake")
	stopB()
	checkExactlyOnce(t, b, 300)
}

func TestInvalidMessagesAreDropped(t *testing.T) {
	ns := runNATS(t)
	nc := connect(t, ns)
	db := openSQLite(t)
	reg := prometheus.NewRegistry()
	m, stop := run(t, context.Background(), nc, db, reg)
	defer stop()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	if _, err := js.Publish(ctx, wire.IncidentSubject("s1"), []byte(`{"schema":"frostline.incident.v9"}`)); err != nil {
		t.Fatal(err)
	}
	// A gateway of s1 claiming an incident at s2.
	ev := storetest.Incident(rules.Opened, "x", 1, storetest.T0, "s2", "a1", "temp_high", "P2")
	data, _ := json.Marshal(wire.NewIncident("gw", *ev))
	if _, err := js.Publish(ctx, wire.IncidentSubject("s1"), data); err != nil {
		t.Fatal(err)
	}
	publish(t, nc, []*rules.Event{storetest.Incident(rules.Opened, "ok", 1, storetest.T0, "s1", "a1", "temp_high", "P2")}, func(e *rules.Event) string { return e.MsgID() })
	waitDrained(t, nc, "frostline-cloud-intake")
	if got := testutil.ToFloat64(m.Messages.WithLabelValues("invalid")); got != 2 {
		t.Errorf("invalid = %v, want 2", got)
	}
	if got := testutil.ToFloat64(m.Messages.WithLabelValues("opened")); got != 1 {
		t.Errorf("opened = %v, want 1", got)
	}
}

func TestSweeper(t *testing.T) {
	db := openSQLite(t)
	ctx := context.Background()
	in := &workorder.Intake[cloudstore.Tx]{Policy: workorder.DefaultPolicy()}
	in.Policy.Vendors = []workorder.VendorRule{{Vendor: "coolco"}}
	for i, ev := range []*rules.Event{
		storetest.Incident(rules.Opened, "keeps", 1, storetest.T0, "s1", "a1", "temp_high", "P3"),
		storetest.Incident(rules.Opened, "clears", 1, storetest.T0, "s1", "a2", "temp_high", "P2"),
	} {
		err := db.Update(ctx, func(tx cloudstore.Tx) error {
			_, err := in.Receive(ctx, tx, workorder.FromIncident(ev))
			return err
		})
		if err != nil {
			t.Fatal(i, err)
		}
	}
	m := intake.NewMetrics(nil)
	now := storetest.T0.Add(20 * time.Minute)
	sw := &intake.Sweeper{Store: db, Intake: in, Now: func() time.Time { return now }, Log: quiet(), M: m}
	if n, err := sw.Sweep(ctx); err != nil || n != 1 {
		t.Fatalf("sweep at +20m moved %d (%v), want 1 (the P2)", n, err)
	}
	now = storetest.T0.Add(time.Hour)
	if n, err := sw.Sweep(ctx); err != nil || n != 1 {
		t.Fatalf("sweep at +1h moved %d (%v), want 1", n, err)
	}
	if got := testutil.ToFloat64(m.Dispatched); got != 2 {
		t.Errorf("dispatched %v, want 2", got)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- sw.Run(ctx) }()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func FuzzDecode(f *testing.F) {
	ev := storetest.Incident(rules.Opened, "x", 1, storetest.T0, "s1", "a1", "temp_high", "P2")
	data, _ := json.Marshal(wire.NewIncident("gw", *ev))
	f.Add(wire.IncidentSubject("s1"), data)
	f.Add("frostline.site.s1.incidents", []byte(`{"schema":"frostline.incident.v1","event":"opened"}`))
	f.Fuzz(func(t *testing.T, subject string, data []byte) {
		inc, err := intake.Decode(subject, data)
		if err == nil {
			if site, _ := wire.SiteOfSubject(subject); site != inc.Site || inc.Incident == "" {
				t.Fatalf("accepted %q on %q", inc.Site, subject)
			}
		}
	})
}

// BenchmarkConsumer measures the whole intake path: b.N incident events
// waiting in JetStream, drained by one replica's consumer into the store.
func BenchmarkConsumerSQLite(b *testing.B) {
	db, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "f.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	benchConsumer(b, db)
}

func BenchmarkConsumerPostgres(b *testing.B) {
	db, err := postgres.Open(context.Background(), pgtest.DSN(b))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	benchConsumer(b, db)
}

func benchConsumer(b *testing.B, s intake.Store) {
	ns := runNATS(b)
	nc := connect(b, ns)
	ctx, cancel := context.WithCancel(context.Background())
	c, err := intake.New(ctx, nc, s, &workorder.Intake[cloudstore.Tx]{Policy: workorder.DefaultPolicy()}, nil, quiet(), intake.Config{})
	if err != nil {
		b.Fatal(err)
	}
	publish(b, nc, storetest.Incidents("c", b.N), func(e *rules.Event) string { return e.MsgID() })
	b.ResetTimer()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	waitDrained(b, nc, "frostline-cloud-intake")
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "incidents/s")
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}

// windowStore is a store that keeps evidence windows.
type windowStore interface {
	store
	Windows(ctx context.Context, incidents []string) ([]*wire.Window, error)
}

// testWindows: a v2 incident's evidence window is kept for its work
// order, a later event of the same incident adds its own (even one held
// for its turn, as the clearing seq 3 is until seq 2 comes), an older one
// arriving late does not replace a newer, and a v1 incident from an edge
// not yet upgraded still opens its work order (without a chart).
func testWindows(t *testing.T, db windowStore) {
	ns := runNATS(t)
	nc := connect(t, ns)
	_, stop := run(t, context.Background(), nc, db, nil)
	defer stop()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	send := func(inc wire.Incident, schema string) {
		t.Helper()
		data, _ := json.Marshal(inc)
		if schema != "" {
			data = []byte(strings.Replace(string(data), `"`+wire.IncidentSchema+`"`, `"`+schema+`"`, 1))
		}
		msg := nats.NewMsg(wire.IncidentSubject(inc.Site))
		msg.Data = data
		msg.Header.Set(wire.MsgIDHeader, inc.MsgID())
		if _, err := js.PublishMsg(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}
	window := func(points int, mean float64) *wire.Window {
		limit := 5.0
		w := &wire.Window{Metric: "air_temp", Unit: "C", Step: 300, Limit: &limit}
		for i := range points {
			w.Points = append(w.Points, wire.WindowPoint{At: storetest.T0.Add(time.Duration(i-points) * 5 * time.Minute),
				Min: mean - 1, Mean: mean, Max: mean + 1})
		}
		w.Changes = []wire.Change{{At: storetest.T0.Add(-time.Hour), Signal: wire.SignalCompressor, On: false}}
		return w
	}
	opened := wire.NewIncident("gw", *storetest.Incident(rules.Opened, "w1", 1, storetest.T0, "s1", "wic-1", "temp_high", "P2"))
	opened.Window = window(72, 6)
	send(opened, "")
	cleared := wire.NewIncident("gw", *storetest.Incident(rules.Cleared, "w1", 3, storetest.T0.Add(2*time.Hour), "s1", "wic-1", "temp_high", "P2"))
	cleared.Window = window(72, 3)
	send(cleared, "")
	stale := wire.NewIncident("gw", *storetest.Incident(rules.Cleared, "w1", 2, storetest.T0.Add(time.Hour), "s1", "wic-1", "temp_high", "P2"))
	stale.Window = window(10, 9)
	send(stale, "")
	old := wire.NewIncident("gw", *storetest.Incident(rules.Opened, "v1", 1, storetest.T0, "s1", "wic-2", "temp_high", "P2"))
	send(old, wire.IncidentSchemaV1)
	waitDrained(t, nc, "frostline-cloud-intake")

	wos, err := db.WorkOrders(ctx, workorder.Filter{Scope: cloud.Scope{All: true}, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	byAsset := map[string]*workorder.WorkOrder{}
	for _, wo := range wos {
		byAsset[wo.Asset] = wo
	}
	if byAsset["wic-1"] == nil || byAsset["wic-2"] == nil {
		t.Fatalf("work orders %v: want one on wic-1 (v2) and one on wic-2 (v1)", byAsset)
	}
	ws, err := db.Windows(ctx, byAsset["wic-1"].Incidents)
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 2 || len(ws[0].Points) != 72 || ws[0].Points[0].Mean != 6 || ws[1].Points[0].Mean != 3 ||
		len(ws[1].Changes) != 1 || *ws[1].Limit != 5 {
		t.Errorf("windows of wic-1's work order: %d, want the opening's (mean 6) and the newest clearing's (mean 3)", len(ws))
		for _, w := range ws {
			t.Logf("  %d points, first %+v", len(w.Points), w.Points[0])
		}
	}
	if ws, err := db.Windows(ctx, byAsset["wic-2"].Incidents); err != nil || len(ws) != 0 {
		t.Errorf("the v1 incident's work order has windows %v (%v)", ws, err)
	}
}

func TestWindowsSQLite(t *testing.T) { testWindows(t, openSQLite(t)) }

func TestWindowsPostgres(t *testing.T) {
	db, err := postgres.Open(context.Background(), pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	testWindows(t, db)
}
