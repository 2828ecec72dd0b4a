package app

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/postgres/pgtest"
	"github.com/frostline/frostline/cloud/storetest"
	"github.com/frostline/frostline/cloud/telemetry"
	"github.com/frostline/frostline/cloud/telemetry/influxtest"
	"github.com/frostline/frostline/cloud/workorder"
	"github.com/frostline/frostline/edge/wire"
	"github.com/frostline/frostline/edge/wire/wiretest"
)

// freePort returns a TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// forwarder is a TCP relay from a local port to a real server: the
// database "comes back" when the relay starts listening.
type forwarder struct {
	ln   net.Listener
	wg   sync.WaitGroup
	mu   sync.Mutex
	open []net.Conn
}

func forward(t *testing.T, port int, to string) *forwarder {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	f := &forwarder{ln: ln}
	f.wg.Go(func() { // accepts until Close closes the listener
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", to)
			if err != nil {
				c.Close()
				continue
			}
			f.mu.Lock()
			f.open = append(f.open, c, s)
			f.mu.Unlock()
			// Each copy ends when Close closes both ends.
			f.wg.Go(func() { io.Copy(s, c); s.Close() })
			f.wg.Go(func() { io.Copy(c, s); c.Close() })
		}
	})
	t.Cleanup(f.Close)
	return f
}

func (f *forwarder) Close() {
	f.ln.Close()
	f.mu.Lock()
	for _, c := range f.open {
		c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitFor polls until cond holds, failing after timeout with what.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestStartWithoutDependencies is issue 20 item 1: a replica started while
// PostgreSQL and NATS are both away starts, serves /healthz, and names on
// /readyz what it waits for; it takes the database when it comes back,
// then NATS (a real nats-server started later on the port it was told),
// turns ready, and an incident published then becomes a work order.
// Before, New failed on the first NATS connect and the process exited.
func TestStartWithoutDependencies(t *testing.T) {
	dsn := pgtest.DSN(t)
	pc, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	realDB := net.JoinHostPort(pc.Host, strconv.Itoa(int(pc.Port)))
	dbPort, natsPort := freePort(t), freePort(t)
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.Database = DatabaseConfig{Driver: "postgres", DSN: strings.Replace(dsn, realDB, "127.0.0.1:"+strconv.Itoa(dbPort), 1)}
	cfg.NATS.URL = "nats://127.0.0.1:" + strconv.Itoa(natsPort)
	cfg.Intake.AckWait = 2 * time.Second
	cfg.SweepEvery = time.Second
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	started := time.Now()
	a, err := New(ctx, cfg, log)
	if err != nil {
		t.Fatalf("New with PostgreSQL and NATS away: %v", err)
	}
	defer a.Close()
	if d := time.Since(started); d > 10*time.Second {
		t.Errorf("New took %v with its dependencies away", d)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(rctx) }()
	base := "http://" + a.Addr()

	if code, _ := httpGet(t, base+"/healthz"); code != 200 {
		t.Errorf("/healthz = %d while waiting, want 200", code)
	}
	code, body := httpGet(t, base+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "database: waiting") || !strings.Contains(body, "nats: ") {
		t.Errorf("/readyz = %d %q, want 503 naming database and nats", code, body)
	}
	if code, body := httpGet(t, base+"/api/v1/workorders"); code != http.StatusServiceUnavailable || !strings.Contains(body, "waiting for the database") {
		t.Errorf("API while the database is away = %d %q, want a 503 problem", code, body)
	}

	// The replica keeps trying, counted; then the database comes back.
	waitFor(t, 20*time.Second, "a counted database retry", func() bool {
		_, m := httpGet(t, base+"/metrics")
		return strings.Contains(m, `frostline_cloud_dependency_retries_total{dependency="database"} `) &&
			!strings.Contains(m, `frostline_cloud_dependency_retries_total{dependency="database"} 0`+"\n")
	})
	forward(t, dbPort, realDB)
	waitFor(t, 30*time.Second, "the database on /readyz", func() bool {
		_, body := httpGet(t, base+"/readyz")
		return !strings.Contains(body, "database")
	})
	if _, body := httpGet(t, base+"/readyz"); !strings.Contains(body, "nats: ") {
		t.Errorf("/readyz = %q with NATS still away, want nats named", body)
	}

	// NATS comes back, on the port the replica was given.
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: natsPort, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start() // stopped by Shutdown below
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats not ready")
	}
	waitFor(t, 30*time.Second, "/readyz 200", func() bool {
		code, _ := httpGet(t, base+"/readyz")
		return code == 200
	})
	_, metrics := httpGet(t, base+"/metrics")
	for _, want := range []string{
		`frostline_cloud_dependency_up{dependency="database"} 1`,
		`frostline_cloud_dependency_up{dependency="nats"} 1`,
	} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	for _, dep := range []string{"database", "nats"} {
		if !strings.Contains(metrics, `frostline_cloud_dependency_retries_total{dependency="`+dep+`"}`) ||
			strings.Contains(metrics, `frostline_cloud_dependency_retries_total{dependency="`+dep+`"} 0`+"\n") {
			t.Errorf("no retry counted for %s", dep)
		}
	}

	// An incident now flows into a work order.
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ev := storetest.IncidentEvent("deps", 0)
	data, _ := json.Marshal(wire.NewIncident("gw", *ev))
	msg := nats.NewMsg(wire.IncidentSubject(ev.Site))
	msg.Data = data
	msg.Header.Set(wire.MsgIDHeader, ev.MsgID())
	if _, err := js.PublishMsg(ctx, msg); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the incident's work order", func() bool {
		ws, err := a.Store().WorkOrders(ctx, workorder.Filter{Scope: cloud.Scope{All: true}})
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range ws {
			for _, e := range w.Evidence {
				if e.Incident == ev.Incident {
					return true
				}
			}
		}
		return false
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestReadyNamesInfluxDB: with telemetry configured, /readyz names InfluxDB
// while a real influxd is stopped, and turns ready again when it is back;
// frostline_cloud_dependency_up follows.
func TestReadyNamesInfluxDB(t *testing.T) {
	db := influxtest.StartInfluxDB(t, "frostline")
	ns := wiretest.JetStream(t)
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.Database.Path = filepath.Join(t.TempDir(), "f.db")
	cfg.NATS.URL = ns.ClientURL()
	tc := telemetry.DefaultConfig()
	tc.URL, tc.Token, tc.Bucket = db.WriteURL, db.Token, db.Bucket
	cfg.Telemetry = &TelemetryConfig{Config: tc}
	ctx := context.Background()
	a, err := New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(rctx) }()
	base := "http://" + a.Addr()
	ready := func() bool { code, _ := httpGet(t, base+"/readyz"); return code == 200 }
	waitFor(t, 20*time.Second, "ready with InfluxDB up", ready)

	db.Stop()
	code, body := httpGet(t, base+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "influxdb: unreachable") {
		t.Errorf("/readyz = %d %q with InfluxDB down, want 503 naming influxdb", code, body)
	}
	if _, m := httpGet(t, base+"/metrics"); !strings.Contains(m, `frostline_cloud_dependency_up{dependency="influxdb"} 0`+"\n") {
		t.Error(`frostline_cloud_dependency_up{dependency="influxdb"} is not 0 with InfluxDB down`)
	}
	db.Start()
	waitFor(t, 20*time.Second, "ready with InfluxDB back", ready)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
