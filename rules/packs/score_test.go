package packs_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/frostline/frostline/rules"
	"github.com/frostline/frostline/rules/packs"
	"github.com/frostline/frostline/rules/replay"
	"github.com/frostline/frostline/rules/sample"
)

// TestScoreSample replays the labeled sample (../shared/data/faults-sample
// beside the repository) through the default pack and scores the
// incidents with ../shared/bin/score-incidents: the test fails when
// precision or recall drops below 0.9. Without ../shared or python3 it is
// skipped, except in CI, where both must be there.
func TestScoreSample(t *testing.T) {
	shared := sharedDir(t)
	python, err := exec.LookPath("python3")
	if err != nil {
		missing(t, "python3 is not installed")
	}
	sample := filepath.Join(shared, "data", "faults-sample")

	set, err := packs.Default()
	if err != nil {
		t.Fatal(err)
	}
	paths, err := filepath.Glob(filepath.Join(sample, "sites", "*.yaml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no site files in %s", sample)
	}
	var sites []*rules.Site
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		s, err := rules.ParseSite(p, data)
		if err != nil {
			t.Fatal(err)
		}
		sites = append(sites, s)
	}
	eng, err := rules.NewEngine(set, sites, rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(filepath.Join(sample, "readings.csv.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	rd, err := replay.NewReader(in)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()

	incidents := filepath.Join(t.TempDir(), "incidents.jsonl")
	out, err := os.Create(incidents)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(out)
	enc := json.NewEncoder(w)
	sum, err := replay.Run(context.Background(), eng, rd, func(ev *rules.Event) error { return enc.Encode(ev) }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	if sum.BadLines > 0 {
		t.Errorf("the sample has %d bad lines: %v", sum.BadLines, sum.FirstBad)
	}

	cmd := exec.Command(python, filepath.Join(shared, "bin", "score-incidents"),
		filepath.Join(sample, "labels.json"), incidents, "--min-precision", "0.9", "--min-recall", "0.9")
	report, err := cmd.CombinedOutput()
	t.Logf("score-incidents:\n%s", report)
	if err != nil {
		t.Fatalf("score-incidents: %v (precision or recall below 0.9; see its report above)", err)
	}
}

// sharedDir returns ../shared beside the repository root, with the
// sample, its labels and the scorer.
func sharedDir(t *testing.T) string {
	return sample.Shared(t, "data/faults-sample/labels.json", "bin/score-incidents")
}

// missing skips the test for something the machine lacks, or fails it in
// CI, which must have everything.
func missing(t *testing.T, why string) { sample.Missing(t, why) }
