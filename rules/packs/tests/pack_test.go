package tests_test

import (
	"cmp"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/frostline/frostline/rules"
	"github.com/frostline/frostline/rules/ruletest"
)

var pending = flag.Bool("pending", false, "also run pending/, reporting what still fails")

// TestPack runs every *.test.yaml in this folder through the runner, one
// subtest per rule test, against the pack on disk. A failure prints the
// runner's diff: expected against got events, times from the test's start.
func TestPack(t *testing.T) {
	run(t, "*.test.yaml")
}

// TestPending runs pending/ with -pending: a test there that now passes is
// reported, so that it can move up to the suite.
func TestPending(t *testing.T) {
	if !*pending {
		t.Skip("pending cases are known to fail; run with -pending to see them")
	}
	run(t, "pending/*.test.yaml")
}

func run(t *testing.T, pattern string) {
	// Rooted at rules/packs, so that "../default" from a test file (and
	// "../../default" from pending/) stays inside the file system.
	fsys := os.DirFS("..")
	paths, err := filepath.Glob(pattern)
	if err != nil || (len(paths) == 0 && !strings.HasPrefix(pattern, "pending/")) {
		t.Fatalf("no test files match %s", pattern)
	}
	runner := ruletest.NewRunner(fsys)
	for _, p := range paths {
		name := "tests/" + filepath.ToSlash(p)
		f, set, err := runner.Load(name)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		for _, res := range ruletest.Run(f, set) {
			t.Run(strings.TrimSuffix(filepath.Base(p), ".test.yaml")+"/"+res.Test.Name, func(t *testing.T) {
				var b strings.Builder
				ruletest.WriteResult(&b, &res)
				switch res.Status {
				case ruletest.Fail:
					t.Error(b.String())
				case ruletest.Fixed:
					t.Log(b.String())
				case ruletest.Pending:
					t.Skip(b.String())
				}
			})
		}
	}
}

// knownRestartBugs are tests whose events change across a restart, by
// the engine's fault, each with the pending test that pins it down.
var knownRestartBugs = map[string]string{}

// TestRestartAnywhere runs every test again with the engine snapshotted
// and restored into a new one at each eighth of its span: a restarted
// edge agent must open, escalate and clear the same incidents, with the
// same ids, at the same times.
func TestRestartAnywhere(t *testing.T) {
	paths, err := filepath.Glob("*.test.yaml")
	if err != nil || len(paths) == 0 {
		t.Fatal("no test files")
	}
	runner := ruletest.NewRunner(os.DirFS(".."))
	for _, p := range paths {
		f, set, err := runner.Load("tests/" + filepath.ToSlash(p))
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		for i, res := range ruletest.Run(f, set) {
			name := strings.TrimSuffix(p, ".test.yaml") + "/" + res.Test.Name
			t.Run(name, func(t *testing.T) {
				if why, ok := knownRestartBugs[name]; ok {
					t.Skip(why)
				}
				want := incidents(res.Got)
				for k := 1; k < 8; k++ {
					tt := f.Tests[i]
					// Half a minute off the step, so that the restart falls
					// between samples as a real one does.
					tt.RestartAt = []time.Duration{(span(&tt) * time.Duration(k) / 8).Truncate(time.Minute) + 30*time.Second}
					again := ruletest.Run(&ruletest.File{Name: f.Name, Site: f.Site, Tests: []ruletest.Test{tt}}, set)
					if got := incidents(again[0].Got); !slices.Equal(got, want) {
						t.Errorf("restart at %v changes the incidents:\nwithout:\n  %s\nwith:\n  %s",
							tt.RestartAt[0], strings.Join(want, "\n  "), strings.Join(got, "\n  "))
					}
				}
			})
		}
	}
}

// span is how long a test's input runs.
func span(t *ruletest.Test) time.Duration {
	var d time.Duration
	for _, s := range t.Input {
		d = max(d, s.Offset+time.Duration(len(s.Values))*cmp.Or(s.Interval, t.Interval))
	}
	return d
}

// incidents lists the opened and cleared events and the escalations, each
// with its incident id and time.
func incidents(evs []rules.Event) []string {
	var out []string
	prio := map[string]string{}
	for _, e := range evs {
		if e.Event == rules.Updated && prio[e.Incident] == e.Priority {
			continue
		}
		prio[e.Incident] = e.Priority
		out = append(out, fmt.Sprintf("%s %-7s %-28s %-6s %s %s", e.At.Format(time.DateTime), e.Event, e.Rule, e.Asset, e.Priority, e.Incident))
	}
	return out
}
