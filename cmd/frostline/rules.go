package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/frostline/frostline/rules"
	"github.com/frostline/frostline/rules/packs"
	"github.com/frostline/frostline/rules/replay"
	"github.com/frostline/frostline/rules/score"
)

const rulesUsage = `usage:
  frostline rules check PATH...
  frostline rules test PATH...
  frostline rules replay [--rules PATH]... --site FILE [--site FILE]... --data FILE.csv[.gz] [--out FILE] [--labels FILE [score flags]]
  frostline rules score --labels FILE [--min-precision F]... INCIDENTS.jsonl|-
`

func runRules(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, rulesUsage)
		return exitError(2)
	}
	switch args[0] {
	case "check":
		return rulesCheck(args[1:], stdout, stderr)
	case "replay":
		return rulesReplay(ctx, args[1:], stdout, stderr)
	case "score":
		return rulesScore(args[1:], stdin, stdout, stderr)
	case "test":
		return rulesTest(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "frostline rules: unknown command %q\n\n%s", args[0], rulesUsage)
	return exitError(2)
}

// readRuleSources reads the rules files named by paths: files, or folders
// searched for *.yaml and *.yml.
func readRuleSources(paths []string) ([]rules.Source, error) {
	var srcs []rules.Source
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !info.IsDir() {
			data, err := os.ReadFile(p)
			if err != nil {
				return nil, err
			}
			srcs = append(srcs, rules.Source{Name: p, Data: data})
			continue
		}
		var names []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && path != p && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			if !d.IsDir() && (strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) &&
				!strings.HasSuffix(path, ".test.yaml") {
				names = append(names, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(names) == 0 {
			return nil, fmt.Errorf("%s: no rules files (*.yaml)", p)
		}
		slices.Sort(names)
		for _, n := range names {
			data, err := os.ReadFile(n)
			if err != nil {
				return nil, err
			}
			srcs = append(srcs, rules.Source{Name: n, Data: data})
		}
	}
	return srcs, nil
}

// loadRules reads and compiles rules from paths, or the default pack when
// there are none.
func loadRules(paths []string) (*rules.Set, error) {
	if len(paths) == 0 {
		return packs.Default()
	}
	srcs, err := readRuleSources(paths)
	if err != nil {
		return nil, err
	}
	rs, err := rules.ParseSources(srcs)
	if err != nil {
		return nil, err
	}
	return rules.Compile(rs)
}

func rulesCheck(paths []string, stdout, stderr io.Writer) error {
	if len(paths) == 0 {
		fmt.Fprint(stderr, "usage: frostline rules check PATH...\n")
		return exitError(2)
	}
	set, err := loadRules(paths)
	if err != nil {
		if es := rules.AsErrors(err); es != nil {
			for _, e := range es {
				fmt.Fprintln(stderr, e)
			}
			fmt.Fprintf(stderr, "%d error(s)\n", len(es))
		} else {
			fmt.Fprintln(stderr, "frostline rules check:", err)
		}
		return exitError(1)
	}
	fmt.Fprintf(stdout, "ok: %d rules\n", set.Len())
	return nil
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func loadSites(paths []string) ([]*rules.Site, error) {
	var sites []*rules.Site
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		s, err := rules.ParseSite(p, data)
		if err != nil {
			return nil, err
		}
		sites = append(sites, s)
	}
	return sites, nil
}

func rulesReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("frostline rules replay", flag.ContinueOnError)
	fl.SetOutput(stderr)
	var rulePaths, sitePaths multiFlag
	fl.Var(&rulePaths, "rules", "rules file or folder (repeatable; default: the built-in default pack)")
	fl.Var(&sitePaths, "site", "site file (repeatable, at least one)")
	data := fl.String("data", "", "readings, CSV `ts,site,asset,metric,value`, optionally .gz")
	out := fl.String("out", "", "write incident events here instead of stdout")
	quiet := fl.Bool("quiet", false, "no summary on stderr")
	var sf scoreFlags
	sf.register(fl)
	if err := fl.Parse(args); err != nil {
		return exitError(2)
	}
	if len(sitePaths) == 0 || *data == "" || fl.NArg() > 0 {
		fmt.Fprint(stderr, "usage: frostline rules replay [--rules PATH]... --site FILE [--site FILE]... --data FILE.csv[.gz] [--out FILE] [--labels FILE [score flags]]\n")
		return exitError(2)
	}
	// With --labels the replay is scored in one go: the report goes to
	// stdout, and the incidents only to --out when it is given.
	var labels *score.Labels
	var sink *scoreSink
	if sf.labels != "" {
		var err error
		if labels, err = readLabels(sf.labels); err != nil {
			return err
		}
		sink = &scoreSink{}
	}
	set, err := loadRules(rulePaths)
	if err != nil {
		return err
	}
	sites, err := loadSites(sitePaths)
	if err != nil {
		return err
	}
	eng, err := rules.NewEngine(set, sites, rules.Options{})
	if err != nil {
		return err
	}
	f, err := os.Open(*data)
	if err != nil {
		return err
	}
	defer f.Close()
	info, _ := f.Stat()
	rd, err := replay.NewReader(f)
	if err != nil {
		return fmt.Errorf("%s: %w", *data, err)
	}
	defer rd.Close()

	w := stdout
	if sink != nil {
		w = io.Discard
	}
	var outFile *os.File
	if *out != "" {
		if outFile, err = os.Create(*out); err != nil {
			return err
		}
		w = outFile
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	var progress func(int)
	if !*quiet && isTerminal(stderr) && info != nil {
		progress = progressBar(stderr, f, info.Size())
	}
	emit := func(ev *rules.Event) error {
		b, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		if sink != nil {
			sink.add(b)
		}
		_, err = bw.Write(append(b, '\n'))
		return err
	}
	sum, err := replay.Run(ctx, eng, rd, emit, progress)
	if progress != nil {
		fmt.Fprint(stderr, "\r\033[K")
	}
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	if outFile != nil {
		if cerr := outFile.Close(); err == nil {
			err = cerr
		}
	}
	if !*quiet {
		sum.Print(stderr)
	}
	if err != nil || sink == nil {
		return err
	}
	return printScore(&sf, labels, sink.incs, sink.unreadable, stdout)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progressBar draws how far through the input file a replay has read.
func progressBar(w io.Writer, f *os.File, size int64) func(int) {
	last := time.Time{}
	return func(lines int) {
		if time.Since(last) < 100*time.Millisecond || size <= 0 {
			return
		}
		last = time.Now()
		pos, _ := f.Seek(0, io.SeekCurrent)
		frac := min(1, float64(pos)/float64(size))
		n := int(frac * 30)
		fmt.Fprintf(w, "\r[%s%s] %3.0f%% %d lines", strings.Repeat("=", n), strings.Repeat(" ", 30-n), frac*100, lines)
	}
}
