package agent

import (
	"context"
	"fmt"
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

// BenchmarkIncidentLatency measures, through mochi MQTT and embedded NATS
// (fsync on every write) on loopback, the time from publishing the reading
// that opens an incident to the incident being stored in JetStream: MQTT
// delivery, evaluation, the fsynced outbox commit, the publish and
// JetStream's fsynced store, after which it acks the agent and delivers
// to consumers (an ordered consumer here). It reports p50 and p99.
func BenchmarkIncidentLatency(b *testing.B) {
	_, broker := testserver.MQTT(b, "127.0.0.1:0")
	ns := testserver.NATS(b, b.TempDir(), -1)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	// The stream as the agent makes it, so that a consumer can wait on it
	// from the start.
	if _, err := js.CreateOrUpdateStream(ctx, wire.IncidentStreamConfig); err != nil {
		b.Fatal(err)
	}
	cfg := testConfig(b, b.TempDir(), broker, ns.ClientURL())
	r := startAgent(b, cfg)
	base := "http://" + <-r.addr
	waitReady(b, base)
	defer r.stop(b)

	got := make(chan time.Time, 16)
	cons, err := js.OrderedConsumer(ctx, wire.IncidentStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{wire.IncidentSubject("s1")}, DeliverPolicy: jetstream.DeliverNewPolicy})
	if err != nil {
		b.Fatal(err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		if inc, err := wire.DecodeIncident(m.Data()); err == nil && inc.Event.Event == "opened" {
			got <- time.Now()
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	defer cc.Stop()
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
