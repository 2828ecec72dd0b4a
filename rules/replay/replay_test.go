package replay_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/frostline/frostline/rules"
	"github.com/frostline/frostline/rules/replay"
)

// update rewrites the golden files: go test ./rules/replay -update.
var update = flag.Bool("update", false, "rewrite the golden want.jsonl and summary.txt files")

// TestGolden replays every testdata/<case>/ folder: rules.yaml and
// site*.yaml over input.csv must give want.jsonl (the events, as
// `frostline rules replay` prints them) and summary.txt (the closing
// summary without its timing).
func TestGolden(t *testing.T) {
	dirs, err := filepath.Glob("testdata/*/input.csv")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no golden cases (%v)", err)
	}
	for _, in := range dirs {
		dir := filepath.Dir(in)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			eng := engineFor(t, dir)
			f, err := os.Open(in)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			rd, err := replay.NewReader(f)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			enc := json.NewEncoder(&out)
			sum, err := replay.Run(context.Background(), eng, rd, func(ev *rules.Event) error { return enc.Encode(ev) }, nil)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			golden(t, filepath.Join(dir, "want.jsonl"), out.String())
			golden(t, filepath.Join(dir, "summary.txt"), summaryText(&sum))
			if sum.Events["opened"] == 0 {
				t.Error("the case raises no incident")
			}
		})
	}
}

