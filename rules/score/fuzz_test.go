package score_test

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/frostline/frostline/rules/score"
)

// FuzzParseLabels: any bytes give labels or an error, never a panic; labels
// that parse score without a panic and give figures in range.
func FuzzParseLabels(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*/labels.json")
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"epoch":"2026-07-06T00:00:00Z","end":"2026-07-06T00:00:01Z","assets":[{"site":"s","asset":"a"}],"faults":[{"site":"s","asset":"*","fault":"x","members":[],"start":"2026-07-06T00:00:00Z","end":"2026-07-06T00:00:00Z"}]}`))
	incs := []score.Incident{{Site: "s", Asset: "a", At: time.Date(2026, 7, 6, 0, 0, 0, 0, time.UTC), Problem: "x"}}
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := score.ParseLabels(data)
		if err != nil {
			if l != nil {
				t.Fatal("labels and an error")
			}
			return
		}
		if !l.End.After(l.Epoch) || len(l.Assets) == 0 {
			t.Fatalf("accepted labels without a recording: %+v", l)
		}
		r := score.Score(l, incs, 0, score.DefaultGrace)
		if r.Precision < 0 || r.Precision > 1 || r.Recall < 0 || r.Recall > 1 || math.IsNaN(r.FPPerAssetDay) {
			t.Fatalf("figures out of range: %+v", r)
		}
		if r.TruePositives+r.FalsePositives != len(incs) {
			t.Fatalf("tp %d + fp %d != %d incidents", r.TruePositives, r.FalsePositives, len(incs))
		}
		var out bytes.Buffer
		if _, err := r.Print(&out, score.Thresholds{}); err != nil {
			t.Fatal(err)
		}
		if _, err := r.WriteJSON(&out, score.Thresholds{}); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzParseIncident: any line is an incident, a line to skip or an error,
// never a panic; an incident always has its time.
func FuzzParseIncident(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*/incidents.jsonl")
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		for _, line := range bytes.Split(b, []byte{'\n'}) {
			f.Add(line)
		}
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		inc, err := score.ParseIncident(line)
		if err == nil && inc.At.IsZero() {
			t.Fatalf("incident without a time from %q", line)
		}
		incs, bad, rerr := score.ReadIncidents(bytes.NewReader(line))
		if rerr != nil {
			t.Fatal(rerr)
		}
		if len(incs)+bad > 1+bytes.Count(line, []byte{'\r'})+bytes.Count(line, []byte{'\n'}) {
			t.Fatalf("%d incidents and %d unreadable from one line", len(incs), bad)
		}
	})
}
