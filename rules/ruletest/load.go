package ruletest

import (
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/frostline/frostline/rules"
	"github.com/frostline/frostline/rules/packs"
)

// IsTestFile reports whether a file name is a rule test file by its name:
// *.test.yaml or *.test.yml.
func IsTestFile(name string) bool {
	return strings.HasSuffix(name, ".test.yaml") || strings.HasSuffix(name, ".test.yml")
}

// Find returns the test files named by roots in fsys: a root that is a
// file is taken as it is; a folder is searched, subfolders included
// (hidden ones excepted), for *.test.yaml files.
func Find(fsys fs.FS, roots ...string) ([]string, error) {
	var out []string
	for _, root := range roots {
		var found []string
		err := fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
			switch {
			case err != nil:
				return err
			case p == root && !d.IsDir():
				found = append(found, p)
			case d.IsDir() && p != root && strings.HasPrefix(d.Name(), "."):
				return fs.SkipDir
			case !d.IsDir() && IsTestFile(p):
				found = append(found, p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("%s: no test files (*.test.yaml)", root)
		}
		slices.Sort(found)
		out = append(out, found...)
	}
	return out, nil
}

// Runner loads test files, the rules and sites they name, from a file
// system and runs them. Rule sets are compiled once per distinct list of
// rule files.
type Runner struct {
	// Verbose lists the events of passing tests too: how a test author
	// sees what the rules do with a new series before writing expect:.
	Verbose bool

	fsys fs.FS
	sets map[string]*rules.Set
}

// NewRunner returns a Runner that reads from fsys. Paths inside test files
// are relative to the test file and joined with path.Join, so fsys may be
// os.DirFS, an fstest.MapFS, or any FS whose names are OS paths.
func NewRunner(fsys fs.FS) *Runner {
	return &Runner{fsys: fsys, sets: map[string]*rules.Set{}}
}

// Load reads and parses a test file and the rules and site it names, and
// checks that the rules and assets its tests mention exist. Every problem
// comes back as rules.Errors.
func (r *Runner) Load(name string) (*File, *rules.Set, error) {
	data, err := fs.ReadFile(r.fsys, name)
	if err != nil {
		return nil, nil, rules.Errors{{File: name, Msg: err.Error()}}
	}
	f, err := Parse(name, data)
	if err != nil {
		return nil, nil, err
	}
	dir := path.Dir(name)
	var errs rules.Errors
	if f.SiteFile != "" {
		sname := join(dir, f.SiteFile)
		if sdata, err := fs.ReadFile(r.fsys, sname); err != nil {
			errs = append(errs, &rules.Error{File: name, Pos: f.sitePos, Msg: "site_file: " + err.Error()})
		} else if f.Site, err = rules.ParseSite(sname, sdata); err != nil {
			errs = append(errs, asErrors(err, sname)...)
		}
	}
	set, err := r.ruleSet(dir, f.RuleFiles)
	if err != nil {
		errs = append(errs, asErrors(err, name)...)
		if len(f.RuleFiles) > 0 && rules.AsErrors(err) == nil {
			errs[len(errs)-1].Pos = f.ruleFilesPos
		}
	}
	if len(errs) > 0 {
		sortErrors(errs)
		return nil, nil, errs
	}
	if err := f.Check(set); err != nil {
		return nil, nil, err
	}
	return f, set, nil
}

func asErrors(err error, file string) rules.Errors {
	if es := rules.AsErrors(err); es != nil {
		return es
	}
	return rules.Errors{{File: file, Msg: err.Error()}}
}

func join(dir, p string) string {
	if path.IsAbs(p) {
		return p
	}
	return path.Join(dir, p)
}

// ruleSet compiles the rule files a test file names, or returns the
// built-in default pack when it names none.
func (r *Runner) ruleSet(dir string, files []string) (*rules.Set, error) {
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = join(dir, f)
	}
	key := strings.Join(paths, "\x00")
	if set, ok := r.sets[key]; ok {
		return set, nil
	}
	var set *rules.Set
	var err error
	if len(paths) == 0 {
		set, err = packs.Default()
	} else {
		set, err = r.compile(paths)
	}
	if err != nil {
		return nil, err
	}
	r.sets[key] = set
	return set, nil
}

