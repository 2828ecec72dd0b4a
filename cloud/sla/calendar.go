package sla

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Calendar is a weekly business-hours calendar with holidays. Times are
// wall-clock times in the site's own time zone, so one calendar serves
// every site and daylight-saving changes fall where the site's clocks put
// them.
type Calendar struct {
	// Hours maps a weekday ("mon" ... "sun") to its opening hours,
	// "07:00-19:00"; "00:00-24:00" is all day. A day that is missing is
	// closed.
	Hours map[string]string `yaml:"hours" json:"hours"`
	// Holidays are dates (YYYY-MM-DD) that are closed all day.
	Holidays []string `yaml:"holidays" json:"holidays,omitempty"`

	open     [7][2]int // minutes from midnight per time.Weekday; {-1,-1} closed
	holidays map[civilDate]bool
}

type civilDate struct {
	y int
	m time.Month
	d int
}

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// DefaultCalendar is Monday to Friday, 08:00 to 18:00.
func DefaultCalendar() *Calendar {
	c := &Calendar{Hours: map[string]string{
		"mon": "08:00-18:00", "tue": "08:00-18:00", "wed": "08:00-18:00", "thu": "08:00-18:00", "fri": "08:00-18:00",
	}}
	if err := c.Compile(); err != nil {
		panic(err) // the literal above is valid
	}
	return c
}

// Compile checks the calendar and prepares it for use. It names the field
// at fault ("hours.mon: ..."). Decoding into a calendar after compiling it needs another Compile.
func (c *Calendar) Compile() error {
	for i := range c.open {
		c.open[i] = [2]int{-1, -1}
	}
	var errs []string
	for _, day := range sortedKeys(c.Hours) {
		wd, ok := weekdays[day]
		if !ok {
			errs = append(errs, fmt.Sprintf("hours.%s: not a weekday (want mon, tue, wed, thu, fri, sat or sun)", day))
			continue
		}
		span, err := parseSpan(c.Hours[day])
		if err != nil {
			errs = append(errs, fmt.Sprintf("hours.%s: %v", day, err))
			continue
		}
		c.open[wd] = span
	}
	c.holidays = make(map[civilDate]bool, len(c.Holidays))
	for i, h := range c.Holidays {
		t, err := time.Parse(time.DateOnly, h)
		if err != nil {
			errs = append(errs, fmt.Sprintf("holidays[%d]: want a date YYYY-MM-DD, got %q", i, h))
			continue
		}
		c.holidays[civilDate{t.Year(), t.Month(), t.Day()}] = true
	}
	if len(errs) == 0 && !slices.ContainsFunc(c.open[:], func(s [2]int) bool { return s[0] >= 0 }) {
		errs = append(errs, "hours: the calendar is never open")
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

func parseSpan(s string) ([2]int, error) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), "-")
	if !ok {
		return [2]int{}, fmt.Errorf("want HH:MM-HH:MM, got %q", s)
	}
	from, err1 := parseClock(a)
	to, err2 := parseClock(b)
	if err1 != nil || err2 != nil {
		return [2]int{}, fmt.Errorf("want HH:MM-HH:MM, got %q", s)
	}
	if to <= from {
		return [2]int{}, fmt.Errorf("closes at or before it opens: %q", s)
	}
	return [2]int{from, to}, nil
}

func parseClock(s string) (int, error) {
	h, m, ok := strings.Cut(strings.TrimSpace(s), ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || hh < 0 || mm < 0 || mm > 59 || hh > 24 || (hh == 24 && mm != 0) {
		return 0, fmt.Errorf("bad time of day %q", s)
	}
	return hh*60 + mm, nil
}

// Open reports whether the calendar is open at t in loc.
func (c *Calendar) Open(t time.Time, loc *time.Location) bool {
	s, _ := c.window(t, loc)
	return !s.After(t)
}

// window returns the first business window that ends after t, clipped to
// start no earlier than t. It looks at most two years ahead.
func (c *Calendar) window(t time.Time, loc *time.Location) (start, end time.Time) {
	lt := t.In(loc)
	y, m, d := lt.Date()
	for i := 0; i < 800; i++ {
		day := time.Date(y, m, d+i, 0, 0, 0, 0, loc)
		span := c.open[day.Weekday()]
		dy, dm, dd := day.Date()
		if span[0] < 0 || c.holidays[civilDate{dy, dm, dd}] {
			continue
		}
		s := time.Date(dy, dm, dd, 0, span[0], 0, 0, loc)
		e := time.Date(dy, dm, dd, 0, span[1], 0, 0, loc)
		if !e.After(t) {
			continue
		}
		if s.Before(t) {
			s = t
		}
		return s, e
	}
	return forever, forever
}

// forever stands for "never" in window arithmetic.
var forever = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// Interval is a span of time; a zero End means it has not ended.
type Interval struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end,omitzero"`
}

// addActive returns the instant at which d of active time has passed since
// start, where active time is inside the calendar's windows (always, for
// a nil calendar) and outside the pauses (sorted by start). It returns
// false when an open pause stops the clock before d has passed.
func addActive(start time.Time, d time.Duration, cal *Calendar, loc *time.Location, pauses []Interval) (time.Time, bool) {
	if cal == nil && len(pauses) == 0 {
		return start.Add(d), true // the common case, kept cheap for Sweep
	}
	cur := start
	p := 0
	for range 100000 {
		ws, we := cur, forever
		if cal != nil {
			ws, we = cal.window(cur, loc)
			if ws.Equal(forever) {
				return time.Time{}, false
			}
		}
		// Skip pauses that ended before this window's start.
		for p < len(pauses) && !pauses[p].End.IsZero() && !pauses[p].End.After(ws) {
			p++
		}
		segEnd := we
		if p < len(pauses) && pauses[p].Start.Before(we) {
			if !pauses[p].Start.After(ws) {
				// Paused at the window's start: jump past the pause.
				if pauses[p].End.IsZero() {
					return time.Time{}, false
				}
				cur = pauses[p].End
				p++
				continue
			}
			segEnd = pauses[p].Start
		}
		if avail := segEnd.Sub(ws); d <= avail {
			return ws.Add(d), true
		} else {
			d -= avail
		}
		cur = segEnd
	}
	return time.Time{}, false
}
