package score_test

import (
	"bytes"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/frostline/frostline/rules/score"
)

// update rewrites the golden files: go test ./rules/score -update.
var update = flag.Bool("update", false, "rewrite the golden want.txt and want.json files")

func f64(v float64) *float64 { return &v }
func intp(v int) *int        { return &v }

// scoreCase is one testdata folder scored with one set of thresholds; args
// are the same thresholds as the Python scorer's flags.
type scoreCase struct {
	dir   string
	grace time.Duration
	th    score.Thresholds
	args  []string
	pass  bool
}

var cases = []scoreCase{
	{dir: "branches", grace: score.DefaultGrace, pass: true},
	{dir: "empty", grace: score.DefaultGrace, th: score.Thresholds{MinRecall: f64(1), MaxPerGroup: intp(1), MinLead: f64(10)},
		args: []string{"--min-recall", "1", "--max-per-group", "1", "--min-lead", "10"}},
	{dir: "negatives", grace: score.DefaultGrace, th: score.Thresholds{MinPrecision: f64(0.2), MinSuddenLead: f64(60)},
		args: []string{"--min-precision", "0.2", "--min-sudden-lead", "60"}, pass: true},
	{dir: "thresholds-fail", grace: 30 * time.Minute,
		th: score.Thresholds{MinPrecision: f64(0.5), MinRecall: f64(0.7), MinLead: f64(30), MinLeakFloor: f64(60),
			MinSuddenLead: f64(30), MaxPerGroup: intp(2)},
		args: []string{"--grace", "30", "--min-precision", "0.5", "--min-recall", "0.7", "--min-lead", "30",
			"--min-leak-floor", "60", "--min-sudden-lead", "30", "--max-per-group", "2"}},
}

func load(t *testing.T, dir string) (*score.Labels, []score.Incident, int) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", dir, "labels.json"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := score.ParseLabels(b)
	if err != nil {
		t.Fatalf("ParseLabels: %v", err)
	}
	f, err := os.Open(filepath.Join("testdata", dir, "incidents.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	incs, bad, err := score.ReadIncidents(f)
	if err != nil {
		t.Fatal(err)
	}
	return l, incs, bad
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs:\n--- got\n%s--- want\n%s", path, got, want)
	}
}

// TestGolden scores every testdata case and checks the text and the JSON
// report against want.txt and want.json.
func TestGolden(t *testing.T) {
	for _, c := range cases {
		t.Run(c.dir, func(t *testing.T) {
			l, incs, bad := load(t, c.dir)
			r := score.Score(l, incs, bad, c.grace)
			var txt, js bytes.Buffer
			ok, err := r.Print(&txt, c.th)
			if err != nil {
				t.Fatal(err)
			}
			jok, err := r.WriteJSON(&js, c.th)
			if err != nil {
				t.Fatal(err)
			}
			if ok != c.pass || jok != c.pass {
				t.Errorf("verdict text %v json %v, want %v", ok, jok, c.pass)
			}
			golden(t, filepath.Join("testdata", c.dir, "want.txt"), txt.String())
			golden(t, filepath.Join("testdata", c.dir, "want.json"), js.String())
		})
	}
}