// compile reads rules files and folders (their *.yaml, test files left
// out, as `frostline rules check` does) and compiles them as one set.
func (r *Runner) compile(paths []string) (*rules.Set, error) {
	var srcs []rules.Source
	for _, root := range paths {
		var names []string
		err := fs.WalkDir(r.fsys, root, func(p string, d fs.DirEntry, err error) error {
			switch {
			case err != nil:
				return err
			case p == root && !d.IsDir():
				names = append(names, p)
			case d.IsDir() && p != root && strings.HasPrefix(d.Name(), "."):
				return fs.SkipDir
			case !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) && !IsTestFile(p):
				names = append(names, p)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("rule_files: %w", err)
		}
		if len(names) == 0 {
			return nil, fmt.Errorf("rule_files: %s: no rules files (*.yaml)", root)
		}
		slices.Sort(names)
		for _, n := range names {
			data, err := fs.ReadFile(r.fsys, n)
			if err != nil {
				return nil, fmt.Errorf("rule_files: %w", err)
			}
			srcs = append(srcs, rules.Source{Name: n, Data: data})
		}
	}
	rs, err := rules.ParseSources(srcs)
	if err != nil {
		return nil, err
	}
	return rules.Compile(rs)
}

// Check verifies what a test file says against its rules and site: every
// series feeds an asset of the site, and every rule and asset an
// expectation names exists, and the rule applies to the asset. A typo in
// an absent: list would otherwise pass for ever.
func (f *File) Check(set *rules.Set) error {
	var errs rules.Errors
	bad := func(p rules.Pos, format string, args ...any) {
		errs = append(errs, &rules.Error{File: f.Name, Pos: p, Msg: fmt.Sprintf(format, args...)})
	}
	if f.Site == nil {
		bad(f.sitePos, "no site")
		return errs
	}
	byID := map[string]*rules.Rule{}
	all := set.Rules()
	for i := range all {
		byID[all[i].ID] = &all[i]
	}
	asset := func(p rules.Pos, id string, matching bool) *rules.Asset {
		if a := f.Site.Asset(id); a != nil || (matching && id == rules.SiteAsset) {
			return a
		}
		ids := make([]string, len(f.Site.Assets))
		for i := range f.Site.Assets {
			ids[i] = f.Site.Assets[i].ID
		}
		bad(p, "asset: %q is not an asset of site %s (it has %s)", id, f.Site.ID, strings.Join(ids, ", "))
		return nil
	}
	for i := range f.Tests {
		t := &f.Tests[i]
		for j := range t.Input {
			asset(t.Input[j].assetPos, t.Input[j].Asset, false)
		}
		for _, list := range [][]Match{t.Expect, t.Absent} {
			for j := range list {
				m := &list[j]
				var a *rules.Asset
				if m.Asset != "" {
					a = asset(m.assetPos, m.Asset, true)
				}
				if m.Rule == "" {
					continue
				}
				r := byID[m.Rule]
				if r == nil {
					bad(m.rulePos, "rule: no rule %q in the rule files", m.Rule)
					continue
				}
				if a != nil && !applies(r, f.Site, a) {
					bad(m.rulePos, "rule: %q does not apply to asset %s (class %s)", m.Rule, a.ID, a.Class)
				}
			}
		}
	}
	if len(errs) > 0 {
		sortErrors(errs)
		return errs
	}
	return nil
}

// applies reports whether a rule runs on an asset: the engine's matching,
// restated from the rule's Match and the asset's overrides.
func applies(r *rules.Rule, s *rules.Site, a *rules.Asset) bool {
	m := &r.Match
	if r.Scope == "site" {
		return false // site-wide rules speak for the asset "*"
	}
	if o, ok := a.Overrides[r.ID]; ok && o.Disabled {
		return false
	}
	return (len(m.Site) == 0 || slices.Contains(m.Site, s.ID)) &&
		(len(m.Class) == 0 || slices.Contains(m.Class, a.Class)) &&
		(len(m.Asset) == 0 || slices.Contains(m.Asset, a.ID))
}

// Summary counts a run's outcomes.
type Summary struct {
	Files, Tests                   int
	Passed, Failed, Pending, Fixed int
	BadFiles                       int // files that could not be loaded
}

// OK reports whether the run passes: no failed test and no bad file.
func (s Summary) OK() bool { return s.Failed == 0 && s.BadFiles == 0 }

// RunFiles loads and runs each test file, writing one line per test
// (PASS, FAIL, PENDING or FIXED) and, under a failure, what went wrong, to
// w. Files that cannot be loaded are skipped and their problems returned,
// every one, as rules.Errors; the other files still run.
func (r *Runner) RunFiles(w io.Writer, names ...string) (Summary, error) {
	var sum Summary
	var errs rules.Errors
	for _, name := range names {
		sum.Files++
		f, set, err := r.Load(name)
		if err != nil {
			sum.BadFiles++
			errs = append(errs, asErrors(err, name)...)
			continue
		}
		for _, res := range Run(f, set) {
			sum.Tests++
			switch res.Status {
			case Pass:
				sum.Passed++
			case Fail:
				sum.Failed++
			case Pending:
				sum.Pending++
			case Fixed:
				sum.Fixed++
			}
			WriteResult(w, &res)
			if r.Verbose && res.Diff == "" {
				io.WriteString(w, res.Events())
			}
		}
	}
	if len(errs) > 0 {
		return sum, errs
	}
	return sum, nil
}

// WriteResult writes one test's outcome line, and its diff when it did not
// pass.
func WriteResult(w io.Writer, res *Result) {
	fmt.Fprintf(w, "%-7s %s:%d: %s\n", res.Status, res.File, res.Test.Pos.Line, res.Test.Name)
	switch res.Status {
	case Pending:
		fmt.Fprintf(w, "    pending: %s\n", res.Test.Pending)
	case Fixed:
		fmt.Fprintf(w, "    passes now: remove \"pending: %s\"\n", res.Test.Pending)
	}
	io.WriteString(w, res.Diff)
}

// String writes the summary line.
func (s Summary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d tests in %d files: %d passed, %d failed", s.Tests, s.Files, s.Passed, s.Failed)
	if s.Pending > 0 {
		fmt.Fprintf(&b, ", %d pending", s.Pending)
	}
	if s.Fixed > 0 {
		fmt.Fprintf(&b, ", %d fixed (still marked pending)", s.Fixed)
	}
	if s.BadFiles > 0 {
		fmt.Fprintf(&b, ", %d files with errors", s.BadFiles)
	}
	return b.String()
}
