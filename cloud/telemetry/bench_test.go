package telemetry_test

import (
	"context"
	"testing"

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
