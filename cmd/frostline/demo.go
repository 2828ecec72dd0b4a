package main

import (
	"bytes"
	"context"
	"embed"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/frostline/frostline/rules"
	"github.com/frostline/frostline/rules/packs"
	"github.com/frostline/frostline/rules/replay"
)

// demodata is two days of one store's equipment, recorded: a walk-in
// cooler's compressor fails on the second morning and a walk-in freezer's
// a few hours later.
//
//go:embed demodata
var demodata embed.FS

// runDemo replays the recorded store through the default rule pack and
// prints, as they happen, the incidents the edge would raise.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("frostline demo", flag.ContinueOnError)
	fl.SetOutput(stderr)
	updates := fl.Bool("updates", false, "also print incident progress updates")
	if err := fl.Parse(args); err != nil {
		return exitError(2)
	}
	set, err := packs.Default()
	if err != nil {
		return err
	}
	sites, err := demoSites()
	if err != nil {
		return err
	}
	site := sites[0]
	data, err := demodata.ReadFile("demodata/store-6950.csv.gz")
	if err != nil {
		return err
	}
	eng, err := rules.NewEngine(set, []*rules.Site{site}, rules.Options{})
	if err != nil {
		return err
	}
	rd, err := replay.NewReader(bytes.NewReader(data))
	if err != nil {
		return err
	}
	defer rd.Close()
	fmt.Fprintf(stdout, "Frostline demo: replaying two recorded days of %s (%d assets) through the default rule pack (%d rules).\n\n",
		site.ID, len(site.Assets), set.Len())
	sum, err := replay.Run(ctx, eng, rd, func(ev *rules.Event) error {
		if ev.Event == rules.Updated && !*updates {
			return nil
		}
		fmt.Fprintln(stdout, describe(ev))
		return nil
	}, nil)
	fmt.Fprintln(stdout)
	sum.Print(stdout)
	return err
}

// describe renders an incident event as one line for a person.
func describe(ev *rules.Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %-7s %s %-15s %s/%s  %s", ev.At.Format("2006-01-02 15:04"), strings.ToUpper(string(ev.Event)),
		ev.Priority, ev.Problem, ev.Site, ev.Asset, ev.Title)
	if ev.Event != rules.Cleared {
		fmt.Fprintf(&b, "\n%20s%s", "", ev.Summary)
	}
	return b.String()
}

// demoSites returns the demo store's site file.
func demoSites() ([]*rules.Site, error) {
	b, err := demodata.ReadFile("demodata/store-6950.yaml")
	if err != nil {
		return nil, err
	}
	s, err := rules.ParseSite("demodata/store-6950.yaml", b)
	if err != nil {
		return nil, err
	}
	return []*rules.Site{s}, nil
}
