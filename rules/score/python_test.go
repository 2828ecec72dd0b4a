package score_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
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
			if testing.Short() {
				t.Skip("replays the labelled set through the default pack")
			}
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

// TestSameAsPythonRandom scores seeded random labels and incidents with
// both scorers: faults of every kind, groups, breaches before and after
// the first incident, incidents on the edges of the windows, other events
// and unreadable lines.
func TestSameAsPythonRandom(t *testing.T) {
	shared := sample.Shared(t, "bin/score-incidents")
	script := filepath.Join(shared, "bin", "score-incidents")
	kinds := []string{"compressor_failure", "rack_failure", "refrigerant_leak", "door_ajar", "gateway_offline", "sensor_stuck"}
	problems := []string{"no_cooling", "temp_high", "temp_trend", "long_runtime", "door_ajar", "rack_failure", "gateway_offline", ""}
	assets := []string{"a1", "a2", "a3", "a4", "rack"}
	epoch := time.Date(2026, 7, 6, 0, 0, 0, 0, time.UTC)
	// Eight seeds: the script takes a second or two to start on a busy
	// machine.
	for seed := uint64(1); seed <= 8; seed++ {
		r := rand.New(rand.NewPCG(seed, 0x5c0))
		minute := func(max int) time.Time { return epoch.Add(time.Duration(r.IntN(max)) * time.Minute) }
		var l struct {
			Epoch  string           `json:"epoch"`
			End    string           `json:"end"`
			Assets []map[string]any `json:"assets"`
			Faults []map[string]any `json:"faults"`
		}
		l.Epoch, l.End = epoch.Format(time.RFC3339), epoch.Add(72*time.Hour).Format(time.RFC3339)
		for _, s := range []string{"s1", "s2"} {
			for _, a := range assets {
				l.Assets = append(l.Assets, map[string]any{"site": s, "asset": a})
			}
		}
		for range 3 + r.IntN(8) {
			kind := kinds[r.IntN(len(kinds))]
			start := minute(60 * 60)
			f := map[string]any{"site": []string{"s1", "s2"}[r.IntN(2)], "asset": assets[r.IntN(4)], "fault": kind,
				"start": start.Format(time.RFC3339), "end": start.Add(time.Duration(30+r.IntN(600)) * time.Minute).Format(time.RFC3339),
				"accept": []string{problems[r.IntN(3)], problems[3+r.IntN(4)]}}
			switch kind {
			case "rack_failure":
				f["asset"], f["members"] = "rack", []string{"a2", "a3"}
			case "gateway_offline":
				f["asset"] = "*"
			}
			if r.IntN(3) > 0 {
				f["breach"] = start.Add(time.Duration(r.IntN(300)) * time.Minute).Format(time.RFC3339)
			}
			l.Faults = append(l.Faults, f)
		}
		var lines []string
		for range r.IntN(60) {
			e := map[string]any{"event": []string{"opened", "opened", "updated", "cleared", "Raised"}[r.IntN(5)],
				"site": []string{"s1", "s2"}[r.IntN(2)], "asset": assets[r.IntN(len(assets))], "rule": fmt.Sprintf("r%d", r.IntN(4)),
				"at": minute(72 * 60).Add(time.Duration(r.IntN(60)) * time.Second).Format(time.RFC3339)}
			if p := problems[r.IntN(len(problems))]; p != "" {
				e["problem"] = p
			}
			b, _ := json.Marshal(e)
			lines = append(lines, string(b))
			if r.IntN(15) == 0 {
				lines = append(lines, `{"event":"opened","at":`)
			}
		}
		dir := t.TempDir()
		lb, _ := json.Marshal(l)
		labels, incidents := filepath.Join(dir, "labels.json"), filepath.Join(dir, "incidents.jsonl")
		if err := os.WriteFile(labels, lb, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(incidents, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		th := score.Thresholds{MinPrecision: f64(0.5), MinSuddenLead: f64(0), MaxPerGroup: intp(2)}
		args := []string{"--min-precision", "0.5", "--min-sudden-lead", "0", "--max-per-group", "2"}
		want, wantOK := python(t, script, labels, incidents, args)
		got, gotOK := goScore(t, labels, incidents, score.DefaultGrace, th)
		if got != want || gotOK != wantOK {
			t.Errorf("seed %d: Go (pass %v):\n%s\nPython (pass %v):\n%s", seed, gotOK, got, wantOK, want)
		}
	}
}
