package main

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/frostline/frostline/rules/score"
)

// TestSimRackTrip: `frostline sim` on the demo store with a rack trip
// writes the rack's compressor_on (0 through the trip), the served cases
// warming together, and labels the trip on the rack with its cases as
// members; the default pack makes it one P1 rack_failure.
func TestSimRackTrip(t *testing.T) {
	dir := t.TempDir()
	csv, labels := filepath.Join(dir, "r.csv.gz"), filepath.Join(dir, "labels.json")
	status, _, stderr := runCLI(t, "sim", "--site", "demodata/store-101.yaml", "--days", "2", "--start", "2026-07-06T00:00:00Z", "--seed", "3",
		"--retrofit", "0", "--fault", "rack_failure:rack-8:30h:3h", "--csv", csv, "--labels", labels)
	if status != 0 {
		t.Fatalf("status %d: %s", status, stderr)
	}
	b, err := os.ReadFile(labels)
	if err != nil {
		t.Fatal(err)
	}
	l, err := score.ParseLabels(b)
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if len(l.Faults) != 1 {
		t.Fatalf("labels: %s", b)
	}
	f := l.Faults[0]
	if f.Fault != "rack_failure" || f.Asset != "rack-8" || !slices.Equal(f.Members, []string{"dimt-5", "dilt-6", "dimt-7"}) || f.Breach == nil {
		t.Errorf("label %+v", f)
	}

	// The readings: the rack off through the trip, its cases warming
	// together an hour in, the walk-in cooler (not on the rack) not.
	in, err := os.Open(csv)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	gz, err := gzip.NewReader(in)
	if err != nil {
		t.Fatal(err)
	}
	trip, end := f.Start, f.End
	hour := trip.Add(time.Hour)
	rackOn := map[bool][]string{} // during the trip or not -> values
	warm := map[string][2]float64{}
	sc := bufio.NewScanner(gz)
	for sc.Scan() {
		p := strings.Split(sc.Text(), ",")
		if len(p) != 5 || p[0] == "ts" {
			continue
		}
		at, _ := time.Parse(time.RFC3339, p[0])
		during := !at.Before(trip) && at.Before(end)
		if p[2] == "rack-8" && p[3] == "compressor_on" {
			rackOn[during] = append(rackOn[during], p[4])
		}
		if p[3] == "air_temp" {
			var v float64
			json.Unmarshal([]byte(p[4]), &v)
			w := warm[p[2]]
			if at.Equal(trip.Add(-time.Minute)) {
				w[0] = v
			}
			if at.Equal(hour) {
				w[1] = v
			}
			warm[p[2]] = w
		}
	}
	if len(rackOn[true]) == 0 || slices.Contains(rackOn[true], "1") || !slices.Contains(rackOn[false], "1") {
		t.Errorf("rack compressor_on during the trip %v, outside %d readings", rackOn[true], len(rackOn[false]))
	}
	for _, c := range []string{"dimt-5", "dilt-6", "dimt-7"} {
		if w := warm[c]; w[1]-w[0] < 3 {
			t.Errorf("%s: %.1f C before the trip, %.1f C an hour in", c, w[0], w[1])
		}
	}
	if w := warm["waco-1"]; w[1]-w[0] > 3 {
		t.Errorf("waco-1 is not on the rack but went from %.1f to %.1f C", w[0], w[1])
	}

	// Replayed through the default pack and scored in one go: one P1
	// rack_failure on the rack, flagged before the breach, and nothing
	// else.
	rackTripScored(t, csv, labels)
}

func rackTripScored(t *testing.T, csv, labels string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "incidents.jsonl")
	status, stdout, stderr := runCLI(t, "rules", "replay", "--quiet", "--site", "demodata/store-101.yaml", "--data", csv, "--labels", labels,
		"--out", out, "--json", "--min-precision", "1", "--min-recall", "1", "--max-per-group", "1", "--min-sudden-lead", "30", "--min-accepted", "1")
	if status != 0 {
		t.Fatalf("replay --labels: %d %s%s", status, stdout, stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var opened []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var e struct{ Event, Asset, Problem, Priority string }
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatal(err)
		}
		if e.Event == "opened" {
			opened = append(opened, e.Priority+" "+e.Problem+" "+e.Asset)
		}
	}
	if !slices.Equal(opened, []string{"P1 rack_failure rack-8"}) {
		t.Errorf("incidents opened: %q, want one P1 rack_failure on rack-8", opened)
	}
}

// TestSimSilentRack: --silent keeps a rack from reporting; an unknown
// asset is refused.
func TestSimSilentRack(t *testing.T) {
	dir := t.TempDir()
	csv := filepath.Join(dir, "r.csv")
	status, _, stderr := runCLI(t, "sim", "--site", "demodata/store-101.yaml", "--days", "0.5", "--start", "2026-07-06T00:00:00Z",
		"--silent", "rack-8", "--fault", "rack_failure:rack-8:2h:2h", "--csv", csv)
	if status != 0 {
		t.Fatalf("status %d: %s", status, stderr)
	}
	b, err := os.ReadFile(csv)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), ",rack-8,") || !strings.Contains(string(b), ",dimt-7,air_temp,") {
		t.Error("the silent rack reported, or its cases did not")
	}
	// Without the rack's own signal the trip is still one P1 on the rack.
	labels := filepath.Join(dir, "labels.json")
	status, _, stderr = runCLI(t, "sim", "--site", "demodata/store-101.yaml", "--days", "2", "--start", "2026-07-06T00:00:00Z", "--seed", "4",
		"--silent", "rack-8", "--fault", "rack_failure:rack-8:30h:3h", "--csv", csv, "--labels", labels)
	if status != 0 {
		t.Fatalf("status %d: %s", status, stderr)
	}
	rackTripScored(t, csv, labels)
	if status, _, _ := runCLI(t, "sim", "--site", "demodata/store-101.yaml", "--silent", "nope", "--csv", csv); status == 0 {
		t.Error("an unknown silent asset is accepted")
	}
}
