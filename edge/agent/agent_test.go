package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/frostline/frostline/edge/internal/edgetest"
	"github.com/frostline/frostline/edge/internal/testserver"
	"github.com/frostline/frostline/edge/wire"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// A paho client disconnected while it waits out a reconnect
		// backoff (the broker-restart test) returns at once; these two
		// goroutines end when the backoff's sleep does (1 s).
		goleak.IgnoreAnyFunction("github.com/eclipse/paho%2emqtt%2egolang.(*client).reconnect"),
		goleak.IgnoreAnyFunction("github.com/eclipse/paho%2emqtt%2egolang.(*client).Disconnect.func1"),
		// nats-server's process-wide access-time ticker, and a file
		// store's flusher, can outlive a server that was shut down
		// mid-test (the outage tests); they are the server's, not ours.
		goleak.IgnoreAnyFunction("github.com/nats-io/nats-server/v2/server/ats.Register.func1"),
		goleak.IgnoreAnyFunction("github.com/nats-io/nats-server/v2/server.(*fileStore).flushStreamStateLoop"),
	)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestReplayExpectations(t *testing.T) {
	ids := edgetest.Expected(t, edgetest.Rules, edgetest.Replay(240))
	if len(ids) < 10 {
		t.Fatalf("the replay raises only %d incident events: %v", len(ids), ids)
	}
	t.Logf("%d incident events", len(ids))
}

// testConfig is a config for an agent on broker and nats, with its files
// in dir.
func testConfig(t testing.TB, dir, broker, natsURL string) *Config {
	t.Helper()
	site, rulesFile := edgetest.WriteFiles(t, dir)
	cfg := DefaultConfig()
	cfg.Gateway = "gw-test"
	cfg.Sites = []string{site}
	cfg.Rules.DefaultPack = false
	cfg.Rules.Paths = []string{filepath.Dir(rulesFile)}
	cfg.Rules.Tick = 0
	cfg.Rules.Watch = 0
	cfg.MQTT.Broker = broker
	cfg.NATS.URL = natsURL
	cfg.NATS.EnsureStreams = true
	cfg.NATS.MaxBackoff = 200 * time.Millisecond
	cfg.Outbox.Path = filepath.Join(dir, "outbox.db")
	cfg.HTTP.Listen = "127.0.0.1:0"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return &cfg
}

// running is an agent started in the test.
type running struct {
	cancel context.CancelFunc
	done   chan error
	addr   chan string
	agent  *Agent
}

func startAgent(t testing.TB, cfg *Config) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1), addr: make(chan string, 1)}
	r.agent = New(cfg, quiet, Options{Registry: prometheus.NewRegistry(), HTTPListening: func(a string) { r.addr <- a }})
	go func() { r.done <- r.agent.Run(ctx) }()
	return r
}

func (r *running) stop(t testing.TB) {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Fatalf("agent: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("agent did not stop")
	}
}

