package tests_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
	if err != nil || len(paths) == 0 {
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
