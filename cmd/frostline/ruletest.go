package main

import (
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/frostline/frostline/rules"
	"github.com/frostline/frostline/rules/ruletest"
)

// rulesTest runs rule unit tests: `frostline rules test [-v] PATH...`, where a
// path is a test file or a folder searched for *.test.yaml. One line per
// test on stdout, PASS/FAIL with a diff under a failure; problems in the
// test files on stderr as file:line:col: message. Exit status 1 when a
// test fails or a file is bad, 2 on bad usage.
func rulesTest(args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("frostline rules test", flag.ContinueOnError)
	fl.SetOutput(stderr)
	verbose := fl.Bool("v", false, "list the events of passing tests too")
	if err := fl.Parse(args); err != nil {
		return exitError(2)
	}
	if fl.NArg() == 0 {
		fmt.Fprint(stderr, "usage: frostline rules test [-v] PATH...\n")
		return exitError(2)
	}
	fsys := osFS{}
	names, err := ruletest.Find(fsys, cleanPaths(fl.Args())...)
	if err != nil {
		fmt.Fprintln(stderr, "frostline rules test:", err)
		return exitError(1)
	}
	runner := ruletest.NewRunner(fsys)
	runner.Verbose = *verbose
	sum, err := runner.RunFiles(stdout, names...)
	for _, e := range rules.AsErrors(err) {
		fmt.Fprintln(stderr, e)
	}
	fmt.Fprintln(stdout, sum)
	if !sum.OK() {
		return exitError(1)
	}
	return nil
}

func cleanPaths(paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = filepath.ToSlash(filepath.Clean(p))
	}
	return out
}

// osFS opens OS paths as they are given. Unlike os.DirFS it accepts ".."
// and absolute paths: a test file names its rules relative to itself
// ("../default"), and the operator names test files relative to wherever
// the shell is, so there is no one root to serve them from.
type osFS struct{}

func (osFS) Open(name string) (fs.File, error) { return os.Open(filepath.FromSlash(name)) }
