package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/frostline/frostline/rules/score"
)

// scoreFlags are the flags `rules score` and `rules replay --labels` share.
type scoreFlags struct {
	labels string
	grace  int
	json   bool
	th     score.Thresholds
}

// optFloat is a float flag that knows whether it was given.
type optFloat struct{ p **float64 }

func (o optFloat) String() string {
	if o.p == nil || *o.p == nil {
		return ""
	}
	return strconv.FormatFloat(**o.p, 'g', -1, 64)
}

func (o optFloat) Set(s string) error {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("want a number")
	}
	*o.p = &v
	return nil
}

type optInt struct{ p **int }

func (o optInt) String() string {
	if o.p == nil || *o.p == nil {
		return ""
	}
	return strconv.Itoa(**o.p)
}

func (o optInt) Set(s string) error {
	v, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("want a whole number")
	}
	*o.p = &v
	return nil
}

func (f *scoreFlags) register(fl *flag.FlagSet) {
	fl.StringVar(&f.labels, "labels", "", "labels file (JSON, see docs/labels.md)")
	fl.IntVar(&f.grace, "grace", 60, "minutes after a fault's end in which an incident still counts for it")
	fl.BoolVar(&f.json, "json", false, "write the figures as JSON instead of text")
	fl.Var(optFloat{&f.th.MinPrecision}, "min-precision", "fail below this precision")
	fl.Var(optFloat{&f.th.MinRecall}, "min-recall", "fail below this recall")
	fl.Var(optFloat{&f.th.MinLead}, "min-lead", "minutes: fail when the median leak lead before the breach is shorter")
	fl.Var(optFloat{&f.th.MinLeakFloor}, "min-leak-floor", "minutes: fail when any leak is found less than this before its breach")
	fl.Var(optFloat{&f.th.MinSuddenLead}, "min-sudden-lead", "minutes: fail when any compressor failure or rack trip is flagged less than this before its breach")
	fl.Var(optInt{&f.th.MaxPerGroup}, "max-per-group", "fail when a whole-store outage or a rack trip has more incidents")
	fl.Var(optFloat{&f.th.MinAccepted}, "min-accepted", "fail when a smaller share of true incidents names an accepted problem code")
	fl.Var(optFloat{&f.th.MaxFPPerAssetDay}, "max-fp-per-asset-day", "fail above this many false positives per asset-day")
}

// parseInterspersed parses flags that may come before or after the
// positional arguments (`rules score --labels L incidents.jsonl
// --min-recall 1`), which package flag alone stops at.
func parseInterspersed(fl *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fl.Parse(args); err != nil {
			return nil, err
		}
		args = fl.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

const scoreUsage = "usage: frostline rules score --labels FILE [--grace MIN] [--json] [--min-precision F] [--min-recall F] [--min-lead MIN] [--min-leak-floor MIN] [--min-sudden-lead MIN] [--max-per-group N] [--min-accepted F] [--max-fp-per-asset-day F] INCIDENTS.jsonl|-\n"

// rulesScore scores incidents against labels, as ../shared/bin/score-
// incidents does; the exit status is the verdict.
func rulesScore(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("frostline rules score", flag.ContinueOnError)
	fl.SetOutput(stderr)
	var sf scoreFlags
	sf.register(fl)
	pos, err := parseInterspersed(fl, args)
	if err != nil {
		return exitError(2)
	}
	if sf.labels == "" || len(pos) != 1 || sf.grace < 0 {
		fmt.Fprint(stderr, scoreUsage)
		return exitError(2)
	}
	labels, err := readLabels(sf.labels)
	if err != nil {
		return err
	}
	in := stdin
	if pos[0] == "-" && in == nil {
		return fmt.Errorf("no standard input to read incidents from")
	}
	if pos[0] != "-" {
		f, err := os.Open(pos[0])
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	incs, unreadable, err := score.ReadIncidents(in)
	if err != nil {
		return fmt.Errorf("%s: %w", pos[0], err)
	}
	return printScore(&sf, labels, incs, unreadable, stdout)
}

func readLabels(path string) (*score.Labels, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	l, err := score.ParseLabels(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return l, nil
}

// printScore writes the report and turns a failed verdict into exit
// status 1.
func printScore(sf *scoreFlags, l *score.Labels, incs []score.Incident, unreadable int, w io.Writer) error {
	r := score.Score(l, incs, unreadable, time.Duration(sf.grace)*time.Minute)
	var ok bool
	var err error
	if sf.json {
		ok, err = r.WriteJSON(w, sf.th)
	} else {
		ok, err = r.Print(w, sf.th)
	}
	if err != nil {
		return err
	}
	if !ok {
		return exitError(1)
	}
	return nil
}

// scoreSink collects the incident openings a replay emits, read back the
// way `rules score` reads a file, so that both score alike.
type scoreSink struct {
	incs       []score.Incident
	unreadable int
}

func (s *scoreSink) add(line []byte) {
	inc, err := score.ParseIncident(line)
	switch {
	case err == nil:
		s.incs = append(s.incs, inc)
	case err != score.ErrNotIncident:
		s.unreadable++
	}
}
