// Package edgetest holds the fixtures the edge agent's end-to-end tests
// share: a generated store replay with known anomalies, the incidents an
// uninterrupted run of the rule engine raises on it, an MQTT publisher and
// a JetStream reader.
package edgetest

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/frostline/frostline/edge/telemetry"
	"github.com/frostline/frostline/edge/wire"
	"github.com/frostline/frostline/rules"
)

// Site is the test store's site file.
const Site = `site: s1
name: Test store
timezone: UTC
assets:
  - {id: wic1, class: walk_in_cooler}
  - {id: wic2, class: walk_in_cooler}
  - {id: wif1, class: walk_in_freezer}
  - {id: rtu1, class: rooftop_unit}
`

// Rules are the test rules: a temperature threshold with hysteresis and a
// door held open, both driven by readings alone (no wall clock).
const Rules = `rules:
  - id: temp-high
    kind: threshold
    match: {class: [walk_in_cooler]}
    metric: air_temp
    above: 8
    for: 2m
    clear: 6
    problem: temp_high
    priority: P2
    trade: refrigeration
    title: "{{.AssetName}} too warm"
  - id: freezer-high
    kind: threshold
    match: {class: [walk_in_freezer]}
    metric: air_temp
    above: -12
    for: 2m
    problem: temp_high
    priority: P1
    trade: refrigeration
    title: "{{.AssetName}} too warm"
  - id: door-ajar
    kind: state
    match: {class: [walk_in_cooler, walk_in_freezer]}
    metric: door_open
    for: 5m
    problem: door_ajar
    priority: P3
    trade: general
    title: "{{.AssetName}} door open"
`

// ExtraRule is a rule a hot-reload test adds.
const ExtraRule = `
  - id: rtu-mode-heat
    kind: state
    match: {class: [rooftop_unit]}
    metric: mode
    state: 2
    for: 1m
    problem: cooling_failure
    priority: P3
    trade: hvac
    title: "{{.AssetName}} heating"
`

// Start is the replay's first timestamp.
var Start = time.Date(2026, 7, 6, 6, 0, 0, 0, time.UTC)

// Message is one MQTT message of the replay and the readings it carries.
type Message struct {
	Topic    string
	Payload  []byte
	Readings []rules.Reading
}

