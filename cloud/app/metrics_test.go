package app

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMetricsAccess: with metrics.listen and metrics.token_file, /metrics
// is served only on its own address and only with the token; the API's
// address no longer has it (issue 15, small things).
func TestMetricsAccess(t *testing.T) {
	dir := t.TempDir()
	const token = "metrics-token-0123456789"
	if err := os.WriteFile(filepath.Join(dir, "metrics-token"), []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.Database.Path = filepath.Join(dir, "f.db")
	cfg.Metrics = MetricsConfig{Listen: "127.0.0.1:0", TokenFile: filepath.Join(dir, "metrics-token")}
	a, err := New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }() // stopped below
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		a.Close()
	}()
	get := func(addr, auth string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+addr+"/metrics", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		var resp *http.Response
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if resp, err = http.DefaultClient.Do(req); err == nil || time.Now().After(deadline) {
				break
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if a.MetricsAddr() == a.Addr() {
		t.Fatalf("metrics on the API's address %s", a.Addr())
	}
	if code, _ := get(a.Addr(), "Bearer "+token); code == 200 {
		t.Errorf("the API's address still serves /metrics")
	}
	for _, auth := range []string{"", "Bearer wrong-token-0123456789", token} {
		if code, _ := get(a.MetricsAddr(), auth); code != 401 {
			t.Errorf("/metrics with %q: %d, want 401", auth, code)
		}
	}
	if code, body := get(a.MetricsAddr(), "Bearer "+token); code != 200 || !strings.Contains(body, "frostline_workorders") {
		t.Errorf("/metrics with the token: %d %.200s", code, body)
	}
	// A short token is refused at start.
	os.WriteFile(cfg.Metrics.TokenFile, []byte("short"), 0o600)
	cfg.Listen, cfg.Metrics.Listen = "127.0.0.1:0", ""
	if b, err := New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil || !strings.Contains(err.Error(), "metrics.token_file") {
		if b != nil {
			b.Close()
		}
		t.Errorf("a short metrics token: %v", err)
	}
}