// TestBranches checks the figures of the crafted case one by one, so that
// a golden file rewritten by mistake does not hide a wrong figure.
func TestBranches(t *testing.T) {
	l, incs, bad := load(t, "branches")
	r := score.Score(l, incs, bad, score.DefaultGrace)
	if r.Opened != 20 || bad != 4 || r.Faults != 10 {
		t.Fatalf("opened %d unreadable %d faults %d, want 20 4 10", r.Opened, bad, r.Faults)
	}
	if r.TruePositives != 12 || r.FalsePositives != 8 || r.Accepted != 7 {
		t.Errorf("tp %d fp %d accepted %d, want 12 8 7", r.TruePositives, r.FalsePositives, r.Accepted)
	}
	if math.Abs(r.Recall-0.7) > 1e-12 || math.Abs(r.Precision-0.6) > 1e-12 {
		t.Errorf("recall %v precision %v", r.Recall, r.Precision)
	}
	// Outages: s1's has the gateway incident and a member's offline one
	// (both also in the rack trip's grace), s2's one inside its grace and
	// one a second past it.
	if got := r.PerOutage; len(got) != 2 || got[0] != 2 || got[1] != 1 {
		t.Errorf("per outage %v, want [2 1]", got)
	}
	if got := r.PerTrip; len(got) != 1 || got[0] != 4 {
		t.Errorf("per trip %v, want [4]", got)
	}
	med, least := r.LeakLead()
	// The breach half a second in, an incident at a quarter second: the
	// figures keep the fractions, as Python's do.
	if med != 300 || least != 45+0.5/60 {
		t.Errorf("leak lead median %v min %v, want 300 45.0083", med, least)
	}
	if least, ok := r.SuddenMin(); !ok || least != -20-0.25/60 {
		t.Errorf("sudden min %v %v, want -20.0042", least, ok)
	}
	want := map[string]int{"gateway_offline": 1, "sensor_stuck": 1, "stuck-2": 2, "?": 1, "it's odd": 1, "temp_high": 2}
	if len(r.FPByProblem) != len(want) {
		t.Errorf("fp by problem %v", r.FPByProblem)
	}
	for _, c := range r.FPByProblem {
		if want[c.Problem] != c.N {
			t.Errorf("fp %q: %d, want %d", c.Problem, c.N, want[c.Problem])
		}
	}
}

func TestVerdict(t *testing.T) {
	l, incs, bad := load(t, "branches")
	r := score.Score(l, incs, bad, score.DefaultGrace)
	for _, c := range []struct {
		name string
		th   score.Thresholds
		pass bool
		need string
	}{
		{"none", score.Thresholds{}, true, "need 0 / 0"},
		{"precision", score.Thresholds{MinPrecision: f64(0.6)}, true, "need 0.6 / 0"},
		{"precision fails", score.Thresholds{MinPrecision: f64(0.61)}, false, "need 0.61 / 0"},
		{"recall as python prints a float", score.Thresholds{MinRecall: f64(1)}, false, "need 0 / 1.0"},
		{"lead", score.Thresholds{MinLead: f64(300)}, true, "need 0 / 0 / lead >= 300 min"},
		{"lead fails", score.Thresholds{MinLead: f64(301)}, false, "need 0 / 0 / lead >= 301 min"},
		{"leak floor", score.Thresholds{MinLeakFloor: f64(45)}, true, "need 0 / 0 / every leak >= 45 min"},
		{"leak floor fails", score.Thresholds{MinLeakFloor: f64(46)}, false, "need 0 / 0 / every leak >= 46 min"},
		{"sudden", score.Thresholds{MinSuddenLead: f64(-20.01)}, true, "need 0 / 0 / every sudden failure >= -20 min before breach"},
		{"sudden fails", score.Thresholds{MinSuddenLead: f64(0)}, false, "need 0 / 0 / every sudden failure >= 0 min before breach"},
		{"per group", score.Thresholds{MaxPerGroup: intp(4)}, true, "need 0 / 0 / <= 4 per outage or rack trip"},
		{"per group fails", score.Thresholds{MaxPerGroup: intp(3)}, false, "need 0 / 0 / <= 3 per outage or rack trip"},
		{"accepted", score.Thresholds{MinAccepted: f64(7.0 / 12)}, true, "need 0 / 0 / accepted >= 0.5833333333333334"},
		{"accepted fails", score.Thresholds{MinAccepted: f64(0.95)}, false, "need 0 / 0 / accepted >= 0.95"},
		{"fp per asset-day", score.Thresholds{MaxFPPerAssetDay: f64(0.4)}, true, "need 0 / 0 / fp per asset-day <= 0.4"},
		{"fp per asset-day fails", score.Thresholds{MaxFPPerAssetDay: f64(0.38)}, false, "need 0 / 0 / fp per asset-day <= 0.38"},
		{"tiny repr", score.Thresholds{MaxFPPerAssetDay: f64(1e-5)}, false, "need 0 / 0 / fp per asset-day <= 1e-05"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ok, need := r.Verdict(c.th)
			if ok != c.pass || need != c.need {
				t.Errorf("got %v %q, want %v %q", ok, need, c.pass, c.need)
			}
		})
	}
	// Thresholds that need a figure fail without it.
	empty, incs0, _ := load(t, "empty")
	r0 := score.Score(empty, incs0, 0, score.DefaultGrace)
	for name, th := range map[string]score.Thresholds{
		"lead": {MinLead: f64(0)}, "floor": {MinLeakFloor: f64(0)}, "sudden": {MinSuddenLead: f64(-1e9)}, "accepted": {MinAccepted: f64(0)},
	} {
		if ok, _ := r0.Verdict(th); ok {
			t.Errorf("%s: passes without anything to measure", name)
		}
	}
	if ok, _ := r0.Verdict(score.Thresholds{MaxPerGroup: intp(0)}); !ok {
		t.Error("max per group: fails without any group")
	}
}