// WriteFiles writes the site and rules into dir and returns their paths.
func WriteFiles(t testing.TB, dir string) (site, rulesFile string) {
	t.Helper()
	site, rulesFile = filepath.Join(dir, "site.yaml"), filepath.Join(dir, "rules", "test.yaml")
	if err := os.MkdirAll(filepath.Dir(rulesFile), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(site, []byte(Site), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rulesFile, []byte(Rules), 0o644); err != nil {
		t.Fatal(err)
	}
	return site, rulesFile
}

// Replay generates minutes of readings, one per-asset JSON message per
// asset every 30 s, with anomalies: each cooler warms past 8 C a few
// times, its door is left open now and then, the freezer fails once, the
// RTU switches to heat. The anomalies' timing depends only on the minute.
func Replay(minutes int) []Message {
	var out []Message
	for step := 0; step < minutes*2; step++ {
		at := Start.Add(time.Duration(step) * 30 * time.Second)
		m := step / 2
		for ai, asset := range []string{"wic1", "wic2", "wif1", "rtu1"} {
			values := map[string]any{}
			switch asset {
			case "wic1", "wic2":
				temp := 3.5 + 0.5*math.Sin(float64(step)/7)
				if (m+ai*13)%47 < 9 {
					temp = 9.5 // a warm spell of 9 minutes
				}
				door := 0
				if (m+ai*5)%61 < 7 {
					door = 1
				}
				values["air_temp"], values["door_open"] = round(temp), door
			case "wif1":
				temp := -19.0
				if m%90 >= 40 && m%90 < 55 {
					temp = -9
				}
				values["air_temp"], values["door_open"] = temp, 0
			case "rtu1":
				mode := "cool"
				if m%33 < 6 {
					mode = "heat"
				}
				values["mode"], values["zone_temp"] = mode, 22.5
			}
			payload, _ := json.Marshal(map[string]any{"ts": at.Format(time.RFC3339), "values": values})
			msg := Message{Topic: "sites/s1/assets/" + asset, Payload: payload}
			names := make([]string, 0, len(values))
			for k := range values {
				names = append(names, k)
			}
			slices.Sort(names)
			for _, name := range names {
				id := rules.LookupMetric(name)
				var v float64
				switch x := values[name].(type) {
				case float64:
					v = x
				case int:
					v = float64(x)
				case string:
					v, _ = rules.WordValue(id, x)
				}
				msg.Readings = append(msg.Readings, rules.Reading{Site: "s1", Asset: asset, Metric: id, At: at, Value: v})
			}
			out = append(out, msg)
		}
	}
	return out
}

func round(v float64) float64 { return math.Round(v*100) / 100 }

// Expected runs the rule engine over the replay without interruption and
// returns the message ids of the incident events it raises, in order.
func Expected(t testing.TB, rulesYAML string, msgs []Message) []string {
	t.Helper()
	rs, err := rules.Parse("rules.yaml", []byte(rulesYAML))
	if err != nil {
		t.Fatal(err)
	}
	set, err := rules.Compile(rs)
	if err != nil {
		t.Fatal(err)
	}
	site, err := rules.ParseSite("site.yaml", []byte(Site))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := rules.NewEngine(set, []*rules.Site{site}, rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var evs []rules.Event
	for _, m := range msgs {
		for _, r := range m.Readings {
			if evs, err = eng.Observe(evs, r); err != nil {
				t.Fatal(err)
			}
		}
	}
	ids := make([]string, len(evs))
	for i := range evs {
		ids[i] = evs[i].MsgID()
	}
	return ids
}

// ExpectedTelemetry runs the telemetry aggregator over the replay without
// interruption, as an agent of gateway with one-minute periods does, and
// returns every batch's JSON by batch id, the last minute's included (an
// agent emits that one only once the wall clock closes it), and the ids
// in order.
func ExpectedTelemetry(t testing.TB, gateway string, msgs []Message) (map[string][]byte, []string) {
	t.Helper()
	site, err := rules.ParseSite("site.yaml", []byte(Site))
	if err != nil {
		t.Fatal(err)
	}
	class := map[string]string{}
	for _, a := range site.Assets {
		class[a.ID] = a.Class
	}
	agg := telemetry.New(time.Minute, gateway, func(_, asset string) string { return class[asset] })
	arrived := time.Now()
	for _, m := range msgs {
		for _, r := range m.Readings {
			agg.Add(r, arrived)
		}
	}
	out := map[string][]byte{}
	var ids []string
	for _, b := range agg.Flush(nil, arrived.Add(time.Hour)) {
		data, err := b.AppendJSON(nil)
		if err != nil {
			t.Fatal(err)
		}
		out[b.Batch] = data
		ids = append(ids, b.Batch)
	}
	return out, ids
}

// Publisher is an MQTT client publishing at QoS 1.
type Publisher struct{ c paho.Client }

// NewPublisher connects a publisher to broker.
func NewPublisher(t testing.TB, broker string) *Publisher {
	t.Helper()
	o := paho.NewClientOptions().AddBroker(broker).SetClientID(fmt.Sprintf("replay-%d", time.Now().UnixNano())).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(100 * time.Millisecond)
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publisher connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return &Publisher{c: c}
}

// Publish sends msgs at QoS 1, waiting for each broker ack.
func (p *Publisher) Publish(t testing.TB, msgs []Message) {
	t.Helper()
	for _, m := range msgs {
		tok := p.c.Publish(m.Topic, 1, false, m.Payload)
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %s: %v", m.Topic, tok.Error())
		}
	}
}

// StreamIDs returns the Nats-Msg-Id of every message in stream, in order.
func StreamIDs(t testing.TB, url, stream string) []string {
	t.Helper()
	ids, _ := StreamMessages(t, url, stream)
	return ids
}

// StreamMessages returns the Nats-Msg-Id and data of every message in
// stream, in order.
func StreamMessages(t testing.TB, url, stream string) (ids []string, data [][]byte) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, nil
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := wire.DecodeIncident(m.Data); stream == wire.IncidentStream && err != nil {
			t.Fatalf("stream message %d: %v", seq, err)
		}
		ids = append(ids, m.Header.Get(wire.MsgIDHeader))
		data = append(data, m.Data)
	}
	return ids, data
}

