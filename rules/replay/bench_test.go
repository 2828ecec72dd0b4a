package replay_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/frostline/frostline/rules"
	"github.com/frostline/frostline/rules/packs"
	"github.com/frostline/frostline/rules/replay"
)

// BenchmarkReplay is a replay end to end: gunzip, CSV parsing, the
// engine with the default pack, and the events encoded as JSON lines, as
// `frostline rules replay` does. It reports readings per second on one
// goroutine. "synthetic" is three healthy stores for two days, built in
// memory; "sample" is ../shared/data/faults-sample when it is there.
func BenchmarkReplay(b *testing.B) {
	set, err := packs.Default()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("synthetic", func(b *testing.B) {
		var sites []*rules.Site
		for _, id := range []string{"store-1", "store-2", "store-3"} {
			s, err := rules.ParseSite(id+".yaml", []byte(fmt.Sprintf(storeYAML, id)))
			if err != nil {
				b.Fatal(err)
			}
			sites = append(sites, s)
		}
		benchReplay(b, set, sites, syntheticCSV(b, sites, 2))
	})
	b.Run("sample", func(b *testing.B) {
		dir := filepath.Join("..", "..", "..", "shared", "data", "faults-sample")
		data, err := os.ReadFile(filepath.Join(dir, "readings.csv.gz"))
		if err != nil {
			b.Skipf("no shared sample: %v", err)
		}
		paths, _ := filepath.Glob(filepath.Join(dir, "sites", "*.yaml"))
		var sites []*rules.Site
		for _, p := range paths {
			s, err := rules.ParseSite(p, readFile(b, p))
			if err != nil {
				b.Fatal(err)
			}
			sites = append(sites, s)
		}
		benchReplay(b, set, sites, data)
	})
}

func benchReplay(b *testing.B, set *rules.Set, sites []*rules.Site, data []byte) {
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var readings uint64
	var elapsed time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		eng, err := rules.NewEngine(set, sites, rules.Options{})
		if err != nil {
			b.Fatal(err)
		}
		rd, err := replay.NewReader(bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		var out bytes.Buffer
		enc := jsonEncoder(&out)
		sum, err := replay.Run(context.Background(), eng, rd, enc, nil)
		if err != nil {
			b.Fatal(err)
		}
		rd.Close()
		if sum.BadLines > 0 {
			b.Fatalf("%d bad lines: %v", sum.BadLines, sum.FirstBad)
		}
		readings += sum.Readings
		elapsed += time.Since(start)
	}
	b.ReportMetric(float64(readings)/elapsed.Seconds(), "readings/s")
	b.ReportMetric(float64(readings)/float64(b.N), "readings/op")
}

const storeYAML = `
site: %s
assets:
  - {id: waco-1, class: walk_in_cooler}
  - {id: wafr-2, class: walk_in_freezer}
  - {id: reco-3, class: reach_in_cooler}
  - {id: refr-4, class: reach_in_freezer}
  - {id: dimt-5, class: display_case_mt}
  - {id: dimt-6, class: display_case_mt}
  - {id: dilt-7, class: display_case_lt}
  - {id: roun-8, class: rooftop_unit}
`

// syntheticCSV writes the given days of healthy stores as the sample's
// gzip CSV: temperatures each minute, 0/1 signals on change and every
// 15 min, sorted by time.
func syntheticCSV(b *testing.B, sites []*rules.Site, days int) []byte {
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	fmt.Fprintln(zw, replay.Header)
	type sig struct {
		v  int
		at int
	}
	last := map[string]sig{}
	signal := func(ts, site, asset, metric string, m, v int) {
		k := site + asset + metric
		if s, ok := last[k]; !ok || s.v != v || m-s.at >= 15 {
			fmt.Fprintf(zw, "%s,%s,%s,%s,%d\n", ts, site, asset, metric, v)
			last[k] = sig{v, m}
		}
	}
	t0 := time.Date(2026, 7, 6, 0, 0, 0, 0, time.UTC)
	for m := 0; m < days*1440; m++ {
		ts := t0.Add(time.Duration(m) * time.Minute).Format(time.RFC3339)
		wave := math.Sin(2 * math.Pi * float64(m) / 20)
		for _, s := range sites {
			for i, a := range s.Assets {
				if a.Class == "rooftop_unit" {
					signal(ts, s.ID, a.ID, "compressor_on", m, b2i(m%25 < 15))
					fmt.Fprintf(zw, "%s,%s,%s,zone_temp,%.2f\n", ts, s.ID, a.ID, 23+0.4*wave)
					fmt.Fprintf(zw, "%s,%s,%s,zone_setpoint,22\n", ts, s.ID, a.ID)
					fmt.Fprintf(zw, "%s,%s,%s,return_air_temp,%.2f\n", ts, s.ID, a.ID, 24+0.3*wave)
					fmt.Fprintf(zw, "%s,%s,%s,supply_air_temp,%.2f\n", ts, s.ID, a.ID, 13+0.5*wave)
					if m%15 == 0 {
						fmt.Fprintf(zw, "%s,%s,%s,mode,cool\n", ts, s.ID, a.ID)
					}
					continue
				}
				setpoint := 2.5
				if a.Class == "walk_in_freezer" || a.Class == "reach_in_freezer" || a.Class == "display_case_lt" {
					setpoint = -20
				}
				d := (m - 90 - 30*i) % 360
				signal(ts, s.ID, a.ID, "compressor_on", m, b2i((m+3*i)%20 < 9))
				signal(ts, s.ID, a.ID, "defrost", m, b2i(d >= 0 && d < 30))
				signal(ts, s.ID, a.ID, "door_open", m, b2i((m+7*i)%120 < 3))
				fmt.Fprintf(zw, "%s,%s,%s,air_temp,%.2f\n", ts, s.ID, a.ID, setpoint+0.6*wave)
			}
		}
	}
	if err := zw.Close(); err != nil {
		b.Fatal(err)
	}
	return z.Bytes()
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// jsonEncoder returns an emit function that writes each event as a JSON
// line, as the CLI does.
func jsonEncoder(w *bytes.Buffer) func(*rules.Event) error {
	enc := json.NewEncoder(w)
	return func(ev *rules.Event) error { return enc.Encode(ev) }
}
