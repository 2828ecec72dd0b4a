package agent

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/frostline/frostline/edge/internal/edgetest"
	"github.com/frostline/frostline/edge/internal/testserver"
	"github.com/frostline/frostline/edge/wire"
)

// BenchmarkIncidentLatency measures, through mochi MQTT and embedded NATS
// (fsync on every write) on loopback, the time from publishing the reading
// that opens an incident to the incident reaching a core NATS subscriber
// on the stream's subject: MQTT delivery, evaluation, the fsynced outbox
// commit and the publish. JetStream's own store and ack come on top (the
// agent's frostline_edge_forward_lag_seconds measures commit to ack). It
// reports p50 and p99.
func BenchmarkIncidentLatency(b *testing.B) {
	_, broker := testserver.MQTT(b, "127.0.0.1:0")
	ns := testserver.NATS(b, b.TempDir(), -1)
	cfg := testConfig(b, b.TempDir(), broker, ns.ClientURL())
	r := startAgent(b, cfg)
	base := "http://" + <-r.addr
	waitReady(b, base)
	defer r.stop(b)

	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	got := make(chan time.Time, 16)
	sub, err := nc.Subscribe(wire.IncidentSubject("s1"), func(m *nats.Msg) {
		if inc, err := wire.DecodeIncident(m.Data); err == nil && inc.Event.Event == "opened" {
			got <- time.Now()
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Unsubscribe()
	pub := edgetest.NewPublisher(b, broker)
	msg := func(at time.Time, temp float64) edgetest.Message {
		return edgetest.Message{Topic: "sites/s1/assets/wic1/air_temp", Payload: fmt.Appendf(nil, `{"value": %g, "ts": %q}`, temp, at.Format(time.RFC3339))}
	}
	// The first incident also creates the streams; keep it out of the
	// figures.
	t := edgetest.Start
	var lat []time.Duration
	for i := -1; i < b.N; i++ {
		pub.Publish(b, []edgetest.Message{msg(t, 9.5)})
		t = t.Add(150 * time.Second)
		sent := time.Now()
		pub.Publish(b, []edgetest.Message{msg(t, 9.5)}) // opens: above 8 for 2m
		select {
		case at := <-got:
			if i >= 0 {
				lat = append(lat, at.Sub(sent))
			}
		case <-time.After(10 * time.Second):
			_, m := get(b, base+"/metrics")
			for _, l := range strings.Split(m, "\n") {
				if strings.HasPrefix(l, "frostline_edge_") {
					b.Log(l)
				}
			}
			b.Fatal("no incident")
		}
		for range 4 { // clears after a while back under 6 C
			t = t.Add(3 * time.Minute)
			pub.Publish(b, []edgetest.Message{msg(t, 3)})
		}
		t = t.Add(time.Minute)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
