package telemetry

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/frostline/frostline/cloud/telemetry/influxtest"
	"github.com/frostline/frostline/edge/wire"
)

// TestReaderWindow writes a rollup a minute for two hours into a real
// InfluxDB 1.6 and reads them back as 15-minute points of one asset.
func TestReaderWindow(t *testing.T) {
	if testing.Short() {
		t.Skip("needs influxd")
	}
	db := influxtest.StartInfluxDB(t, "frostline")
	cfg := DefaultConfig()
	cfg.URL, cfg.Token, cfg.Bucket = db.WriteURL, db.Token, db.Bucket
	w, err := NewWriter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	t0 := time.Date(2026, 7, 6, 10, 0, 0, 0, time.UTC)
	var batches []*wire.Telemetry
	for m := range 120 {
		v := 3 + float64(m)/60 // warming 1 C an hour
		batches = append(batches, &wire.Telemetry{Schema: wire.TelemetrySchema, Site: "store-1", Batch: "b" + strconv.Itoa(m), Rollups: []wire.Rollup{
			{Asset: "wic-1", Metric: "air_temp", Start: t0.Add(time.Duration(m) * time.Minute), Period: 60, Min: v - 0.5, Mean: v, Max: v + 0.5, Last: v, Count: 6},
			{Asset: "wic-2", Metric: "air_temp", Start: t0.Add(time.Duration(m) * time.Minute), Period: 60, Min: 90, Mean: 90, Max: 90, Last: 90, Count: 6},
		}})
	}
	ctx := context.Background()
	if err := w.WriteTelemetry(ctx, batches...); err != nil {
		t.Fatal(err)
	}
	rcfg := cfg
	rcfg.URL = db.URL // /query is influxd's own
	r, err := NewReader(rcfg)
	if err != nil {
		t.Fatal(err)
	}
	win, err := r.Window(ctx, "store-1", "wic-1", "air_temp", t0.Add(30*time.Minute), t0.Add(2*time.Hour), 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(win.Points) != 6 || win.Step != 900 || win.Metric != "air_temp" {
		t.Fatalf("%d points of %v s, want 6 of 900 s: %+v", len(win.Points), win.Step, win.Points)
	}
	p := win.Points[0]
	if !p.At.Equal(t0.Add(30*time.Minute)) || p.Min != 3.5-0.5 || p.Max != 3+44.0/60+0.5 || p.Mean < 3.6 || p.Mean > 3.65 {
		t.Errorf("first point %+v: want from 10:30, min 3.0, max of minute 44, mean about 3.62", p)
	}
	none, err := r.Window(ctx, "store-1", "wic-9", "air_temp", t0, t0.Add(2*time.Hour), 15*time.Minute)
	if err != nil || len(none.Points) != 0 {
		t.Errorf("an asset with no rollups: %d points, %v", len(none.Points), err)
	}
	bad := rcfg
	bad.URL = "http://127.0.0.1:1"
	rb, _ := NewReader(bad)
	if _, err := rb.Window(ctx, "store-1", "wic-1", "air_temp", t0, t0.Add(time.Hour), time.Minute); err == nil {
		t.Error("no InfluxDB, no error")
	}
}
