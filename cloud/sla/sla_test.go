package sla

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/frostline/frostline/cloud/workorder"
)

var chicago = mustLoad("America/Chicago")

func mustLoad(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return l
}

// at is a wall-clock time in Chicago.
func at(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", s, chicago)
	if err != nil {
		panic(err)
	}
	return t
}

func TestAddActive(t *testing.T) {
	cal := &Calendar{
		Hours:    map[string]string{"mon": "08:00-18:00", "tue": "08:00-18:00", "wed": "08:00-18:00", "thu": "08:00-18:00", "fri": "08:00-18:00"},
		Holidays: []string{"2026-12-25"},
	}
	if err := cal.Compile(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		start  string
		d      time.Duration
		cal    *Calendar
		pauses []Interval
		want   string // "" when the clock is stopped
	}{
		{"around the clock", "2026-11-27 17:00", 4 * time.Hour, nil, nil, "2026-11-27 21:00"},
		{"inside one business day", "2026-11-26 09:00", 4 * time.Hour, cal, nil, "2026-11-26 13:00"},
		{"over the evening", "2026-11-26 16:00", 4 * time.Hour, cal, nil, "2026-11-27 10:00"},
		{"over the weekend", "2026-11-27 17:00", 4 * time.Hour, cal, nil, "2026-11-30 11:00"},
		{"started at night", "2026-11-26 22:00", time.Hour, cal, nil, "2026-11-27 09:00"},
		{"started on saturday", "2026-11-28 10:00", time.Hour, cal, nil, "2026-11-30 09:00"},
		{"over a holiday", "2026-12-24 17:00", 2 * time.Hour, cal, nil, "2026-12-28 09:00"}, // 25th holiday, 26-27 weekend
		{"exact end of day", "2026-11-26 08:00", 10 * time.Hour, cal, nil, "2026-11-26 18:00"},
		{"over a DST change", "2026-10-31 20:00", 24 * time.Hour, nil, nil, "2026-11-01 19:00"}, // 24 real hours; clocks fell back
		{"business hours across DST", "2026-10-30 17:00", 2 * time.Hour, cal, nil, "2026-11-02 09:00"},
		{"paused an hour", "2026-11-26 09:00", 4 * time.Hour, nil,
			[]Interval{{Start: at("2026-11-26 10:00"), End: at("2026-11-26 11:00")}}, "2026-11-26 14:00"},
		{"paused at the start", "2026-11-26 09:00", time.Hour, nil,
			[]Interval{{Start: at("2026-11-26 09:00"), End: at("2026-11-26 09:30")}}, "2026-11-26 10:30"},
		{"paused outside business hours counts nothing", "2026-11-26 16:00", 4 * time.Hour, cal,
			[]Interval{{Start: at("2026-11-26 19:00"), End: at("2026-11-27 07:00")}}, "2026-11-27 10:00"},
		{"paused across business hours", "2026-11-26 16:00", 4 * time.Hour, cal,
			[]Interval{{Start: at("2026-11-26 17:00"), End: at("2026-11-27 09:00")}}, "2026-11-27 12:00"},
		{"two pauses", "2026-11-26 09:00", 2 * time.Hour, nil,
			[]Interval{{Start: at("2026-11-26 09:30"), End: at("2026-11-26 10:00")}, {Start: at("2026-11-26 10:30"), End: at("2026-11-26 11:00")}}, "2026-11-26 12:00"},
		{"pause after due is irrelevant", "2026-11-26 09:00", time.Hour, nil,
			[]Interval{{Start: at("2026-11-26 12:00")}}, "2026-11-26 10:00"},
		{"open pause stops the clock", "2026-11-26 09:00", 4 * time.Hour, nil,
			[]Interval{{Start: at("2026-11-26 10:00")}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := addActive(at(tt.start), tt.d, tt.cal, chicago, tt.pauses)
			if tt.want == "" {
				if ok {
					t.Fatalf("got %v, want a stopped clock", got.In(chicago))
				}
				return
			}
			if !ok || !got.Equal(at(tt.want)) {
				t.Fatalf("got %v (%v), want %s", got.In(chicago), ok, tt.want)
			}
		})
	}
}

