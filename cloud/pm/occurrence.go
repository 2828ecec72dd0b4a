package pm

import (
	"context"
	"fmt"
	"math"
	"time"
)

// Usage is what an asset did over a period, from the edge's telemetry.
type Usage struct {
	RunHours float64 // compressor run-hours
	Defrosts int     // defrost cycles
	// Hours is how much of the period telemetry covered; DutyCycle is
	// RunHours / Hours (0 when nothing was seen).
	Hours     float64
	DutyCycle float64
}

// Runtime answers how hard an asset has worked: run-hours and defrost
// cycles between two times. The store implements it from counters fed by
// the FROSTLINE_TELEMETRY stream's signals (or the API).
type Runtime interface {
	Usage(ctx context.Context, site, asset string, since, until time.Time) (Usage, error)
}

// RateWindow is the recent period a runtime schedule's pace (run-hours per
// hour) is measured over, to say when the next threshold will be reached.
const RateWindow = 7 * 24 * time.Hour

// Occurrence is one visit of a schedule on one asset.
type Occurrence struct {
	// Key identifies the visit within the schedule and asset for ever:
	// the rule's due time (site-local, before calendar moves or a pull
	// forward) for calendar rules, "rh:<n>" or "dc:<n>" for the n-th
	// run-hour or defrost threshold.
	Key   string    `json:"occurrence"`
	DueAt time.Time `json:"due_at"`
	// Note says why DueAt is not the rule's own time, if it is not.
	Note string `json:"note,omitempty"`

	// ruleAt is the rule's own time of a calendar visit whose Key is not
	// made yet (each leaves that to its caller).
	ruleAt time.Time
}

// Context is what computing a schedule's occurrences on an asset needs
// besides the schedule.
type Context struct {
	Target   Target
	Location *time.Location // the site's time zone; nil: UTC
	Calendar *StoreCalendar // nil: always open
	Runtime  Runtime        // runtime schedules and conditions; nil: none
	Now      time.Time
}

// keyLayout is the site-local wall-clock form of a calendar occurrence.
const keyLayout = "2006-01-02T15:04"

// occurrenceKey formats t as keyLayout does.
func occurrenceKey(t time.Time) string { return string(appendKey(nil, t)) }

// appendKey appends t in keyLayout without the general formatter: the
// forecast makes hundreds of thousands of keys.
func appendKey(dst []byte, t time.Time) []byte {
	y, m, d := t.Date()
	hh, mm, _ := t.Clock()
	if y < 0 || y > 9999 {
		return t.AppendFormat(dst, keyLayout)
	}
	var b [16]byte
	put := func(i, v, n int) {
		for j := i + n - 1; j >= i; j-- {
			b[j] = byte('0' + v%10)
			v /= 10
		}
	}
	put(0, y, 4)
	b[4] = '-'
	put(5, int(m), 2)
	b[7] = '-'
	put(8, d, 2)
	b[10] = 'T'
	put(11, hh, 2)
	b[13] = ':'
	put(14, mm, 2)
	return append(dst, b[:]...)
}

// Occurrences returns the schedule's visits on the target due in
// [from, to), in order, after store-calendar moves and the condition's
// pull. A runtime schedule's future visits are projected at the asset's
// recent pace.
func (s *Schedule) Occurrences(ctx context.Context, c Context, from, to time.Time) ([]Occurrence, error) {
	var out []Occurrence
	err := s.each(ctx, c, from, to, func(o Occurrence) {
		if o.Key == "" {
			o.Key, o.ruleAt = occurrenceKey(o.ruleAt), time.Time{}
		}
		out = append(out, o)
	})
	return out, err
}

