package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name   string
		config string
		errs   []string // each must appear; none means valid
	}{
		{"minimal", "gateway: g\nsites: [s.yaml]\nnats: {url: nats://n:4222}\n", nil},
		{"unknown field", "gateway: g\nsites: [s.yaml]\nnats: {url: nats://n:4222}\nouttbox: {}\n", []string{"field outtbox not found"}},
		{"wrong type", "gateway: g\nsites: [s.yaml]\nnats: {url: nats://n:4222}\nmqtt: {qos: one}\n", []string{"cannot unmarshal"}},
		{"every field named", `gateway: "bad/id"
sites: []
rules: {default_pack: false, tick: -1s}
mqtt: {broker: "localhost", qos: 2, queue: 0, topics: [], read_gap: 1s}
nats: {url: ""}
outbox: {path: "", max_telemetry_batches: 0, max_telemetry_bytes: 10, max_batch: 0, checkpoint_every: -1s}
telemetry: {enabled: true, period: 10ms}
log: {level: chatty}
runtime: {max_procs: -1, gc_percent: 0, memory_limit: 1000}
`, []string{"gateway:", "sites:", "rules.paths:", "rules.tick:", "mqtt.broker:", "mqtt.qos:", "mqtt.queue:", "mqtt.topics:", "mqtt.read_gap:",
			"nats.url:", "outbox.path:", "outbox.max_telemetry_batches:", "outbox.max_telemetry_bytes:", "outbox.max_batch:",
			"outbox.checkpoint_every:", "telemetry.period:", "log.level:", "runtime.max_procs:", "runtime.gc_percent:", "runtime.memory_limit:"}},
		{"tls pair", "gateway: g\nsites: [s.yaml]\nnats: {url: nats://n:4222, tls: {cert_file: c.pem}}\n", []string{"nats.tls: cert_file and key_file go together"}},
		{"password without user", "gateway: g\nsites: [s.yaml]\nnats: {url: nats://n:4222}\nmqtt: {password_file: p}\n", []string{"mqtt.username: required with password_file"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ParseConfig("/etc/frostline/edge.yaml", []byte(tc.config))
			if len(tc.errs) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if cfg.Sites[0] != "/etc/frostline/s.yaml" || cfg.MQTT.QoS != 1 || cfg.Outbox.CheckpointEvery != 10*time.Second || cfg.Runtime.GCPercent != 40 || cfg.Runtime.MaxProcs != 1 || cfg.MQTT.ReadGap != 2*time.Millisecond {
					t.Errorf("defaults or path resolution: %+v", cfg)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, want := range tc.errs {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q:\n%v", want, err)
				}
			}
		})
	}
}

// FuzzParseConfig starts from the sample config shipped in deploy/: no
// input may crash the parser or pass validation with an empty gateway.
func FuzzParseConfig(f *testing.F) {
	sample, err := os.ReadFile(filepath.Join("..", "..", "deploy", "edge", "edge.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sample)
	f.Add([]byte("gateway: g\nsites: [s.yaml]\nnats: {url: nats://n:4222}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig("/etc/frostline/edge.yaml", data)
		if err == nil && (cfg.Gateway == "" || len(cfg.Sites) == 0 || cfg.NATS.URL == "") {
			t.Fatalf("invalid config accepted: %+v", cfg)
		}
	})
}
