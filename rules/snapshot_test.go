package rules_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/frostline/frostline/rules"
	"github.com/frostline/frostline/rules/packs"
	"github.com/frostline/frostline/rules/replay"
	"github.com/frostline/frostline/rules/sample"
)

// sharedDir returns ../shared beside the repository root, where the
// labeled sample lives.
func sharedDir(t testing.TB) string { return sample.Shared(t) }

// loadSample reads the faults sample: its sites and every reading.
func loadSample(t testing.TB) ([]*rules.Site, []rules.Reading) {
	t.Helper()
	dir := filepath.Join(sharedDir(t), "data", "faults-sample")
	paths, err := filepath.Glob(filepath.Join(dir, "sites", "*.yaml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no site files in %s", dir)
	}
	var sites []*rules.Site
	for _, p := range paths {
		s, err := rules.ParseSite(p, readFile(t, p))
		if err != nil {
			t.Fatal(err)
		}
		sites = append(sites, s)
	}
	f, err := os.Open(filepath.Join(dir, "readings.csv.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rd, err := replay.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	var rs []rules.Reading
	for {
		var r rules.Reading
		err := rd.Next(&r)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	return sites, rs
}

func defaultPack(t testing.TB) *rules.Set {
	t.Helper()
	set, err := packs.Default()
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// encode writes events as a replay does: one JSON object per line.
func encode(t testing.TB, evs []rules.Event) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	for i := range evs {
		if err := enc.Encode(&evs[i]); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

// storeDay is one synthetic store day for the default pack, for the tests
// that must run without the shared sample: a walk-in cooler whose
// compressor fails at 10:00, a freezer with a door left open at 14:00,
// an RTU, and every defrost and heartbeat in between.
func storeDay() []rules.Reading {
	cool, _ := rules.WordValue(rules.LookupMetric("mode"), "cool")
	defrost := func(m float64) float64 {
		if defrostAt(m) {
			return 1
		}
		return 0
	}
	return merge(
		newStream("s1", "waco-1").
			signal("compressor_on", 0, 1440, during(600, 1440, constant(0), cycling(10, 10))).
			signal("defrost", 0, 1440, defrost).
			signal("door_open", 0, 1440, constant(0)).
			analog("air_temp", 0, 1440, 1, during(600, 1440, func(m float64) float64 { return min(3+(m-600)/10, 14) }, boxTemp(3, 0.5))),
		newStream("s1", "wafr-2").
			signal("compressor_on", 0, 1440, cycling(12, 8)).
			signal("defrost", 0, 1440, defrost).
			signal("door_open", 0, 1440, steps(0, 840, 1, 920, 0)).
			analog("air_temp", 0, 1440, 1, boxTemp(-20, 1)),
		newStream("s1", "roun-8").
			signal("mode", 0, 1440, constant(cool)).
			signal("compressor_on", 0, 1440, cycling(15, 5)).
			analog("zone_temp", 0, 1440, 1, constant(23)).
			analog("zone_setpoint", 0, 1440, 1, constant(22)).
			analog("return_air_temp", 0, 1440, 1, constant(24)).
			analog("supply_air_temp", 0, 1440, 1, constant(13)),
	)
}

// TestDeterministic: the same readings give the same events, byte for
// byte, however the sites are listed.
func TestDeterministic(t *testing.T) {
	set := defaultPack(t)
	sites := parseSites(t, testSites)
	input := storeDay()
	run := func(sites []*rules.Site) []byte {
		eng, err := rules.NewEngine(set, sites, rules.Options{})
		if err != nil {
			t.Fatal(err)
		}
		evs := observeAll(t, eng, input)
		checkEpisodes(t, evs)
		return encode(t, evs)
	}
	first := run(sites)
	if !bytes.Contains(first, []byte(`"event":"opened"`)) {
		t.Fatalf("the store day raised nothing; the test needs incidents:\n%s", first)
	}
	if again := run(sites); !bytes.Equal(first, again) {
		t.Errorf("a second run differs:\n%s\n---\n%s", first, again)
	}
	if reversed := run([]*rules.Site{sites[1], sites[0]}); !bytes.Equal(first, reversed) {
		t.Errorf("a run with the sites in the other order differs:\n%s\n---\n%s", first, reversed)
	}
}

// TestSnapshotRestoreSample replays the shared sample once without a
// break and once stopped at several points, snapshotted and restored into
// a new engine: the events must be the same, byte for byte. An episode
// open at the cut continues with its incident id; nothing opens twice.
func TestSnapshotRestoreSample(t *testing.T) {
	if testing.Short() {
		t.Skip("replays the 4-day sample several times")
	}
	sites, input := loadSample(t)
	set := defaultPack(t)
	newEng := func() *rules.Engine {
		eng, err := rules.NewEngine(set, sites, rules.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return eng
	}
	whole := observeAll(t, newEng(), input)
	want := encode(t, whole)

	for _, frac := range []int{25, 50, 75} {
		// Cut where an episode is open: the first reading after the
		// fraction at which the uninterrupted run has one open.
		cut := len(input) * frac / 100
		for cut < len(input) && openBefore(whole, input[cut].At) == 0 {
			cut++
		}
		eng := newEng()
		evs := observeAll(t, eng, input[:cut])
		if open := openAt(evs); open == 0 {
			t.Fatalf("cut at %d%%: no episode open", frac)
		} else {
			t.Logf("cut at %d%% (%s): %d episodes open", frac, input[cut-1].At.Format("Jan 2 15:04"), open)
		}
		snap, err := eng.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		restored := newEng()
		evs, err = restored.Restore(evs, snap)
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, observeAll(t, restored, input[cut:])...)
		checkEpisodes(t, evs)
		if got := encode(t, evs); !bytes.Equal(got, want) {
			t.Errorf("cut at %d%%: events differ from the uninterrupted run\n%s", frac, firstDiff(got, want))
		}
		// A snapshot of the same state is the same bytes.
		if again, _ := eng.Snapshot(); !bytes.Equal(again, snap) {
			t.Errorf("cut at %d%%: two snapshots of one state differ", frac)
		}
		// Written a piece at a time, it is the same bytes.
		var streamed bytes.Buffer
		if err := eng.WriteSnapshot(&streamed); err != nil || !bytes.Equal(streamed.Bytes(), snap) {
			t.Errorf("cut at %d%%: WriteSnapshot differs from Snapshot (%v)", frac, err)
		}
	}
}

// TestSnapshotRestoreAnywhere cuts small scenarios at many points, and
// at the awkward ones (mid-outage, just after an outage, mid-defrost):
// a restored engine must go on exactly as the uninterrupted one.
func TestSnapshotRestoreAnywhere(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rules string
		input []rules.Reading
		at    []float64 // minutes to cut at, besides ~40 spread cuts
	}{
		{"store day, default pack", "", storeDay(), []float64{600, 641, 855, 930}},
		// Just after the outage (+4h1m..+4h3m), before probe reco-3's
		// next report: the restored engine must remember when s1 came
		// back, or it calls the probe offline.
		{"store outage", offline, storeOutage(), []float64{125, 135, 239, 240, 241, 242, 243, 245}},
		{"leak trend", leakTrend, leakingCooler(480, 1200, true), []float64{700, 800, 1300}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set := defaultPack(t)
			if tc.rules != "" {
				set = compileRules(t, tc.rules)
			}
			sites := parseSites(t, testSites)
			newEng := func() *rules.Engine {
				eng, err := rules.NewEngine(set, sites, rules.Options{})
				if err != nil {
					t.Fatal(err)
				}
				return eng
			}
			want := encode(t, observeAll(t, newEng(), tc.input))
			var cuts []int
			// About 40 cuts spread over the input, at least 97 readings
			// apart, so that they fall on every kind of reading.
			for i := 1; i < len(tc.input); i += max(97, len(tc.input)/40) {
				cuts = append(cuts, i)
			}
			for _, m := range tc.at {
				for i, r := range tc.input {
					if !r.At.Before(at(m)) {
						cuts = append(cuts, i)
						break
					}
				}
			}
			for _, cut := range cuts {
				eng := newEng()
				evs := observeAll(t, eng, tc.input[:cut])
				snap, err := eng.Snapshot()
				if err != nil {
					t.Fatal(err)
				}
				restored := newEng()
				if evs, err = restored.Restore(evs, snap); err != nil {
					t.Fatal(err)
				}
				evs = append(evs, observeAll(t, restored, tc.input[cut:])...)
				if got := encode(t, evs); !bytes.Equal(got, want) {
					t.Errorf("cut before reading %d (%s): events differ from the uninterrupted run\n%s",
						cut, tc.input[cut].At.Sub(t0), firstDiff(got, want))
				}
			}
		})
	}
}

// openAt counts the episodes open at the end of an event stream.
func openAt(evs []rules.Event) int {
	open := map[string]bool{}
	for _, ev := range evs {
		switch ev.Event {
		case rules.Opened:
			open[ev.Incident] = true
		case rules.Cleared:
			delete(open, ev.Incident)
		}
	}
	return len(open)
}

// openBefore counts the episodes open just before t.
func openBefore(evs []rules.Event, t time.Time) int {
	n := 0
	for n < len(evs) && evs[n].At.Before(t) {
		n++
	}
	return openAt(evs[:n])
}

// firstDiff shows the first line where two JSONL outputs differ.
func firstDiff(got, want []byte) string {
	g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := range max(len(g), len(w)) {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return "line " + strconv.Itoa(i+1) + ":\n got " + gl + "\nwant " + wl
		}
	}
	return ""
}

// TestSnapshotKeepsTheScanClock: time-driven rules are checked at most
// every 30 s of event time. A restored engine must keep that rhythm, or a
// door rule comes due at another reading than in the uninterrupted run.
// Readings come at 5 and 10 s past each minute; the door opened at
// +10h0m7s.
func TestSnapshotKeepsTheScanClock(t *testing.T) {
	const door = `
rules:
  - id: door-ajar
    kind: state
    match: {class: walk_in_cooler}
    metric: door_open
    for: 15m
    problem: door_ajar
    priority: P3
    trade: general
    title: door
`
	s := newStream("s1", "waco-1")
	s.add("door_open", at(600).Add(7*time.Second), 1)
	for m := 601.0; m < 630; m++ {
		s.add("air_temp", at(m).Add(5*time.Second), 3)
		s.add("air_temp", at(m).Add(10*time.Second), 3)
	}
	want := encode(t, observeAll(t, newEngine(t, door, testSites, rules.Options{}), s.rs))
	for cut := 1; cut < len(s.rs); cut++ {
		eng := newEngine(t, door, testSites, rules.Options{})
		evs := observeAll(t, eng, s.rs[:cut])
		snap, err := eng.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		restored := newEngine(t, door, testSites, rules.Options{})
		if evs, err = restored.Restore(evs, snap); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, observeAll(t, restored, s.rs[cut:])...)
		if got := encode(t, evs); !bytes.Equal(got, want) {
			t.Errorf("cut before %s: %s", s.rs[cut].At.Sub(t0), firstDiff(got, want))
		}
	}
}
