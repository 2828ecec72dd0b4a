package analytics

import (
	"encoding/json"
	"time"

	"github.com/frostline/frostline/cloud/sla"
	"github.com/frostline/frostline/cloud/workorder"
)

// MinVisit is the shortest visit that counts for a first-time fix: like
// ServiceChannel's check-in rule, a visit under 10 minutes is not a visit.
const MinVisit = 10 * time.Minute

// Facts is what the KPI formulas need to know about one work order: its
// slicing dimensions, the moments of its life, and the outcome. A store
// keeps one row of it per work order, rewritten whenever the work order
// changes in a way that matters here.
//
// Times are nil when the moment has not come (or never will).
type Facts struct {
	WorkOrder  string
	Site       string
	Asset      string
	AssetClass string
	Trade      string
	Vendor     string
	Technician string
	Priority   string
	Source     workorder.Source
	Problem    string
	Status     workorder.Status
	Open       bool

	Created time.Time
	// Onset is the failure onset: the first out-of-range sample of the
	// evidence (the earliest incident start), else the reported time.
	Onset time.Time
	// Condition is set for a sensor work order raised before functional
	// failure (EN 13306 condition-based maintenance): opened for a
	// predicted breach (temp_trend), or on evidence carrying a prediction.
	Condition bool
	// Dispatched is set once a vendor was ever sent.
	Dispatched bool
	// Accepted is the first acceptance; AcceptSeconds is how long after
	// the dispatch it answered took it.
	Accepted      *time.Time
	AcceptSeconds float64
	// OnSite is the first check-in.
	OnSite *time.Time
	// Completed is the (latest) WORK_COMPLETE.
	Completed *time.Time
	// SensorRestored is the sensor-confirmed recovery: when every
	// incident of the work order had cleared, if that happened after the
	// first check-in. Restored is that, else Completed.
	SensorRestored *time.Time
	// Ended is when the work order left the backlog (VERIFIED, CLOSED,
	// AVOIDED, DUPLICATE, CANCELLED); nil while open.
	Ended *time.Time
	// Verified is set once the work order reached VERIFIED.
	Verified bool

	Visits int
	// FixVisit is set when there was exactly one visit, of MinVisit or
	// more: the visit side of a first-time fix.
	FixVisit bool
	// Recall: this work order is a recall of an earlier one.
	Recall   bool
	RecallOf string
	// Recalled: a later work order recalled this one (set by the store
	// when the recall is created, not by FactsOf).
	Recalled bool
	// Cost is the invoice total when invoiced, else the completion's
	// labour and parts; NTE the not-to-exceed first set at dispatch;
	// Overrun is set when the work priced above that NTE.
	Cost    float64
	NTE     float64
	Overrun bool
	// Documented: cause, remedy and parts recorded at completion.
	Documented bool
	Incidents  int

	// SLA per milestone: when due (nil while unknown, or no promise) and
	// when met (nil while not).
	SLA [3]Milestone
	// PMDue is when a preventive work order is due (nil: unknown).
	PMDue *time.Time
}

// Milestone is one SLA milestone's clock as far as the KPIs need it.
type Milestone struct {
	Due, Done *time.Time
}

// Restored is the repair's end: the sensor-confirmed recovery when there
// is one, else the completion.
func (f *Facts) Restored() *time.Time {
	if f.SensorRestored != nil {
		return f.SensorRestored
	}
	return f.Completed
}

// SpanEnd is the latest moment the work order can count in a period: a
// period starting after it cannot see the work order. Open work orders
// count in every later period (nil).
func (f *Facts) SpanEnd() *time.Time {
	if f.Open {
		return nil
	}
	end := f.Created
	later := func(t *time.Time) {
		if t != nil && t.After(end) {
			end = *t
		}
	}
	later(f.Ended)
	later(f.Completed)
	later(f.SensorRestored)
	later(f.Accepted)
	later(f.OnSite)
	later(f.PMDue)
	for _, m := range f.SLA {
		later(m.Done)
		later(m.Due)
	}
	return &end
}

// Relevant reports whether a batch of new events can change a work
// order's facts. Evidence updates (an incident still open, a new peak) do
// not, nor do notes: skipping them keeps the intake's hot path at one
// statement per work order.
func Relevant(events []workorder.Event) bool {
	for i := range events {
		switch e := &events[i]; e.Kind {
		case workorder.Noted:
		case workorder.Attached:
			if e.Evidence == nil || e.Evidence.Event != "updated" {
				return true
			}
		default:
			return true
		}
	}
	return false
}

// NeedsHistory reports whether computing facts after these new events
// needs the work order's earlier events too: only transitions and
// escalations move the milestones and SLA clocks kept outside the
// projection. Evidence alone is answered from the projection
// (EvidenceFacts).
func NeedsHistory(events []workorder.Event) bool {
	for i := range events {
		if k := events[i].Kind; k == workorder.Transition || k == workorder.Escalated || k == workorder.Created {
			return true
		}
	}
	return false
}

