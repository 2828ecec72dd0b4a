// Package prometheus_test checks the Prometheus configuration shipped for
// Frostline with the real promtool: the scrape configuration, the alert
// rules, and the rules' unit tests; and that every metric they use is one
// Frostline's code registers.
package prometheus_test

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/frostline/frostline/cloud/telemetry/influxtest"
)

func promtool(t *testing.T, args ...string) {
	t.Helper()
	bin := influxtest.Binary(t, "promtool")
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("promtool %s:\n%s", strings.Join(args, " "), out)
}

func TestCheckConfig(t *testing.T) { promtool(t, "check", "config", "prometheus.yml") }
func TestCheckRules(t *testing.T)  { promtool(t, "check", "rules", "frostline.rules.yml") }
func TestRules(t *testing.T)       { promtool(t, "test", "rules", "frostline.rules.test.yml") }

// TestRulesUseRegisteredMetrics fails on an alert about a metric nothing
// exports: such an alert would stay silent for ever.
func TestRulesUseRegisteredMetrics(t *testing.T) {
	b, err := os.ReadFile("frostline.rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	registered := map[string]bool{}
	name := regexp.MustCompile(`(?:Name:\s*|NewDesc\()"(frostline_[a-z_]+)"`)
	for _, dir := range []string{"../../edge", "../../cloud"} {
		err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return err
			}
			src, err := os.ReadFile(p)
			for _, m := range name.FindAllSubmatch(src, -1) {
				registered[string(m[1])] = true
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	used := regexp.MustCompile(`\bfrostline_[a-z_]+`).FindAllString(string(b), -1)
	if len(used) == 0 {
		t.Fatal("no frostline metric in the rules")
	}
	for _, m := range used {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_count"), "_sum")
		if !registered[base] {
			t.Errorf("rules use %s, which no code under edge/ or cloud/ registers", m)
		}
	}
}
