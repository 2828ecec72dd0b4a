package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/frostline/frostline/rules"
)

// runCLI runs the command line as main would and returns its exit status.
func runCLI(t *testing.T, args ...string) (status int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, nil, &out, &errOut)
	var ex exitError
	switch {
	case errors.As(err, &ex):
		status = int(ex)
	case err != nil:
		status = 1
		errOut.WriteString(err.Error())
	}
	return status, out.String(), errOut.String()
}

func TestRulesCheck(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		status int
		stdout string
		stderr []string
	}{
		{"default pack", []string{"../../rules/packs/default"}, 0, "ok: ", nil},
		{"bad file names file, line, rule", []string{"testdata/bad.yaml"}, 1, "", []string{
			`testdata/bad.yaml:5:13: rule "too-warm": metric: unknown metric "air_temperature"`,
			`testdata/bad.yaml:7:10: rule "too-warm": for: bad duration "10 minutes"`,
			"2 error(s)",
		}},
		{"missing path", []string{"testdata/nope.yaml"}, 1, "", []string{"nope.yaml"}},
		{"no path", nil, 2, "", []string{"usage"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, stdout, stderr := runCLI(t, append([]string{"rules", "check"}, tt.args...)...)
			if status != tt.status {
				t.Fatalf("status %d, want %d\nstdout: %s\nstderr: %s", status, tt.status, stdout, stderr)
			}
			if !strings.Contains(stdout, tt.stdout) {
				t.Errorf("stdout %q lacks %q", stdout, tt.stdout)
			}
			for _, want := range tt.stderr {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
		})
	}
}

func TestRulesReplay(t *testing.T) {
	out := filepath.Join(t.TempDir(), "incidents.jsonl")
	status, _, stderr := runCLI(t, "rules", "replay", "--site", "testdata/store.yaml", "--data", "testdata/readings.csv", "--out", out)
	if status != 0 {
		t.Fatalf("status %d: %s", status, stderr)
	}
	// Bad lines are counted and named by line number, and never stop the run.
	for _, want := range []string{"4 bad lines", "line 33: unknown metric", "line 35: bad value", "line 37: bad timestamp", "line 39: rules: unknown asset", "readings/s"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("summary lacks %q:\n%s", want, stderr)
		}
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var opened []rules.Event
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var ev rules.Event
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("bad JSON line %q: %v", line, err)
		}
		for _, field := range []string{ev.Incident, ev.Site, ev.Asset, ev.Rule, ev.Problem, ev.Priority, ev.Trade, ev.Summary} {
			if field == "" {
				t.Errorf("event lacks a required field: %s", line)
			}
		}
		if ev.Event == rules.Opened {
			opened = append(opened, ev)
		}
	}
	problems := map[string]bool{}
	for _, ev := range opened {
		problems[ev.Problem] = true
		if ev.At.Hour() < 1 {
			t.Errorf("%s opened at %s, before the failure at 01:00", ev.Rule, ev.At)
		}
	}
	if !problems["temp_high"] {
		t.Errorf("the failure raised no temp_high; opened: %v", problems)
	}
	// The same input gives the same bytes.
	out2 := filepath.Join(t.TempDir(), "again.jsonl")
	runCLI(t, "rules", "replay", "--quiet", "--site", "testdata/store.yaml", "--data", "testdata/readings.csv", "--out", out2)
	again, _ := os.ReadFile(out2)
	if !bytes.Equal(data, again) {
		t.Error("a second replay of the same readings wrote different events")
	}
}

func TestRulesReplayUsage(t *testing.T) {
	for _, args := range [][]string{
		{"rules", "replay"},
		{"rules", "replay", "--site", "testdata/store.yaml"},
		{"rules", "replay", "--data", "testdata/readings.csv"},
	} {
		if status, _, _ := runCLI(t, args...); status != 2 {
			t.Errorf("%v: status %d, want 2", args, status)
		}
	}
	status, _, stderr := runCLI(t, "rules", "replay", "--rules", "testdata/bad.yaml", "--site", "testdata/store.yaml", "--data", "testdata/readings.csv")
	if status == 0 || !strings.Contains(stderr, "bad.yaml:5:13") {
		t.Errorf("bad rules: status %d, stderr %s", status, stderr)
	}
}

