package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckConfigSample keeps the sample config in deploy/edge valid.
func TestCheckConfigSample(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"check-config", "../../deploy/edge/edge.yaml"}, nil, &out, &out)
	if err != nil {
		t.Fatalf("sample config: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "ok (gateway gw-store-0001") {
		t.Errorf("output: %s", out.String())
	}
}

func TestCheckConfigErrors(t *testing.T) {
	tests := []struct {
		name, config string
		want         []string
	}{
		{"unknown field", "gateway: g\nsites: [s.yaml]\nnats: {url: nats://x:4222}\nmqtt: {brokr: tcp://x:1}\n", []string{"field brokr not found"}},
		{"fields named", "sites: []\nmqtt: {qos: 2, broker: x}\nnats: {url: http://x}\nlog: {level: loud}\n",
			[]string{"gateway: required", "sites: at least one", "mqtt.broker:", "mqtt.qos: 2", "nats.url:", "log.level:"}},
		{"bad template", "gateway: g\nsites: [s.yaml]\nnats: {url: nats://x:4222}\nmqtt: {topics: [{template: 'a/{metric}'}]}\n", []string{"mqtt.topics[0].template", "needs {asset}"}},
		{"bad site", "gateway: g\nsites: [bad-site.yaml]\nnats: {url: nats://x:4222}\n", []string{"bad-site.yaml:", "unknown class"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, "bad-site.yaml"), []byte("site: s\nassets:\n  - {id: a, class: igloo}\n"), 0o644)
			path := filepath.Join(dir, "edge.yaml")
			os.WriteFile(path, []byte(tc.config), 0o644)
			var out bytes.Buffer
			err := run(context.Background(), []string{"check-config", path}, nil, &out, &out)
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error() + "\n" + out.String()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q:\n%s", w, msg)
				}
			}
		})
	}
}

func TestUsage(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"--bogus"}, nil, &out, &out); err == nil {
		t.Error("unknown flag accepted")
	}
	if err := run(context.Background(), []string{"check-config"}, nil, &out, &out); err == nil {
		t.Error("check-config without a file accepted")
	}
}