// each calls fn with each of Occurrences' visits, in order. A calendar
// visit comes without its Key: its ruleAt is what the key is made of.
func (s *Schedule) each(ctx context.Context, c Context, from, to time.Time, fn func(Occurrence)) error {
	pull, err := s.pull(ctx, c)
	if err != nil {
		return err
	}
	if !s.Calendar() {
		occs, err := s.runtimeOccurrences(ctx, c, from, to, pull)
		for _, o := range occs {
			fn(o)
		}
		return err
	}
	loc := c.Location
	if loc == nil {
		loc = time.UTC
	}
	st := s.Start.In(loc)
	dtstart := time.Date(st.Year(), st.Month(), st.Day(), st.Hour(), st.Minute(), 0, 0, loc)
	// A visit moved off a closed day may come from before from; a pulled
	// one from after to.
	lo, hi := from.Add(-60*24*time.Hour), to.Add(pull)
	first := true
	s.rule.Between(dtstart, lo, hi, func(t time.Time) bool {
		o := Occurrence{DueAt: t}
		if pull > 0 && first && !t.Before(c.Now) {
			// The condition pulls the next visit only.
			first = false
			o.DueAt, o.Note = maxTime(t.Add(-pull), c.Now), "pulled forward by condition"
		}
		due, ok, why := c.Calendar.Adjust(o.DueAt.In(loc))
		if !ok {
			return true // skipped: the site takes no visit then
		}
		if why != "" {
			o.DueAt, o.Note = due, why
		}
		if !o.DueAt.Before(from) && o.DueAt.Before(to) {
			o.ruleAt = t
			fn(o)
		}
		return true
	})
	return nil
}

// pull is how far the condition pulls the next visit forward, now.
func (s *Schedule) pull(ctx context.Context, c Context) (time.Duration, error) {
	cond := s.Condition
	if cond == nil || c.Runtime == nil {
		return 0, nil
	}
	over := cond.Over.D()
	if over <= 0 {
		over = 7 * 24 * time.Hour
	}
	u, err := c.Runtime.Usage(ctx, c.Target.Site, c.Target.Asset, c.Now.Add(-over), c.Now)
	if err != nil {
		return 0, fmt.Errorf("pm: condition of %s on %s/%s: %w", s.ID, c.Target.Site, c.Target.Asset, err)
	}
	if u.Hours > 0 && u.DutyCycle > cond.Above {
		return cond.PullForward.D(), nil
	}
	return 0, nil
}

// runtimeOccurrences: thresholds every RuntimeHours run-hours (or
// DefrostCycles defrosts) since Start; the next ones are projected at the
// pace of the last RateWindow. Thresholds already passed are not visits
// any more (the generator's catch-up deals with them).
func (s *Schedule) runtimeOccurrences(ctx context.Context, c Context, from, to time.Time, pull time.Duration) ([]Occurrence, error) {
	if c.Runtime == nil || !c.Now.After(s.Start) {
		return nil, nil
	}
	used, rate, err := s.usage(ctx, c)
	if err != nil {
		return nil, err
	}
	step, prefix := s.RuntimeHours, "rh:"
	if s.DefrostCycles > 0 {
		step, prefix = float64(s.DefrostCycles), "dc:"
	}
	if rate <= 0 {
		return nil, nil // idle: no telling when it is due
	}
	var out []Occurrence
	for n := int(math.Floor(used/step)) + 1; n < math.MaxInt32; n++ {
		hours := (float64(n)*step - used) / rate
		if hours > 24*366*10 {
			break
		}
		due := c.Now.Add(time.Duration(hours * float64(time.Hour))).Truncate(time.Minute)
		o := Occurrence{Key: fmt.Sprintf("%s%d", prefix, n), DueAt: due}
		if pull > 0 && len(out) == 0 {
			o.DueAt, o.Note = maxTime(due.Add(-pull), c.Now), "pulled forward by condition"
		}
		if !o.DueAt.Before(to) {
			break
		}
		if !o.DueAt.Before(from) {
			out = append(out, o)
		}
	}
	return out, nil
}

