// Package sample finds the labelled faults sample that every Frostline
// developer and CI run has beside the repository (../shared/data/
// faults-sample), for the tests and benchmarks that score or replay it.
// Without it a test is skipped, except under CI=true, which always has it.
package sample

import (
	"os"
	"path/filepath"
	"testing"
)

// Shared returns ../shared beside the repository root, after checking that
// the files named (relative to it) are there.
func Shared(t testing.TB, files ...string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("sample: no go.mod above the test's directory")
		}
		dir = parent
	}
	shared := filepath.Join(filepath.Dir(dir), "shared")
	for _, f := range append([]string{"data/faults-sample/readings.csv.gz"}, files...) {
		if _, err := os.Stat(filepath.Join(shared, f)); err != nil {
			Missing(t, "the shared sample: "+err.Error())
		}
	}
	return shared
}

// Dir returns the faults sample's folder (readings.csv.gz, labels.json,
// sites/).
func Dir(t testing.TB) string {
	t.Helper()
	return filepath.Join(Shared(t), "data", "faults-sample")
}

// Missing skips the test for something the machine lacks, or fails it
// under CI, which must have everything.
func Missing(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI: %s", why)
	}
	t.Skip(why)
}
