package deploy_test

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// unitFile is a systemd unit: section -> key -> values, in order (a key
// may repeat).
type unitFile map[string]map[string][]string

// parseUnit reads a unit file as systemd does: [Section] headers, key=value
// lines, # and ; comments, backslash continuations.
func parseUnit(t *testing.T, path string) unitFile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := unitFile{}
	section := ""
	sc := bufio.NewScanner(f)
	n := 0
	var cont string
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if cont != "" {
			line, cont = cont+" "+line, ""
		}
		if strings.HasSuffix(line, `\`) {
			cont = strings.TrimSuffix(line, `\`)
			continue
		}
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[' && line[len(line)-1] == ']':
			section = line[1 : len(line)-1]
			if u[section] == nil {
				u[section] = map[string][]string{}
			}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: not a key=value line in a section: %q", path, n, line)
			}
			u[section][strings.TrimSpace(k)] = append(u[section][strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return u
}

// last is a key's effective value (the last one set), "" when unset.
func (u unitFile) last(section, key string) string {
	vs := u[section][key]
	if len(vs) == 0 {
		return ""
	}
	return vs[len(vs)-1]
}

// TestUnitsRestartForever is issue 20 item 1: every service restarts after
// any exit, a few seconds apart, and never hits systemd's start limit
// (5 starts in 10 s by default, after which the unit stays failed). The
// limit is a [Unit] setting: in [Service] systemd ignores it with a
// warning, which is where the edge unit had it.
func TestUnitsRestartForever(t *testing.T) {
	units, err := filepath.Glob("*/*.service")
	if err != nil || len(units) < 2 {
		t.Fatalf("unit files: %v %v", units, err)
	}
	for _, path := range units {
		u := parseUnit(t, path)
		if u["Service"] == nil || u["Unit"] == nil {
			t.Errorf("%s: wants [Unit] and [Service] sections", path)
			continue
		}
		if got := u.last("Service", "Restart"); got != "always" {
			t.Errorf("%s: Restart=%q, want always (a replica or agent that exits for any reason comes back)", path, got)
		}
		rs := u.last("Service", "RestartSec")
		d, err := time.ParseDuration(rs)
		if err != nil {
			d, err = time.ParseDuration(rs + "s") // systemd's bare number is seconds
		}
		if err != nil || d < time.Second || d > 30*time.Second {
			t.Errorf("%s: RestartSec=%q, want 1s to 30s", path, rs)
		}
		if got := u.last("Unit", "StartLimitIntervalSec"); got != "0" {
			t.Errorf("%s: [Unit] StartLimitIntervalSec=%q, want 0 (no start limit)", path, got)
		}
		for _, k := range []string{"StartLimitIntervalSec", "StartLimitInterval", "StartLimitBurst"} {
			if _, ok := u["Service"][k]; ok {
				t.Errorf("%s: %s in [Service], where systemd ignores it; it belongs in [Unit]", path, k)
			}
		}
	}
}
