package agent

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/frostline/frostline/edge/internal/edgetest"
	"github.com/frostline/frostline/edge/internal/testserver"
	"github.com/frostline/frostline/edge/wire"
)

// TestAgentStartsWithoutDependencies is issue 20 item 1 for the edge: an
// agent started while its MQTT broker and NATS are both away serves
// /healthz, names both on /readyz, connects to each when it comes up on
// the address it was given, turns ready, and its incidents reach
// JetStream.
func TestAgentStartsWithoutDependencies(t *testing.T) {
	mqttAddr := fmt.Sprintf("127.0.0.1:%d", testserver.FreePort(t))
	natsPort := testserver.FreePort(t)
	natsURL := fmt.Sprintf("nats://127.0.0.1:%d", natsPort)
	cfg := testConfig(t, t.TempDir(), "tcp://"+mqttAddr, natsURL)
	r := startAgent(t, cfg)
	base := "http://" + <-r.addr
	if code, _ := get(t, base+"/healthz"); code != 200 {
		t.Errorf("/healthz = %d with MQTT and NATS away, want 200", code)
	}
	code, body := get(t, base+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "mqtt not connected") || !strings.Contains(body, "nats not connected") {
		t.Errorf("/readyz = %d %q, want 503 naming mqtt and nats", code, body)
	}

	testserver.MQTT(t, mqttAddr)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		_, body = get(t, base+"/readyz")
		if !strings.Contains(body, "mqtt") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz = %q long after the broker came up", body)
		}
	}
	if !strings.Contains(body, "nats not connected") {
		t.Errorf("/readyz = %q with NATS still away, want nats named", body)
	}
	msgs := edgetest.Replay(60)
	want := edgetest.Expected(t, edgetest.Rules, msgs)
	edgetest.NewPublisher(t, "tcp://"+mqttAddr).Publish(t, msgs)

	testserver.NATS(t, t.TempDir(), natsPort)
	waitReady(t, base)
	got := edgetest.WaitStream(t, natsURL, wire.IncidentStream, len(want), 30*time.Second)
	r.stop(t)
	if len(want) == 0 || !slices.Equal(got, want) {
		t.Errorf("JetStream holds %v, want %v", got, want)
	}
}
