package pm_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/frostline/frostline/cloud/pm"
	"github.com/frostline/frostline/edge/wire"
	"github.com/frostline/frostline/edge/wire/wiretest"
)

// TestRuntimeConsumer: telemetry batches on the stream feed the run-hour
// counters; the same batch delivered twice (an edge re-send under a new
// message id) counts once; a message that is not telemetry is dropped.
func TestRuntimeConsumer(t *testing.T) {
	nc := wiretest.Connect(t, wiretest.JetStream(t))
	db := openSQLite(t)
	ctx, cancel := context.WithCancel(context.Background())
	c, err := pm.NewRuntimeConsumer(ctx, nc, db, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	start := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	duty, defrosts := 0.75, 1
	batch := func(i int) wire.Telemetry {
		at := start.Add(time.Duration(i) * time.Hour)
		return wire.Telemetry{Schema: wire.TelemetrySchema, Site: "s1", Batch: "s1-" + at.Format(time.RFC3339),
			Rollups: []wire.Rollup{{Asset: "rack1", Metric: "compressor_on", Start: at, Period: 3600, Count: 60}},
			Signals: []wire.Signal{{Asset: "rack1", At: at.Add(time.Hour), DutyCycle: &duty, DefrostCycles: &defrosts}}}
	}
	pub := func(v any, id string) {
		data, _ := json.Marshal(v)
		m := nats.NewMsg(wire.TelemetrySubject("s1"))
		m.Data, m.Header = data, nats.Header{"Nats-Msg-Id": []string{id}}
		if err := nc.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 10 {
		pub(batch(i), "a"+batch(i).Batch)
	}
	pub(batch(3), "resent-3") // a re-send the stream does not know as a duplicate
	pub(map[string]string{"schema": "nonsense"}, "junk")
	deadline := time.Now().Add(10 * time.Second)
	for {
		u, err := db.Usage(context.Background(), "s1", "rack1", start, start.Add(24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if u.Hours == 10 {
			if u.RunHours != 7.5 || u.Defrosts != 10 || u.DutyCycle != 0.75 {
				t.Fatalf("usage %+v, want 7.5 run-hours and 10 defrosts in 10 hours", u)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("usage %+v after 10 s", u)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The re-send was consumed too and changed nothing.
	time.Sleep(200 * time.Millisecond)
	if u, _ := db.Usage(context.Background(), "s1", "rack1", start, start.Add(24*time.Hour)); u.Hours != 10 {
		t.Fatalf("usage %+v after the re-send", u)
	}
}
