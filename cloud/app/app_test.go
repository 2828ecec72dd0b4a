package app

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/frostline/frostline/cloud"
)

// TestSeedKeepsRegisterEdits: a restart reseeds from the site files but
// keeps what people entered through the API.
func TestSeedKeepsRegisterEdits(t *testing.T) {
	ctx := context.Background()
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.Database.Path = filepath.Join(t.TempDir(), "f.db")
	cfg.Sites = []string{"../../deploy/edge/sites/*.yaml"}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := New(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	as, err := a.Store().Asset(ctx, "store-0001", "wif-01")
	if err != nil || as.Class != "walk_in_freezer" {
		t.Fatalf("seeded asset %+v %v", as, err)
	}
	as.Warranty, as.ExpectedLife, as.ReplacementCost = &cloud.Warranty{Provider: "hussmann", Expires: "2028-01-01"}, 15, 22000
	if err := a.Store().PutAsset(ctx, as); err != nil {
		t.Fatal(err)
	}
	a.Close()
	if a, err = New(ctx, cfg, log); err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	as, err = a.Store().Asset(ctx, "store-0001", "wif-01")
	if err != nil || as.Warranty == nil || as.Warranty.Provider != "hussmann" || as.ExpectedLife != 15 || as.ReplacementCost != 22000 {
		t.Errorf("after reseed: %+v %v", as, err)
	}
	// Run serves until cancelled, without NATS.
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(rctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + a.Addr() + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("not ready")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
