package app

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/pm"
	"github.com/frostline/frostline/cloud/workorder"
)

// TestPMGeneratorRuns: the assembled service runs the PM generator, which
// opens a due visit through intake's dispatch (the vendor register's
// dispatcher here), and stops with the service.
func TestPMGeneratorRuns(t *testing.T) {
	ctx := context.Background()
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.Database.Path = filepath.Join(t.TempDir(), "f.db")
	cfg.Sites = []string{"../../deploy/edge/sites/*.yaml"}
	cfg.PM = pm.Config{Every: time.Second, Grace: time.Hour}
	a, err := New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	st := a.Store()
	s, err := pm.ParseSchedule([]byte(`{"id":"daily","name":"Daily door gasket check","site":"store-0001","asset":"wif-01",
		"rrule":"FREQ=DAILY","start":"2026-01-01T00:00:00Z","lead_time":"1d","template":{"trade":"refrigeration"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutPMSchedule(ctx, s, 0); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(rctx) }()
	deadline := time.Now().Add(10 * time.Second)
	var ws []*workorder.WorkOrder
	for len(ws) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no preventive work order after 10 s")
		}
		time.Sleep(50 * time.Millisecond)
		if ws, err = a.Store().WorkOrders(ctx, workorder.Filter{Source: "preventive", Scope: cloud.Scope{All: true}}); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	w := ws[0]
	if w.Plan == nil || w.Plan.Schedule != "daily" || w.Site != "store-0001" || w.Asset != "wif-01" {
		t.Fatalf("work order %+v", w)
	}
	// No vendor in the register: the dispatcher leaves it READY for a person.
	if w.Status != workorder.Ready && w.Status != workorder.Dispatched {
		t.Fatalf("status %s: the visit did not go through dispatch", w.Status)
	}
}
