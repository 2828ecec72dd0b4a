package telemetry_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/frostline/frostline/cloud/telemetry"
	"github.com/frostline/frostline/cloud/telemetry/influxtest"
	"github.com/frostline/frostline/edge/wire"
)

// BenchmarkWriteVictoriaMetrics measures the writer's throughput into a
// local InfluxDB-protocol server (victoria-metrics, /api/v2/write) with
// the sample's own telemetry, one request of about BatchSize points per
// op, as one consumer replica writes. Target: >= 100,000 points/s.
func BenchmarkWriteVictoriaMetrics(b *testing.B) {
	vm := influxtest.StartVictoriaMetrics(b)
	sample := influxtest.ReplaySample(b, 0)
	cfg := telemetry.DefaultConfig()
	cfg.URL, cfg.Token, cfg.Bucket = vm.URL, "bench", "frostline"
	w, err := telemetry.NewWriter(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	// Requests of whole telemetry messages, about BatchSize points each,
	// as the consumer gathers them.
	var reqs [][]*wire.Telemetry
	var cur []*wire.Telemetry
	n, total := 0, 0
	for i := range sample.Telemetry {
		t := &sample.Telemetry[i]
		cur = append(cur, t)
		n += len(t.Rollups) + len(t.Signals)
		if n >= cfg.BatchSize {
			reqs = append(reqs, cur)
			total += n
			cur, n = nil, 0
		}
	}
	ctx := context.Background()
	points := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := reqs[i%len(reqs)]
		if err := w.WriteTelemetry(ctx, req...); err != nil {
			b.Fatal(err)
		}
		for _, t := range req {
			points += len(t.Rollups) + len(t.Signals)
		}
	}
	b.ReportMetric(float64(points)/b.Elapsed().Seconds(), "points/s")
	b.ReportMetric(float64(total)/float64(len(reqs)), "points/req")
}

// BenchmarkConsumerDrain measures how fast one replica drains a backlog
// from JetStream into victoria-metrics: the whole sample (17,000 messages,
// 316,000 points) per op, published before the clock starts, as after an
// InfluxDB outage. Run with -benchtime 1x or 2x.
func BenchmarkConsumerDrain(b *testing.B) {
	vm := influxtest.StartVictoriaMetrics(b)
	sample := influxtest.ReplaySample(b, 0)
	ns := runNATS(b)
	nc := connect(b, ns)
	cfg := telemetry.DefaultConfig()
	cfg.URL, cfg.Token, cfg.Bucket = vm.URL, "bench", "frostline"
	w, err := telemetry.NewWriter(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	// The consumer is made (and the stream with it) before publishing,
	// and run once the backlog is there.
	c, err := telemetry.NewConsumer(context.Background(), nc, telemetry.TelemetrySource, w, nil, quiet(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	for i := 0; i < b.N; i++ {
		batches := make([]wire.Telemetry, len(sample.Telemetry))
		for j := range sample.Telemetry {
			batches[j] = sample.Telemetry[j]
			batches[j].Batch = fmt.Sprintf("%s-%d", batches[j].Batch, i)
		}
		publish(b, nc, batches)
	}
	total := uint64(b.N * len(sample.Telemetry))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	b.StartTimer()
	// Drains the backlog; stopped below.
	go func() { done <- c.Run(ctx) }()
	waitAcked(b, nc, cfg.Durable, total, 10*time.Minute)
	b.StopTimer()
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	rollups, signals := sample.Points()
	b.ReportMetric(float64(b.N*(rollups+signals))/b.Elapsed().Seconds(), "points/s")
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "msgs/s")
}
