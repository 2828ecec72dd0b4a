package agent

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/frostline/frostline/edge/internal/edgetest"
	"github.com/frostline/frostline/edge/internal/testserver"
	"github.com/frostline/frostline/edge/wire"
)

// offlineRules judge silence as the default pack does: a sensor after 15
// min, the store after 10. Only a last will can open them within this
// test's few seconds.
const offlineRules = `rules:
  - id: sensor-offline
    kind: missing
    match: {class: [walk_in_cooler, walk_in_freezer]}
    metric: air_temp
    after: 15m
    problem: sensor_offline
    priority: P3
    trade: controls
    title: "{{.AssetName}}: temperature sensor offline"
  - id: gateway-offline
    kind: missing
    scope: site
    after: 10m
    problem: gateway_offline
    priority: P2
    trade: controls
    title: "{{.Site}}: store gateway offline"
`

// TestAgentLastWill: a device that drops off the real mosquitto without a
// goodbye has its will published by the broker, and the agent opens its
// sensor_offline incident at once; the store bridge's will opens one
// gateway_offline for the site.
func TestAgentLastWill(t *testing.T) {
	if testing.Short() {
		t.Skip("needs mosquitto")
	}
	broker := testserver.Mosquitto(t)
	ns := testserver.NATS(t, t.TempDir(), -1)
	dir := t.TempDir()
	cfg := testConfig(t, dir, broker, ns.ClientURL())
	writeFile(t, filepath.Join(dir, "rules", "test.yaml"), offlineRules)
	cfg.MQTT.Sparkplug = true
	cfg.MQTT.StatusTopics = []TopicConfig{{Template: "sites/{site}/assets/{asset}/status"}, {Template: "sites/{site}/bridge/status"}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	r := startAgent(t, cfg)
	defer r.stop(t)
	base := "http://" + <-r.addr
	waitReady(t, base)

	// Both coolers report, stamped now (the agent checks readings
	// against its wall clock).
	pub := edgetest.NewPublisher(t, broker)
	now := time.Now().UTC().Truncate(time.Second)
	var msgs []edgetest.Message
	for i := range 3 {
		for _, a := range []string{"wic1", "wic2"} {
			msgs = append(msgs, edgetest.Message{Topic: "sites/s1/assets/" + a + "/air_temp",
				Payload: fmt.Appendf(nil, `{"value": 3.5, "ts": %q}`, now.Add(time.Duration(i-3)*time.Second).Format(time.RFC3339))})
		}
	}
	// The freezer is a Sparkplug device of node rack-ctl (bdSeq 7).
	ms := uint64(now.Add(-2 * time.Second).UnixMilli())
	msgs = append(msgs,
		edgetest.Message{Topic: "spBv1.0/s1/NBIRTH/rack-ctl", Payload: spbPayload(ms, spbMetric("bdSeq", 7))},
		edgetest.Message{Topic: "spBv1.0/s1/DBIRTH/rack-ctl/wif1", Payload: spbPayload(ms, spbMetric("air_temp", -20))})
	pub.Publish(t, msgs)

	// wic1's controller connects with a will, then its link dies.
	dropOff(t, broker, "wic1-controller", "sites/s1/assets/wic1/status", []byte("offline"))
	opened := waitIncident(t, ns.ClientURL(), "sensor-offline", "wic1")
	if opened.Asset != "wic1" || opened.Problem != "sensor_offline" || opened.Event.Event != "opened" {
		t.Errorf("incident %+v, want wic1's sensor_offline opened", opened.Event)
	}
	if !opened.Started.Equal(now.Add(-time.Second)) {
		t.Errorf("started %s, want the last reading %s: the id the silence threshold would give", opened.Started, now.Add(-time.Second))
	}

	// The rack controller's NDEATH, as its will: its device goes offline.
	dropOff(t, broker, "rack-ctl", "spBv1.0/s1/NDEATH/rack-ctl", spbPayload(0, spbMetric("bdSeq", 7)))
	if in := waitIncident(t, ns.ClientURL(), "sensor-offline", "wif1"); !in.Started.Equal(time.UnixMilli(int64(ms)).UTC()) {
		t.Errorf("wif1 offline from %s, want its birth at %s", in.Started, time.UnixMilli(int64(ms)).UTC())
	}

	// The store's bridge says it has gone: one site incident.
	pub.Publish(t, []edgetest.Message{{Topic: "sites/s1/bridge/status", Payload: []byte(`{"state":"offline"}`)}})
	gw := waitIncident(t, ns.ClientURL(), "gateway-offline", "*")
	if gw.Site != "s1" || gw.Problem != "gateway_offline" {
		t.Errorf("incident %+v, want s1's gateway_offline", gw.Event)
	}
	_, metrics := get(t, base+"/metrics")
	if !strings.Contains(metrics, `frostline_edge_device_status_total{state="offline"} 3`+"\n") {
		t.Errorf("/metrics lacks two offline statuses:\n%s", grepLines(metrics, "status"))
	}
}

// dropOff connects an MQTT client with a will and cuts its link without a
// DISCONNECT, so that the broker publishes the will.
func dropOff(t *testing.T, broker, clientID, willTopic string, will []byte) {
	t.Helper()
	var conn net.Conn
	o := paho.NewClientOptions().AddBroker(broker).SetClientID(clientID).
		SetBinaryWill(willTopic, will, 1, false).SetAutoReconnect(false).
		SetCustomOpenConnectionFn(func(u *url.URL, _ paho.ClientOptions) (net.Conn, error) {
			c, err := net.Dial("tcp", u.Host)
			conn = c
			return c, err
		})
	dev := paho.NewClient(o)
	if tok := dev.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("%s connect: %v", clientID, tok.Error())
	}
	conn.Close()
	t.Cleanup(func() { dev.Disconnect(0) })
}

// spbMetric is a named Sparkplug metric holding a double.
func spbMetric(name string, v float64) []byte {
	return edgetest.SparkplugMetric(1, name, 4, uint64(10), 13, v)
}

var spbPayload = edgetest.SparkplugPayload

// waitIncident waits for the first incident event of rule on asset in
// JetStream.
func waitIncident(t *testing.T, natsURL, rule, asset string) wire.Incident {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		_, data := edgetest.StreamMessages(t, natsURL, wire.IncidentStream)
		for _, d := range data {
			in, err := wire.DecodeIncident(d)
			if err != nil {
				t.Fatalf("incident on the wire: %v", err)
			}
			if in.Rule == rule && in.Asset == asset {
				return in
			}
		}
	}
	t.Fatalf("no %s incident of %s reached JetStream", rule, asset)
	return wire.Incident{}
}

func grepLines(s, sub string) string {
	var out []string
	for l := range strings.SplitSeq(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
