package pm

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Freq is an RRULE frequency.
type Freq int

// The frequencies of the subset Frostline reads.
const (
	Daily Freq = iota + 1
	Weekly
	Monthly
	Yearly
)

var freqNames = map[string]Freq{"DAILY": Daily, "WEEKLY": Weekly, "MONTHLY": Monthly, "YEARLY": Yearly}

// WeekdayNum is a BYDAY entry: a weekday, and for MONTHLY and YEARLY rules
// an optional ordinal within the month (1MO first Monday, -1FR last Friday).
type WeekdayNum struct {
	N   int // 0: every such weekday
	Day time.Weekday
}

var dayNames = map[string]time.Weekday{
	"MO": time.Monday, "TU": time.Tuesday, "WE": time.Wednesday, "TH": time.Thursday,
	"FR": time.Friday, "SA": time.Saturday, "SU": time.Sunday,
}

// RRule is the subset of an RFC 5545 recurrence rule that maintenance
// calendars need: FREQ (DAILY, WEEKLY, MONTHLY, YEARLY), INTERVAL, BYDAY,
// BYMONTH, BYMONTHDAY, and COUNT or UNTIL. Weeks start on Monday. BYDAY
// ordinals ("2TU") are read for MONTHLY and YEARLY rules and count within
// the month; a YEARLY rule with BYDAY needs BYMONTH. Anything else (BYSETPOS,
// BYHOUR, WKST, ...) is refused rather than ignored, so a rule never means
// something other than what it says.
type RRule struct {
	Freq       Freq
	Interval   int
	ByDay      []WeekdayNum
	ByMonth    []time.Month
	ByMonthDay []int
	Count      int
	Until      time.Time // zero: none
	src        string
}

// String returns the rule as it was parsed.
func (r *RRule) String() string { return r.src }

// ParseRRule reads a rule such as "FREQ=MONTHLY;INTERVAL=3;BYMONTHDAY=1".
// An optional "RRULE:" prefix is accepted. Errors name the part at fault.
func ParseRRule(s string) (*RRule, error) {
	src := strings.TrimSpace(s)
	body := strings.TrimPrefix(src, "RRULE:")
	if body == "" {
		return nil, fmt.Errorf("rrule: empty")
	}
	if len(body) > 512 {
		return nil, fmt.Errorf("rrule: longer than 512 characters")
	}
	r := &RRule{Interval: 1, src: src}
	seen := map[string]bool{}
	for _, part := range strings.Split(body, ";") {
		k, v, ok := strings.Cut(part, "=")
		if !ok || v == "" {
			return nil, fmt.Errorf("rrule: %q: want NAME=value", part)
		}
		k = strings.ToUpper(k)
		if seen[k] {
			return nil, fmt.Errorf("rrule: %s given twice", k)
		}
		seen[k] = true
		switch k {
		case "FREQ":
			f, ok := freqNames[strings.ToUpper(v)]
			if !ok {
				return nil, fmt.Errorf("rrule: FREQ=%s: want DAILY, WEEKLY, MONTHLY or YEARLY", v)
			}
			r.Freq = f
		case "INTERVAL":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 1000 {
				return nil, fmt.Errorf("rrule: INTERVAL=%s: want 1-1000", v)
			}
			r.Interval = n
		case "COUNT":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 100000 {
				return nil, fmt.Errorf("rrule: COUNT=%s: want 1-100000", v)
			}
			r.Count = n
		case "UNTIL":
			t, err := parseUntil(v)
			if err != nil {
				return nil, err
			}
			r.Until = t
		case "BYMONTH":
			for _, x := range strings.Split(v, ",") {
				n, err := strconv.Atoi(x)
				if err != nil || n < 1 || n > 12 {
					return nil, fmt.Errorf("rrule: BYMONTH=%s: want months 1-12", v)
				}
				if !slices.Contains(r.ByMonth, time.Month(n)) {
					r.ByMonth = append(r.ByMonth, time.Month(n))
				}
			}
		case "BYMONTHDAY":
			for _, x := range strings.Split(v, ",") {
				n, err := strconv.Atoi(x)
				if err != nil || n == 0 || n < -31 || n > 31 {
					return nil, fmt.Errorf("rrule: BYMONTHDAY=%s: want days 1 to 31 or -31 to -1", v)
				}
				if !slices.Contains(r.ByMonthDay, n) {
					r.ByMonthDay = append(r.ByMonthDay, n)
				}
			}
		case "BYDAY":
			for _, x := range strings.Split(v, ",") {
				wd, err := parseWeekdayNum(x)
				if err != nil {
					return nil, fmt.Errorf("rrule: BYDAY=%s: %w", v, err)
				}
				if !slices.Contains(r.ByDay, wd) {
					r.ByDay = append(r.ByDay, wd)
				}
			}
		default:
			return nil, fmt.Errorf("rrule: %s is not supported (FREQ, INTERVAL, BYDAY, BYMONTH, BYMONTHDAY, COUNT, UNTIL)", k)
		}
	}
	switch {
	case r.Freq == 0:
		return nil, fmt.Errorf("rrule: FREQ is required")
	case r.Count > 0 && !r.Until.IsZero():
		return nil, fmt.Errorf("rrule: COUNT and UNTIL exclude each other")
	case r.Freq == Yearly && len(r.ByDay) > 0 && len(r.ByMonth) == 0:
		return nil, fmt.Errorf("rrule: a YEARLY rule with BYDAY needs BYMONTH")
	}
	for _, d := range r.ByDay {
		if d.N != 0 && (r.Freq == Daily || r.Freq == Weekly) {
			return nil, fmt.Errorf("rrule: BYDAY ordinals (%d%s) only with MONTHLY or YEARLY", d.N, dayCode(d.Day))
		}
	}
	if r.Freq == Weekly && len(r.ByMonthDay) > 0 {
		return nil, fmt.Errorf("rrule: BYMONTHDAY is not used with WEEKLY")
	}
	slices.Sort(r.ByMonth)
	slices.Sort(r.ByMonthDay)
	return r, nil
}