// WaitStream waits until stream holds n messages (or the timeout).
func WaitStream(t testing.TB, url, stream string, n int, timeout time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ids := StreamIDs(t, url, stream)
		if len(ids) >= n || time.Now().After(deadline) {
			return ids
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// PublishPaced sends msgs at QoS 1 at perSecond messages a second, spread
// evenly over slots of 1 ms as sensors' readings arrive, then waits for
// every ack.
func (p *Publisher) PublishPaced(t testing.TB, msgs []Message, perSecond int) {
	t.Helper()
	const slot = time.Millisecond
	per := max(1, perSecond/int(time.Second/slot))
	var toks []paho.Token
	start := time.Now()
	for i := 0; i < len(msgs); i += per {
		time.Sleep(time.Until(start.Add(time.Duration(i/per) * slot)))
		for _, m := range msgs[i:min(i+per, len(msgs))] {
			toks = append(toks, p.c.Publish(m.Topic, 1, false, m.Payload))
		}
	}
	for _, tok := range toks {
		if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
	}
}

// PublishAsync sends msgs at QoS 1 without waiting for each ack, then
// waits for all of them: a publisher as fast as the broker takes it.
func (p *Publisher) PublishAsync(t testing.TB, msgs []Message) {
	t.Helper()
	toks := make([]paho.Token, 0, 4096)
	flush := func() {
		for _, tok := range toks {
			if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
				t.Fatalf("publish: %v", tok.Error())
			}
		}
		toks = toks[:0]
	}
	for _, m := range msgs {
		toks = append(toks, p.c.Publish(m.Topic, 1, false, m.Payload))
		if len(toks) == cap(toks) {
			flush()
		}
	}
	flush()
}

// SparkplugMetric builds a Sparkplug B metric: fields are (number, value)
// pairs with value a string, uint64, float64 (double) or bool.
func SparkplugMetric(fields ...any) []byte {
	var b []byte
	for i := 0; i < len(fields); i += 2 {
		num := protowire.Number(fields[i].(int))
		switch v := fields[i+1].(type) {
		case string:
			b = protowire.AppendTag(b, num, protowire.BytesType)
			b = protowire.AppendString(b, v)
		case uint64:
			b = protowire.AppendTag(b, num, protowire.VarintType)
			b = protowire.AppendVarint(b, v)
		case bool:
			b = protowire.AppendTag(b, num, protowire.VarintType)
			b = protowire.AppendVarint(b, protowire.EncodeBool(v))
		case float64:
			b = protowire.AppendTag(b, num, protowire.Fixed64Type)
			b = protowire.AppendFixed64(b, math.Float64bits(v))
		}
	}
	return b
}

// SparkplugPayload builds a Sparkplug B payload: its timestamp (ms since
// the epoch; 0 for none) and its metrics.
func SparkplugPayload(ms uint64, metrics ...[]byte) []byte {
	var b []byte
	if ms > 0 {
		b = protowire.AppendTag(b, 1, protowire.VarintType)
		b = protowire.AppendVarint(b, ms)
	}
	for _, m := range metrics {
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendBytes(b, m)
	}
	return b
}
