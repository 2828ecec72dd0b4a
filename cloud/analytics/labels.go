package analytics

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/workorder"
	"github.com/frostline/frostline/rules/score"
)

// Labels writes a fleet's own outcomes over [from, to) as a labels file
// (docs/labels.md), so that a rule change can be backtested against what
// really happened: replay the period's readings with the new rules and
// score them with `frostline rules score --labels`.
//
// Only sensor work orders created in the period count, and only those
// whose outcome is known:
//   - verified (or closed after verification), completed with a cause other
//     than no fault found: a fault. Its kind is the technician's problem
//     code when that is a fault kind, else what the work order's problem
//     points at (score.KindOf); it starts at its first incident and ends
//     when its last incident cleared, or at verification when one never
//     did. Its members are the cases its incidents named as affected (a
//     rack's), its breach the earliest breached_at they carried.
//   - avoided (every incident cleared before anyone was sent): a negative,
//     from the first incident to the last clear.
//   - completed with cause no_fault_found (or nff, no_problem_found): a
//     negative, from the first incident to the last clear or the
//     completion.
//
// Work orders still open, cancelled or merged as duplicates say nothing
// either way and are left out. assets is the register of the caller's
// sites: every asset's days count for false positives per asset-day.
func Labels(from, to time.Time, assets []*cloud.Asset, wos []*workorder.WorkOrder) *score.Labels {
	l := &score.Labels{Epoch: from.UTC(), End: to.UTC(), Assets: []score.Asset{}, Faults: []score.Fault{}}
	for _, a := range assets {
		l.Assets = append(l.Assets, score.Asset{Site: a.Site, Asset: a.ID, Class: a.Class})
	}
	slices.SortFunc(l.Assets, func(a, b score.Asset) int { return cmp.Or(cmp.Compare(a.Site, b.Site), cmp.Compare(a.Asset, b.Asset)) })
	for _, w := range wos {
		if w.Source != workorder.Sensor || w.CreatedAt.Before(from) || !w.CreatedAt.Before(to) {
			continue
		}
		start, lastClear := incidentWindow(w)
		switch {
		case w.Status == workorder.Avoided:
			end := lastClear
			if end.IsZero() {
				end = w.UpdatedAt // avoided: its incidents cleared, but the clears were not kept
			}
			l.Negatives = append(l.Negatives, negative(w, start, end, score.Avoided))
		case noFaultFound(w) && slices.Contains(completed, w.Status):
			end := lastClear
			if end.IsZero() {
				end = completedAt(w)
			}
			l.Negatives = append(l.Negatives, negative(w, start, end, score.NoFaultFound))
		case w.VerifiedAt != nil && (w.Status == workorder.Verified || w.Status == workorder.Closed):
			end := lastClear
			if end.IsZero() {
				end = *w.VerifiedAt
			}
			kind, _ := score.KindOf(w.Problem)
			if w.Completion != nil {
				if _, named := score.Accept[w.Completion.Problem]; named {
					kind = w.Completion.Problem // the technician named the fault
				}
			}
			f := score.Fault{Site: w.Site, Asset: w.Asset, Class: w.AssetClass, Fault: kind,
				Start: start.UTC(), End: maxTime(start, end).UTC(), Accept: score.AcceptFor(kind, w.Problem)}
			f.Members, f.Breach = affected(w), breached(w)
			l.Faults = append(l.Faults, f)
		}
	}
	slices.SortStableFunc(l.Faults, func(a, b score.Fault) int {
		return cmp.Or(a.Start.Compare(b.Start), cmp.Compare(a.Site, b.Site), cmp.Compare(a.Asset, b.Asset))
	})
	slices.SortStableFunc(l.Negatives, func(a, b score.Negative) int {
		return cmp.Or(a.Start.Compare(b.Start), cmp.Compare(a.Site, b.Site), cmp.Compare(a.Asset, b.Asset))
	})
	return l
}

// incidentWindow is when the work order's first incident started (its
// creation when it has no incident evidence) and when its last incident
// cleared: zero unless every incident's latest word is that it cleared.
func incidentWindow(w *workorder.WorkOrder) (start, lastClear time.Time) {
	start = w.CreatedAt
	latest := map[string]*workorder.Evidence{}
	for i := range w.Evidence {
		e := &w.Evidence[i]
		if e.Incident == "" {
			continue
		}
		if e.Started != nil && e.Started.Before(start) {
			start = *e.Started
		}
		if e.At.Before(start) {
			start = e.At
		}
		if l := latest[e.Incident]; l == nil || !e.At.Before(l.At) {
			latest[e.Incident] = e
		}
	}
	for _, e := range latest {
		if e.Event != "cleared" {
			return start, time.Time{}
		}
		if e.At.After(lastClear) {
			lastClear = e.At
		}
	}
	return start, lastClear
}

// affected are the assets the work order's incidents said lost cooling
// with it (a rack's cases), in the order first named; nil when none did,
// which leaves the fault a single asset's.
func affected(w *workorder.WorkOrder) []string {
	var out []string
	for _, e := range w.Evidence {
		for _, a := range e.Affected {
			if !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	return out
}

// breached is the earliest time an incident of the work order said the
// product had passed its limit (the edge's product model), or nil.
func breached(w *workorder.WorkOrder) *time.Time {
	var first *time.Time
	for _, e := range w.Evidence {
		if e.BreachedAt != nil && (first == nil || e.BreachedAt.Before(*first)) {
			t := e.BreachedAt.UTC()
			first = &t
		}
	}
	return first
}

// completed are the states in which a work order's completion stands.
var completed = []workorder.Status{workorder.WorkComplete, workorder.Verifying, workorder.Verified, workorder.Closed}

// NoFaultFoundCauses are the cause codes that say a technician found
// nothing wrong.
var NoFaultFoundCauses = []string{"no_fault_found", "nff", "no_problem_found"}

func noFaultFound(w *workorder.WorkOrder) bool {
	return w.Completion != nil && slices.Contains(NoFaultFoundCauses, strings.ToLower(strings.TrimSpace(w.Completion.Cause)))
}

// completedAt is when the last visit ended, or the work order's last
// change when no visit has.
func completedAt(w *workorder.WorkOrder) time.Time {
	var end time.Time
	for _, v := range w.Visits {
		if v.Out != nil && v.Out.After(end) {
			end = *v.Out
		}
	}
	if end.IsZero() {
		return w.UpdatedAt
	}
	return end
}

func negative(w *workorder.WorkOrder, start, end time.Time, reason string) score.Negative {
	return score.Negative{Site: w.Site, Asset: w.Asset, Class: w.AssetClass, Start: start.UTC(), End: maxTime(start, end).UTC(),
		Reason: reason, Problem: w.Problem, WorkOrder: w.ID}
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