// usage returns run-hours (or defrosts) since Start and the recent pace
// per wall-clock hour.
func (s *Schedule) usage(ctx context.Context, c Context) (used, rate float64, err error) {
	if used, err = s.used(ctx, c); err != nil {
		return 0, 0, err
	}
	t := c.Target
	since := maxTime(s.Start, c.Now.Add(-RateWindow))
	recent, err := c.Runtime.Usage(ctx, t.Site, t.Asset, since, c.Now)
	if err != nil {
		return 0, 0, fmt.Errorf("pm: usage of %s/%s: %w", t.Site, t.Asset, err)
	}
	span := c.Now.Sub(since).Hours()
	if s.DefrostCycles > 0 {
		return used, float64(recent.Defrosts) / span, nil
	}
	return used, recent.RunHours / span, nil
}

// used returns run-hours (or defrosts) since Start.
func (s *Schedule) used(ctx context.Context, c Context) (float64, error) {
	t := c.Target
	total, err := c.Runtime.Usage(ctx, t.Site, t.Asset, s.Start, c.Now)
	if err != nil {
		return 0, fmt.Errorf("pm: usage of %s/%s: %w", t.Site, t.Asset, err)
	}
	if s.DefrostCycles > 0 {
		return float64(total.Defrosts), nil
	}
	return total.RunHours, nil
}

// Passed returns the latest threshold key a runtime schedule has already
// passed ("" for none or for calendar schedules), for catch-up.
func (s *Schedule) passed(ctx context.Context, c Context) (string, error) {
	if s.Calendar() || c.Runtime == nil || !c.Now.After(s.Start) {
		return "", nil
	}
	used, err := s.used(ctx, c)
	if err != nil {
		return "", err
	}
	step, prefix := s.RuntimeHours, "rh:"
	if s.DefrostCycles > 0 {
		step, prefix = float64(s.DefrostCycles), "dc:"
	}
	if n := int(math.Floor(used / step)); n > 0 {
		return fmt.Sprintf("%s%d", prefix, n), nil
	}
	return "", nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// BulkRuntime is a Runtime that also sums every asset's usage over one
// period in one go (at one site, or every site for ""), keyed by
// {site, asset}.
type BulkRuntime interface {
	Runtime
	UsageAll(ctx context.Context, site string, since, until time.Time) (map[[2]string]Usage, error)
}

// usageMemo answers a forecast's or a tick's many usage questions: a
// period asked about once is asked of the store for that asset, and the
// answer kept (a runtime schedule asks the same twice a tick: for its next
// visits and for the threshold it passed); a period asked about for
// another asset (schedules sharing a start, the shared rate window) is
// loaded for every asset at once and answered from memory. It lives for
// one call.
type usageMemo struct {
	rt     BulkRuntime
	site   string
	asked  map[[2]int64]int
	one    map[usageKey]Usage
	loaded map[[2]int64]map[[2]string]Usage
}

// usageKey is one asset's period.
type usageKey struct {
	period      [2]int64
	site, asset string
}

func newUsageMemo(rt BulkRuntime, site string) *usageMemo {
	return &usageMemo{rt: rt, site: site, asked: map[[2]int64]int{}, one: map[usageKey]Usage{}, loaded: map[[2]int64]map[[2]string]Usage{}}
}

// Usage implements Runtime.
func (m *usageMemo) Usage(ctx context.Context, site, asset string, since, until time.Time) (Usage, error) {
	k := [2]int64{since.UnixNano(), until.UnixNano()}
	if all, ok := m.loaded[k]; ok {
		return all[[2]string{site, asset}], nil
	}
	one := usageKey{k, site, asset}
	if u, ok := m.one[one]; ok {
		return u, nil
	}
	m.asked[k]++
	if m.asked[k] < 2 {
		u, err := m.rt.Usage(ctx, site, asset, since, until)
		if err == nil {
			m.one[one] = u
		}
		return u, err
	}
	all, err := m.rt.UsageAll(ctx, m.site, since, until)
	if err != nil {
		return Usage{}, err
	}
	m.loaded[k] = all
	return all[[2]string{site, asset}], nil
}
