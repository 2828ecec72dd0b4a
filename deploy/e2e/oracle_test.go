package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// incidentEvent is an incident event as `frostline rules replay` writes it
// and as the edge sends it (the wire format's event fields).
type incidentEvent struct {
	Event       string    `json:"event"`
	Incident    string    `json:"incident"`
	Seq         int       `json:"seq"`
	Site        string    `json:"site"`
	Asset       string    `json:"asset"`
	Rule        string    `json:"rule"`
	Problem     string    `json:"problem"`
	Priority    string    `json:"priority"`
	Trade       string    `json:"trade"`
	At          time.Time `json:"at"`
	Occurrences int       `json:"occurrences"`
}

// msgID is the event's de-duplication key, as rules.Event.MsgID makes it.
func (e *incidentEvent) msgID() string { return e.Incident + "-" + strconv.Itoa(e.Seq) }

// oracle is what the rules make of the simulation when nothing fails: the
// same readings (the simulator is deterministic for a seed and a start),
// written as CSV and replayed offline by the same binary's `rules replay`.
type oracle struct {
	events []incidentEvent
	// minutes are the minutes in which the asset under test reported its
	// air temperature, and defrosts its defrost signal's reports, for the
	// telemetry checks.
	minutes  map[time.Time]bool
	defrosts []report
}

// report is one reading of a 0/1 signal.
type report struct {
	at time.Time
	on bool
}

// defrosting reports whether the asset under test was in defrost at t, by
// the last defrost report at or before it.
func (o *oracle) defrosting(t time.Time) bool {
	on := false
	for _, r := range o.defrosts {
		if r.at.After(t) {
			break
		}
		on = r.on
	}
	return on
}

// simulateAndReplay simulates with simArgs into a CSV file in dir and
// replays it through the default rules of the sites named in siteArgs
// (--site path pairs): the CSV's path, the incident events and the
// replay's summary of the readings.
func simulateAndReplay(t *testing.T, cli, dir string, simArgs []string, siteArgs ...string) (csv string, events []incidentEvent, summary string) {
	t.Helper()
	csv = filepath.Join(dir, "oracle.csv")
	if out, err := exec.Command(cli, append(append([]string{"sim"}, simArgs...), "--csv", csv)...).CombinedOutput(); err != nil {
		t.Fatalf("frostline sim --csv: %v\n%s", err, out)
	}
	cmd := exec.Command(cli, append([]string{"rules", "replay", "--data", csv}, siteArgs...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("frostline rules replay: %v\n%s", err, stderr.String())
	}
	for _, line := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var ev incidentEvent
		if err := json.Unmarshal(line, &ev); err != nil {
			t.Fatalf("replay output %q: %v", line, err)
		}
		events = append(events, ev)
	}
	return csv, events, strings.TrimSpace(stderr.String())
}

// runOracle simulates with simArgs into a CSV file and replays it through
// the default rules of the site file.
func runOracle(t *testing.T, cli, dir, sitePath string, simArgs []string, asset string) *oracle {
	t.Helper()
	csv, events, summary := simulateAndReplay(t, cli, dir, simArgs, "--site", sitePath)
	o := &oracle{minutes: map[time.Time]bool{}, events: events}
	f, err := os.Open(csv)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	temp, defrost := ","+asset+",air_temp,", ","+asset+",defrost,"
	for sc.Scan() {
		// ts,site,asset,metric,value
		line := sc.Text()
		isTemp, isDefrost := strings.Contains(line, temp), strings.Contains(line, defrost)
		if !isTemp && !isDefrost {
			continue
		}
		ts, err := time.Parse(time.RFC3339, line[:strings.IndexByte(line, ',')])
		if err != nil {
			t.Fatalf("oracle CSV: %q: %v", line, err)
		}
		if isTemp {
			o.minutes[ts.Truncate(time.Minute)] = true
		} else {
			o.defrosts = append(o.defrosts, report{at: ts, on: strings.HasSuffix(line, ",1")})
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	t.Logf("oracle: %d incident events (%s); %s", len(o.events), o.summary(), summary)
	return o
}

// last returns each incident's final event, by incident id.
func (o *oracle) last() map[string]incidentEvent {
	out := map[string]incidentEvent{}
	for _, e := range o.events {
		if p, ok := out[e.Incident]; !ok || e.Seq > p.Seq {
			out[e.Incident] = e
		}
	}
	return out
}

// incidents returns the ids of the incidents on an asset, sorted.
func (o *oracle) incidents(asset string) []string {
	var ids []string
	for id, e := range o.last() {
		if e.Asset == asset {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// summary lists the incidents, one phrase each, for the log.
func (o *oracle) summary() string {
	var parts []string
	for _, e := range o.events {
		if e.Event != "updated" {
			parts = append(parts, e.At.Format("15:04")+" "+e.Event+" "+e.Asset+" "+e.Rule+" "+e.Priority)
		}
	}
	return strings.Join(parts, ", ")
}
