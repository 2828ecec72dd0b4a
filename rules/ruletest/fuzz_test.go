package ruletest_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/frostline/frostline/rules"
	"github.com/frostline/frostline/rules/ruletest"
)

// FuzzParse feeds the decoder mutations of every test file in testdata and
// the pack's tests: it must never panic, and whatever it refuses it must
// refuse with positions inside the file.
func FuzzParse(f *testing.F) {
	for _, pattern := range []string{"testdata/*/*.test.yaml", "../packs/tests/*.test.yaml"} {
		paths, _ := filepath.Glob(pattern)
		for _, p := range paths {
			data, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := ruletest.Parse("f.test.yaml", data)
		if err != nil {
			es := rules.AsErrors(err)
			if len(es) == 0 {
				t.Fatalf("Parse returned %T, want rules.Errors: %v", err, err)
			}
			for _, e := range es {
				if e.File != "f.test.yaml" || e.Line < 1 || e.Col < 1 {
					t.Fatalf("error without a position: %v", e)
				}
			}
			return
		}
		if len(file.Tests) == 0 {
			t.Fatal("Parse accepted a file without tests")
		}
		for _, tt := range file.Tests {
			if tt.Name == "" || len(tt.Input) == 0 {
				t.Fatalf("Parse accepted test %+v", tt)
			}
		}
	})
}
