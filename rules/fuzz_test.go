package rules_test

import (
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/frostline/frostline/rules"
	"github.com/frostline/frostline/rules/packs"
)

// FuzzParse feeds the rule parser arbitrary YAML, seeded with the default
// pack and every parser test file. Whatever the input: no panic; an error
// is a list of positioned problems; a file that parses compiles, and its
// rules run over a store's readings without a panic.
func FuzzParse(f *testing.F) {
	err := fs.WalkDir(packs.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			data, err := fs.ReadFile(packs.FS, p)
			if err != nil {
				return err
			}
			f.Add(data)
		}
		return err
	})
	if err != nil {
		f.Fatal(err)
	}
	paths, _ := filepath.Glob("testdata/parse/*.yaml")
	for _, p := range paths {
		f.Add(readFile(f, p))
	}
	sites := parseSites(f, testSites)
	input := storeDay()[:600]
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := rules.Parse("fuzz.yaml", data)
		if err != nil {
			es := rules.AsErrors(err)
			if len(es) == 0 {
				t.Fatalf("error is not a list of problems: %v", err)
			}
			for _, e := range es {
				if !strings.HasPrefix(e.Error(), "fuzz.yaml:") || e.Msg == "" {
					t.Fatalf("problem without the file or a message: %q", e.Error())
				}
			}
			return
		}
		set, err := rules.Compile(rs)
		if err != nil {
			t.Fatalf("parsed but does not compile: %v", err)
		}
		eng, err := rules.NewEngine(set, sites, rules.Options{})
		if err != nil {
			t.Fatal(err)
		}
		var evs []rules.Event
		for _, r := range input {
			evs, _ = eng.Observe(evs[:0], r)
		}
		if _, err := eng.Snapshot(); err != nil {
			t.Fatalf("Snapshot: %v", err)
		}
	})
}

// FuzzParseSite feeds the site parser arbitrary YAML: no panic, and an
// error is a list of positioned problems.
func FuzzParseSite(f *testing.F) {
	paths, _ := filepath.Glob("testdata/sites/*.yaml")
	for _, p := range paths {
		f.Add(readFile(f, p))
	}
	for _, s := range testSites {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := rules.ParseSite("fuzz.yaml", data)
		if err != nil {
			if len(rules.AsErrors(err)) == 0 {
				t.Fatalf("error is not a list of problems: %v", err)
			}
			return
		}
		if s.ID == "" || len(s.Assets) == 0 {
			t.Fatalf("accepted a site without an id or assets: %+v", s)
		}
		_ = s.Closed(t0)
		_ = s.TimeLocation()
	})
}
