package notify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
	"golang.org/x/sync/errgroup"

	"github.com/frostline/frostline/cloud/internal/sqldb"
	"github.com/frostline/frostline/cloud/notify"
	"github.com/frostline/frostline/cloud/postgres"
	"github.com/frostline/frostline/cloud/postgres/pgtest"
	"github.com/frostline/frostline/cloud/sqlite"
	"github.com/frostline/frostline/cloud/store"
	"github.com/frostline/frostline/cloud/workorder"
	"github.com/frostline/frostline/rules"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// fastConfig retries after 20ms, 40ms, ... so that tests run the real
// schedule in well under a second.
func fastConfig(attempts int) notify.WorkerConfig {
	c := notify.DefaultWorkerConfig()
	c.Poll, c.Timeout, c.Lease = 5*time.Millisecond, 2*time.Second, 10*time.Second
	c.Backoff = notify.Backoff{Initial: 20 * time.Millisecond, Max: 100 * time.Millisecond, Multiplier: 2, Attempts: attempts}
	return c
}

// receiver is a real HTTP server standing in for an integrator: it checks
// every delivery's signature with notify.Verify, as a receiver must, and
// answers failStatus to the first failFirst requests (-1: always).
type receiver struct {
	srv *httptest.Server
	// mu guards the fields below, written by the server's handler
	// goroutines and read by the test.
	mu         sync.Mutex
	secrets    [][]byte
	failFirst  int
	failStatus int
	delay      time.Duration // before answering: a receiver that takes its time
	requests   int
	badSig     []error
	byDelivery map[string]int // delivery id -> 2xx answers given
	sites      []string       // data.site of each request
}

func newReceiver(t *testing.T, failFirst, failStatus int) *receiver {
	rc := &receiver{failFirst: failFirst, failStatus: failStatus, byDelivery: map[string]int{}}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		delay := rc.delay
		rc.mu.Unlock()
		time.Sleep(delay)
		rc.mu.Lock()
		defer rc.mu.Unlock()
		rc.requests++
		if err := notify.Verify(r.Header.Get(notify.SignatureHeader), body, time.Now(), notify.DefaultTolerance, rc.secrets...); err != nil {
			rc.badSig = append(rc.badSig, err)
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var env notify.Envelope
		if err := json.Unmarshal(body, &env); err != nil || env.Type != r.Header.Get(notify.EventHeader) {
			http.Error(w, "bad envelope", http.StatusBadRequest)
			return
		}
		rc.sites = append(rc.sites, env.Data.Site)
		if rc.failFirst < 0 || rc.requests <= rc.failFirst {
			http.Error(w, "failing on purpose", rc.failStatus)
			return
		}
		rc.byDelivery[r.Header.Get(notify.DeliveryHeader)]++
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) heal() {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.failFirst = 0
}

func noLeaks(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t, goleak.IgnoreCurrent()) })
}

func openSQLite(t *testing.T) *sqldb.DB {
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "w.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db.DB
}

