package ruletest

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/frostline/frostline/rules"
)

// Status is a test's outcome.
type Status string

// Outcomes. Pending and Fixed are for tests marked pending: known to fail
// (the run still passes), and passing after all (remove the mark).
const (
	Pass    Status = "PASS"
	Fail    Status = "FAIL"
	Pending Status = "PENDING"
	Fixed   Status = "FIXED"
)

// Result is one test's outcome.
type Result struct {
	File   string
	Test   *Test
	Status Status
	// Got is every incident event the test's input raised.
	Got []rules.Event
	// Diff says what went wrong, expected against got, for a test that
	// did not pass; empty otherwise.
	Diff string
}

// Events writes what the test got, as a failure's diff shows it: every
// opened and cleared event and every escalation, times from the start.
func (r *Result) Events() string {
	var b strings.Builder
	writeGot(&b, r.Test, r.Got)
	return b.String()
}

// Run runs every test of f, which Load (or the caller) has given a site,
// against set. Each test gets an engine of its own.
func Run(f *File, set *rules.Set) []Result {
	out := make([]Result, 0, len(f.Tests))
	for i := range f.Tests {
		out = append(out, runTest(f, &f.Tests[i], set))
	}
	return out
}

func runTest(f *File, t *Test, set *rules.Set) Result {
	res := Result{File: f.Name, Test: t}
	got, refused, err := feed(t, f.Site, set)
	res.Got = got
	var b strings.Builder
	if err != nil {
		fmt.Fprintf(&b, "    engine: %v\n", err)
	}
	for _, r := range refused {
		fmt.Fprintf(&b, "    reading refused: %s\n", r)
	}
	ok := check(&b, t, got) && err == nil && len(refused) == 0
	switch {
	case ok && t.Pending != "":
		res.Status = Fixed
	case ok:
		res.Status = Pass
	case t.Pending != "":
		res.Status = Pending
	default:
		res.Status = Fail
	}
	if !ok {
		writeGot(&b, t, got)
		res.Diff = b.String()
	}
	return res
}

// step is one input sample on the merged timeline.
type step struct {
	at     time.Time
	series int // index in Test.Input: ties keep the order the file gives
	value  float64
}