// TestNegatives: an incident on a negative, in it or within the grace, is
// a false positive and counted apart.
func TestNegatives(t *testing.T) {
	l, incs, bad := load(t, "negatives")
	r := score.Score(l, incs, bad, score.DefaultGrace)
	if r.FalsePositives != 4 || r.FPOnNegatives != 3 || r.Negatives != 2 {
		t.Errorf("fp %d on negatives %d negatives %d, want 4 3 2", r.FalsePositives, r.FPOnNegatives, r.Negatives)
	}
	if r := score.Score(l, incs, bad, 30*time.Minute); r.FPOnNegatives != 2 {
		t.Errorf("grace 30 min: on negatives %d, want 2", r.FPOnNegatives)
	}
}

func TestParseLabelsErrors(t *testing.T) {
	const ok = `"epoch": "2026-07-06T00:00:00Z", "end": "2026-07-07T00:00:00Z", "assets": [{"site": "s", "asset": "a"}]`
	fault := func(s string) string { return `{` + ok + `, "faults": [` + s + `]}` }
	for _, c := range []struct{ name, in, want string }{
		{"not json", `{`, "labels: unexpected EOF"},
		{"two values", `{} {}`, "more than one JSON value"},
		{"no epoch", `{"end": "2026-07-07T00:00:00Z", "assets": [{"site": "s", "asset": "a"}]}`, "epoch: missing"},
		{"bad end", `{"epoch": "2026-07-06T00:00:00Z", "end": "tomorrow", "assets": [{"site": "s", "asset": "a"}]}`, `end: "tomorrow" is not an ISO 8601 time`},
		{"end before epoch", `{"epoch": "2026-07-06T00:00:00Z", "end": "2026-07-05T00:00:00Z", "assets": [{"site": "s", "asset": "a"}]}`, "end: 2026-07-05T00:00:00Z is not after epoch"},
		{"naive", `{"epoch": "2026-07-06T00:00:00", "end": "2026-07-07T00:00:00Z", "assets": [{"site": "s", "asset": "a"}]}`, "epoch: \"2026-07-06T00:00:00\" has no time zone"},
		{"no assets", `{"epoch": "2026-07-06T00:00:00Z", "end": "2026-07-07T00:00:00Z"}`, "assets: none"},
		{"asset without site", `{"epoch": "2026-07-06T00:00:00Z", "end": "2026-07-07T00:00:00Z", "assets": [{"asset": "a"}]}`, "assets[0]: site and asset are required"},
		{"fault fields", fault(`{"start": "2026-07-06T01:00:00Z", "end": "2026-07-06T02:00:00Z"}`), "faults[0].site: missing"},
		{"fault asset", fault(`{"site": "s", "fault": "x", "start": "2026-07-06T01:00:00Z", "end": "2026-07-06T02:00:00Z"}`), `faults[0].asset: missing ("*" for the whole site)`},
		{"fault end", fault(`{"site": "s", "asset": "a", "fault": "x", "start": "2026-07-06T03:00:00Z", "end": "2026-07-06T02:00:00Z"}`), "faults[0].end: before its start"},
		{"fault breach", fault(`{"site": "s", "asset": "a", "fault": "x", "start": "2026-07-06T01:00:00Z", "end": "2026-07-06T02:00:00Z", "breach": "soon"}`), "faults[0].breach:"},
		{"member", fault(`{"site": "s", "asset": "a", "fault": "x", "members": ["b", ""], "start": "2026-07-06T01:00:00Z", "end": "2026-07-06T02:00:00Z"}`), "faults[0].members[1]: empty asset id"},
		{"negative reason", `{` + ok + `, "negatives": [{"site": "s", "asset": "a", "start": "2026-07-06T01:00:00Z", "end": "2026-07-06T02:00:00Z", "reason": "fine"}]}`, `negatives[0].reason: "fine" is neither avoided nor no_fault_found`},
		{"wrong type", `{"epoch": 5}`, "labels: json: cannot unmarshal number"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := score.ParseLabels([]byte(c.in))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want %q", err, c.want)
			}
		})
	}
}