func TestRecordedDemo(t *testing.T) {
	status, stdout, stderr := runCLI(t, "demo", "--recorded")
	if status != 0 {
		t.Fatalf("status %d: %s", status, stderr)
	}
	// The recorded store's cooler loses its compressor at 05:00 and its
	// freezer at 10:15: each is one incident, called while the food is
	// still safe, with the predicted breach on it, and raised to P1 as the
	// breach nears.
	for _, want := range []string{"OPENED  P2 no_cooling      store-6950/waco-1", "OPENED  P2 no_cooling      store-6950/wafr-2",
		"RAISED  P1 no_cooling      store-6950/waco-1", "Food-safety limit predicted at", "CLEARED", "incidents: 2 opened"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("demo output lacks %q:\n%s", want, stdout)
		}
	}
}

func TestSimCSV(t *testing.T) {
	dir := t.TempDir()
	csv, labels := filepath.Join(dir, "r.csv.gz"), filepath.Join(dir, "labels.json")
	status, _, stderr := runCLI(t, "sim", "--days", "2", "--start", "2026-07-06T00:00:00Z", "--seed", "3",
		"--fault", "compressor_failure:waco-1:30h:4h", "--fault", "gateway_offline:*:40h:1h", "--csv", csv, "--labels", labels)
	if status != 0 {
		t.Fatalf("status %d: %s", status, stderr)
	}
	var l struct {
		Faults []struct {
			Fault, Site, Asset string
		} `json:"faults"`
	}
	b, err := os.ReadFile(labels)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &l); err != nil {
		t.Fatal(err)
	}
	if len(l.Faults) != 2 || l.Faults[0].Fault != "compressor_failure" || l.Faults[1].Asset != "*" {
		t.Errorf("labels: %s", b)
	}
	// The CSV replays through the default pack and the failure is found.
	out := filepath.Join(dir, "i.jsonl")
	status, _, stderr = runCLI(t, "rules", "replay", "--site", "demodata/store-6950.yaml", "--data", csv, "--out", out)
	if status != 0 {
		t.Fatalf("replay: %s", stderr)
	}
	inc, _ := os.ReadFile(out)
	if !strings.Contains(string(inc), `"asset":"waco-1"`) || !strings.Contains(string(inc), `"problem":"gateway_offline"`) {
		t.Errorf("replay of the simulation found neither fault:\n%s", inc)
	}
	for _, bad := range [][]string{
		{"sim"},
		{"sim", "--csv", filepath.Join(dir, "x.csv"), "--fault", "meltdown:waco-1:1h:1h"},
		{"sim", "--csv", filepath.Join(dir, "x.csv"), "--fault", "door_ajar:waco-1"},
	} {
		if status, _, _ := runCLI(t, bad...); status == 0 {
			t.Errorf("%v succeeded", bad)
		}
	}
}

func TestSimMessage(t *testing.T) {
	tests := []struct {
		name       string
		fahrenheit bool
		metric     string
		value      float64
		word       string
		topic      string
		payload    string
	}{
		{"celsius", false, "air_temp", 3.4, "", "sites/s1/assets/c1/air_temp", `{"value":3.4,"ts":"2026-07-06T10:00:00Z","unit":"C"}`},
		{"fahrenheit", true, "air_temp", 5, "", "sites/s1/assets/c1/air_temp", `{"value":41,"ts":"2026-07-06T10:00:00Z","unit":"F"}`},
		{"state", true, "door_open", 1, "", "sites/s1/assets/c1/door_open", `{"value":1,"ts":"2026-07-06T10:00:00Z"}`},
		{"word", false, "mode", 1, "cool", "sites/s1/assets/c1/mode", `{"value":"cool","ts":"2026-07-06T10:00:00Z"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := simReading(tt.metric, tt.value, tt.word)
			topic, payload, err := simMessage("sites/{site}/assets/{asset}/{metric}", tt.fahrenheit, &r)
			if err != nil {
				t.Fatal(err)
			}
			if topic != tt.topic || string(payload) != tt.payload {
				t.Errorf("got %s %s, want %s %s", topic, payload, tt.topic, tt.payload)
			}
		})
	}
}
