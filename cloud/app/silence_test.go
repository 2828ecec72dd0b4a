package app

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/intake"
	"github.com/frostline/frostline/cloud/workorder"
	"github.com/frostline/frostline/edge/wire"
	"github.com/frostline/frostline/edge/wire/wiretest"
)

// TestGatewaySilence is issue 15 item 12: a store whose gateway stops
// sending heartbeats gets one gateway_offline work order after
// gateways.offline_after, however many checks and replicas see it, and
// its heartbeats resuming clear it (the work order ends AVOIDED: nobody
// had been sent yet). A store that never sent one is not judged. Before,
// nothing in the cloud noticed a silent gateway.
func TestGatewaySilence(t *testing.T) {
	ns := wiretest.JetStream(t)
	dir := t.TempDir()
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.Database.Path = filepath.Join(dir, "f.db")
	cfg.Sites = []string{"../../deploy/edge/sites/*.yaml"}
	cfg.NATS.URL = ns.ClientURL()
	cfg.Gateways = SilenceTestConfig
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	// Two replicas, as in production: one work order between them.
	var apps []*App
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 2)
	for range 2 {
		a, err := New(ctx, cfg, log)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		apps = append(apps, a)
		go func() { done <- a.Run(rctx) }()
	}
	for _, a := range apps {
		waitFor(t, 20*time.Second, "ready", func() bool {
			code, _ := httpGet(t, "http://"+a.Addr()+"/readyz")
			return code == 200
		})
	}
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	reading := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	beat := func(site string) {
		t.Helper()
		data, _ := json.Marshal(wire.NewHeartbeat("gw-"+site, site, time.Now(), time.Now(), 0, map[string]time.Time{"wif-01": reading}))
		if err := nc.Publish(wire.HeartbeatSubject(site), data); err != nil {
			t.Fatal(err)
		}
		nc.Flush()
	}
	offline := func() []*workorder.WorkOrder {
		t.Helper()
		ws, err := apps[0].Store().WorkOrders(ctx, workorder.Filter{Scope: cloud.Scope{All: true}})
		if err != nil {
			t.Fatal(err)
		}
		var out []*workorder.WorkOrder
		for _, w := range ws {
			if w.Problem == "gateway_offline" {
				out = append(out, w)
			}
		}
		return out
	}
	// The store beats for a while: nothing is raised.
	for range 8 {
		beat("store-0001")
		time.Sleep(SilenceTestConfig.OfflineAfter / 4)
	}
	if ws := offline(); len(ws) != 0 {
		t.Fatalf("gateway_offline raised while heartbeats arrive: %+v", ws[0])
	}
	// Sensor verification sees the newest reading the heartbeat carries.
	for _, a := range apps {
		if got, known := a.intake.Readings(ctx, "store-0001", "wif-01"); !known || !got.Equal(reading) {
			t.Errorf("intake.Readings(store-0001, wif-01) = %v %v, want %v", got, known, reading)
		}
		if _, known := a.intake.Readings(ctx, "store-9999", "x"); known {
			t.Error("a store without heartbeats is known")
		}
		if got, known := a.intake.Readings(ctx, "store-0001", "wic-01"); !known || !got.IsZero() {
			t.Errorf("an asset the heartbeat does not name: %v %v, want zero and known", got, known)
		}
	}
	// It goes silent.
	waitFor(t, 20*time.Second, "a gateway_offline work order", func() bool { return len(offline()) > 0 })
	time.Sleep(4 * SilenceTestConfig.CheckEvery) // more checks, by both replicas
	ws := offline()
	if len(ws) != 1 || ws[0].Site != "store-0001" || ws[0].Trade != "controls" {
		t.Fatalf("want one gateway_offline work order for store-0001 (controls), got %d: %+v", len(ws), ws)
	}
	_, metrics := httpGet(t, "http://"+apps[1].Addr()+"/metrics")
	if want := "frostline_gateways_silent 1\n"; !strings.Contains(metrics, want) {
		t.Errorf("/metrics lacks %q", want)
	}
	// It comes back.
	beat("store-0001")
	waitFor(t, 20*time.Second, "the work order avoided", func() bool {
		ws := offline()
		return len(ws) == 1 && ws[0].Status == workorder.Avoided
	})
	cancel()
	for range apps {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// SilenceTestConfig judges silence in seconds rather than minutes.
var SilenceTestConfig = intake.SilenceConfig{OfflineAfter: 2 * time.Second, CheckEvery: 200 * time.Millisecond}