func TestParseIncident(t *testing.T) {
	at := time.Date(2026, 7, 6, 10, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name, in string
		want     score.Incident
		err      string // "" ok, "skip" ErrNotIncident, else part of the error
	}{
		{"replay", `{"event":"opened","site":"s","asset":"a","rule":"r","problem":"p","at":"2026-07-06T10:00:00Z"}`, score.Incident{Site: "s", Asset: "a", Rule: "r", Problem: "p", At: at}, ""},
		{"type and ts", `{"type":"Raised","site":"s","asset":"a","ts":"2026-07-06 12:00:00+02:00"}`, score.Incident{Site: "s", Asset: "a", At: at}, ""},
		{"micro", `{"kind":"incident.opened","time":"2026-07-06T10:00:00.0000009Z"}`, score.Incident{At: at}, ""},
		{"falsy event falls through", `{"event":"","type":"open","at":"2026-07-06T10:00:00Z"}`, score.Incident{At: at}, ""},
		{"numeric problem named by its text", `{"event":"open","problem":7,"at":"2026-07-06T10:00:00Z"}`, score.Incident{Problem: "7", At: at}, ""},
		{"updated", `{"event":"updated","at":"2026-07-06T10:00:00Z"}`, score.Incident{}, "skip"},
		{"truthy non-string event", `{"event":1,"type":"opened","at":"2026-07-06T10:00:00Z"}`, score.Incident{}, "skip"},
		{"blank", "  \t", score.Incident{}, "skip"},
		{"not an object", `["opened"]`, score.Incident{}, "skip"},
		{"no time", `{"event":"opened","at":""}`, score.Incident{}, "no time"},
		{"number time", `{"event":"opened","at":5}`, score.Incident{}, "not a string"},
		{"bad time", `{"event":"opened","at":"noon"}`, score.Incident{}, "time:"},
		{"broken", `{"event":"opened",`, score.Incident{}, "not JSON"},
		{"trailing", `{"event":"opened"} x`, score.Incident{}, "not JSON"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := score.ParseIncident([]byte(c.in))
			switch {
			case c.err == "skip":
				if err != score.ErrNotIncident {
					t.Errorf("err %v, want ErrNotIncident", err)
				}
			case c.err != "":
				if err == nil || err == score.ErrNotIncident || !strings.Contains(err.Error(), c.err) {
					t.Errorf("err %v, want %q", err, c.err)
				}
			case err != nil:
				t.Errorf("err %v", err)
			case got.Site != c.want.Site || got.Asset != c.want.Asset || got.Rule != c.want.Rule ||
				got.Problem != c.want.Problem || !got.At.Equal(c.want.At):
				t.Errorf("got %+v, want %+v", got, c.want)
			}
		})
	}
}