func TestCalendarErrors(t *testing.T) {
	tests := []struct {
		cal  Calendar
		want string
	}{
		{Calendar{Hours: map[string]string{"monday": "08:00-18:00"}}, "hours.monday: not a weekday"},
		{Calendar{Hours: map[string]string{"mon": "8-18"}}, "hours.mon: want HH:MM-HH:MM"},
		{Calendar{Hours: map[string]string{"mon": "18:00-08:00"}}, "hours.mon: closes at or before it opens"},
		{Calendar{Hours: map[string]string{"mon": "08:00-25:00"}}, "hours.mon: want HH:MM-HH:MM"},
		{Calendar{Hours: map[string]string{"mon": "08:00-18:00"}, Holidays: []string{"25/12/2026"}}, "holidays[0]: want a date"},
		{Calendar{}, "hours: the calendar is never open"},
	}
	for _, tt := range tests {
		err := tt.cal.Compile()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: got %v, want %q", tt.cal.Hours, err, tt.want)
		}
	}
	c := Calendar{Hours: map[string]string{"sat": "00:00-24:00"}}
	if err := c.Compile(); err != nil || !c.Open(at("2026-11-28 23:59"), chicago) || c.Open(at("2026-11-29 00:00"), chicago) {
		t.Errorf("all-day saturday: %v", err)
	}
}

