package agent

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/frostline/frostline/edge/internal/edgetest"
	"github.com/frostline/frostline/edge/internal/testserver"
)

// metricValue returns the value of a metric line in a /metrics body, ""
// when absent.
func metricValue(body, name string) string {
	for _, l := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			return v
		}
	}
	return ""
}

// TestAgentPayloadCap is issue 15 item 13 for the edge: through
// mosquitto, 10 MB and 300 KB payloads between good messages are counted,
// acknowledged and dropped, and every good message around them is
// evaluated. Before the cap the agent read and decoded the 10 MB payload.
// After a restart the broker redelivers nothing: the oversize messages
// were acknowledged, not left for the session.
func TestAgentPayloadCap(t *testing.T) {
	broker := testserver.Mosquitto(t)
	ns := testserver.NATS(t, t.TempDir(), -1)
	cfg := testConfig(t, t.TempDir(), broker, ns.ClientURL())
	r := startAgent(t, cfg)
	base := "http://" + <-r.addr
	waitReady(t, base)
	msgs := edgetest.Replay(10) // 80 messages, 160 readings
	huge := func(n int) edgetest.Message {
		// A valid message padded past the cap: it would decode.
		pad := bytes.Repeat([]byte(" "), n)
		return edgetest.Message{Topic: "sites/s1/assets/wic1", Payload: append(pad, `{"values":{"air_temp":30}}`...)}
	}
	var all []edgetest.Message
	all = append(all, msgs[:40]...)
	all = append(all, huge(10<<20), huge(300<<10))
	all = append(all, msgs[40:]...)
	edgetest.NewPublisher(t, broker).Publish(t, all)

	var body string
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		_, body = get(t, base+"/metrics")
		if metricValue(body, `frostline_edge_readings_total{result="ok"}`) == "160" || time.Now().After(deadline) {
			break
		}
	}
	for name, want := range map[string]string{
		`frostline_edge_readings_total{result="ok"}`: "160",
		"frostline_edge_ingest_oversize_total":       "2",
		"frostline_edge_mqtt_messages_total":         fmt.Sprint(len(all)),
	} {
		if got := metricValue(body, name); got != want {
			t.Errorf("%s = %s, want %s", name, got, want)
		}
	}
	r.stop(t)
	r = startAgent(t, cfg)
	base = "http://" + <-r.addr
	waitReady(t, base)
	time.Sleep(500 * time.Millisecond)
	_, body = get(t, base+"/metrics")
	if got := metricValue(body, "frostline_edge_mqtt_messages_total"); got != "0" {
		t.Errorf("after a restart the broker redelivered %s messages, want 0", got)
	}
	r.stop(t)
}

// TestDeployMosquittoMaxPacket runs mosquitto with the max_packet_size of
// deploy/edge/mosquitto.conf: a larger publish never reaches a
// subscriber, a normal one does; and the agent's default payload cap is
// no smaller, so the agent takes everything the broker passes on.
func TestDeployMosquittoMaxPacket(t *testing.T) {
	conf, err := os.ReadFile(filepath.Join("..", "..", "deploy", "edge", "mosquitto.conf"))
	if err != nil {
		t.Fatal(err)
	}
	limit := 0
	for _, l := range strings.Split(string(conf), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "max_packet_size "); ok {
			limit, err = strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if limit == 0 {
		t.Fatal("deploy/edge/mosquitto.conf sets no max_packet_size")
	}
	if def := DefaultConfig().Ingest.MaxPayloadBytes; limit > def {
		t.Errorf("mosquitto max_packet_size %d is above the agent's ingest.max_payload_bytes %d: the agent would drop what the broker passed on", limit, def)
	}
	broker := testserver.MosquittoWith(t, fmt.Sprintf("allow_anonymous true\nmax_packet_size %d\n", limit))
	got := make(chan int, 10)
	sub := paho.NewClient(paho.NewClientOptions().AddBroker(broker).SetClientID("max-packet-sub"))
	if tok := sub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer sub.Disconnect(100)
	if tok := sub.Subscribe("t/#", 1, func(_ paho.Client, m paho.Message) { got <- len(m.Payload()) }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	pub := paho.NewClient(paho.NewClientOptions().AddBroker(broker).SetClientID("max-packet-pub"))
	if tok := pub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer pub.Disconnect(100)
	pub.Publish("t/big", 0, false, bytes.Repeat([]byte("x"), limit+1)).WaitTimeout(5 * time.Second)
	pub2 := paho.NewClient(paho.NewClientOptions().AddBroker(broker).SetClientID("max-packet-pub2"))
	if tok := pub2.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer pub2.Disconnect(100)
	if tok := pub2.Publish("t/small", 1, false, []byte(`{"value":3.5}`)); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	select {
	case n := <-got:
		if n != len(`{"value":3.5}`) {
			t.Errorf("the subscriber received a %d-byte message first; the oversize one passed the broker", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the normal message never arrived")
	}
}
