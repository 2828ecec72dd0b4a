package telemetry_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/frostline/frostline/cloud/telemetry"
	"github.com/frostline/frostline/cloud/telemetry/influxtest"
	"github.com/frostline/frostline/edge/wire"
	"github.com/frostline/frostline/edge/wire/wiretest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		// The HTTP transport keeps idle connections (and their goroutines)
		// until Writer.Close; everything else must be gone.
		if err := goleak.Find(goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
			goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
			goleak.IgnoreTopFunction("internal/poll.runtime_pollWait")); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// runNATS starts an in-process NATS server with JetStream on a random port.
func runNATS(t testing.TB) *server.Server { return wiretest.JetStream(t) }

func connect(t testing.TB, s *server.Server) *nats.Conn {
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// publish sends telemetry batches as the edge forwarder does, with the
// batch id as the de-duplication id.
func publish(t testing.TB, nc *nats.Conn, batches []wire.Telemetry) {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range batches {
		b, err := json.Marshal(&batches[i])
		if err != nil {
			t.Fatal(err)
		}
		msg := &nats.Msg{Subject: wire.TelemetrySubject(batches[i].Site), Data: b, Header: nats.Header{wire.MsgIDHeader: {batches[i].Batch}}}
		if _, err := js.PublishMsg(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}
}

func config(url, token, bucket string) telemetry.Config {
	c := telemetry.DefaultConfig()
	c.URL, c.Token, c.Bucket = url, token, bucket
	c.BatchSize, c.FlushInterval = 2000, 200*time.Millisecond
	c.RetryMin, c.RetryMax = 100*time.Millisecond, 400*time.Millisecond
	return c
}

// replica is one cloud replica's consumer, running until stopped.
type replica struct {
	c      *telemetry.Consumer
	m      *telemetry.Metrics
	w      *telemetry.Writer
	cancel context.CancelFunc
	done   chan error
}

func startReplica(t testing.TB, nc *nats.Conn, src *telemetry.Source, cfg telemetry.Config) *replica {
	t.Helper()
	w, err := telemetry.NewWriter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := telemetry.NewMetrics(nil, src.Stream)
	c, err := telemetry.NewConsumer(context.Background(), nc, src, w, m, quiet(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &replica{c: c, m: m, w: w, cancel: cancel, done: make(chan error, 1)}
	// Runs until stop; its error is collected there.
	go func() { r.done <- c.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *replica) stop(t testing.TB) {
	if r.cancel == nil {
		return
	}
	r.cancel()
	if err := <-r.done; err != nil {
		t.Errorf("consumer: %v", err)
	}
	r.w.Close()
	r.cancel = nil
}

func consumerInfo(t testing.TB, nc *nats.Conn, durable string) *jetstream.ConsumerInfo {
	t.Helper()
	js, _ := jetstream.New(nc)
	stream := wire.TelemetryStream
	if durable == telemetry.DefaultConfig().AnnotationsDurable {
		stream = wire.IncidentStream
	}
	c, err := js.Consumer(context.Background(), stream, durable)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// waitAcked waits until every message of the stream is acknowledged.
func waitAcked(t testing.TB, nc *nats.Conn, durable string, n uint64, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		info := consumerInfo(t, nc, durable)
		if info.AckFloor.Stream >= n && info.NumAckPending == 0 && info.NumPending == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: ack floor %d of %d, %d pending ack, %d not delivered",
				within, info.AckFloor.Stream, n, info.NumAckPending, info.NumPending)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestVictoriaMetrics runs two replicas on the shared durable consumer
// against a real VictoriaMetrics, which takes /api/v2/write as InfluxDB
// 2.x does, and checks that every point of six hours of the sample (all
// three stores) arrived once.
func TestVictoriaMetrics(t *testing.T) {
	vm := influxtest.StartVictoriaMetrics(t)
	sample := influxtest.ReplaySample(t, 3*8*4*60*6) // about six hours of three stores
	ns := runNATS(t)
	nc := connect(t, ns)
	cfg := config(vm.URL, "frostline-token", "frostline")
	a, b := startReplica(t, nc, telemetry.TelemetrySource, cfg), startReplica(t, nc, telemetry.TelemetrySource, cfg)
	publish(t, nc, sample.Telemetry)
	waitAcked(t, nc, cfg.Durable, uint64(len(sample.Telemetry)), 30*time.Second)

	rollups, signals := sample.Points()
	if got := testutil.ToFloat64(a.m.Points) + testutil.ToFloat64(b.m.Points); int(got) != rollups+signals {
		t.Errorf("points written: %v, want %d", got, rollups+signals)
	}
	if testutil.ToFloat64(a.m.Points) == 0 || testutil.ToFloat64(b.m.Points) == 0 {
		t.Logf("one replica took everything (a %v, b %v)", testutil.ToFloat64(a.m.Points), testutil.ToFloat64(b.m.Points))
	}
	// VictoriaMetrics stores field f of measurement m as m_f.
	for _, tc := range []struct {
		selector string
		want     int
	}{
		{`{__name__="rollups_mean"}`, rollups},
		{`{__name__="rollups_count"}`, rollups},
		{`{__name__="signals_duty_cycle"}`, countSignals(sample, func(s *wire.Signal) bool { return s.DutyCycle != nil })},
		{`{__name__="signals_door_open_minutes"}`, countSignals(sample, func(s *wire.Signal) bool { return s.DoorOpenMinutes != nil })},
	} {
		// VictoriaMetrics makes rows searchable a moment after it
		// acknowledged them: poll.
		var n int
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			got, err := vm.Export(tc.selector)
			if err != nil {
				t.Fatal(err)
			}
			n = 0
			for _, s := range got {
				n += len(s.Values)
				for _, k := range []string{"site", "asset", "asset_class"} {
					if s.Metric[k] == "" {
						t.Fatalf("%s: series without %s tag: %v", tc.selector, k, s.Metric)
					}
				}
			}
			if n >= tc.want || time.Now().After(deadline) {
				break
			}
		}
		if n != tc.want {
			t.Errorf("%s: %d samples, want %d", tc.selector, n, tc.want)
		}
	}
}

func countSignals(s *influxtest.Sample, f func(*wire.Signal) bool) int {
	n := 0
	for i := range s.Telemetry {
		for j := range s.Telemetry[i].Signals {
			if f(&s.Telemetry[i].Signals[j]) {
				n++
			}
		}
	}
	return n
}

// TestInfluxDBDown stops a real InfluxDB 1.6 (written through the v2
// write path, translated by a proxy as 1.8+ does itself) while batches
// arrive: nothing may be acknowledged and the replica may hold no more
// than one batch; when InfluxDB is back, the backlog drains and every
// point is there exactly once, counted by InfluxQL.
func TestInfluxDBDown(t *testing.T) {
	db := influxtest.StartInfluxDB(t, "frostline")
	sample := influxtest.ReplaySample(t, 3*8*4*60*3) // about three hours
	first, rest := sample.Telemetry[:len(sample.Telemetry)/4], sample.Telemetry[len(sample.Telemetry)/4:]
	ns := runNATS(t)
	nc := connect(t, ns)
	cfg := config(db.WriteURL, db.Token, db.Bucket)
	cfg.BatchSize = 500
	r := startReplica(t, nc, telemetry.TelemetrySource, cfg)

	publish(t, nc, first)
	waitAcked(t, nc, cfg.Durable, uint64(len(first)), 30*time.Second)

	db.Stop()
	publish(t, nc, rest)
	deadline := time.Now().Add(20 * time.Second)
	for testutil.ToFloat64(r.m.WriteErrors) < 3 {
		if time.Now().After(deadline) {
			t.Fatal("no failed writes while InfluxDB is down")
		}
		time.Sleep(50 * time.Millisecond)
	}
	info := consumerInfo(t, nc, cfg.Durable)
	if info.AckFloor.Stream != uint64(len(first)) {
		t.Errorf("ack floor moved to %d while InfluxDB was down (want %d)", info.AckFloor.Stream, len(first))
	}
	// Memory stays flat: one batch (about BatchSize points) is held,
	// the backlog is in JetStream.
	if held := info.NumAckPending; held == 0 || held > cfg.BatchSize/10 {
		t.Errorf("%d messages held by the replica during the outage", held)
	}
	if info.NumPending == 0 {
		t.Error("no backlog left in JetStream during the outage")
	}
	if v := testutil.ToFloat64(r.m.Retrying); v != 1 {
		t.Errorf("frostline_telemetry_retrying = %v during the outage", v)
	}

	db.Start()
	waitAcked(t, nc, cfg.Durable, uint64(len(sample.Telemetry)), 60*time.Second)
	rollups, signals := sample.Points()
	if got := db.Count(t, "rollups", "mean"); got != rollups {
		t.Errorf("rollups: %d points, want %d", got, rollups)
	}
	if got := db.Count(t, "rollups", "count"); got != rollups {
		t.Errorf("rollups count field: %d points, want %d", got, rollups)
	}
	if got, want := db.Count(t, "signals", "duty_cycle"), countSignals(sample, func(s *wire.Signal) bool { return s.DutyCycle != nil }); got != want {
		t.Errorf("signals duty_cycle: %d points, want %d", got, want)
	}
	written := testutil.ToFloat64(r.m.Points)
	if int(written) < rollups+signals {
		t.Errorf("%v points written, want at least %d", written, rollups+signals)
	}
	if v := testutil.ToFloat64(r.m.Retrying); v != 0 {
		t.Errorf("frostline_telemetry_retrying = %v after recovery", v)
	}
}

// TestInvalidTerminated checks that a message that can never be written
// is terminated and counted, not redelivered for ever, and does not hold
// back the good ones around it.
func TestInvalidTerminated(t *testing.T) {
	vm := influxtest.StartVictoriaMetrics(t)
	ns := runNATS(t)
	nc := connect(t, ns)
	cfg := config(vm.URL, "t", "frostline")
	r := startReplica(t, nc, telemetry.TelemetrySource, cfg)
	at := time.Date(2026, 7, 6, 0, 0, 0, 0, time.UTC)
	good := func(id string) wire.Telemetry {
		return wire.Telemetry{Schema: wire.TelemetrySchema, Site: "store-1", Batch: id, Rollups: []wire.Rollup{
			{Asset: "waco-1", Metric: "air_temp", Start: at, Min: 1, Mean: 2, Max: 3, Last: 2, Count: 3}}}
	}
	bad := good("bad")
	bad.Rollups[0].Metric = "no_such_metric"
	publish(t, nc, []wire.Telemetry{good("g1"), bad, good("g2")})
	js, _ := jetstream.New(nc)
	if _, err := js.Publish(context.Background(), wire.TelemetrySubject("store-2"), []byte(`{"schema":"frostline.telemetry.v1","site":"store-1","batch":"x"}`)); err != nil {
		t.Fatal(err)
	}
	waitAcked(t, nc, cfg.Durable, 4, 10*time.Second)
	if got := testutil.ToFloat64(r.m.Messages.WithLabelValues("invalid")); got != 2 {
		t.Errorf("invalid: %v, want 2", got)
	}
	if got := testutil.ToFloat64(r.m.Messages.WithLabelValues("written")); got != 2 {
		t.Errorf("written: %v, want 2", got)
	}
}

// TestIncidentAnnotations runs the annotation consumer on the incident
// stream against a real InfluxDB 1.6 and checks that every incident event
// of a day of the sample is an annotation point, once, even when the
// edge sends them all twice (a re-send after a crash, under new message
// ids so that JetStream cannot de-duplicate them).
func TestIncidentAnnotations(t *testing.T) {
	db := influxtest.StartInfluxDB(t, "frostline")
	sample := influxtest.ReplaySample(t, 3*8*4*60*24)
	if len(sample.Incidents) == 0 {
		t.Fatal("no incidents in a day of the sample")
	}
	ns := runNATS(t)
	nc := connect(t, ns)
	cfg := config(db.WriteURL, db.Token, db.Bucket)
	startReplica(t, nc, telemetry.IncidentSource, cfg)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		for i := range sample.Incidents {
			inc := &sample.Incidents[i]
			b, err := json.Marshal(inc)
			if err != nil {
				t.Fatal(err)
			}
			msg := &nats.Msg{Subject: wire.IncidentSubject(inc.Site), Data: b,
				Header: nats.Header{wire.MsgIDHeader: {fmt.Sprintf("%s-r%d", inc.MsgID(), round)}}}
			if _, err := js.PublishMsg(context.Background(), msg); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitAcked(t, nc, cfg.AnnotationsDurable, uint64(2*len(sample.Incidents)), 30*time.Second)
	if got := db.Count(t, "incidents", "incident"); got != len(sample.Incidents) {
		t.Errorf("incident annotations: %d, want %d", got, len(sample.Incidents))
	}
	res, err := db.Query(`SELECT count("incident") FROM "incidents" WHERE "event" = 'opened'`)
	if err != nil || len(res) == 0 {
		t.Fatalf("opened: %v %v", res, err)
	}
	opened := 0
	for i := range sample.Incidents {
		if sample.Incidents[i].Event.Event == "opened" {
			opened++
		}
	}
	if got := int(res[0].Values[0][1].(float64)); got != opened {
		t.Errorf("opened annotations: %d, want %d", got, opened)
	}
}

// TestResentTelemetryOverwrites publishes an hour of the sample's
// telemetry twice into a real InfluxDB 1.6, the second time under new
// message ids so that JetStream cannot de-duplicate it (a re-send after
// its de-duplication window), and some minutes re-sent with other values
// (a minute an edge re-built). A point is identified by its measurement,
// tags and timestamp, so a re-sent one overwrites the first: each rollup
// and signal is there once, with the values written last.
func TestResentTelemetryOverwrites(t *testing.T) {
	db := influxtest.StartInfluxDB(t, "frostline")
	sample := influxtest.ReplaySample(t, 3*8*4*60)
	ns := runNATS(t)
	nc := connect(t, ns)
	cfg := config(db.WriteURL, db.Token, db.Bucket)
	startReplica(t, nc, telemetry.TelemetrySource, cfg)
	publish(t, nc, sample.Telemetry)
	again := make([]wire.Telemetry, len(sample.Telemetry))
	changed := 0
	for i, b := range sample.Telemetry {
		b.Batch += "-resent"
		if i%5 == 0 && len(b.Rollups) > 0 {
			b.Rollups = append([]wire.Rollup(nil), b.Rollups...)
			b.Rollups[0].Mean += 100
			changed++
		}
		again[i] = b
	}
	publish(t, nc, again)
	waitAcked(t, nc, cfg.Durable, uint64(2*len(sample.Telemetry)), 30*time.Second)

	rollups, _ := sample.Points()
	if rollups == 0 || changed == 0 {
		t.Fatalf("the sample's hour has %d rollups, %d changed", rollups, changed)
	}
	if got := db.Count(t, "rollups", "mean"); got != rollups {
		t.Errorf("rollups after a re-send: %d points, want %d", got, rollups)
	}
	for name, f := range map[string]func(*wire.Signal) bool{
		"duty_cycle":        func(s *wire.Signal) bool { return s.DutyCycle != nil },
		"door_open_minutes": func(s *wire.Signal) bool { return s.DoorOpenMinutes != nil },
	} {
		if got, want := db.Count(t, "signals", name), countSignals(sample, f); got != want || want == 0 {
			t.Errorf("signals %s after a re-send: %d points, want %d", name, got, want)
		}
	}
	// The re-sent values won.
	for i := 0; i < len(again); i += 5 * 7 {
		b := again[i]
		if len(b.Rollups) == 0 {
			continue
		}
		r := b.Rollups[0]
		res, err := db.Query(fmt.Sprintf(`SELECT "mean" FROM "rollups" WHERE "site" = '%s' AND "asset" = '%s' AND "metric" = '%s' AND time = %dms`,
			b.Site, r.Asset, r.Metric, r.Start.UnixMilli()))
		if err != nil {
			t.Fatal(err)
		}
		if len(res) != 1 || len(res[0].Values) != 1 {
			t.Fatalf("%s %s %s at %v: %v", b.Site, r.Asset, r.Metric, r.Start, res)
		}
		if got, _ := res[0].Values[0][1].(float64); got != r.Mean {
			t.Errorf("%s %s %s at %v: mean %v, want the re-sent %v", b.Site, r.Asset, r.Metric, r.Start, got, r.Mean)
		}
	}
}
