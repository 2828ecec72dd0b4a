package pm

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/frostline/frostline/cloud"
)

// Store-calendar policies for a visit that falls on a closed day.
const (
	Move = "move" // to the next open day, same time of day (default)
	Skip = "skip" // no visit this time
)

// Blackout is a period with no maintenance visits, such as the holiday
// trading weeks: From and To are dates (YYYY-MM-DD), both included.
type Blackout struct {
	Name string `json:"name,omitempty"`
	From string `json:"from"`
	To   string `json:"to"`
}

// StoreCalendar is when a site takes no maintenance visits: closed
// weekdays, closed dates and blackout periods, in the site's time zone.
type StoreCalendar struct {
	Site string `json:"site"`
	// ClosedWeekdays are mon ... sun.
	ClosedWeekdays []string   `json:"closed_weekdays,omitempty"`
	ClosedDates    []string   `json:"closed_dates,omitempty"`
	Blackouts      []Blackout `json:"blackouts,omitempty"`
	// Policy is move (default) or skip.
	Policy string `json:"policy,omitempty"`

	weekdays [7]bool
	dates    map[string]bool
	periods  [][2]string
}

var weekdayNames = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// Compile checks the calendar and prepares it for Adjust. Errors name the
// field.
func (c *StoreCalendar) Compile() error {
	c.weekdays, c.dates, c.periods = [7]bool{}, map[string]bool{}, nil
	if !cloud.ValidID(c.Site) {
		return cloud.FieldError("site", "required: a site id")
	}
	if c.Policy != "" && c.Policy != Move && c.Policy != Skip {
		return cloud.FieldError("policy", "want move or skip")
	}
	if len(c.ClosedDates) > 1000 || len(c.Blackouts) > 200 {
		return cloud.FieldError("closed_dates", "at most 1000 dates and 200 blackouts")
	}
	for i, d := range c.ClosedWeekdays {
		n := slices.Index(weekdayNames, strings.ToLower(d))
		if n < 0 {
			return cloud.FieldError(fmt.Sprintf("closed_weekdays[%d]", i), "want mon, tue, wed, thu, fri, sat or sun")
		}
		c.weekdays[n] = true
	}
	if c.weekdays == [7]bool{true, true, true, true, true, true, true} {
		return cloud.FieldError("closed_weekdays", "a site closed every day takes no visits: pause its schedules instead")
	}
	for i, d := range c.ClosedDates {
		if _, err := time.Parse(time.DateOnly, d); err != nil {
			return cloud.FieldError(fmt.Sprintf("closed_dates[%d]", i), "want YYYY-MM-DD, got %q", d)
		}
		c.dates[d] = true
	}
	for i, b := range c.Blackouts {
		f := fmt.Sprintf("blackouts[%d]", i)
		from, err1 := time.Parse(time.DateOnly, b.From)
		to, err2 := time.Parse(time.DateOnly, b.To)
		switch {
		case err1 != nil:
			return cloud.FieldError(f+".from", "want YYYY-MM-DD, got %q", b.From)
		case err2 != nil:
			return cloud.FieldError(f+".to", "want YYYY-MM-DD, got %q", b.To)
		case to.Before(from) || to.Sub(from) > 366*24*time.Hour:
			return cloud.FieldError(f+".to", "want a date on or after from, at most a year later")
		}
		c.periods = append(c.periods, [2]string{b.From, b.To})
	}
	return nil
}

// Closed reports whether the site takes no visit on t's date (in t's
// location) and why.
func (c *StoreCalendar) Closed(t time.Time) (bool, string) {
	if c == nil {
		return false, ""
	}
	if c.weekdays[t.Weekday()] {
		return true, "closed on " + weekdayNames[t.Weekday()]
	}
	if len(c.dates) == 0 && len(c.periods) == 0 {
		return false, ""
	}
	day := t.Format(time.DateOnly)
	if c.dates[day] {
		return true, "closed on " + day
	}
	for i, p := range c.periods {
		if day >= p[0] && day <= p[1] { // ISO dates order as strings
			name := c.Blackouts[i].Name
			if name == "" {
				name = "blackout " + p[0] + " to " + p[1]
			}
			return true, name
		}
	}
	return false, ""
}

// Adjust moves a visit due at t off closed days: to the next open day at
// the same time of day, or (policy skip) reports ok false. It looks at most
// a year ahead.
func (c *StoreCalendar) Adjust(t time.Time) (due time.Time, ok bool, why string) {
	closed, why := c.Closed(t)
	if !closed {
		return t, true, ""
	}
	if c.Policy == Skip {
		return t, false, why
	}
	y, m, d := t.Date()
	hh, mm, ss := t.Clock()
	for i := 1; i <= 366; i++ {
		next := time.Date(y, m, d+i, hh, mm, ss, 0, t.Location())
		if shut, _ := c.Closed(next); !shut {
			return next, true, "moved: " + why
		}
	}
	return t, false, why
}