func parseWeekdayNum(s string) (WeekdayNum, error) {
	if len(s) < 2 {
		return WeekdayNum{}, fmt.Errorf("%q is not a weekday", s)
	}
	day, ok := dayNames[strings.ToUpper(s[len(s)-2:])]
	if !ok {
		return WeekdayNum{}, fmt.Errorf("%q is not a weekday (MO, TU, WE, TH, FR, SA, SU)", s)
	}
	var n int
	if p := s[:len(s)-2]; p != "" {
		var err error
		if n, err = strconv.Atoi(p); err != nil || n == 0 || n < -5 || n > 5 {
			return WeekdayNum{}, fmt.Errorf("%q: ordinal must be 1 to 5 or -5 to -1", s)
		}
	}
	return WeekdayNum{N: n, Day: day}, nil
}

func dayCode(d time.Weekday) string {
	for k, v := range dayNames {
		if v == d {
			return k
		}
	}
	return "?"
}

func parseUntil(v string) (time.Time, error) {
	for _, layout := range []string{"20060102T150405Z", "20060102"} {
		if t, err := time.Parse(layout, v); err == nil {
			if layout == "20060102" {
				t = t.Add(24*time.Hour - time.Second) // the whole day
			}
			if t.Year() < 1970 || t.Year() > 2200 {
				break
			}
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("rrule: UNTIL=%s: want YYYYMMDD or YYYYMMDDTHHMMSSZ between 1970 and 2200", v)
}

// Between calls fn with each occurrence of the rule started at dtstart (its
// wall clock, in its location, fixes the time of day) in [from, to), in
// order, until fn returns false. dtstart is the first occurrence only if it
// matches the rule, as in RFC 5545.
func (r *RRule) Between(dtstart, from, to time.Time, fn func(time.Time) bool) {
	if !to.After(from) {
		return
	}
	if !r.Until.IsZero() && r.Until.Before(to) {
		to = r.Until.Add(time.Nanosecond) // UNTIL is inclusive
	}
	loc := dtstart.Location()
	y, m, d := dtstart.Date()
	hh, mm, ss := dtstart.Clock()
	at := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, hh, mm, ss, 0, loc) }
	// Without COUNT every occurrence before from can be skipped unseen:
	// start at the period containing from (less one, for safety).
	k := 0
	if r.Count == 0 && from.After(dtstart) {
		f := from.In(loc)
		fy, fm, _ := f.Date()
		switch r.Freq {
		case Daily:
			k = int(f.Sub(dtstart).Hours()/24) / r.Interval
		case Weekly:
			k = int(f.Sub(dtstart).Hours()/(24*7)) / r.Interval
		case Monthly:
			k = ((fy-y)*12 + int(fm-m)) / r.Interval
		case Yearly:
			k = (fy - y) / r.Interval
		}
		k = max(k-1, 0)
	}
	emitted := 0
	var cands []time.Time
	for ; ; k++ {
		var periodStart time.Time
		cands = cands[:0]
		switch r.Freq {
		case Daily:
			day := at(y, m, d+k*r.Interval)
			periodStart = day
			if r.dayMatches(day) {
				cands = append(cands, day)
			}
		case Weekly:
			// The week (Monday first) of dtstart, k*Interval weeks on.
			monday := at(y, m, d-(int(dtstart.Weekday())+6)%7+7*k*r.Interval)
			periodStart = monday
			days := []time.Weekday{dtstart.Weekday()}
			if len(r.ByDay) > 0 {
				days = days[:0]
				for _, wd := range r.ByDay {
					days = append(days, wd.Day)
				}
			}
			for _, wd := range days {
				my, mm, md := monday.Date()
				day := at(my, mm, md+(int(wd)+6)%7)
				if len(r.ByMonth) == 0 || slices.Contains(r.ByMonth, day.Month()) {
					cands = append(cands, day)
				}
			}
		case Monthly:
			first := at(y, m+time.Month(k*r.Interval), 1)
			periodStart = first
			if len(r.ByMonth) == 0 || slices.Contains(r.ByMonth, first.Month()) {
				cands = r.inMonth(cands, first, d, at)
			}
		case Yearly:
			yy := y + k*r.Interval
			periodStart = at(yy, 1, 1)
			months := r.ByMonth
			if len(months) == 0 {
				months = []time.Month{m}
			}
			for _, mo := range months {
				cands = r.inMonth(cands, at(yy, mo, 1), d, at)
			}
		}
		if !periodStart.Before(to) && periodStart.After(dtstart) {
			return
		}
		if len(cands) > 1 {
			slices.SortFunc(cands, func(a, b time.Time) int { return a.Compare(b) })
		}
		for _, c := range cands {
			if c.Before(dtstart) {
				continue
			}
			if r.Count > 0 && emitted >= r.Count {
				return
			}
			emitted++
			if !c.Before(to) {
				return
			}
			if !c.Before(from) && !fn(c) {
				return
			}
		}
		if k > 1_000_000 {
			return // unreachable for valid rules and bounded windows; a guard, not a limit
		}
	}
}

