package agent

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

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

// TestAgentHeartbeat: the agent publishes a heartbeat per site to the
// heartbeat stream, which keeps the newest one per site, with the event
// time of each asset's newest reading.
func TestAgentHeartbeat(t *testing.T) {
	_, broker := testserver.MQTT(t, "127.0.0.1:0")
	ns := testserver.NATS(t, t.TempDir(), -1)
	cfg := testConfig(t, t.TempDir(), broker, ns.ClientURL())
	cfg.NATS.Heartbeat = 50 * time.Millisecond
	r := startAgent(t, cfg)
	waitReady(t, "http://"+<-r.addr)
	msgs := edgetest.Replay(1) // two steps of the four assets
	edgetest.NewPublisher(t, broker).Publish(t, msgs)
	newest := edgetest.Start.Add(30 * time.Second)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	var first, last wire.Heartbeat
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no two heartbeats in the stream; last %+v", last)
		}
		s, err := js.Stream(ctx, wire.HeartbeatStream)
		if err != nil {
			continue
		}
		m, err := s.GetLastMsgForSubject(ctx, wire.HeartbeatSubject("s1"))
		if err != nil {
			continue
		}
		if last, err = wire.DecodeHeartbeat(m.Data); err != nil {
			t.Fatal(err)
		}
		if first.At.IsZero() {
			first = last
		}
		if last.At.After(first.At) && last.Readings["wic1"].Equal(newest) {
			info, err := s.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if info.State.Msgs != 1 {
				t.Errorf("the heartbeat stream holds %d messages, want the newest only", info.State.Msgs)
			}
			break
		}
	}
	r.stop(t)
	if last.Gateway != "gw-test" || last.Site != "s1" || time.Since(last.At) > 5*time.Second || len(last.Readings) != 4 || !last.Readings["rtu1"].Equal(newest) {
		t.Errorf("heartbeat %+v", last)
	}
}