func get(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func waitReady(t testing.TB, base string) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); ; {
		if code, _ := get(t, base+"/readyz"); code == 200 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("agent not ready")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAgentEndToEnd publishes a replay through a real MQTT broker (mochi,
// in process) and checks that JetStream receives exactly the incidents an
// uninterrupted engine run raises, in order.
func TestAgentEndToEnd(t *testing.T) {
	_, broker := testserver.MQTT(t, "127.0.0.1:0")
	ns := testserver.NATS(t, t.TempDir(), -1)
	runEndToEnd(t, broker, ns.ClientURL())
}

func runEndToEnd(t *testing.T, broker, natsURL string) {
	cfg := testConfig(t, t.TempDir(), broker, natsURL)
	msgs := edgetest.Replay(240)
	want := edgetest.Expected(t, edgetest.Rules, msgs)

	r := startAgent(t, cfg)
	base := "http://" + <-r.addr
	waitReady(t, base)
	edgetest.NewPublisher(t, broker).Publish(t, msgs)
	got := edgetest.WaitStream(t, natsURL, wire.IncidentStream, len(want), 30*time.Second)
	if !slices.Equal(got, want) {
		t.Errorf("JetStream holds %d incident events, want %d\ngot  %v\nwant %v", len(got), len(want), got, want)
	}
	_, metrics := get(t, base+"/metrics")
	for _, line := range []string{
		fmt.Sprintf(`frostline_edge_readings_total{result="ok"} %d`, 240*2*8),
		fmt.Sprintf("frostline_edge_forward_published_total{queue=\"incidents\"} %d", len(want)),
		`frostline_edge_outbox_entries{queue="incidents"} 0`,
		"frostline_edge_mqtt_connected 1",
	} {
		if !strings.Contains(metrics, line+"\n") {
			t.Errorf("/metrics lacks %q", line)
		}
	}
	if code, _ := get(t, base+"/healthz"); code != 200 {
		t.Errorf("/healthz = %d", code)
	}
	r.stop(t)
	// Telemetry: 240 minutes cut into per-minute batches; the last ones
	// are still open when the agent stops.
	if tel := edgetest.StreamIDs(t, natsURL, wire.TelemetryStream); len(tel) < 200 {
		t.Errorf("telemetry stream holds %d batches, want about 240", len(tel))
	}
}

// TestAgentRestart stops and restarts the agent several times while the
// replay is published: the incident set reaching JetStream equals that of
// an uninterrupted run, with no loss and no duplicate.
//
// It runs against mosquitto: mochi resends a resumed session's in-flight
// messages sorted by the low 16 bits of their creation second, which
// scrambles the order of messages sent within one second, and the rules
// then see a different series than an uninterrupted run.
func TestAgentRestart(t *testing.T) {
	broker := testserver.Mosquitto(t)
	ns := testserver.NATS(t, t.TempDir(), -1)
	cfg := testConfig(t, t.TempDir(), broker, ns.ClientURL())
	msgs := edgetest.Replay(240)
	want := edgetest.Expected(t, edgetest.Rules, msgs)
	pub := edgetest.NewPublisher(t, broker)

	// A first run creates the persistent session the broker queues for.
	r := startAgent(t, cfg)
	waitReady(t, "http://"+<-r.addr)
	// Each cycle publishes part of the replay while the agent runs, stops
	// it at a varying moment, and publishes more while it is down (the
	// broker queues those for the persistent session).
	cycles := 8
	size := len(msgs) / cycles
	for i := range cycles {
		end := (i + 1) * size
		if i == cycles-1 {
			end = len(msgs)
		}
		mid := i*size + (end-i*size)*(i+1)/(cycles+1)
		pub.Publish(t, msgs[i*size:mid])
		time.Sleep(time.Duration(i*7%20) * time.Millisecond)
		r.stop(t)
		pub.Publish(t, msgs[mid:end])
		r = startAgent(t, cfg)
		<-r.addr
	}
	r.stop(t)
	r = startAgent(t, cfg)
	<-r.addr
	got := edgetest.WaitStream(t, ns.ClientURL(), wire.IncidentStream, len(want), 30*time.Second)
	r.stop(t)
	if !slices.Equal(got, want) {
		t.Errorf("after restarts JetStream holds %d incident events, want %d\ngot  %v\nwant %v", len(got), len(want), got, want)
	}
}

// TestAgentHotReload: a bad rules file is rejected and the agent keeps its
// rules; a good one is taken, keeping the state of unchanged rules.
func TestAgentHotReload(t *testing.T) {
	_, broker := testserver.MQTT(t, "127.0.0.1:0")
	ns := testserver.NATS(t, t.TempDir(), -1)
	dir := t.TempDir()
	cfg := testConfig(t, dir, broker, ns.ClientURL())
	cfg.Rules.Watch = 50 * time.Millisecond
	msgs := edgetest.Replay(120)
	r := startAgent(t, cfg)
	base := "http://" + <-r.addr
	waitReady(t, base)
	pub := edgetest.NewPublisher(t, broker)
	pub.Publish(t, msgs[:len(msgs)/2])

	rulesFile := filepath.Join(dir, "rules", "test.yaml")
	metric := func(name string) string {
		_, body := get(t, base+"/metrics")
		for _, l := range strings.Split(body, "\n") {
			if strings.HasPrefix(l, name+" ") {
				return strings.TrimPrefix(l, name+" ")
			}
		}
		return ""
	}
	waitMetric := func(name, want string) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); metric(name) != want; {
			if time.Now().After(deadline) {
				t.Fatalf("%s = %s, want %s", name, metric(name), want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	os.WriteFile(rulesFile, []byte("rules:\n  - id: broken\n    kind: nonsense\n"), 0o644)
	waitMetric(`frostline_edge_rules_reloads_total{result="error"}`, "1")
	if got := metric("frostline_edge_rules_loaded"); got != "3" {
		t.Errorf("after a bad reload %s rules are loaded, want the 3 running ones", got)
	}
	os.WriteFile(rulesFile, []byte(edgetest.Rules+edgetest.ExtraRule), 0o644)
	waitMetric(`frostline_edge_rules_reloads_total{result="ok"}`, "1")
	waitMetric("frostline_edge_rules_loaded", "4")
	pub.Publish(t, msgs[len(msgs)/2:])
	// Unchanged rules continued across the reload: their events are
	// those of an uninterrupted run; the new rule adds its own.
	want := edgetest.Expected(t, edgetest.Rules, msgs)
	var got []string
	added := 0
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		got, added = got[:0], 0
		ids, data := edgetest.StreamMessages(t, ns.ClientURL(), wire.IncidentStream)
		for i, id := range ids {
			inc, err := wire.DecodeIncident(data[i])
			if err != nil {
				t.Fatal(err)
			}
			if inc.Rule == "rtu-mode-heat" {
				added++
			} else {
				got = append(got, id)
			}
		}
		if len(got) >= len(want) {
			break
		}
	}
	r.stop(t)
	if !slices.Equal(got, want) {
		t.Errorf("events of unchanged rules across the reload:\ngot  %v\nwant %v", got, want)
	}
	if added == 0 {
		t.Error("the reloaded rule raised nothing")
	}
}

// TestAgentMosquitto runs the end-to-end test against Debian's mosquitto
// started as a process.
func TestAgentMosquitto(t *testing.T) {
	broker := testserver.Mosquitto(t)
	ns := testserver.NATS(t, t.TempDir(), -1)
	runEndToEnd(t, broker, ns.ClientURL())
}

func writeFile(t testing.TB, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestAgentBrokerRestart restarts the MQTT broker (losing its sessions, as
// a broker without persistence does): the agent reconnects, subscribes
// again in OnConnect, and ingestion resumes.
func TestAgentBrokerRestart(t *testing.T) {
	mq, broker := testserver.MQTT(t, "127.0.0.1:0")
	ns := testserver.NATS(t, t.TempDir(), -1)
	cfg := testConfig(t, t.TempDir(), broker, ns.ClientURL())
	r := startAgent(t, cfg)
	base := "http://" + <-r.addr
	waitReady(t, base)
	msgs := edgetest.Replay(60)
	pub := edgetest.NewPublisher(t, broker)
	pub.Publish(t, msgs[:len(msgs)/2])
	// The broker keeps nothing across its restart: let the first half
	// arrive before it goes.
	waitReadings := func(n int) {
		t.Helper()
		want := fmt.Sprintf(`frostline_edge_readings_total{result="ok"} %d`, n)
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			_, body := get(t, base+"/metrics")
			if strings.Contains(body, want+"\n") {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("ingestion stalled: /metrics lacks %q", want)
			}
		}
	}
	waitReadings(60 * 8)

	mq.Close()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if code, _ := get(t, base+"/readyz"); code == http.StatusServiceUnavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("/readyz still ready with the broker down")
		}
	}
	testserver.MQTT(t, strings.TrimPrefix(broker, "tcp://"))
	waitReady(t, base)
	edgetest.NewPublisher(t, broker).Publish(t, msgs[len(msgs)/2:])
	waitReadings(60 * 2 * 8)
	r.stop(t)
}

// TestAgentNATSOutage takes NATS down for most of a replay and brings it
// back: every incident arrives, once, in the order of an uninterrupted
// run (so in order per asset), and incidents queued in the outbox meanwhile.
func TestAgentNATSOutage(t *testing.T) {
	_, broker := testserver.MQTT(t, "127.0.0.1:0")
	store := t.TempDir()
	ns := testserver.NATS(t, store, -1)
	port, url := testserver.NATSPort(ns), ns.ClientURL()
	cfg := testConfig(t, t.TempDir(), broker, url)
	msgs := edgetest.Replay(240)
	want := edgetest.Expected(t, edgetest.Rules, msgs)
	r := startAgent(t, cfg)
	base := "http://" + <-r.addr
	waitReady(t, base)
	pub := edgetest.NewPublisher(t, broker)
	pub.Publish(t, msgs[:len(msgs)/10])
	edgetest.WaitStream(t, url, wire.IncidentStream, 1, 10*time.Second)

	ns.Shutdown()
	ns.WaitForShutdown()
	pub.Publish(t, msgs[len(msgs)/10:])
	var queued string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		_, body := get(t, base+"/metrics")
		if strings.Contains(body, fmt.Sprintf("frostline_edge_readings_total{result=\"ok\"} %d\n", 240*2*8)) {
			for _, l := range strings.Split(body, "\n") {
				if strings.HasPrefix(l, `frostline_edge_outbox_entries{queue="incidents"}`) {
					queued = l
				}
			}
			break
		}
	}
	if queued == "" || strings.HasSuffix(queued, " 0") {
		t.Fatalf("during the outage the outbox holds no incidents: %q", queued)
	}
	testserver.NATS(t, store, port)
	got := edgetest.WaitStream(t, url, wire.IncidentStream, len(want), 30*time.Second)
	r.stop(t)
	if !slices.Equal(got, want) {
		t.Errorf("after the outage JetStream holds %d incident events, want %d\ngot  %v\nwant %v", len(got), len(want), got, want)
	}
}

// TestAgentReloadOnRequest: with file watching off, Reload (main's SIGHUP)
// takes new rules.
func TestAgentReloadOnRequest(t *testing.T) {
	_, broker := testserver.MQTT(t, "127.0.0.1:0")
	ns := testserver.NATS(t, t.TempDir(), -1)
	dir := t.TempDir()
	cfg := testConfig(t, dir, broker, ns.ClientURL())
	r := startAgent(t, cfg)
	base := "http://" + <-r.addr
	waitReady(t, base)
	writeFile(t, filepath.Join(dir, "rules", "test.yaml"), edgetest.Rules+edgetest.ExtraRule)
	r.agent.Reload()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, body := get(t, base+"/metrics"); strings.Contains(body, "frostline_edge_rules_loaded 4\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("rules not reloaded on request")
		}
	}
	r.stop(t)
}
