package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/frostline/frostline/rules/sample"
)

const scoreCase = "../../rules/score/testdata/branches/"

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

func TestRulesScore(t *testing.T) {
	want, err := os.ReadFile(scoreCase + "want.txt")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		args   []string
		status int
		stdout string // the whole output, or the last line when it starts with "precision"
		stderr string
	}{
		{"figures", []string{"--labels", scoreCase + "labels.json", scoreCase + "incidents.jsonl"}, 0, string(want), ""},
		{"flags after the file", []string{"--labels", scoreCase + "labels.json", scoreCase + "incidents.jsonl", "--min-recall", "0.7", "--max-per-group", "4"}, 0,
			"precision 0.600 recall 0.700 leak-lead 300 min sudden-min -20 min per-group-max 4 (need 0 / 0.7 / <= 4 per outage or rack trip)", ""},
		{"verdict fails", []string{"--min-recall", "1", "--labels", scoreCase + "labels.json", scoreCase + "incidents.jsonl"}, 1,
			"precision 0.600 recall 0.700 leak-lead 300 min sudden-min -20 min per-group-max 4 (need 0 / 1.0)", ""},
		{"accepted and fp per asset-day", []string{"--labels", scoreCase + "labels.json", "--min-accepted", "0.95", "--max-fp-per-asset-day", "0.5", scoreCase + "incidents.jsonl"}, 1,
			"precision 0.600 recall 0.700 leak-lead 300 min sudden-min -20 min per-group-max 4 (need 0 / 0 / accepted >= 0.95 / fp per asset-day <= 0.5)", ""},
		{"grace", []string{"--grace", "0", "--labels", scoreCase + "labels.json", scoreCase + "incidents.jsonl"}, 0,
			"precision 0.500 recall 0.500 leak-lead 300 min sudden-min 50 min per-group-max 4 (need 0 / 0)", ""},
		{"no labels", []string{scoreCase + "incidents.jsonl"}, 2, "", "usage: frostline rules score"},
		{"two files", []string{"--labels", scoreCase + "labels.json", "a", "b"}, 2, "", "usage: frostline rules score"},
		{"bad number", []string{"--min-recall", "most", "--labels", scoreCase + "labels.json", "x"}, 2, "", "want a number"},
		{"bad labels", []string{"--labels", "testdata/store.yaml", scoreCase + "incidents.jsonl"}, 1, "", "testdata/store.yaml: labels: invalid character"},
		{"missing incidents", []string{"--labels", scoreCase + "labels.json", "nope.jsonl"}, 1, "", "nope.jsonl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, stdout, stderr := runCLI(t, append([]string{"rules", "score"}, tt.args...)...)
			if status != tt.status {
				t.Fatalf("status %d, want %d\nstdout: %s\nstderr: %s", status, tt.status, stdout, stderr)
			}
			got := stdout
			if strings.HasPrefix(tt.stdout, "precision") {
				got = lastLine(stdout)
			}
			if got != tt.stdout {
				t.Errorf("stdout:\n%s\nwant:\n%s", got, tt.stdout)
			}
			if !strings.Contains(stderr, tt.stderr) {
				t.Errorf("stderr %q lacks %q", stderr, tt.stderr)
			}
		})
	}
}

func TestRulesScoreJSONFromStdin(t *testing.T) {
	in, err := os.ReadFile(scoreCase + "incidents.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	err = run(context.Background(), []string{"rules", "score", "--json", "--max-per-group", "1", "--labels", scoreCase + "labels.json", "-"},
		bytes.NewReader(in), &out, &errOut)
	if ex, ok := err.(exitError); !ok || ex != 1 {
		t.Fatalf("err %v, want exit status 1: %s", err, errOut.String())
	}
	var j struct {
		Opened    int            `json:"incidents_opened"`
		Precision float64        `json:"precision"`
		PerTrip   []int          `json:"incidents_per_rack_trip"`
		FP        map[string]int `json:"false_positives_by_problem"`
		Pass      bool           `json:"pass"`
		Summary   string         `json:"summary"`
	}
	if err := json.Unmarshal(out.Bytes(), &j); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if j.Opened != 20 || j.Precision != 0.6 || len(j.PerTrip) != 1 || j.PerTrip[0] != 4 || j.FP["stuck-2"] != 2 || j.Pass {
		t.Errorf("figures %+v", j)
	}
	if !strings.HasSuffix(j.Summary, "(need 0 / 0 / <= 1 per outage or rack trip)") {
		t.Errorf("summary %q", j.Summary)
	}
}

// TestRulesReplayLabels: replay --labels scores in one go, with the same
// figures as rules score on the replay's incidents.
func TestRulesReplayLabels(t *testing.T) {
	dir := sample.Dir(t)
	sites, _ := filepath.Glob(filepath.Join(dir, "sites", "*.yaml"))
	out := filepath.Join(t.TempDir(), "incidents.jsonl")
	args := []string{"rules", "replay", "--quiet", "--data", filepath.Join(dir, "readings.csv.gz"), "--out", out,
		"--labels", filepath.Join(dir, "labels.json"), "--min-precision", "0.9", "--min-recall", "1"}
	for _, s := range sites {
		args = append(args, "--site", s)
	}
	status, stdout, stderr := runCLI(t, args...)
	if status != 0 {
		t.Fatalf("status %d\n%s%s", status, stdout, stderr)
	}
	if !strings.HasPrefix(stdout, "incidents opened: ") || !strings.Contains(lastLine(stdout), "recall 1.000") {
		t.Errorf("report:\n%s", stdout)
	}
	status, again, stderr := runCLI(t, "rules", "score", "--labels", filepath.Join(dir, "labels.json"), "--min-precision", "0.9", "--min-recall", "1", out)
	if status != 0 || again != stdout {
		t.Errorf("rules score on the replay's incidents (status %d, %s):\n%s\nreplay --labels:\n%s", status, stderr, again, stdout)
	}
}
