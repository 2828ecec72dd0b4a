package agent

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/frostline/frostline/edge/ingest"
	"github.com/frostline/frostline/edge/internal/edgetest"
	"github.com/frostline/frostline/edge/internal/testserver"
	"github.com/frostline/frostline/edge/outbox"
	"github.com/frostline/frostline/rules"
)

// benchStore is a site of n assets across the classes, with the series the
// default pack reads.
func benchStore(b testing.TB, n int) (*rules.Site, []rules.Reading) {
	classes := []struct {
		class   string
		metrics []string
	}{
		{"walk_in_cooler", []string{"air_temp", "defrost", "door_open", "compressor_on"}},
		{"walk_in_freezer", []string{"air_temp", "defrost", "door_open", "compressor_on"}},
		{"display_case_mt", []string{"air_temp", "defrost"}},
		{"display_case_lt", []string{"air_temp", "defrost"}},
		{"rooftop_unit", []string{"zone_temp", "return_air_temp", "supply_air_temp", "mode", "compressor_on", "fan_on"}},
	}
	var sb strings.Builder
	sb.WriteString("site: bench\nassets:\n")
	var series []rules.Reading
	for i := range n {
		c := classes[i%len(classes)]
		id := fmt.Sprintf("a%04d", i)
		fmt.Fprintf(&sb, "  - {id: %s, class: %s}\n", id, c.class)
		for _, m := range c.metrics {
			series = append(series, rules.Reading{Site: "bench", Asset: id, Metric: rules.LookupMetric(m)})
		}
	}
	site, err := rules.ParseSite("bench.yaml", []byte(sb.String()))
	if err != nil {
		b.Fatal(err)
	}
	return site, series
}

// value gives series s a plausible value at step k.
func value(r *rules.Reading, k int) float64 {
	switch r.Metric.String() {
	case "air_temp":
		return 3 + math.Sin(float64(k)/10)
	case "zone_temp", "return_air_temp":
		return 23
	case "supply_air_temp":
		return 13
	case "mode":
		return 1
	default:
		return float64((k / 7) % 2)
	}
}

// BenchmarkPipeline measures the processor alone on the default pack:
// readings through the engine and telemetry, committed to a real outbox
// (checkpoint and fsync) every max_batch messages, as under load.
func BenchmarkPipeline(b *testing.B) {
	for _, assets := range []int{100, 1250} {
		b.Run(fmt.Sprintf("assets=%d", assets), func(b *testing.B) {
			site, series := benchStore(b, assets)
			cfg := DefaultConfig()
			cfg.Gateway = "bench"
			l, err := loadRules(&cfg)
			if err != nil {
				b.Fatal(err)
			}
			l.sites = []*rules.Site{site}
			ob, err := outbox.Open(filepath.Join(b.TempDir(), "outbox.db"), outbox.Options{}, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer ob.Close()
			p := newProcessor(&cfg, quiet, time.Now, newMetrics(prometheus.NewRegistry()), ob)
			if err := p.start(l); err != nil {
				b.Fatal(err)
			}
			t0 := time.Date(2026, 7, 6, 0, 0, 0, 0, time.UTC)
			b.ReportAllocs()
			k := 0
			for b.Loop() {
				r := series[k%len(series)]
				step := k / len(series)
				r.At = t0.Add(time.Duration(step) * 30 * time.Second)
				r.Value = value(&r, step)
				p.handle(ingest.NewMessage([]rules.Reading{r}, nil))
				if len(p.pending) >= cfg.Outbox.MaxBatch || len(p.events) > 0 {
					if err := p.commit(); err != nil {
						b.Fatal(err)
					}
				}
				k++
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "readings/s")
			b.ReportMetric(float64(len(series)), "series")
			p.forceCheckpoint = true
			p.commit()
			cp, _, _ := ob.Checkpoint()
			b.ReportMetric(float64(len(cp)), "checkpoint-bytes")
		})
	}
}

// BenchmarkMosquittoToOutbox measures the whole agent, fed by a real
// mosquitto at QoS 1, on the default pack: readings per second end to end,
// and the CPU time of this process (agent and publisher) per reading.
func BenchmarkMosquittoToOutbox(b *testing.B) {
	broker := testserver.Mosquitto(b)
	ns := testserver.NATS(b, b.TempDir(), -1)
	dir := b.TempDir()
	site, series := benchStore(b, 200)
	var sb strings.Builder
	sb.WriteString("site: bench\nassets:\n")
	for _, a := range site.Assets {
		fmt.Fprintf(&sb, "  - {id: %s, class: %s}\n", a.ID, a.Class)
	}
	siteFile := filepath.Join(dir, "site.yaml")
	writeFile(b, siteFile, sb.String())
	cfg := DefaultConfig()
	cfg.Gateway, cfg.Sites = "bench", []string{siteFile}
	cfg.Rules.Tick, cfg.Rules.Watch = 0, 0
	cfg.MQTT.Broker, cfg.NATS.URL, cfg.NATS.EnsureStreams = broker, ns.ClientURL(), true
	cfg.Outbox.Path = filepath.Join(dir, "outbox.db")
	cfg.HTTP.Listen = ""
	reg := prometheus.NewRegistry()
	a := New(&cfg, quiet, Options{Registry: reg})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	counted := func() float64 { return gathered(reg, "frostline_edge_readings_total") }
	commits0 := gathered(reg, "frostline_edge_outbox_commits_total")
	t0 := time.Date(2026, 7, 6, 0, 0, 0, 0, time.UTC)
	msgs := make([]edgetest.Message, b.N)
	for k := range msgs {
		r := series[k%len(series)]
		step := k / len(series)
		at := t0.Add(time.Duration(step) * 30 * time.Second)
		msgs[k] = edgetest.Message{
			Topic:   fmt.Sprintf("sites/bench/assets/%s/%s", r.Asset, r.Metric),
			Payload: fmt.Appendf(nil, `{"value": %g, "ts": %d}`, value(&r, step), at.UnixMilli()),
		}
	}
	pub := edgetest.NewPublisher(b, broker)
	time.Sleep(200 * time.Millisecond) // let the agent subscribe
	var ru0, ru1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	b.ResetTimer()
	pub.PublishAsync(b, msgs)
	for deadline := time.Now().Add(5 * time.Minute); counted() < float64(b.N); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("readings did not all arrive: %s", stalled(reg))
		}
	}
	b.StopTimer()
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := time.Duration(ru1.Utime.Nano()-ru0.Utime.Nano()) + time.Duration(ru1.Stime.Nano()-ru0.Stime.Nano())
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "readings/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-us/reading")
	b.ReportMetric(float64(b.N)/(gathered(reg, "frostline_edge_outbox_commits_total")-commits0), "readings/commit")
}

// stalled describes where the readings went, for a benchmark that timed
// out waiting for them.
func stalled(reg *prometheus.Registry) string {
	var sb strings.Builder
	for _, name := range []string{"frostline_edge_mqtt_messages_total", "frostline_edge_readings_total", "frostline_edge_ingest_dropped_total",
		"frostline_edge_mqtt_decode_errors_total", "frostline_edge_mqtt_reconnects_total", "frostline_edge_outbox_commits_total"} {
		fmt.Fprintf(&sb, "%s=%g ", name, gathered(reg, name))
	}
	return sb.String()
}

// gathered sums a counter family's values.
func gathered(reg *prometheus.Registry, name string) float64 {
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == name {
			var n float64
			for _, m := range mf.GetMetric() {
				n += m.GetCounter().GetValue()
			}
			return n
		}
	}
	return 0
}
