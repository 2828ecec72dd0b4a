package telemetry_test

import (
	"bytes"
	"os/exec"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/frostline/frostline/cloud/telemetry"
	"github.com/frostline/frostline/cloud/telemetry/influxtest"
	"github.com/frostline/frostline/edge/wire"
)

// TestMetricsLint registers the metrics of both consumers in one registry
// (they share names, told apart by the stream label) and has the real
// promtool check the exposition, as Prometheus will scrape it.
func TestMetricsLint(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	for _, s := range []string{wire.TelemetryStream, wire.IncidentStream} {
		m := telemetry.NewMetrics(reg, s)
		m.Messages.WithLabelValues("written").Inc()
		m.Points.Add(10)
		m.Write.Observe(0.01)
		m.Lag.Observe(1)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(influxtest.Binary(t, "promtool"), "check", "metrics")
	cmd.Stdin = &buf
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}
