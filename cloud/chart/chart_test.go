package chart

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/frostline/frostline/edge/wire"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var t0 = time.Date(2026, 3, 1, 6, 0, 0, 0, time.UTC)

// window is n 5-minute points ending at end, the air at mean, with the
// given changes.
func window(end time.Time, n int, mean float64, changes ...wire.Change) *wire.Window {
	limit := 5.0
	w := &wire.Window{Metric: "air_temp", Unit: "C", Step: 300, Limit: &limit, Changes: changes}
	for i := range n {
		y := mean - 1 + float64(i)/float64(n)
		w.Points = append(w.Points, wire.WindowPoint{At: end.Add(time.Duration(i-n) * 5 * time.Minute), Min: mean - 0.5, Mean: mean, Max: mean + 0.5, Product: &y})
	}
	return w
}

func ch(at time.Duration, signal string, on bool) wire.Change {
	return wire.Change{At: t0.Add(at), Signal: signal, On: on}
}

func TestFromWindows(t *testing.T) {
	// The opening's window: six hours to t0+6h. The clearing's: six
	// hours to t0+8h, overlapping four hours, with the air back at 3 C.
	opened := window(t0.Add(6*time.Hour), 72, 8,
		ch(30*time.Minute, wire.SignalCompressor, false), // on from the start
		ch(2*time.Hour, wire.SignalDoor, true), ch(2*time.Hour+5*time.Minute, wire.SignalDoor, false),
		ch(3*time.Hour, wire.SignalDefrost, true), ch(3*time.Hour+20*time.Minute, wire.SignalDefrost, false))
	cleared := window(t0.Add(8*time.Hour), 72, 3,
		ch(3*time.Hour, wire.SignalDefrost, true), ch(3*time.Hour+20*time.Minute, wire.SignalDefrost, false), // the same, again
		ch(7*time.Hour, wire.SignalCompressor, true)) // on to the end
	c := FromWindows([]*wire.Window{opened, cleared})
	if len(c.Points) != 96 {
		t.Fatalf("%d points, want 96 (8 h at 5 min)", len(c.Points))
	}
	if c.Points[0].Mean != 8 || c.Points[95].Mean != 3 || c.Points[30].Mean != 3 {
		t.Errorf("the later window's points must win where they overlap: %v %v %v", c.Points[0].Mean, c.Points[30].Mean, c.Points[95].Mean)
	}
	want := []Band{
		{wire.SignalCompressor, t0, t0.Add(30 * time.Minute)},
		{wire.SignalCompressor, t0.Add(7 * time.Hour), t0.Add(8 * time.Hour)},
		{wire.SignalDefrost, t0.Add(3 * time.Hour), t0.Add(3*time.Hour + 20*time.Minute)},
		{wire.SignalDoor, t0.Add(2 * time.Hour), t0.Add(2*time.Hour + 5*time.Minute)},
	}
	if len(c.Bands) != len(want) {
		t.Fatalf("bands %v, want %v", c.Bands, want)
	}
	for i := range want {
		if c.Bands[i].Signal != want[i].Signal || !c.Bands[i].From.Equal(want[i].From) || !c.Bands[i].To.Equal(want[i].To) {
			t.Errorf("band %d = %+v, want %+v", i, c.Bands[i], want[i])
		}
	}
}

func TestSVG(t *testing.T) {
	breach := t0.Add(7 * time.Hour)
	cases := map[string]*Chart{
		"incident": func() *Chart {
			c := FromWindows([]*wire.Window{window(t0.Add(6*time.Hour), 72, 4,
				ch(time.Hour, wire.SignalCompressor, true), ch(2*time.Hour, wire.SignalCompressor, false),
				ch(3*time.Hour, wire.SignalDoor, true), ch(3*time.Hour+10*time.Minute, wire.SignalDoor, false))})
			c.Breach = &breach
			c.Marks = []Mark{{At: t0.Add(5 * time.Hour), Label: "created"}}
			return c
		}(),
		"gap": func() *Chart {
			w := window(t0.Add(6*time.Hour), 72, 4)
			w.Points = append(w.Points[:20], w.Points[40:]...)
			c := FromWindows([]*wire.Window{w})
			c.Marks = []Mark{{At: t0.Add(4 * time.Hour), Label: "#12 <temp_high>", Href: "/workorders/w1"}}
			return c
		}(),
		"empty": {Unit: "C"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got := string(c.SVG("wic-1 & friends"))
			path := filepath.Join("testdata", name+".svg")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("%s differs from %s (run with -update after checking it)", name, path)
			}
			// What the page's test counts: every point drawn once.
			drawn := 0
			for _, m := range regexp.MustCompile(`class="air" points="([^"]*)"`).FindAllStringSubmatch(got, -1) {
				drawn += len(strings.Fields(m[1]))
			}
			if drawn != len(c.Points) {
				t.Errorf("%d points drawn, want %d", drawn, len(c.Points))
			}
			if n := strings.Count(got, `class="band `); n != len(c.Bands) {
				t.Errorf("%d bands drawn, want %d", n, len(c.Bands))
			}
			if strings.Contains(got, "<script") || strings.Contains(got, " on") && regexp.MustCompile(` on[a-z]+=`).MatchString(got) {
				t.Error("script in the chart")
			}
			if strings.Contains(got, "& friends") || strings.Contains(got, "<temp_high>") {
				t.Error("text not escaped")
			}
		})
	}
}
