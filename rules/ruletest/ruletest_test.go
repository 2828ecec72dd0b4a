package ruletest_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/frostline/frostline/rules"
	"github.com/frostline/frostline/rules/ruletest"
)

// update rewrites the golden files (testdata/good/*.want, testdata/bad/*.errors)
// from what the code produces now: go test ./rules/ruletest -update.
var update = flag.Bool("update", false, "rewrite golden files")

// TestGood runs every testdata/good/*.test.yaml and compares the report,
// PASS/FAIL lines, diffs and summary, with the golden .want file beside it.
// The files use small rules of their own (testdata/rules), not the default
// pack, so that tuning the pack does not move these goldens.
func TestGood(t *testing.T) {
	fsys := os.DirFS("testdata")
	for _, path := range glob(t, "testdata/good/*.test.yaml") {
		name := strings.TrimPrefix(filepath.ToSlash(path), "testdata/")
		t.Run(filepath.Base(path), func(t *testing.T) {
			var out bytes.Buffer
			sum, err := ruletest.NewRunner(fsys).RunFiles(&out, name)
			if err != nil {
				t.Fatalf("RunFiles: %v", err)
			}
			out.WriteString(sum.String() + "\n")
			golden(t, strings.TrimSuffix(path, ".test.yaml")+".want", out.String())
		})
	}
}

// TestBad loads every testdata/bad/*.test.yaml and compares the errors,
// one "file:line:col: message" per line, with the golden .errors file.
func TestBad(t *testing.T) {
	fsys := os.DirFS("testdata")
	for _, path := range glob(t, "testdata/bad/*.test.yaml") {
		name := strings.TrimPrefix(filepath.ToSlash(path), "testdata/")
		t.Run(filepath.Base(path), func(t *testing.T) {
			_, _, err := ruletest.NewRunner(fsys).Load(name)
			if err == nil {
				t.Fatal("Load accepted a bad file")
			}
			es := rules.AsErrors(err)
			if len(es) == 0 {
				t.Fatalf("Load returned %T, want rules.Errors: %v", err, err)
			}
			var b strings.Builder
			for _, e := range es {
				if e.Line < 1 || e.Col < 1 {
					t.Errorf("error without a position: %v", e)
				}
				b.WriteString(e.Error() + "\n")
			}
			golden(t, strings.TrimSuffix(path, ".test.yaml")+".errors", b.String())
		})
	}
}

// TestSummary checks the counts behind the exit status.
func TestSummary(t *testing.T) {
	fsys := os.DirFS("testdata")
	names, err := ruletest.Find(fsys, "good")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	sum, err := ruletest.NewRunner(fsys).RunFiles(&out, append(names, "bad/refs.test.yaml")...)
	if err == nil {
		t.Error("RunFiles: no error for bad/refs.test.yaml")
	}
	want := ruletest.Summary{Files: 3, Tests: 13, Passed: 7, Failed: 4, Pending: 1, Fixed: 1, BadFiles: 1}
	if sum != want {
		t.Errorf("Summary = %+v, want %+v", sum, want)
	}
	if sum.OK() {
		t.Error("OK() with failures")
	}
	if !(ruletest.Summary{Tests: 2, Passed: 1, Pending: 1}).OK() {
		t.Error("a pending test failed the run")
	}
}

func glob(t *testing.T, pattern string) []string {
	t.Helper()
	paths, err := filepath.Glob(pattern)
	if err != nil || len(paths) == 0 {
		t.Fatalf("no files match %s", pattern)
	}
	return paths
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run with -update to accept):\n--- got\n%s--- want\n%s", path, got, want)
	}
}
