package agent

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/frostline/frostline/edge/internal/edgetest"
	"github.com/frostline/frostline/edge/internal/testserver"
	"github.com/frostline/frostline/edge/wire"
)

// TestKill9 builds cmd/frostline-edge and kills it with SIGKILL at random
// moments, again and again, while a replay with known anomalies is
// published to mosquitto. The incidents that reach JetStream must be
// exactly those of an uninterrupted run: no loss, no duplicate. So must
// the telemetry: every minute's batch once, with the rollups and signals
// of an uninterrupted run (the minutes open at each kill are rebuilt from
// the checkpoint and the input log, not lost or cut short).
func TestKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs servers; skipped under -short")
	}
	broker := testserver.Mosquitto(t)
	ns := testserver.NATS(t, t.TempDir(), -1)
	dir := t.TempDir()
	bin := filepath.Join(dir, "frostline-edge")
	build := exec.Command("go", "build", "-o", bin, "github.com/frostline/frostline/cmd/frostline-edge")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	site, rulesFile := edgetest.WriteFiles(t, dir)
	port := testserver.FreePort(t)
	config := filepath.Join(dir, "edge.yaml")
	body := fmt.Sprintf(`gateway: gw-kill
sites: [%s]
rules: {default_pack: false, paths: [%s], tick: 0s, watch: 0s}
mqtt: {broker: %s}
nats: {url: %s, ensure_streams: true, max_backoff: 200ms}
outbox: {path: %s}
http: {listen: 127.0.0.1:%d}
log: {level: warn}
`, site, rulesFile, broker, ns.ClientURL(), filepath.Join(dir, "outbox.db"), port)
	if err := os.WriteFile(config, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "agent.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "--config", config)
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	ready := func() {
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", port))
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatal("agent not ready")
			}
		}
	}

	msgs := edgetest.Replay(480)
	want := edgetest.Expected(t, edgetest.Rules, msgs)
	wantTel, wantTelIDs := edgetest.ExpectedTelemetry(t, "gw-kill", msgs)
	// The first start creates the persistent session the broker then
	// queues for while the agent is dead.
	cmd := start()
	ready()

	pub := edgetest.NewPublisher(t, broker)
	published := make(chan struct{})
	go func() {
		defer close(published)
		for i := 0; i < len(msgs); i += 16 {
			pub.Publish(t, msgs[i:min(i+16, len(msgs))])
			time.Sleep(2 * time.Millisecond)
		}
	}()

	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 1))
	t.Logf("seed %d", seed)
	cycles := 50
	for i := range cycles {
		time.Sleep(time.Duration(rng.IntN(150)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		cmd = start()
		if i%5 == 0 {
			ready() // sometimes let it get going before the next kill
		}
	}
	<-published
	got := edgetest.WaitStream(t, ns.ClientURL(), wire.IncidentStream, len(want), 60*time.Second)
	edgetest.WaitStream(t, ns.ClientURL(), wire.TelemetryStream, len(wantTelIDs)-1, 60*time.Second)
	// A clean stop after all that (once the agent has its signal
	// handlers up).
	ready()
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("clean stop: %v", err)
	}
	if !slices.Equal(got, want) {
		log, _ := os.ReadFile(filepath.Join(dir, "agent.log"))
		t.Errorf("after %d kills JetStream holds %d incident events, want %d\ngot  %v\nwant %v\nagent log tail:\n%s",
			cycles, len(got), len(want), got, want, tail(log, 3000))
	}
	checkTelemetry(t, ns.ClientURL(), wantTel, wantTelIDs, cycles)
}

// checkTelemetry compares the telemetry stream with an uninterrupted run's
// batches: each once and the same, every minute but the last there (the
// agent, stopped, emits the last only if the wall clock closed it first).
// The stream keeps JetStream's de-duplication (wire.TelemetryStreamConfig),
// as the cloud's does: a batch the forwarder re-sends after a kill is one
// message; a minute re-built short after a kill would differ from want.
func checkTelemetry(t *testing.T, url string, want map[string][]byte, wantIDs []string, kills int) {
	t.Helper()
	ids, data := edgetest.StreamMessages(t, url, wire.TelemetryStream)
	seen := map[string]bool{}
	for i, id := range ids {
		if seen[id] {
			t.Errorf("telemetry batch %s twice in the stream", id)
		}
		seen[id] = true
		w, ok := want[id]
		switch {
		case !ok:
			t.Errorf("telemetry batch %s not in an uninterrupted run", id)
		case !bytes.Equal(data[i], w):
			t.Errorf("after %d kills telemetry batch %s differs from an uninterrupted run's\ngot  %s\nwant %s", kills, id, data[i], w)
		}
	}
	var missing []string
	for _, id := range wantIDs[:len(wantIDs)-1] {
		if !seen[id] {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		t.Errorf("after %d kills %d of %d telemetry minutes missing: %v", kills, len(missing), len(wantIDs)-1, missing)
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
