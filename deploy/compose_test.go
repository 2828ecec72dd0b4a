package deploy_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/frostline/frostline/cloud/app"
)

type composeFile struct {
	Services map[string]struct {
		Image       string                                `yaml:"image"`
		Build       *struct{ Context, Dockerfile string } `yaml:"build"`
		Ports       []string                              `yaml:"ports"`
		Volumes     []string                              `yaml:"volumes"`
		Environment map[string]string                     `yaml:"environment"`
		DependsOn   any                                   `yaml:"depends_on"`
	} `yaml:"services"`
	Volumes map[string]any `yaml:"volumes"`
}

// TestCompose checks what can be checked of the compose file without a
// Docker engine: it parses, its files exist, and the hosts and ports that
// the cloud config, Prometheus and Grafana name are services of its own
// listening there.
func TestCompose(t *testing.T) {
	data, err := os.ReadFile("compose/docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	for _, want := range []string{"postgres", "nats", "influxdb", "frostline-cloud-1", "frostline-cloud-2", "prometheus", "grafana"} {
		if _, ok := c.Services[want]; !ok {
			t.Errorf("service %s missing", want)
		}
	}
	// Every bind mount's source exists beside the compose file.
	for name, s := range c.Services {
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if !strings.HasPrefix(src, ".") {
				if _, ok := c.Volumes[src]; !ok {
					t.Errorf("%s: named volume %q not declared", name, src)
				}
				continue
			}
			if _, err := os.Stat(filepath.Join("compose", src)); err != nil {
				t.Errorf("%s: mount source %s: %v", name, src, err)
			}
		}
		if s.Build != nil {
			df := filepath.Join("compose", s.Build.Context, s.Build.Dockerfile)
			if _, err := os.Stat(df); err != nil {
				t.Errorf("%s: Dockerfile: %v", name, err)
			}
		}
	}
	// The Dockerfile builds commands that exist.
	df, _ := os.ReadFile("compose/Dockerfile")
	for _, m := range regexp.MustCompile(`\./cmd/[a-z-]+`).FindAllString(string(df), -1) {
		if _, err := os.Stat(filepath.Join("..", m)); err != nil {
			t.Errorf("Dockerfile builds %s: %v", m, err)
		}
	}
	// The cloud's config is valid and points at the compose services.
	cfgData, err := os.ReadFile("compose/frostline-cloud.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := app.ParseConfig(cfgData)
	if err != nil {
		t.Fatalf("compose/frostline-cloud.yaml: %v", err)
	}
	hostPort := regexp.MustCompile(`//(?:[^@/]*@)?([a-z0-9-]+):(\d+)`)
	for _, url := range []string{cfg.Database.DSN, cfg.NATS.URL, cfg.Telemetry.URL} {
		m := hostPort.FindStringSubmatch(url)
		if m == nil {
			t.Errorf("no host:port in %q", url)
			continue
		}
		if _, ok := c.Services[m[1]]; !ok {
			t.Errorf("%s names host %s, which is not a service", url, m[1])
		}
	}
	if !strings.HasSuffix(cfg.Listen, ":8080") || !slices.Contains(c.Services["frostline-cloud-1"].Ports, "8080:8080") {
		t.Errorf("the cloud listens on %s; the compose file publishes %v", cfg.Listen, c.Services["frostline-cloud-1"].Ports)
	}
	// Work orders link to a provisioned dashboard on the published Grafana.
	panel := regexp.MustCompile(`^http://localhost:(\d+)/d/([a-z-]+)\?var-site=\{site\}&var-asset=\{asset\}&from=\{from\}&to=\{to\}$`).FindStringSubmatch(cfg.Triage.Panel)
	if panel == nil {
		t.Errorf("triage.panel_url %q: want the asset dashboard on localhost with site, asset and the window", cfg.Triage.Panel)
	} else {
		if !slices.Contains(c.Services["grafana"].Ports, panel[1]+":3000") {
			t.Errorf("triage.panel_url's port %s is not grafana's published port (%v)", panel[1], c.Services["grafana"].Ports)
		}
		if b, err := os.ReadFile("grafana/dashboards/store-equipment.json"); err != nil || !strings.Contains(string(b), `"uid": "`+panel[2]+`"`) {
			t.Errorf("triage.panel_url names dashboard %s, which is not the provisioned asset dashboard (%v)", panel[2], err)
		}
	}
	// Prometheus scrapes the replicas where they listen.
	prom, _ := os.ReadFile("prometheus/prometheus.yml")
	for _, target := range regexp.MustCompile(`frostline-cloud-\d+:\d+`).FindAllString(string(prom), -1) {
		svc, port, _ := strings.Cut(target, ":")
		if _, ok := c.Services[svc]; !ok || port != "8080" {
			t.Errorf("prometheus target %s is not a cloud replica on 8080", target)
		}
	}
	// Grafana's datasources resolve to services.
	for key, url := range c.Services["grafana"].Environment {
		if m := hostPort.FindStringSubmatch(url); m != nil {
			if _, ok := c.Services[m[1]]; !ok {
				t.Errorf("grafana %s=%s: no service %s", key, url, m[1])
			}
		}
	}
	prov, _ := os.ReadFile("grafana/provisioning/dashboards/frostline.yaml")
	if !strings.Contains(string(prov), "/var/lib/grafana/dashboards/frostline") ||
		!slices.ContainsFunc(c.Services["grafana"].Volumes, func(v string) bool { return strings.Contains(v, ":/var/lib/grafana/dashboards/frostline") }) {
		t.Error("grafana's dashboard provider path and the compose mount disagree")
	}
}
