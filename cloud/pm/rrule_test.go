package pm

import (
	"bufio"
	"os"
	"strings"
	"testing"
	"time"
)

// TestRRuleOracle expands every rule of testdata/rrule.txt and compares
// with python-dateutil's expansion (written by rrule_oracle.py).
func TestRRuleOracle(t *testing.T) {
	f, err := os.Open("testdata/rrule.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lo := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	hi := time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC)
	sc := bufio.NewScanner(f)
	cases := 0
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
			continue
		}
		parts := strings.Split(line, " | ")
		if len(parts) != 3 {
			t.Fatalf("bad line %q", line)
		}
		r, err := ParseRRule(parts[0])
		if err != nil {
			t.Errorf("%s: %v", parts[0], err)
			continue
		}
		start, err := time.Parse(time.RFC3339, parts[1])
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		r.Between(start, lo, hi, func(x time.Time) bool {
			got = append(got, occurrenceKey(x))
			return len(got) < 40
		})
		if g, w := strings.Join(got, " "), strings.TrimSpace(parts[2]); g != w {
			t.Errorf("%s from %s:\n got %s\nwant %s", parts[0], parts[1], g, w)
		}
		cases++
	}
	if cases < 20 {
		t.Fatalf("only %d cases read", cases)
	}
}

func TestParseRRuleErrors(t *testing.T) {
	for _, tc := range []struct{ rule, want string }{
		{"", "empty"},
		{"INTERVAL=2", "FREQ is required"},
		{"FREQ=HOURLY", "FREQ=HOURLY"},
		{"FREQ=DAILY;INTERVAL=0", "INTERVAL=0"},
		{"FREQ=DAILY;COUNT=3;UNTIL=20270101", "exclude each other"},
		{"FREQ=WEEKLY;BYDAY=1MO", "ordinals"},
		{"FREQ=YEARLY;BYDAY=MO", "needs BYMONTH"},
		{"FREQ=MONTHLY;BYMONTHDAY=0", "BYMONTHDAY=0"},
		{"FREQ=MONTHLY;BYMONTH=13", "BYMONTH=13"},
		{"FREQ=MONTHLY;BYSETPOS=1", "not supported"},
		{"FREQ=MONTHLY;FREQ=DAILY", "twice"},
		{"FREQ=DAILY;UNTIL=tomorrow", "UNTIL=tomorrow"},
		{"FREQ", "NAME=value"},
		{"FREQ=WEEKLY;BYMONTHDAY=3", "not used with WEEKLY"},
	} {
		_, err := ParseRRule(tc.rule)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one mentioning %q", tc.rule, err, tc.want)
		}
	}
}

// FuzzRRule: any input either fails to parse, or parses to a rule whose
// expansion over a year is finite, ordered, inside the window, on the
// start's time of day, and within COUNT and UNTIL.
func FuzzRRule(f *testing.F) {
	sc, err := os.ReadFile("testdata/rrule.txt")
	if err != nil {
		f.Fatal(err)
	}
	for _, line := range strings.Split(string(sc), "\n") {
		if p := strings.Split(line, " | "); len(p) == 3 {
			f.Add(p[0], int64(1767254400))
		}
	}
	f.Add("FREQ=MONTHLY;BYDAY=5FR", int64(1767254400))
	f.Add("RRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;COUNT=3", int64(951782400))
	f.Fuzz(func(t *testing.T, rule string, startUnix int64) {
		r, err := ParseRRule(rule)
		if err != nil {
			return
		}
		start := time.Unix(startUnix%(200*365*86400), 0).UTC()
		if start.Year() < 1970 {
			return
		}
		from := start.Add(-24 * time.Hour)
		to := start.AddDate(1, 0, 0)
		var prev time.Time
		n := 0
		r.Between(start, from, to, func(x time.Time) bool {
			n++
			if x.Before(from) || !x.Before(to) || x.Before(start) {
				t.Fatalf("%s: %s outside [%s, %s) or before start", rule, x, from, to)
			}
			if !prev.IsZero() && !x.After(prev) {
				t.Fatalf("%s: %s not after %s", rule, x, prev)
			}
			if x.Hour() != start.Hour() || x.Minute() != start.Minute() {
				t.Fatalf("%s: %s not at the start's time of day", rule, x)
			}
			if !r.Until.IsZero() && x.After(r.Until) {
				t.Fatalf("%s: %s after UNTIL", rule, x)
			}
			prev = x
			return n < 2000
		})
		if r.Count > 0 && n > r.Count {
			t.Fatalf("%s: %d occurrences, COUNT=%d", rule, n, r.Count)
		}
	})
}
