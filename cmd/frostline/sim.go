package main

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/frostline/frostline/edge/sim"
	"github.com/frostline/frostline/rules"
)

const simUsage = `usage: frostline sim [--site FILE]... [--days N] [--faults N] [--fault KIND:ASSET:AFTER:FOR]... [--silent ASSET]... [--seed N]
                     (--csv FILE [--labels FILE] | --mqtt URL [--speed N] [--fahrenheit])
`

type simFlags struct {
	sites      multiFlag
	faults     multiFlag
	silent     multiFlag
	days       float64
	random     int
	seed       uint64
	retrofit   float64
	glitches   float64
	noise      float64
	start      string
	csv        string
	labels     string
	mqtt       string
	speed      float64
	fahrenheit bool
	topic      string
	clientID   string
}

func parseSimFlags(args []string, stderr io.Writer) (*simFlags, error) {
	f := &simFlags{}
	fl := flag.NewFlagSet("frostline sim", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Var(&f.sites, "site", "site file (repeatable; default: the demo store)")
	fl.Var(&f.faults, "fault", "inject a fault: KIND:ASSET[@SITE]:AFTER:FOR, e.g. compressor_failure:waco-1:26h:4h or rack_failure:rack-8:30h:3h (repeatable)")
	fl.Float64Var(&f.days, "days", 1, "how many days to simulate (CSV); 0 runs until stopped (MQTT)")
	fl.IntVar(&f.random, "faults", 0, "inject this many random faults per site (and a trip of each rack that serves cases)")
	fl.Var(&f.silent, "silent", "ASSET[@SITE] reports nothing, e.g. a rack whose controller is not connected (repeatable)")
	fl.Uint64Var(&f.seed, "seed", 1, "random seed: the same seed gives the same readings")
	fl.Float64Var(&f.retrofit, "retrofit", 0.25, "fraction of refrigerated assets watched by 5-min wireless probes")
	fl.Float64Var(&f.glitches, "glitches", 0.0007, "chance per temperature sample of a lone spike")
	fl.Float64Var(&f.noise, "noise", 1, "scale every sensor's noise by this")
	fl.StringVar(&f.start, "start", "", "simulated start time, RFC 3339 (default: midnight UTC today; with --mqtt: now)")
	fl.StringVar(&f.csv, "csv", "", "write readings as CSV (ts,site,asset,metric,value) to this file (.gz compresses)")
	fl.StringVar(&f.labels, "labels", "", "write the injected faults as labels.json to this file")
	fl.StringVar(&f.mqtt, "mqtt", "", "publish readings to this MQTT broker (tcp://host:1883)")
	fl.Float64Var(&f.speed, "speed", 1, "with --mqtt: simulated minutes per real minute (60: an hour a minute)")
	fl.BoolVar(&f.fahrenheit, "fahrenheit", false, "with --mqtt: publish temperatures in F")
	fl.StringVar(&f.topic, "topic", "sites/{site}/assets/{asset}/{metric}", "with --mqtt: topic template")
	fl.StringVar(&f.clientID, "client-id", "frostline-sim", "with --mqtt: client id")
	if err := fl.Parse(args); err != nil {
		return nil, err
	}
	if fl.NArg() > 0 || (f.csv == "") == (f.mqtt == "") {
		return nil, fmt.Errorf("give exactly one of --csv or --mqtt")
	}
	return f, nil
}

// parseFault reads KIND:ASSET[@SITE]:AFTER:FOR.
func parseFault(spec string, sites []*rules.Site, start time.Time) (sim.Fault, error) {
	parts := strings.Split(spec, ":")
	if len(parts) != 4 {
		return sim.Fault{}, fmt.Errorf("fault %q: want KIND:ASSET[@SITE]:AFTER:FOR", spec)
	}
	asset, site, _ := strings.Cut(parts[1], "@")
	if site == "" {
		site = sites[0].ID
	}
	after, err := rules.ParseDuration(parts[2])
	if err != nil {
		return sim.Fault{}, fmt.Errorf("fault %q: after: %w", spec, err)
	}
	d, err := rules.ParseDuration(parts[3])
	if err != nil || d == 0 {
		return sim.Fault{}, fmt.Errorf("fault %q: for: want a duration such as 4h", spec)
	}
	if parts[0] == sim.GatewayOffline {
		asset = rules.SiteAsset
	}
	return sim.Fault{Site: site, Asset: asset, Kind: parts[0], Start: start.Add(after.D()), Duration: d.D()}, nil
}

func runSim(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f, err := parseSimFlags(args, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "frostline sim: %v\n%s", err, simUsage)
		return exitError(2)
	}
	sites, err := loadSites(f.sites)
	if err != nil {
		return err
	}
	if len(sites) == 0 {
		if sites, err = demoSites(); err != nil {
			return err
		}
	}
	start := time.Now().UTC().Truncate(24 * time.Hour)
	if f.mqtt != "" {
		start = time.Now().UTC().Truncate(time.Minute)
	}
	if f.start != "" {
		if start, err = time.Parse(time.RFC3339, f.start); err != nil {
			return fmt.Errorf("--start: %w", err)
		}
	}
	cfg := sim.Config{Sites: sites, Start: start, Seed: f.seed, Retrofit: f.retrofit, Glitches: f.glitches, Noise: f.noise}
	for _, a := range f.silent {
		asset, site, _ := strings.Cut(a, "@")
		if site == "" {
			site = sites[0].ID
		}
		cfg.Silent = append(cfg.Silent, site+"/"+asset)
	}
	for _, spec := range f.faults {
		fault, err := parseFault(spec, sites, start)
		if err != nil {
			return err
		}
		cfg.Faults = append(cfg.Faults, fault)
	}
	if f.random > 0 {
		end := start.Add(time.Duration(f.days * float64(24*time.Hour)))
		// Faults start after the first day: the rules judge each asset
		// against its own normal, which they learn in the first hours.
		from := start.Add(min(24*time.Hour, end.Sub(start)/3))
		cfg.Faults = append(cfg.Faults, sim.RandomFaults(sites, f.random, from, end, f.seed, func(site, asset string) bool {
			return sim.Retrofitted(f.seed, f.retrofit, site, asset)
		})...)
	}
	s, err := sim.New(cfg)
	if err != nil {
		return err
	}
	if f.csv != "" {
		if err := simCSV(ctx, s, f, stderr); err != nil {
			return err
		}
	} else if err := simMQTT(ctx, s, f, stdout, stderr); err != nil {
		return err
	}
	if f.labels != "" {
		b, err := json.MarshalIndent(s.Labels(), "", " ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(f.labels, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func simCSV(ctx context.Context, s *sim.Sim, f *simFlags, stderr io.Writer) error {
	out, err := os.Create(f.csv)
	if err != nil {
		return err
	}
	defer out.Close()
	var w io.Writer = out
	var gz *gzip.Writer
	if strings.HasSuffix(f.csv, ".gz") {
		gz = gzip.NewWriter(out)
		w = gz
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	fmt.Fprintln(bw, "ts,site,asset,metric,value")
	steps := int(f.days * 24 * 60)
	var buf []sim.Reading
	n := 0
	for i := 0; i < steps; i++ {
		if i%1440 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		buf = s.Step(buf[:0])
		for _, r := range buf {
			bw.WriteString(r.At.Format(time.RFC3339))
			fmt.Fprintf(bw, ",%s,%s,%s,", r.Site, r.Asset, r.Metric)
			if r.Word != "" {
				bw.WriteString(r.Word)
			} else {
				bw.WriteString(strconv.FormatFloat(r.Value, 'f', -1, 64))
			}
			bw.WriteByte('\n')
			n++
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if gz != nil {
		if err := gz.Close(); err != nil {
			return err
		}
	}
	fmt.Fprintf(stderr, "sim: %d readings over %.1f days written to %s\n", n, f.days, f.csv)
	return out.Close()
}