func engineFor(t testing.TB, dir string) *rules.Engine {
	t.Helper()
	set, sites := caseRules(t, dir)
	eng, err := rules.NewEngine(set, sites, rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

// caseRules reads a case folder's rules.yaml and site*.yaml.
func caseRules(t testing.TB, dir string) (*rules.Set, []*rules.Site) {
	t.Helper()
	rs, err := rules.Parse("rules.yaml", readFile(t, filepath.Join(dir, "rules.yaml")))
	if err != nil {
		t.Fatal(err)
	}
	set, err := rules.Compile(rs)
	if err != nil {
		t.Fatal(err)
	}
	paths, _ := filepath.Glob(filepath.Join(dir, "site*.yaml"))
	var sites []*rules.Site
	for _, p := range paths {
		s, err := rules.ParseSite(p, readFile(t, p))
		if err != nil {
			t.Fatal(err)
		}
		sites = append(sites, s)
	}
	return set, sites
}

var timing = regexp.MustCompile(`(?m)^took .*\n`)

// summaryText is the summary as printed, without the line that depends
// on the machine.
func summaryText(s *replay.Summary) string {
	var b strings.Builder
	s.Print(&b)
	return timing.ReplaceAllString(b.String(), "")
}

// TestMalformedLines checks the malformed-lines case in detail: every bad
// line is counted with its line number, and the run goes on past all of
// them to the incident in the good lines that follow.
func TestMalformedLines(t *testing.T) {
	dir := "testdata/malformed-lines"
	f, err := os.Open(filepath.Join(dir, "input.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rd, err := replay.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var evs []rules.Event
	sum, err := replay.Run(context.Background(), engineFor(t, dir), rd, func(ev *rules.Event) error {
		evs = append(evs, *ev)
		return nil
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// 1 header + 40 good readings + 17 odd lines (a blank one among them).
	if sum.Lines != 58 {
		t.Errorf("Lines = %d, want 58", sum.Lines)
	}
	// Refused by the reader (11) or by the engine (unknown asset, unknown
	// site, late: 3); the blank line is skipped, not bad; two odd lines
	// are good (a fraction of a second, an offset, words for 0/1).
	if sum.BadLines != 14 || sum.Readings != 42 || sum.Stats.Late != 1 {
		t.Errorf("BadLines %d, Readings %d, Late %d; want 14, 42, 1", sum.BadLines, sum.Readings, sum.Stats.Late)
	}
	wantBad := []string{
		"line 5: bad timestamp (want RFC 3339)",
		"line 8: bad timestamp (want RFC 3339)",
		`line 11: unknown metric "air_temperature"`,
		"line 14: want 5 fields: ts,site,asset,metric,value",
		"line 17: want 5 fields: ts,site,asset,metric,value",
		"line 20: bad value (want a number or a word such as cool)",
		"line 23: bad value (want a number or a word such as cool)",
		"line 26: empty site or asset",
		"line 29: rules: unknown asset (store-1/waco-9 air_temp)",
		"line 32: rules: unknown site (store-9/waco-1 air_temp)",
	}
	if strings.Join(sum.FirstBad, "\n") != strings.Join(wantBad, "\n") {
		t.Errorf("FirstBad:\n%s\nwant\n%s", strings.Join(sum.FirstBad, "\n"), strings.Join(wantBad, "\n"))
	}
	if len(evs) == 0 || evs[0].Event != rules.Opened || !evs[len(evs)-1].At.Equal(time.Date(2026, 7, 6, 0, 30, 0, 0, time.UTC)) {
		t.Errorf("events: %+v", evs)
	}
}

// TestReaderLines reads one line at a time: what it gives, or why not.
func TestReaderLines(t *testing.T) {
	utc := func(s string) time.Time {
		ts, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return ts
	}
	mode := rules.LookupMetric("mode")
	door := rules.LookupMetric("door_open")
	temp := rules.LookupMetric("air_temp")
	for _, tc := range []struct {
		line string
		want rules.Reading
		err  error
	}{
		{"2026-07-06T10:00:00Z,s1,a1,air_temp,-18.25", rules.Reading{Site: "s1", Asset: "a1", Metric: temp, At: utc("2026-07-06T10:00:00Z"), Value: -18.25}, nil},
		{"2026-07-06T10:00:00.123Z,s1,a1,air_temp,3", rules.Reading{Site: "s1", Asset: "a1", Metric: temp, At: utc("2026-07-06T10:00:00.123Z"), Value: 3}, nil},
		{"2026-07-06 10:00:00Z,s1,a1,air_temp,3", rules.Reading{Site: "s1", Asset: "a1", Metric: temp, At: utc("2026-07-06T10:00:00Z"), Value: 3}, nil},
		{"2026-07-06T12:00:00+02:00,s1,a1,air_temp,3", rules.Reading{Site: "s1", Asset: "a1", Metric: temp, At: utc("2026-07-06T10:00:00Z"), Value: 3}, nil},
		{"2026-07-06T10:00:00Z,s1,a1,mode,cool", rules.Reading{Site: "s1", Asset: "a1", Metric: mode, At: utc("2026-07-06T10:00:00Z"), Value: 1}, nil},
		{"2026-07-06T10:00:00Z,s1,a1,door_open,open", rules.Reading{Site: "s1", Asset: "a1", Metric: door, At: utc("2026-07-06T10:00:00Z"), Value: 1}, nil},
		{"2026-07-06T10:00:00Z,s1,a1,door_open,false", rules.Reading{Site: "s1", Asset: "a1", Metric: door, At: utc("2026-07-06T10:00:00Z"), Value: 0}, nil},
		{"2026-07-06T10:00:00Z,s1,a1,air_temp,3\r", rules.Reading{Site: "s1", Asset: "a1", Metric: temp, At: utc("2026-07-06T10:00:00Z"), Value: 3}, nil},
		{"2026-07-06T10:00:00,s1,a1,air_temp,3", rules.Reading{}, replay.ErrTime},
		{"2026-07-06T24:00:00Z,s1,a1,air_temp,3", rules.Reading{}, replay.ErrTime},
		{"2026-02-29T10:00:00Z,s1,a1,air_temp,3", rules.Reading{}, replay.ErrTime},
		{"2026-07-06T10:00:00.Z,s1,a1,air_temp,3", rules.Reading{}, replay.ErrTime},
		{"yesterday,s1,a1,air_temp,3", rules.Reading{}, replay.ErrTime},
		{"2026-07-06T10:00:00Z,s1,a1,air_temp", rules.Reading{}, replay.ErrFields},
		{"2026-07-06T10:00:00Z,s1,a1,air_temp,3,C", rules.Reading{}, replay.ErrFields},
		{"2026-07-06T10:00:00Z", rules.Reading{}, replay.ErrFields},
		{"2026-07-06T10:00:00Z,s1,,air_temp,3", rules.Reading{}, replay.ErrEmptyName},
		{"2026-07-06T10:00:00Z,s1,a1,temperature,3", rules.Reading{}, replay.ErrMetric},
		{"2026-07-06T10:00:00Z,s1,a1,air_temp,warm", rules.Reading{}, replay.ErrValue},
		{"2026-07-06T10:00:00Z,s1,a1,air_temp,Inf", rules.Reading{}, replay.ErrValue},
		{"2026-07-06T10:00:00Z,s1,a1,mode,cooling", rules.Reading{}, replay.ErrValue},
		{"2026-07-06T10:00:00Z,s1,a1,air_temp, 3", rules.Reading{}, replay.ErrValue},
	} {
		rd, err := replay.NewReader(strings.NewReader(replay.Header + "\n" + tc.line + "\n"))
		if err != nil {
			t.Fatal(err)
		}
		var got rules.Reading
		err = rd.Next(&got)
		if tc.err != nil {
			var le *replay.LineError
			if !errors.As(err, &le) || le.Line != 2 || !errors.Is(err, tc.err) {
				t.Errorf("%q: error %v, want line 2: %v", tc.line, err, tc.err)
			}
			continue
		}
		if err != nil || got.Site != tc.want.Site || got.Asset != tc.want.Asset || got.Metric != tc.want.Metric ||
			!got.At.Equal(tc.want.At) || got.Value != tc.want.Value {
			t.Errorf("%q: got %+v, %v; want %+v", tc.line, got, err, tc.want)
		}
		if err := rd.Next(&got); !errors.Is(err, io.EOF) {
			t.Errorf("%q: after the line: %v, want io.EOF", tc.line, err)
		}
	}
}

func TestReaderHeader(t *testing.T) {
	for _, tc := range []struct {
		name, input string
		ok          bool
	}{
		{"plain", "ts,site,asset,metric,value\n", true},
		{"BOM and CRLF", "\ufeffts,site,asset,metric,value\r\n", true},
		{"no newline", "ts,site,asset,metric,value", true},
		{"empty", "", false},
		{"other columns", "time,site,asset,metric,value\n", false},
		{"no header", "2026-07-06T10:00:00Z,s1,a1,air_temp,3\n", false},
	} {
		_, err := replay.NewReader(strings.NewReader(tc.input))
		if (err == nil) != tc.ok {
			t.Errorf("%s: NewReader error %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

// TestReaderGzip: gzip input is recognised by its magic number, and a
// truncated stream is an input error, not a bad line.
func TestReaderGzip(t *testing.T) {
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	io.WriteString(zw, replay.Header+"\n2026-07-06T10:00:00Z,s1,a1,air_temp,3\n2026-07-06T10:01:00Z,s1,a1,air_temp,3.5\n")
	zw.Close()

	rd, err := replay.NewReader(bytes.NewReader(z.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	var r rules.Reading
	for rd.Next(&r) == nil {
		n++
	}
	if n != 2 || r.Value != 3.5 {
		t.Errorf("read %d readings, last %+v", n, r)
	}
	if err := rd.Close(); err != nil {
		t.Error(err)
	}

	cut := z.Bytes()[:z.Len()-12]
	rd, err = replay.NewReader(bytes.NewReader(cut))
	if err != nil {
		t.Fatal(err)
	}
	for err == nil {
		err = rd.Next(&r)
	}
	var le *replay.LineError
	if errors.Is(err, io.EOF) || errors.As(err, &le) {
		t.Errorf("truncated gzip: %v, want an input error", err)
	}
}

// TestRunStopsOnEmitError: an error from emit (the output failing) stops
// the run and is returned; a cancelled context stops it too.
func TestRunStopsOnEmitError(t *testing.T) {
	dir := "testdata/door-ajar"
	open := func() *replay.Reader {
		data := readFile(t, filepath.Join(dir, "input.csv"))
		rd, err := replay.NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		return rd
	}
	full := errors.New("disk full")
	_, err := replay.Run(context.Background(), engineFor(t, dir), open(), func(*rules.Event) error { return full }, nil)
	if !errors.Is(err, full) {
		t.Errorf("Run with a failing emit: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = replay.Run(ctx, engineFor(t, dir), open(), func(*rules.Event) error { return nil }, nil)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Run with a cancelled context: %v", err)
	}
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
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
		t.Fatalf("%v (go test -update creates it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test -update rewrites it):\n--- got\n%s--- want\n%s", path, got, want)
	}
}

// TestReaderLongLine: a line longer than the reader's buffer is one bad
// line, and the lines after it are read.
func TestReaderLongLine(t *testing.T) {
	long := "2026-07-06T10:00:00Z,s1,a1,air_temp," + strings.Repeat("9", 300<<10)
	input := replay.Header + "\n" + long + "\n2026-07-06T10:01:00Z,s1,a1,air_temp,3\n"
	rd, err := replay.NewReader(strings.NewReader(input))
	if err != nil {
		t.Fatal(err)
	}
	var r rules.Reading
	var le *replay.LineError
	if err := rd.Next(&r); !errors.As(err, &le) || le.Line != 2 {
		t.Fatalf("long line: %v, want a line 2 error", err)
	}
	if err := rd.Next(&r); err != nil || r.Value != 3 || rd.Line() != 3 {
		t.Errorf("after the long line: %v, %+v at line %d", err, r, rd.Line())
	}
}