// FactsOf computes a work order's facts from all its events, oldest first,
// and its projection after them. policy gives the SLA clocks (the same
// default targets the sweeper uses when a vendor committed to nothing);
// loc is the site's time zone for business-hours clocks (nil: UTC).
func FactsOf(w *workorder.WorkOrder, events []workorder.Event, policy *sla.Policy, loc *time.Location) Facts {
	f := Facts{
		WorkOrder: w.ID, Site: w.Site, Asset: w.Asset, AssetClass: w.AssetClass, Trade: w.Trade,
		Vendor: w.Vendor, Technician: w.Technician, Priority: w.Priority, Source: w.Source,
		Problem: w.Problem, Status: w.Status, Open: w.Status.Open(), Created: w.CreatedAt,
	}
	var dispatchAt *time.Time
	opening := ""
	for i := range events {
		e := &events[i]
		switch e.Kind {
		case workorder.Created:
			if e.Opening != nil {
				opening = e.Opening.Problem
			}
			f.Created = e.At
		case workorder.Transition:
			at := e.At
			switch e.Action {
			case workorder.Dispatch:
				f.Dispatched, dispatchAt = true, &at
			case workorder.Decline:
				dispatchAt = nil
			case workorder.Accept:
				if f.Accepted == nil {
					f.Accepted = &at
					if dispatchAt != nil {
						f.AcceptSeconds = at.Sub(*dispatchAt).Seconds()
					}
				}
			case workorder.Complete:
				f.Completed = &at
			}
			if e.To == workorder.Verified {
				f.Verified = true
			}
			if e.To.Open() {
				f.Ended = nil
			} else if f.Ended == nil {
				f.Ended = &at
			}
		}
	}
	if f.Open {
		f.Ended = nil
	} else if f.Ended == nil { // no history: the projection's last change
		at := w.UpdatedAt
		f.Ended = &at
	}
	if w.VerifiedAt != nil || w.Status == workorder.Closed {
		f.Verified = true
	}
	if f.Completed == nil && w.Completion != nil { // no history
		at := w.UpdatedAt
		if w.VerifiedAt != nil {
			at = *w.VerifiedAt
		}
		f.Completed = &at
	}
	if opening == "" && len(w.Evidence) > 0 { // no history: what it was raised on
		opening = w.Evidence[0].Problem
	}
	f.Condition = w.Source == workorder.Sensor && opening == "temp_trend"
	EvidenceFacts(w, &f)
	if n := len(w.Visits); n > 0 {
		in := w.Visits[0].In
		f.OnSite = &in
		if f.Accepted == nil && f.Dispatched { // on site implies accepted
			f.Accepted = &in
		}
	}
	f.Visits = len(w.Visits)
	f.FixVisit = len(w.Visits) == 1 && w.Visits[0].Out != nil && w.Visits[0].Out.Sub(w.Visits[0].In) >= MinVisit
	f.Recall, f.RecallOf = w.Recall, w.RecallOf
	f.NTE = w.NTE
	if len(w.Approvals) > 0 {
		f.NTE = w.Approvals[0].From
	}
	priced := w.Completion.Cost()
	f.Cost = priced
	if inv := w.Invoice; inv != nil {
		f.Cost = inv.Total
		priced = max(priced, inv.Subtotal)
	}
	f.Overrun = f.NTE > 0 && priced > f.NTE+0.005
	if c := w.Completion; c != nil {
		f.Documented = c.Cause != "" && c.Remedy != "" && len(c.Parts) > 0
	}
	if policy != nil {
		for _, t := range policy.Timers(events, nil, loc) {
			i := milestoneIndex(t.Milestone)
			if i < 0 {
				continue
			}
			if due, ok := t.Due(); ok {
				f.SLA[i].Due = &due
			}
			if !t.Done.IsZero() {
				done := t.Done
				f.SLA[i].Done = &done
			}
		}
	}
	if w.Source == workorder.Preventive {
		f.PMDue = dueOf(w)
	}
	return f
}

// EvidenceFacts sets the facts that come from the evidence alone: onset,
// sensor-confirmed restoration, incidents, and the prediction that makes a
// sensor work order condition-based. A store calls it when only evidence
// changed, and updates just those columns.
func EvidenceFacts(w *workorder.WorkOrder, f *Facts) {
	f.Onset = w.CreatedAt
	f.Incidents = len(w.Incidents)
	var cleared time.Time
	allCleared := len(w.Incidents) > 0
	for i := range w.Evidence {
		e := &w.Evidence[i]
		if e.Started != nil && e.Started.Before(f.Onset) {
			f.Onset = *e.Started
		}
		// The evidence the work order was raised on carried a
		// prediction: raised before the failure.
		if i == 0 && e.PredictedAt != nil && w.Source == workorder.Sensor {
			f.Condition = true
		}
		if e.Incident == "" {
			continue
		}
		if e.Event != "cleared" {
			allCleared = false
		} else if e.At.After(cleared) {
			cleared = e.At
		}
	}
	f.SensorRestored = nil
	if allCleared && len(w.Visits) > 0 && !cleared.Before(w.Visits[0].In) {
		f.SensorRestored = &cleared
	}
}

func milestoneIndex(m sla.Milestone) int {
	for i, x := range sla.Milestones {
		if x == m {
			return i
		}
	}
	return -1
}

// dueOf reads a preventive work order's due time from its projection: the
// plan's due_at (cloud/pm), or a due_at of the work order itself. It is
// read through the JSON so the KPIs do not depend on where planned
// maintenance keeps it, only on its name.
func dueOf(w *workorder.WorkOrder) *time.Time {
	data, err := json.Marshal(w)
	if err != nil {
		return nil
	}
	var probe struct {
		Plan *struct {
			DueAt *time.Time `json:"due_at"`
		} `json:"plan"`
		DueAt *time.Time `json:"due_at"`
	}
	if json.Unmarshal(data, &probe) != nil {
		return nil
	}
	if probe.Plan != nil && probe.Plan.DueAt != nil && !probe.Plan.DueAt.IsZero() {
		return probe.Plan.DueAt
	}
	return probe.DueAt
}