func TestPolicyDecode(t *testing.T) {
	src := `
defaults:
  P1: {acknowledge: 15m, arrive: 2h, complete: 1d}
  P9: {acknowledge: 1h}
  P2: {acknowledge: 4h, arrive: 1h}
business_hours:
  hours: {mon: "07:00-19:00", fri: "nope"}
business_hours_for: [P3, P5]
remind_before: [30m, 0s]
`
	p := DefaultPolicy()
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil {
		t.Fatal(err)
	}
	if got := p.Defaults["P1"]; got.Acknowledge.D() != 15*time.Minute || got.Complete.D() != 24*time.Hour {
		t.Errorf("P1 = %+v", got)
	}
	err := p.Validate()
	for _, want := range []string{
		"defaults.P9: not a priority", "defaults.P2.arrive: 1h is before acknowledge 4h",
		"business_hours_for[1]: \"P5\"", "business_hours.hours.fri: want HH:MM-HH:MM", "remind_before[1]: must be positive",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
	d := DefaultPolicy()
	if err := d.Validate(); err != nil {
		t.Errorf("default policy: %v", err)
	}
}

func TestParsePolicy(t *testing.T) {
	p, err := ParsePolicy([]byte("business_hours:\n  hours: {sat: '09:00-13:00'}\nremind_before: [2h]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p.BusinessHours.Open(at("2026-11-26 10:00"), chicago) || !p.BusinessHours.Open(at("2026-11-28 10:00"), chicago) {
		t.Error("the given calendar replaces the default: open saturday morning only")
	}
	if p.Defaults["P1"].Arrive.D() != 4*time.Hour || len(p.RemindBefore) != 1 {
		t.Errorf("defaults kept, remind_before replaced: %+v", p)
	}
	if p, err := ParsePolicy(nil); err != nil || !p.BusinessHours.Open(at("2026-11-26 10:00"), chicago) {
		t.Errorf("empty: %v", err)
	}
	for src, want := range map[string]string{
		"pause_on_hold: maybe":        "sla policy",
		"remind: [1h]":                "field remind not found",
		"defaults: {P1: {arrive: 1}}": "bad duration",
	} {
		if _, err := ParsePolicy([]byte(src)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", src, err, want)
		}
	}
}

func TestTargetsFor(t *testing.T) {
	p := DefaultPolicy()
	c := &Targets{Arrive: Duration(2 * time.Hour)}
	got := p.TargetsFor("P1", c)
	want := Targets{Acknowledge: Duration(30 * time.Minute), Arrive: Duration(2 * time.Hour), Complete: Duration(24 * time.Hour)}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestSweep(t *testing.T) {
	start := at("2026-11-26 09:00")
	base := Timer{WorkOrder: "wo_1", Site: "s1", Vendor: "coolco", Milestone: Arrive, Start: start, Target: 4 * time.Hour,
		Location: chicago, Remind: []time.Duration{time.Hour, 15 * time.Minute}}
	k13 := fmt.Sprintf("sla/wo_1/arrive/%d/", at("2026-11-26 13:00").Unix())
	k15 := fmt.Sprintf("sla/wo_1/arrive/%d/", at("2026-11-26 15:00").Unix())
	tests := []struct {
		name string
		now  string
		edit func(*Timer)
		want []string // keys
		late time.Duration
	}{
		{"early: nothing", "2026-11-26 10:00", nil, nil, 0},
		{"an hour before", "2026-11-26 12:00", nil, []string{k13 + "remind/3600"}, 0},
		{"20 minutes before", "2026-11-26 12:40", nil, []string{k13 + "remind/3600"}, 0},
		{"10 minutes before: the later reminder only", "2026-11-26 12:50", nil, []string{k13 + "remind/900"}, 0},
		{"at due: breach", "2026-11-26 13:00", nil, []string{k13 + "breach"}, 0},
		{"late: breach with lateness", "2026-11-26 14:30", nil, []string{k13 + "breach"}, 90 * time.Minute},
		{"met: nothing", "2026-11-26 14:30", func(t *Timer) { t.Done = at("2026-11-26 12:00") }, nil, 0},
		{"on hold: nothing", "2026-11-26 14:30", func(t *Timer) { t.Pauses = []Interval{{Start: at("2026-11-26 10:00")}} }, nil, 0},
		{"resumed: due moved by the pause", "2026-11-26 14:30", func(t *Timer) {
			t.Pauses = []Interval{{Start: at("2026-11-26 10:00"), End: at("2026-11-26 12:00")}}
		}, []string{k15 + "remind/3600"}, 0},
		{"no target: nothing", "2026-11-26 14:30", func(t *Timer) { t.Target = 0 }, nil, 0},
		{"reminder longer than the target is skipped", "2026-11-26 09:10", func(t *Timer) { t.Target = 30 * time.Minute }, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tm := base
			if tt.edit != nil {
				tt.edit(&tm)
			}
			now := at(tt.now)
			got := Sweep(now, []Timer{tm})
			var keys []string
			for _, a := range got {
				keys = append(keys, a.Key)
			}
			if !slices.Equal(keys, tt.want) {
				t.Fatalf("keys %q, want %q", keys, tt.want)
			}
			if len(got) == 1 && got[0].Kind == Breach && got[0].Lateness != tt.late {
				t.Errorf("lateness %v, want %v", got[0].Lateness, tt.late)
			}
			// Idempotent: the same sweep again, as another replica would run it.
			again := Sweep(now, []Timer{tm})
			if fmt.Sprint(again) != fmt.Sprint(got) {
				t.Errorf("second sweep differs: %v vs %v", again, got)
			}
		})
	}
}

// claims is what a store's unique constraint on the action key does.
type claims map[string]bool

func (c claims) claim(k string) bool {
	if c[k] {
		return false
	}
	c[k] = true
	return true
}

func TestSweepReplicasRemindOnce(t *testing.T) {
	tm := Timer{WorkOrder: "wo_1", Milestone: Acknowledge, Start: at("2026-11-26 09:00"), Target: 2 * time.Hour,
		Remind: []time.Duration{time.Hour, 15 * time.Minute}}
	store := claims{}
	sent := map[Kind]int{}
	// Two replicas sweep every minute, slightly out of step.
	for m := 0; m < 180; m++ {
		for _, off := range []time.Duration{0, 20 * time.Second} {
			now := at("2026-11-26 09:00").Add(time.Duration(m)*time.Minute + off)
			for _, a := range Sweep(now, []Timer{tm}) {
				if store.claim(a.Key) {
					sent[a.Kind]++
				}
			}
		}
	}
	if sent[Remind] != 2 || sent[Breach] != 1 {
		t.Errorf("sent %v, want 2 reminders and 1 breach", sent)
	}
}

func TestTimersFromEvents(t *testing.T) {
	p := DefaultPolicy()
	p.RemindBefore = []Duration{Duration(time.Hour)}
	ev := []workorder.Event{
		{Kind: workorder.Created, At: at("2026-11-26 08:00"), Opening: &workorder.Opening{ID: "wo_1", Site: "s1", Priority: "P3"}},
		{Kind: workorder.Transition, Action: workorder.Dispatch, Vendor: "a", At: at("2026-11-26 08:10")},
		{Kind: workorder.Transition, Action: workorder.Decline, At: at("2026-11-26 08:20")},
		{Kind: workorder.Escalated, Priority: "P2", At: at("2026-11-26 08:30")},
		{Kind: workorder.Transition, Action: workorder.Dispatch, Vendor: "b", At: at("2026-11-26 09:00")},
		{Kind: workorder.Transition, Action: workorder.Accept, At: at("2026-11-26 09:20")},
		{Kind: workorder.Transition, Action: workorder.CheckIn, At: at("2026-11-26 18:00")},
		{Kind: workorder.Transition, Action: workorder.Hold, At: at("2026-11-26 19:00")},
		{Kind: workorder.Transition, Action: workorder.Resume, At: at("2026-11-27 09:00")},
	}
	commit := func(pr string) *Targets {
		if pr == "P2" {
			return &Targets{Arrive: Duration(6 * time.Hour)}
		}
		return nil
	}
	ts := p.Timers(ev, commit, chicago)
	if len(ts) != 3 {
		t.Fatalf("got %d timers", len(ts))
	}
	want := []struct {
		m    Milestone
		due  string
		met  bool
		late time.Duration
	}{
		{Acknowledge, "2026-11-26 10:00", true, 0},
		{Arrive, "2026-11-26 15:00", false, 3 * time.Hour}, // vendor b committed to 6h for P2
		{Complete, "2026-11-28 23:00", false, 0},           // 48h around the clock (P2), plus 14h on hold
	}
	for i, w := range want {
		tm := ts[i]
		if tm.Vendor != "b" || tm.Milestone != w.m {
			t.Fatalf("timer %d: %+v", i, tm)
		}
		due, ok := tm.Due()
		if !ok || !due.Equal(at(w.due)) {
			t.Errorf("%s due %v, want %s", w.m, due.In(chicago), w.due)
		}
		if r, ok := tm.Result(); ok && (r.Met != w.met || r.Lateness != w.late) {
			t.Errorf("%s result %+v", w.m, r)
		}
	}
	if _, done := ts[2].Result(); done {
		t.Error("complete should still be open")
	}
	// Not dispatched: no timers.
	if got := p.Timers(ev[:1], nil, chicago); got != nil {
		t.Errorf("undispatched: %v", got)
	}
}

func TestDurationText(t *testing.T) {
	var d Duration
	for in, want := range map[string]time.Duration{`"1d12h"`: 36 * time.Hour, `"90s"`: 90 * time.Second, `120`: 2 * time.Minute} {
		if err := d.UnmarshalJSON([]byte(in)); err != nil || d.D() != want {
			t.Errorf("%s: %v %v", in, d.D(), err)
		}
	}
	if err := d.UnmarshalJSON([]byte(`"soon"`)); err == nil {
		t.Error("want an error for soon")
	}
	b, _ := Duration(36 * time.Hour).MarshalText()
	if string(b) != "1d12h" {
		t.Errorf("marshal: %s", b)
	}
}