// register stores a webhook for the receiver with a fresh secret, which
// the receiver then trusts.
func register(t *testing.T, db *sqldb.DB, rc *receiver, id string, scope notify.WebhookScope) {
	t.Helper()
	sec := notify.NewSecret(time.Now())
	h := &notify.Webhook{ID: id, URL: rc.srv.URL + "/hooks/" + id, Scope: scope, Secrets: []notify.Secret{sec}, Active: true,
		CreatedBy: "tok_test", CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if err := db.CreateWebhook(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	rc.mu.Lock()
	rc.secrets = append(rc.secrets, []byte(sec.Value))
	rc.mu.Unlock()
}

// openWorkOrders opens one P3 work order per site through the real
// intake (created and triaged: two notices each).
func openWorkOrders(t *testing.T, db *sqldb.DB, prefix string, sites ...string) {
	t.Helper()
	ctx := context.Background()
	in := &workorder.Intake[store.Tx]{Policy: workorder.DefaultPolicy()}
	lim := 5.0
	for i, site := range sites {
		at := time.Now().UTC()
		ev := &rules.Event{Event: rules.Opened, Incident: fmt.Sprintf("%s-%d", prefix, i), Seq: 1, Site: site, Asset: fmt.Sprintf("a%d", i),
			AssetClass: "walk_in_cooler", Rule: "temp_high", Problem: "temp_high", Priority: "P3", Trade: "refrigeration",
			At: at, Started: at, Metric: "air_temp", Value: 9, Peak: 9, Limit: &lim, Occurrences: 1}
		if err := db.Update(ctx, func(tx store.Tx) error {
			_, err := in.Receive(ctx, tx, workorder.FromIncident(ev))
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
}

// start runs a worker until stop is called or the test ends. stop waits
// for the worker to return, so that its metrics are final.
func start(t *testing.T, db *sqldb.DB, rc *receiver, cfg notify.WorkerConfig, reg prometheus.Registerer) (stop func()) {
	t.Helper()
	client := rc.srv.Client()
	w := notify.NewWorker(db, &notify.Deliverer{Client: client, UserAgent: "frostline-test"}, cfg, quiet, reg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("worker: %v", err)
			}
			client.CloseIdleConnections()
		})
	}
	t.Cleanup(stop)
	return stop
}

// waitFor polls the delivery log until every delivery of webhook is in
// state, and returns the log.
func waitFor(t *testing.T, db *sqldb.DB, webhook string, state notify.State, n int) []*notify.WebhookDelivery {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ds, err := db.WebhookDeliveries(context.Background(), webhook, "", 500)
		if err != nil {
			t.Fatal(err)
		}
		done := len(ds) == n
		for _, d := range ds {
			done = done && d.State == state
		}
		if done {
			return ds
		}
		if time.Now().After(deadline) {
			for _, d := range ds {
				t.Logf("%s: %s after %d attempts (%s)", d.ID, d.State, d.Attempts, d.LastError)
			}
			t.Fatalf("%s: %d deliveries, not all %s after 15s", webhook, len(ds), state)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func outcomes(log []notify.Attempt) string {
	var s []string
	for _, a := range log {
		s = append(s, fmt.Sprintf("%s:%d", a.Outcome, a.Status))
	}
	return strings.Join(s, " ")
}

// TestWorkerRetriesThenDelivers: a receiver that fails twice gets each
// event, signed, on the third attempt; the log shows all three.
func TestWorkerRetriesThenDelivers(t *testing.T) {
	noLeaks(t)
	db := openSQLite(t)
	rc := newReceiver(t, 2, http.StatusInternalServerError)
	register(t, db, rc, "wh_s1", notify.WebhookScope{Sites: []string{"s1"}})
	openWorkOrders(t, db, "retry", "s1")
	reg := prometheus.NewRegistry()
	stop := start(t, db, rc, fastConfig(5), reg)
	ds := waitFor(t, db, "wh_s1", notify.Delivered, 2) // created, triaged
	stop()
	var total int
	for _, d := range ds {
		total += len(d.Log)
		if d.Log[len(d.Log)-1].Outcome != notify.OutcomeDelivered || d.LastError != "" || d.Attempts != len(d.Log) {
			t.Errorf("%s: %s", d.ID, outcomes(d.Log))
		}
		for i, a := range d.Log {
			if a.N != i+1 || a.URL != rc.srv.URL+"/hooks/wh_s1" || a.At.IsZero() || a.Took <= 0 {
				t.Errorf("%s attempt %d: %+v", d.ID, i, a)
			}
		}
	}
	// The first two requests failed (whichever deliveries they were).
	if total != 4 {
		t.Errorf("%d attempts in the log, want 4", total)
	}
	rc.mu.Lock()
	if rc.requests != 4 || len(rc.badSig) > 0 || len(rc.byDelivery) != 2 {
		t.Errorf("receiver: %d requests, bad signatures %v, delivered %v", rc.requests, rc.badSig, rc.byDelivery)
	}
	for id, n := range rc.byDelivery {
		if n != 1 || !strings.HasPrefix(id, "wh_s1/wo_") {
			t.Errorf("delivery %s accepted %d times", id, n)
		}
	}
	rc.mu.Unlock()
	if got := counter(t, reg, "delivered"); got != 2 {
		t.Errorf("frostline_webhook_attempts_total{outcome=delivered} = %v", got)
	}
	if got := counter(t, reg, "retry"); got != 2 {
		t.Errorf("frostline_webhook_attempts_total{outcome=retry} = %v", got)
	}
}

func counter(t *testing.T, reg *prometheus.Registry, outcome string) float64 {
	t.Helper()
	return metric(t, reg, "frostline_webhook_attempts_total", outcome)
}

// metric reads the value of a counter or gauge with one label.
func metric(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) == 0 || m.GetLabel()[0].GetValue() == label {
				if m.GetGauge() != nil {
					return m.GetGauge().GetValue()
				}
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no %s{%q}", name, label)
	return 0
}

// TestWorkerDeadLettersAndReplay: a receiver that always fails sees the
// limit of attempts and no more; the deliveries are dead, in the log with
// every attempt; replayed once the receiver is fixed, they arrive.
func TestWorkerDeadLettersAndReplay(t *testing.T) {
	noLeaks(t)
	db := openSQLite(t)
	rc := newReceiver(t, -1, http.StatusServiceUnavailable)
	register(t, db, rc, "wh_all", notify.WebhookScope{All: true})
	openWorkOrders(t, db, "dead", "s1")
	reg := prometheus.NewRegistry()
	stop := start(t, db, rc, fastConfig(3), reg)
	ds := waitFor(t, db, "wh_all", notify.Dead, 2)
	if dead, pending := metric(t, reg, "frostline_webhook_deliveries", "dead"), metric(t, reg, "frostline_webhook_deliveries", "pending"); dead != 2 || pending != 0 {
		t.Errorf("backlog gauge: %v dead, %v pending", dead, pending)
	}

	for _, d := range ds {
		if got := outcomes(d.Log); got != "retry:503 retry:503 dead:503" || d.LastError != "HTTP 503" || d.Attempts != 3 {
			t.Errorf("%s: %s (%s)", d.ID, got, d.LastError)
		}
		if d.Log[0].Response != "failing on purpose\n" || d.Log[0].NextAt.IsZero() || !d.Log[2].NextAt.IsZero() {
			t.Errorf("%s: log %+v", d.ID, d.Log)
		}
	}
	time.Sleep(100 * time.Millisecond) // dead means no more attempts
	stop()
	if got := counter(t, reg, "dead"); got != 2 {
		t.Errorf("frostline_webhook_attempts_total{outcome=dead} = %v", got)
	}
	rc.mu.Lock()
	if rc.requests != 6 {
		t.Errorf("receiver got %d requests, want 3 per delivery", rc.requests)
	}
	rc.mu.Unlock()

	rc.heal()
	start(t, db, rc, fastConfig(3), nil)
	for _, d := range ds {
		if err := db.ReplayDelivery(context.Background(), "wh_all", d.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	ds = waitFor(t, db, "wh_all", notify.Delivered, 2)
	for _, d := range ds {
		if got := outcomes(d.Log); got != "retry:503 retry:503 dead:503 delivered:204" || d.Replays != 1 || d.Attempts != 1 {
			t.Errorf("%s after replay: %s, %d replays, %d attempts", d.ID, got, d.Replays, d.Attempts)
		}
	}
}

// TestWorkerTenantIsolation: with a webhook per site, each receiver gets
// its own site's events and never the other's.
func TestWorkerTenantIsolation(t *testing.T) {
	noLeaks(t)
	db := openSQLite(t)
	a, b := newReceiver(t, 0, 0), newReceiver(t, 0, 0)
	register(t, db, a, "wh_a", notify.WebhookScope{Sites: []string{"site-a"}})
	register(t, db, b, "wh_b", notify.WebhookScope{Sites: []string{"site-b"}})
	openWorkOrders(t, db, "iso", "site-a", "site-b", "site-b", "site-c")
	// Both receivers on one worker, so that the worker's client reaches
	// either: httptest servers are plain http on loopback.
	start(t, db, a, fastConfig(3), nil)
	waitFor(t, db, "wh_a", notify.Delivered, 2)
	waitFor(t, db, "wh_b", notify.Delivered, 4)
	for name, rc := range map[string]*receiver{"site-a": a, "site-b": b} {
		rc.mu.Lock()
		if len(rc.sites) == 0 || len(rc.badSig) > 0 {
			t.Errorf("%s: %d requests, bad signatures %v", name, len(rc.sites), rc.badSig)
		}
		for _, s := range rc.sites {
			if s != name {
				t.Errorf("%s's receiver got an event of %s", name, s)
			}
		}
		rc.mu.Unlock()
	}
}

// TestWorkersShareOnePostgres: two workers (two replicas) on one
// PostgreSQL database deliver every event exactly once between them.
func TestWorkersShareOnePostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	noLeaks(t)
	ctx := context.Background()
	var dbs []*sqldb.DB
	for range 2 {
		db, err := postgres.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		dbs = append(dbs, db.DB)
	}
	rc := newReceiver(t, 0, 0)
	// A receiver taking 20ms per request keeps a worker busy long
	// enough that both claim: their claims interleave.
	rc.delay = 20 * time.Millisecond
	register(t, dbs[0], rc, "wh_all", notify.WebhookScope{All: true})
	sites := make([]string, 40)
	for i := range sites {
		sites[i] = fmt.Sprintf("s%d", i%7)
	}
	openWorkOrders(t, dbs[0], "pg", sites...)
	cfg := fastConfig(5)
	cfg.Batch = 4
	var g errgroup.Group
	ctx, cancel := context.WithCancel(ctx)
	regs := []*prometheus.Registry{prometheus.NewRegistry(), prometheus.NewRegistry()}
	client := rc.srv.Client()
	defer client.CloseIdleConnections()
	for i, db := range dbs {
		w := notify.NewWorker(db, &notify.Deliverer{Client: client}, cfg, quiet, regs[i])
		g.Go(func() error { return w.Run(ctx) })
	}
	ds := waitFor(t, dbs[1], "wh_all", notify.Delivered, 2*len(sites))
	cancel()
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.byDelivery) != len(ds) || len(rc.badSig) > 0 {
		t.Errorf("receiver accepted %d distinct deliveries of %d (bad signatures %v)", len(rc.byDelivery), len(ds), rc.badSig)
	}
	for id, n := range rc.byDelivery {
		if n != 1 {
			t.Errorf("%s accepted %d times", id, n)
		}
	}
	if rc.requests != len(ds) {
		t.Errorf("%d requests for %d deliveries", rc.requests, len(ds))
	}
	var perWorker []float64
	for _, reg := range regs {
		perWorker = append(perWorker, counter(t, reg, "delivered"))
	}
	if perWorker[0]+perWorker[1] != float64(len(ds)) || perWorker[0] == 0 || perWorker[1] == 0 {
		t.Errorf("workers delivered %v, want %d in all, by both", perWorker, len(ds))
	}
	t.Logf("deliveries per worker: %v", perWorker)
}

var _ notify.Store = (*sqldb.DB)(nil)

func TestWorkerConfigValidate(t *testing.T) {
	ok := notify.DefaultWorkerConfig()
	if err := ok.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, tt := range []struct {
		edit  func(c *notify.WorkerConfig)
		field string
	}{
		{func(c *notify.WorkerConfig) { c.Batch = 0 }, "webhooks.batch"},
		{func(c *notify.WorkerConfig) { c.Poll = 0 }, "webhooks.poll"},
		{func(c *notify.WorkerConfig) { c.Timeout = 0 }, "webhooks.timeout"},
		{func(c *notify.WorkerConfig) { c.Lease = c.Timeout }, "webhooks.lease"},
		{func(c *notify.WorkerConfig) { c.Retention = time.Minute }, "webhooks.retention"},
		{func(c *notify.WorkerConfig) { c.Backoff.Max = time.Second }, "webhooks.backoff.initial"},
		{func(c *notify.WorkerConfig) { c.Backoff.Multiplier = 0.5 }, "webhooks.backoff.multiplier"},
		{func(c *notify.WorkerConfig) { c.Backoff.Jitter = 1 }, "webhooks.backoff.jitter"},
		{func(c *notify.WorkerConfig) { c.Backoff.Attempts = 0 }, "webhooks.backoff.attempts"},
	} {
		c := notify.DefaultWorkerConfig()
		tt.edit(&c)
		err := c.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), tt.field+":") {
			t.Errorf("%s: got %v", tt.field, err)
		}
	}
}

// TestWorkerLeaseTooShort: a lease shorter than the receiver takes lets a
// second worker take the delivery meanwhile; the first one's late outcome
// is not recorded over it, and frostline_webhook_lease_lost_total says
// so. (Validate refuses such a lease; this is what it prevents.)
func TestWorkerLeaseTooShort(t *testing.T) {
	noLeaks(t)
	db := openSQLite(t)
	rc := newReceiver(t, 0, 0)
	rc.delay = 300 * time.Millisecond
	register(t, db, rc, "wh_1", notify.WebhookScope{All: true})
	openWorkOrders(t, db, "lease", "s1")
	cfg := fastConfig(3)
	cfg.Lease = 50 * time.Millisecond
	regs := []*prometheus.Registry{prometheus.NewRegistry(), prometheus.NewRegistry()}
	stops := []func(){start(t, db, rc, cfg, regs[0]), start(t, db, rc, cfg, regs[1])}
	ds := waitFor(t, db, "wh_1", notify.Delivered, 2)
	time.Sleep(400 * time.Millisecond) // the late attempts come back
	for _, stop := range stops {
		stop()
	}
	var lost float64
	for _, reg := range regs {
		lost += metric(t, reg, "frostline_webhook_lease_lost_total", "")
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if lost == 0 || rc.requests <= len(ds) {
		t.Errorf("%v leases lost, %d requests for %d deliveries: want the receiver to see duplicates", lost, rc.requests, len(ds))
	}
	for _, d := range ds {
		if d.State != notify.Delivered || len(d.Log) == 0 {
			t.Errorf("%s: %s with %d log lines", d.ID, d.State, len(d.Log))
		}
	}
}
