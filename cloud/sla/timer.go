package sla

import (
	"strconv"
	"time"

	"github.com/frostline/frostline/cloud/workorder"
)

// Timer is the clock of one milestone of one work order.
type Timer struct {
	WorkOrder string    `json:"work_order"`
	Site      string    `json:"site"`
	Vendor    string    `json:"vendor,omitempty"`
	Milestone Milestone `json:"milestone"`
	// Start is when the clock started: the dispatch to the current vendor.
	Start time.Time `json:"start"`
	// Target is how much clock time the milestone may take.
	Target time.Duration `json:"target"`
	// Calendar, when set, runs the clock only in its business hours in
	// Location (the site's time zone). It must be compiled.
	Calendar *Calendar      `json:"-"`
	Location *time.Location `json:"-"`
	// Pauses are the on-hold periods counted out of the clock, in order;
	// the last may still be open (zero End).
	Pauses []Interval `json:"pauses,omitempty"`
	// Remind lists how long before due reminders go out.
	Remind []time.Duration `json:"remind,omitempty"`
	// Done is when the milestone was met; zero while open.
	Done time.Time `json:"done,omitzero"`
}

// Due returns when the milestone is due. It returns false while the clock
// is stopped by an open pause: the due time is not known until it resumes.
func (t *Timer) Due() (time.Time, bool) {
	loc := t.Location
	if loc == nil {
		loc = time.UTC
	}
	return addActive(t.Start, t.Target, t.Calendar, loc, t.Pauses)
}

// Paused reports whether the clock is stopped now.
func (t *Timer) Paused() bool {
	n := len(t.Pauses)
	return n > 0 && t.Pauses[n-1].End.IsZero()
}

// Result is how a finished milestone went.
type Result struct {
	Milestone Milestone     `json:"milestone"`
	Due       time.Time     `json:"due"`
	Done      time.Time     `json:"done"`
	Met       bool          `json:"met"`
	Target    time.Duration `json:"target"`
	Lateness  time.Duration `json:"lateness,omitempty"` // Done - Due when missed
}

// Result returns how the milestone went, once it is done.
func (t *Timer) Result() (Result, bool) {
	if t.Done.IsZero() {
		return Result{}, false
	}
	due, ok := t.Due()
	if !ok {
		return Result{}, false
	}
	r := Result{Milestone: t.Milestone, Due: due, Done: t.Done, Met: !t.Done.After(due), Target: t.Target}
	if !r.Met {
		r.Lateness = t.Done.Sub(due)
	}
	return r, true
}

// Kind is what an Action asks for.
type Kind string

// Action kinds.
const (
	Remind Kind = "remind" // tell the vendor the milestone is coming due
	Breach Kind = "breach" // the milestone is overdue: record it, escalate to the FM
)

// Action is one thing a sweep found to do.
type Action struct {
	// Key names the action deterministically: the same timer swept at
	// any time, by any replica, yields the same key for the same action.
	// A store inserts it under a unique constraint and acts only when the
	// insert succeeds.
	Key       string    `json:"key"`
	Kind      Kind      `json:"kind"`
	WorkOrder string    `json:"work_order"`
	Site      string    `json:"site"`
	Vendor    string    `json:"vendor,omitempty"`
	Milestone Milestone `json:"milestone"`
	Due       time.Time `json:"due"`
	// Before is, for a reminder, how long before due it was meant to go.
	Before time.Duration `json:"before,omitempty"`
	// Lateness is, for a breach, how late the milestone is at the sweep.
	Lateness time.Duration `json:"lateness,omitempty"`
}

// Sweep returns what is to be done now about open timers: for each
// milestone not yet met and not paused, a breach once it is past due, or
// else the latest reminder whose time has come (an earlier one that was
// missed, say while every replica was down, is not sent late as well).
//
// Sweep is a pure function of its arguments: calling it again, here or on
// another replica, returns the same actions with the same keys, and a
// store's unique constraint on Key makes each one happen once. A due time
// that moves (a priority escalation, a pause) yields new keys, so the
// vendor is reminded of the new due time.
func Sweep(now time.Time, open []Timer) []Action {
	var out []Action
	for i := range open {
		t := &open[i]
		if !t.Done.IsZero() || t.Target <= 0 || t.Paused() {
			continue
		}
		due, ok := t.Due()
		if !ok {
			continue
		}
		if !now.Before(due) {
			out = append(out, Action{Key: key(t, Breach, due, 0), Kind: Breach, WorkOrder: t.WorkOrder, Site: t.Site,
				Vendor: t.Vendor, Milestone: t.Milestone, Due: due, Lateness: now.Sub(due)})
			continue
		}
		left := due.Sub(now)
		var best time.Duration = -1
		for _, r := range t.Remind {
			// The reminder r before due is due itself; the smallest such r
			// is the latest reminder whose time has come.
			if r >= left && (best < 0 || r < best) && r < t.Target {
				best = r
			}
		}
		if best > 0 {
			out = append(out, Action{Key: key(t, Remind, due, best), Kind: Remind, WorkOrder: t.WorkOrder, Site: t.Site,
				Vendor: t.Vendor, Milestone: t.Milestone, Due: due, Before: best})
		}
	}
	return out
}