// feed merges the test's series in time order and runs them through a
// fresh engine. Between samples it advances event time a step of the
// test's interval at a time, as the edge's ticker does, so that
// time-driven rules (missing data, state durations) fire when nothing is
// reported. Readings the engine refuses are returned, described.
func feed(t *Test, site *rules.Site, set *rules.Set) ([]rules.Event, []string, error) {
	if site == nil {
		return nil, nil, fmt.Errorf("no site (Load reads the site file)")
	}
	eng, err := rules.NewEngine(set, []*rules.Site{site}, rules.Options{})
	if err != nil {
		return nil, nil, err
	}
	var steps []step
	end := t.Start
	for i, s := range t.Input {
		iv := cmp.Or(s.Interval, t.Interval)
		for k, v := range s.Values {
			at := t.Start.Add(s.Offset + time.Duration(k)*iv)
			end = maxTime(end, at)
			if !IsMissing(v) {
				steps = append(steps, step{at, i, v})
			}
		}
	}
	slices.SortStableFunc(steps, func(a, b step) int { return a.at.Compare(b.at) })
	var got []rules.Event
	var refused []string
	restarts := t.RestartAt
	// restart, at each restart_at offset not yet passed, moves the state
	// into a new engine through Snapshot and Restore.
	restart := func(at time.Time) error {
		for len(restarts) > 0 && !t.Start.Add(restarts[0]).After(at) {
			restarts = restarts[1:]
			data, err := eng.Snapshot()
			if err != nil {
				return fmt.Errorf("snapshot: %w", err)
			}
			if eng, err = rules.NewEngine(set, []*rules.Site{site}, rules.Options{}); err != nil {
				return err
			}
			if got, err = eng.Restore(got, data); err != nil {
				return fmt.Errorf("restore: %w", err)
			}
		}
		return nil
	}
	tick := t.Start
	for _, st := range steps {
		for ; tick.Before(st.at); tick = tick.Add(t.Interval) {
			if err := restart(tick); err != nil {
				return got, refused, err
			}
			got = eng.Advance(got, tick)
		}
		if err := restart(st.at); err != nil {
			return got, refused, err
		}
		s := &t.Input[st.series]
		got, err = eng.Observe(got, rules.Reading{Site: site.ID, Asset: s.Asset, Metric: s.Metric, At: st.at, Value: st.value})
		if err != nil {
			refused = append(refused, fmt.Sprintf("%s %s %s %g: %v", offset(t, st.at), s.Asset, s.Metric, st.value, err))
		}
	}
	for ; !tick.After(end); tick = tick.Add(t.Interval) {
		if err := restart(tick); err != nil {
			return got, refused, err
		}
		got = eng.Advance(got, tick)
	}
	return got, refused, nil
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// check compares the events with the test's expectations, writes what
// does not hold to b, and reports whether everything did.
func check(b *strings.Builder, t *Test, got []rules.Event) bool {
	ok := true
	used := make([]bool, len(got))
	from := 0
	var lines []string
	for i := range t.Expect {
		m := &t.Expect[i]
		j := from
		for ; j < len(got) && !m.matches(t, &got[j]); j++ {
		}
		if j < len(got) {
			used[j], from = true, j+1
			lines = append(lines, fmt.Sprintf("      ok       %s\n", m.describe()))
			continue
		}
		ok = false
		line := fmt.Sprintf("      MISSING  %s (line %d)", m.describe(), m.Pos.Line)
		if near := m.nearest(t, got); near != nil {
			line += fmt.Sprintf("\n               nearest in time: %s", eventLine(t, near))
		} else if from > 0 && slices.ContainsFunc(got[:from], func(e rules.Event) bool { return m.matches(t, &e) }) {
			line += "\n               it happened, but before the event expected above it"
		}
		lines = append(lines, line+"\n")
	}
	if !ok {
		b.WriteString("    expected, in order:\n")
		for _, l := range lines {
			b.WriteString(l)
		}
	}
	if t.Exact {
		var extra []string
		for j := range got {
			if !used[j] && got[j].Event != rules.Updated {
				extra = append(extra, "      + "+eventLine(t, &got[j])+"\n")
			}
		}
		if len(extra) > 0 {
			ok = false
			b.WriteString("    not expected (exact: every opened and cleared event must be listed):\n")
			writeLines(b, extra)
		}
	}
	for i := range t.Absent {
		m := &t.Absent[i]
		for j := range got {
			if m.matches(t, &got[j]) {
				ok = false
				fmt.Fprintf(b, "    must be absent: %s (line %d)\n      ! %s\n", m.describe(), m.Pos.Line, eventLine(t, &got[j]))
				break
			}
		}
	}
	return ok
}

// writeGot lists what happened: every opened and cleared event and every
// update that changed the priority; plain progress updates are counted.
func writeGot(b *strings.Builder, t *Test, got []rules.Event) {
	if len(got) == 0 {
		b.WriteString("    got: no events\n")
		return
	}
	prio := map[string]string{}
	quiet := 0
	var lines []string
	for i := range got {
		e := &got[i]
		if e.Event == rules.Updated && prio[e.Incident] == e.Priority {
			quiet++
			continue
		}
		prio[e.Incident] = e.Priority
		lines = append(lines, "      "+eventLine(t, e)+"\n")
	}
	b.WriteString("    got:\n")
	writeLines(b, lines)
	if quiet > 0 {
		fmt.Fprintf(b, "      (%d progress updates not shown)\n", quiet)
	}
}

// maxLines bounds a list in a diff: a rule that flaps every few minutes
// for a day should not bury the rest of the report.
const maxLines = 20

func writeLines(b *strings.Builder, lines []string) {
	for i, l := range lines {
		if i == maxLines-1 && len(lines) > maxLines {
			fmt.Fprintf(b, "      ... and %d more\n", len(lines)-i)
			return
		}
		b.WriteString(l)
	}
}

func (m *Match) matches(t *Test, e *rules.Event) bool {
	return m.matchesFields(e) && (!m.HasAt || absDur(e.At.Sub(t.Start)-m.At) <= m.AtWithin)
}

func (m *Match) matchesFields(e *rules.Event) bool {
	return (m.Event == "" || m.Event == e.Event) &&
		(m.Rule == "" || m.Rule == e.Rule) &&
		(m.Asset == "" || m.Asset == e.Asset) &&
		(m.Problem == "" || m.Problem == e.Problem) &&
		(m.Priority == "" || m.Priority == e.Priority) &&
		(m.Trade == "" || m.Trade == e.Trade)
}

// nearest returns the event closest in time to m's that matches m in all
// but the time, or nil: "expected at 1h42m, it came at 1h55m".
func (m *Match) nearest(t *Test, got []rules.Event) *rules.Event {
	if !m.HasAt {
		return nil
	}
	var best *rules.Event
	for i := range got {
		e := &got[i]
		if !m.matchesFields(e) {
			continue
		}
		if best == nil || absDur(e.At.Sub(t.Start)-m.At) < absDur(best.At.Sub(t.Start)-m.At) {
			best = e
		}
	}
	return best
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// describe writes a matcher as the fields it sets.
func (m *Match) describe() string {
	var parts []string
	if m.Event != "" {
		parts = append(parts, string(m.Event))
	}
	for _, kv := range [][2]string{{"rule", m.Rule}, {"asset", m.Asset}, {"problem", m.Problem}, {"priority", m.Priority}, {"trade", m.Trade}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+"="+kv[1])
		}
	}
	if m.HasAt {
		at := "at=" + hms(m.At)
		if m.AtWithin > 0 {
			at += "±" + hms(m.AtWithin)
		}
		parts = append(parts, at)
	}
	return strings.Join(parts, " ")
}

// eventLine writes an event on one line, its time as an offset from the
// test's start.
func eventLine(t *Test, e *rules.Event) string {
	return fmt.Sprintf("%-8s %-8s %-28s %-6s %-15s %s", offset(t, e.At), e.Event, e.Rule, e.Asset, e.Problem, e.Priority)
}

func offset(t *Test, at time.Time) string {
	d := at.Sub(t.Start)
	if d < 0 {
		return "-" + hms(-d)
	}
	return hms(d)
}

// hms writes a duration as hours, minutes and seconds, leaving out the
// zero parts: 35h28m, 2h, 90s, 0s. Unlike rules.Duration it never uses
// days, so that the times in one listing line up and compare at a glance.
func hms(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	var b strings.Builder
	if h := d / time.Hour; h > 0 {
		fmt.Fprintf(&b, "%dh", h)
		d -= h * time.Hour
	}
	if m := d / time.Minute; m > 0 {
		fmt.Fprintf(&b, "%dm", m)
		d -= m * time.Minute
	}
	if d > 0 {
		b.WriteString(strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s")
	}
	return b.String()
}
