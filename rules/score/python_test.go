package score_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/frostline/frostline/rules"
	"github.com/frostline/frostline/rules/packs"
	"github.com/frostline/frostline/rules/replay"
	"github.com/frostline/frostline/rules/sample"
	"github.com/frostline/frostline/rules/score"
)

// python runs the shared score-incidents script and returns its output and
// whether it passed.
func python(t *testing.T, script, labels, incidents string, args []string) (string, bool) {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		sample.Missing(t, "python3: "+err.Error())
	}
	cmd := exec.Command("python3", append([]string{script, labels, incidents}, args...)...)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out.String(), true
	case errors.As(err, &ee) && ee.ExitCode() == 1 && stderr.Len() == 0:
		return out.String(), false
	}
	t.Fatalf("score-incidents: %v\n%s", err, stderr.String())
	return "", false
}

// goScore scores the files as `frostline rules score` does.
func goScore(t *testing.T, labels, incidents string, grace time.Duration, th score.Thresholds) (string, bool) {
	t.Helper()
	b, err := os.ReadFile(labels)
	if err != nil {
		t.Fatal(err)
	}
	l, err := score.ParseLabels(b)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(incidents)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	incs, bad, err := score.ReadIncidents(f)
	if err != nil {
		t.Fatal(err)
	}
	r := score.Score(l, incs, bad, grace)
	var out bytes.Buffer
	ok, err := r.Print(&out, th)
	if err != nil {
		t.Fatal(err)
	}
	return out.String(), ok
}

// withoutNegatives drops the one line only the Go scorer prints (the
// Python script ignores negatives).
func withoutNegatives(s string) string {
	var keep []string
	for _, line := range strings.SplitAfter(s, "\n") {
		if !strings.HasPrefix(line, "  false positives on labelled negatives:") {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "")
}

// TestSameAsPython scores the crafted cases and a replay of the shared
// sample with both scorers and wants the same text, figure for figure,
// and the same verdict.
func TestSameAsPython(t *testing.T) {
	shared := sample.Shared(t, "bin/score-incidents")
	script := filepath.Join(shared, "bin", "score-incidents")
	for _, c := range cases {
		t.Run(c.dir, func(t *testing.T) {
			labels := filepath.Join("testdata", c.dir, "labels.json")
			incidents := filepath.Join("testdata", c.dir, "incidents.jsonl")
			want, wantOK := python(t, script, labels, incidents, c.args)
			got, gotOK := goScore(t, labels, incidents, c.grace, c.th)
			if withoutNegatives(got) != want || gotOK != wantOK {
				t.Errorf("Go (pass %v):\n%s\nPython (pass %v):\n%s", gotOK, got, wantOK, want)
			}
		})
	}
	for _, set := range []string{"faults-sample", "faults-hard"} {
		t.Run(set, func(t *testing.T) {
			dir := filepath.Join(shared, "data", set)
			incidents := replaySet(t, dir)
			labels := filepath.Join(dir, "labels.json")
			for _, v := range []struct {
				args  []string
				grace time.Duration
				th    score.Thresholds
			}{
				{nil, score.DefaultGrace, score.Thresholds{}},
				{[]string{"--min-precision", "0.98", "--min-recall", "1", "--min-lead", "180", "--min-leak-floor", "0",
					"--min-sudden-lead", "30", "--max-per-group", "1"}, score.DefaultGrace,
					score.Thresholds{MinPrecision: f64(0.98), MinRecall: f64(1), MinLead: f64(180), MinLeakFloor: f64(0),
						MinSuddenLead: f64(30), MaxPerGroup: intp(1)}},
				{[]string{"--grace", "15", "--min-precision", "0.5"}, 15 * time.Minute, score.Thresholds{MinPrecision: f64(0.5)}},
			} {
				want, wantOK := python(t, script, labels, incidents, v.args)
				got, gotOK := goScore(t, labels, incidents, v.grace, v.th)
				if got != want || gotOK != wantOK {
					t.Errorf("%v: Go (pass %v):\n%s\nPython (pass %v):\n%s", v.args, gotOK, got, wantOK, want)
				}
			}
		})
	}
}

// replaySet replays a labelled set through the default pack, as
// `frostline rules replay` does, into a file of incident lines.
func replaySet(t *testing.T, dir string) string {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, "readings.csv.gz")); err != nil {
		sample.Missing(t, err.Error())
	}
	set, err := packs.Default()
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "sites", "*.yaml"))
	var sites []*rules.Site
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		s, err := rules.ParseSite(f, b)
		if err != nil {
			t.Fatal(err)
		}
		sites = append(sites, s)
	}
	eng, err := rules.NewEngine(set, sites, rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(filepath.Join(dir, "readings.csv.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	rd, err := replay.NewReader(in)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	if _, err := replay.Run(context.Background(), eng, rd, func(ev *rules.Event) error { return enc.Encode(ev) }, nil); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "incidents.jsonl")
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