// key is "sla/<work order>/<milestone>/<due unix>/<kind>[/<before s>]".
func key(t *Timer, k Kind, due time.Time, before time.Duration) string {
	b := make([]byte, 0, 64)
	b = append(b, "sla/"...)
	b = append(b, t.WorkOrder...)
	b = append(b, '/')
	b = append(b, t.Milestone...)
	b = append(b, '/')
	b = strconv.AppendInt(b, due.Unix(), 10)
	b = append(b, '/')
	b = append(b, k...)
	if k == Remind {
		b = append(b, '/')
		b = strconv.AppendInt(b, int64(before/time.Second), 10)
	}
	return string(b)
}

// Timers returns the milestone timers of a work order from its events,
// oldest first: the clocks start at the latest dispatch (a decline or a
// lapsed offer restarts them with the next vendor), acknowledge is met by
// the vendor's accept, arrive by the first check-in and complete by the
// completion. The targets are the vendor's commitment for the work order's
// current priority where it made one (commitment may be nil), else the
// policy's defaults. loc is the site's time zone for business hours.
func (p *Policy) Timers(events []workorder.Event, commitment func(priority string) *Targets, loc *time.Location) []Timer {
	var (
		id, site, vendor, priority string
		start                      time.Time
		done                       = map[Milestone]time.Time{}
		pauses                     []Interval
		dispatched                 bool
	)
	for i := range events {
		e := &events[i]
		switch e.Kind {
		case workorder.Created:
			if o := e.Opening; o != nil {
				id, site, priority = o.ID, o.Site, o.Priority
			}
		case workorder.Escalated:
			if e.Priority != "" {
				priority = e.Priority
			}
		case workorder.Transition:
			switch e.Action {
			case workorder.Dispatch:
				dispatched, vendor, start = true, e.Vendor, e.At
				done, pauses = map[Milestone]time.Time{}, nil
			case workorder.Decline, workorder.Cancel, workorder.MarkDuplicate:
				dispatched = false
			case workorder.Accept:
				setOnce(done, Acknowledge, e.At)
			case workorder.CheckIn:
				setOnce(done, Acknowledge, e.At) // on site implies acknowledged
				setOnce(done, Arrive, e.At)
			case workorder.Complete:
				setOnce(done, Complete, e.At)
			case workorder.Hold:
				if p.PauseOnHold {
					pauses = append(pauses, Interval{Start: e.At})
				}
			case workorder.Resume:
				if n := len(pauses); n > 0 && pauses[n-1].End.IsZero() {
					pauses[n-1].End = e.At
				}
			}
		}
	}
	if !dispatched {
		return nil
	}
	var c *Targets
	if commitment != nil {
		c = commitment(priority)
	}
	targets := p.TargetsFor(priority, c)
	remind := make([]time.Duration, len(p.RemindBefore))
	for i, r := range p.RemindBefore {
		remind[i] = r.D()
	}
	cal := p.calendarFor(priority)
	out := make([]Timer, 0, len(Milestones))
	for _, m := range Milestones {
		if targets.Of(m) <= 0 {
			continue
		}
		t := Timer{WorkOrder: id, Site: site, Vendor: vendor, Milestone: m, Start: start, Target: targets.Of(m),
			Calendar: cal, Location: loc, Remind: remind, Done: done[m]}
		if m != Acknowledge { // holding happens after acceptance; only later clocks pause
			t.Pauses = pauses
		}
		out = append(out, t)
	}
	return out
}

func setOnce(m map[Milestone]time.Time, k Milestone, at time.Time) {
	if _, ok := m[k]; !ok {
		m[k] = at
	}
}