// dayMatches applies BYMONTH, BYMONTHDAY and BYDAY to a DAILY candidate.
func (r *RRule) dayMatches(t time.Time) bool {
	if len(r.ByMonth) > 0 && !slices.Contains(r.ByMonth, t.Month()) {
		return false
	}
	if len(r.ByMonthDay) > 0 && !monthDayMatches(r.ByMonthDay, t) {
		return false
	}
	if len(r.ByDay) > 0 && !slices.ContainsFunc(r.ByDay, func(w WeekdayNum) bool { return w.Day == t.Weekday() }) {
		return false
	}
	return true
}

func monthDayMatches(days []int, t time.Time) bool {
	n := daysIn(t.Year(), t.Month())
	for _, d := range days {
		if d == t.Day() || (d < 0 && n+1+d == t.Day()) {
			return true
		}
	}
	return false
}

func daysIn(y int, m time.Month) int { return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day() }

// inMonth appends the candidates of the month starting at first: by
// BYMONTHDAY and BYDAY (both: days that satisfy both), else dtstart's day
// of the month (months without it have none, as RFC 5545 says).
func (r *RRule) inMonth(cands []time.Time, first time.Time, dtDay int, at func(int, time.Month, int) time.Time) []time.Time {
	y, m := first.Year(), first.Month()
	n := daysIn(y, m)
	if len(r.ByMonthDay) == 0 && len(r.ByDay) == 0 {
		if dtDay <= n {
			cands = append(cands, at(y, m, dtDay))
		}
		return cands
	}
	for day := 1; day <= n; day++ {
		t := at(y, m, day)
		if len(r.ByMonthDay) > 0 && !monthDayMatches(r.ByMonthDay, t) {
			continue
		}
		if len(r.ByDay) > 0 && !slices.ContainsFunc(r.ByDay, func(w WeekdayNum) bool { return weekdayNumMatches(w, day, n, t.Weekday()) }) {
			continue
		}
		cands = append(cands, t)
	}
	return cands
}

func weekdayNumMatches(w WeekdayNum, day, n int, wd time.Weekday) bool {
	if w.Day != wd {
		return false
	}
	switch {
	case w.N > 0:
		return (day-1)/7+1 == w.N
	case w.N < 0:
		return (n-day)/7+1 == -w.N
	}
	return true
}
