package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/frostline/frostline/edge/wire"
	"github.com/frostline/frostline/rules"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// syncBuffer collects log output written from several goroutines.
type syncBuffer struct {
	mu sync.Mutex // guards b: the logger writes from every component
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestServe runs the whole program: a token made offline, the server
// started on a config file, an incident published on NATS, the work order
// seen through the API and in /metrics, and a graceful stop.
func TestServe(t *testing.T) {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start() // stopped by Shutdown below
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats not ready")
	}
	dir := t.TempDir()
	addr := freeAddr(t)
	cfgFile := filepath.Join(dir, "cloud.yaml")
	cfg := fmt.Sprintf(`listen: %q
database: {driver: sqlite, path: %q}
nats: {url: %q}
sites: [%q]
sweep_every: 1s
log_level: debug
shutdown_timeout: 5s
`, addr, filepath.Join(dir, "data", "f.db"), ns.ClientURL(), "../../deploy/edge/sites/*.yaml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var out bytes.Buffer
	if err := run(ctx, []string{"token", "create", "--config", cfgFile, "--role", "store", "--sites", "store-0001", "--name", "anna"}, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var tok struct{ Token, Role string }
	if err := json.Unmarshal(out.Bytes(), &tok); err != nil || tok.Role != "store" || !strings.HasPrefix(tok.Token, "frl_") {
		t.Fatalf("token create printed %s (%v)", out.String(), err)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	logs := &syncBuffer{}
	done := make(chan error, 1)
	env := map[string]string{"FROSTLINE_ADMIN_TOKEN": "admin-token-for-tests-only"}
	go func() {
		done <- run(ctx, []string{"--config", cfgFile}, func(k string) string { return env[k] }, io.Discard, logs)
	}()
	base := "http://" + addr
	waitFor(t, func() bool {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	})

	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	now := time.Now().UTC()
	ev := rules.Event{Event: rules.Opened, Incident: "inc-1", Seq: 1, Site: "store-0001", Asset: "wif-01", AssetClass: "walk_in_freezer",
		Rule: "freezer_temp_high", Problem: "temp_high", Priority: "P1", Trade: "refrigeration", Title: "Freezer warm", At: now, Started: now.Add(-20 * time.Minute)}
	data, _ := json.Marshal(wire.NewIncident("gw-1", ev))
	msg := nats.NewMsg(wire.IncidentSubject("store-0001"))
	msg.Data = data
	msg.Header.Set(wire.MsgIDHeader, ev.MsgID())
	if _, err := js.PublishMsg(ctx, msg); err != nil {
		t.Fatal(err)
	}

	get := func(token, path string) (int, string) {
		req, _ := http.NewRequest("GET", base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	waitFor(t, func() bool {
		_, body := get(tok.Token, "/api/v1/workorders")
		return strings.Contains(body, `"asset":"wif-01"`)
	})
	if code, body := get("admin-token-for-tests-only", "/api/v1/sites/store-0001/assets"); code != 200 || !strings.Contains(body, "rtu-01") {
		t.Errorf("seeded assets: %d %s", code, body)
	}
	if code, _ := get("", "/healthz"); code != 200 {
		t.Errorf("healthz %d", code)
	}
	_, metrics := get("", "/metrics")
	for _, want := range []string{`frostline_workorders{status="ready"} 1`, `frostline_intake_messages_total{outcome="opened"} 1`,
		"frostline_http_request_duration_seconds_bucket", "frostline_intake_lag_seconds_count 1", "go_goroutines"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no graceful stop")
	}
	if !strings.Contains(logs.String(), `"msg":"work order opened"`) || !strings.Contains(logs.String(), `"msg":"stopped"`) {
		t.Errorf("logs lack the expected JSON lines:\n%s", logs.String())
	}
}

func TestUsageErrors(t *testing.T) {
	var stderr bytes.Buffer
	if err := run(context.Background(), []string{"--bogus"}, os.Getenv, io.Discard, &stderr); err != errUsage {
		t.Errorf("bad flag: %v", err)
	}
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("listen: nowhere\nextra: 1\n"), 0o600)
	if err := run(context.Background(), []string{"--config", bad}, os.Getenv, io.Discard, &stderr); err == nil || !strings.Contains(err.Error(), "extra") {
		t.Errorf("strict config: %v", err)
	}
	cfg := filepath.Join(dir, "ok.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("database: {path: %q}\n", filepath.Join(dir, "f.db"))), 0o600)
	if err := run(context.Background(), []string{"token", "create", "--config", cfg, "--role", "wizard"}, os.Getenv, io.Discard, &stderr); err == nil || !strings.Contains(err.Error(), "unknown role") {
		t.Errorf("bad role: %v", err)
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestTokenCommands: create, list and revoke offline, on the store the
// configuration names.
func TestTokenCommands(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "cloud.yaml")
	if err := os.WriteFile(cfgFile, []byte(fmt.Sprintf("database: {driver: sqlite, path: %q}\n", filepath.Join(dir, "f.db"))), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var out bytes.Buffer
	if err := run(ctx, []string{"token", "create", "--config", cfgFile, "--role", "vendor", "--vendor", "coolco", "--name", "bot", "--ttl", "30d"}, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var issued struct {
		Token, ID string
		Expires   *time.Time `json:"expires_at"`
	}
	if err := json.Unmarshal(out.Bytes(), &issued); err != nil || issued.Expires == nil || time.Until(*issued.Expires) < 29*24*time.Hour {
		t.Fatalf("create: %v %s", err, out.String())
	}
	list := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		if err := run(ctx, append([]string{"token", "list", "--config", cfgFile}, args...), nil, &out, io.Discard); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out.String(), issued.Token) {
			t.Fatalf("the list shows the secret: %s", out.String())
		}
		return out.String()
	}
	if got := list(); !strings.Contains(got, issued.ID) || !strings.Contains(got, "vendor=coolco") || !strings.Contains(got, "active") {
		t.Errorf("list:\n%s", got)
	}
	out.Reset()
	if err := run(ctx, []string{"token", "revoke", "--config", cfgFile, issued.ID}, nil, &out, io.Discard); err != nil || out.String() != "revoked "+issued.ID+"\n" {
		t.Fatalf("revoke: %v %q", err, out.String())
	}
	if got := list(); !strings.Contains(got, "revoked 20") {
		t.Errorf("list after revoke:\n%s", got)
	}
	if got := list("--active", "--json"); strings.Contains(got, issued.ID) || !strings.Contains(got, `"items": []`) {
		t.Errorf("active list after revoke:\n%s", got)
	}
	if err := run(ctx, []string{"token", "revoke", "--config", cfgFile, "tok_nope"}, nil, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("revoke unknown: %v", err)
	}
	if err := run(ctx, []string{"token", "frobnicate"}, nil, io.Discard, io.Discard); err != errUsage {
		t.Errorf("unknown command: %v", err)
	}
}
