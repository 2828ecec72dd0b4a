package workorder

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Kind is what an event records.
type Kind string

// Event kinds.
const (
	Created    Kind = "created"    // the work order was opened
	Transition Kind = "transition" // the status changed by an action
	Attached   Kind = "evidence"   // an incident event or a report was attached
	Escalated  Kind = "escalated"  // priority or problem became more severe
	Noted      Kind = "note"       // a note was added
	Quoted     Kind = "quote"      // a vendor proposed a price
	Approved   Kind = "approval"   // the NTE was raised by someone with the authority
	Invoiced   Kind = "invoice"    // the vendor's invoice was made
	Checked    Kind = "checklist"  // checklist answers (or a sign-off) on a planned visit
	SLAMarked  Kind = "sla"        // a service-level reminder went out, or a milestone was breached
)

// Event is one append-only change to a work order. Version numbers a work
// order's events from 1 without gaps; a store refuses an event whose
// version is taken, which is the optimistic lock.
type Event struct {
	WorkOrder string    `json:"work_order"`
	Version   int       `json:"version"`
	Kind      Kind      `json:"kind"`
	Action    Action    `json:"action,omitempty"`
	From      Status    `json:"from,omitempty"`
	To        Status    `json:"to,omitempty"`
	Actor     string    `json:"actor"`
	Reason    string    `json:"reason,omitempty"`
	At        time.Time `json:"at"`

	Opening     *Opening    `json:"opening,omitempty"`
	Evidence    *Evidence   `json:"evidence,omitempty"`
	Priority    string      `json:"priority,omitempty"`
	Problem     string      `json:"problem,omitempty"`
	Vendor      string      `json:"vendor,omitempty"`
	Technician  string      `json:"technician,omitempty"`
	Visit       *Visit      `json:"visit,omitempty"`
	Completion  *Completion `json:"completion,omitempty"`
	Note        *Note       `json:"note,omitempty"`
	DuplicateOf string      `json:"duplicate_of,omitempty"`
	// AcceptBy is when a dispatch lapses if the vendor has not accepted.
	AcceptBy *time.Time `json:"accept_by,omitempty"`
	// NTE is, on a dispatch, the vendor's not-to-exceed for the work.
	NTE float64 `json:"nte,omitempty"`
	// ETA is, on an accept, when the vendor expects to arrive.
	ETA *time.Time `json:"eta,omitempty"`
	// VerifyUntil is, on start_verifying, the end of the window.
	VerifyUntil *time.Time `json:"verify_until,omitempty"`
	// Verification is, on verify, how: "sensor" or "person".
	Verification string    `json:"verification,omitempty"`
	Quote        *Quote    `json:"quote,omitempty"`
	Approval     *Approval `json:"nte_approval,omitempty"`
	Invoice      *Invoice  `json:"invoice,omitempty"`
	// Answers and SignedBy: a planned visit's checklist (Checked).
	Answers  []Answer `json:"answers,omitempty"`
	SignedBy string   `json:"signed_by,omitempty"`
	// SLA is the reminder or breach a SLAMarked event records.
	SLA *SLAMark `json:"sla,omitempty"`
	// Rating is the store's say on a verified visit (Rated).
	Rating *Rating `json:"rating,omitempty"`
}

// Opening is what a work order starts with.
type Opening struct {
	ID          string     `json:"id"`
	Number      int64      `json:"number"`
	Site        string     `json:"site"`
	Asset       string     `json:"asset"`
	AssetClass  string     `json:"asset_class,omitempty"`
	Source      Source     `json:"source"`
	Problem     string     `json:"problem"`
	Trade       string     `json:"trade"`
	Priority    string     `json:"priority"`
	Title       string     `json:"title,omitempty"`
	Description string     `json:"description,omitempty"`
	Reporter    string     `json:"reporter,omitempty"`
	RecallOf    string     `json:"recall_of,omitempty"`
	Approval    bool       `json:"approval_required,omitempty"`
	HoldUntil   *time.Time `json:"hold_until,omitempty"`
	// Warranty is the provider that must do the work while the asset is
	// under warranty; it overrides normal dispatch.
	Warranty string `json:"warranty,omitempty"`
	// Plan is set on preventive work orders; Origin on corrective work
	// raised by a failed checklist item of the preventive work order.
	Plan   *Plan  `json:"plan,omitempty"`
	Origin string `json:"origin,omitempty"`
}

// ErrVersion is returned when events do not follow a work order's version.
var ErrVersion = errors.New("workorder: event out of version order")

// Replay folds events, oldest first, into a work order.
func Replay(events []Event) (*WorkOrder, error) {
	if len(events) == 0 || events[0].Kind != Created {
		return nil, errors.New("workorder: replay: first event must be created")
	}
	w := &WorkOrder{}
	for i := range events {
		if err := w.Apply(&events[i]); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// Apply folds one event into the work order. It is the only place a work
// order's fields change.
func (w *WorkOrder) Apply(e *Event) error {
	if e.Version != w.Version+1 {
		return fmt.Errorf("%w: version %d after %d", ErrVersion, e.Version, w.Version)
	}
	switch e.Kind {
	case Created:
		o := e.Opening
		if o == nil {
			return errors.New("workorder: created event without opening")
		}
		*w = WorkOrder{
			ID: o.ID, Number: o.Number, Site: o.Site, Asset: o.Asset, AssetClass: o.AssetClass,
			Source: o.Source, Problem: o.Problem, Family: Family(o.Problem), Trade: o.Trade,
			Priority: o.Priority, Status: New, Title: o.Title, Description: o.Description,
			Reporter: o.Reporter, Recall: o.RecallOf != "", RecallOf: o.RecallOf, Approval: o.Approval,
			HoldUntil: o.HoldUntil, Warranty: o.Warranty, CreatedAt: e.At, Incidents: []string{}, Evidence: []Evidence{},
		}
		if w.Plan, w.Origin = o.Plan.clone(), o.Origin; w.Plan != nil {
			w.Family = pmFamily(w.Plan)
		}
	case Transition:
		if e.From != w.Status {
			return fmt.Errorf("workorder %s: transition from %s recorded while %s", w.ID, e.From, w.Status)
		}
		w.Status = e.To
		switch e.Action {
		case Dispatch:
			w.Vendor = e.Vendor
			at := e.At
			w.DispatchedAt, w.AcceptBy = &at, e.AcceptBy
			if len(w.Approvals) == 0 {
				w.NTE = e.NTE // an approved raise outlives a change of vendor
			}
		case Decline:
			w.Declined = append(w.Declined, w.Vendor)
			w.Vendor, w.Technician, w.DispatchedAt, w.AcceptBy, w.ETA = "", "", nil, nil, nil
		case Accept:
			w.AcceptBy, w.ETA = nil, e.ETA
			if e.Technician != "" {
				w.Technician = e.Technician
			}
		case CheckIn:
			if e.Visit != nil {
				w.Visits = append(w.Visits, *e.Visit)
			}
		case CheckOut, Complete:
			if v := w.openVisit(); v != nil {
				at := e.At
				v.Out = &at
				if e.Visit != nil {
					v.OutLat, v.OutLon, v.OutOverride = e.Visit.OutLat, e.Visit.OutLon, e.Visit.OutOverride
					v.Photos = append(v.Photos, e.Visit.Photos...)
				}
			}
			if e.Completion != nil {
				w.Completion = e.Completion.Sane()
			}
		case StartVerifying:
			w.VerifyUntil = e.VerifyUntil
		case Verify:
			at := e.At
			w.VerifiedAt, w.VerifyUntil, w.Verification = &at, nil, e.Verification
		case Reopen:
			w.VerifiedAt, w.VerifyUntil, w.Verification = nil, nil, ""
		case MarkDuplicate:
			w.DuplicateOf = e.DuplicateOf
		case Release, Avoid:
			w.HoldUntil = nil
		}
	case Attached:
		ev := e.Evidence
		if ev == nil {
			return errors.New("workorder: evidence event without evidence")
		}
		if i := w.evidenceFor(ev.Incident); i >= 0 {
			w.Evidence[i] = *ev
		} else {
			w.Evidence = append(w.Evidence, *ev)
			if ev.Incident != "" {
				w.Incidents = append(w.Incidents, ev.Incident)
				w.linked = append(w.linked, ev.Incident)
			}
		}
		if ev.Incident == "" {
			w.Reports++
		}
		w.Occurrences = 0
		for _, x := range w.Evidence {
			w.Occurrences += max(x.Occurrences, 1)
		}
	case Escalated:
		if e.Priority != "" {
			w.Priority = e.Priority
			at := e.At
			w.EscalatedAt = &at
		}
		if e.Problem != "" {
			w.Problem = e.Problem
		}
	case Noted:
		if e.Note != nil {
			w.Notes = append(w.Notes, *e.Note)
		}
		if e.Verification != "" { // the sensors could not vouch yet: a longer window, or a person
			w.Verification, w.VerifyUntil = e.Verification, e.VerifyUntil
		}
	case Quoted:
		if e.Quote == nil {
			return errors.New("workorder: quote event without quote")
		}
		if e.Quote.Amount > w.NTE { // an NTE of 0 allows nothing: every quote waits
			q := *e.Quote
			w.Quote = &q
		} else {
			w.Quote = nil
		}
	case Approved:
		if e.Approval == nil {
			return errors.New("workorder: approval event without approval")
		}
		w.Approvals = append(w.Approvals, *e.Approval)
		w.NTE, w.Quote = e.Approval.Amount, nil
	case Checked:
		if w.Plan == nil {
			return errors.New("workorder: checklist event on a work order without a plan")
		}
		w.Plan.record(e.Answers, e.SignedBy)
	case SLAMarked:
		if e.SLA == nil {
			return errors.New("workorder: sla event without mark")
		}
		w.SLA = append(w.SLA, *e.SLA)
	case Invoiced:
		if e.Invoice == nil {
			return errors.New("workorder: invoice event without invoice")
		}
		inv := *e.Invoice
		w.Invoice = &inv
	case Rated:
		if e.Rating == nil {
			return errors.New("workorder: rating event without rating")
		}
		r := *e.Rating
		w.Rating = &r
	default:
		return fmt.Errorf("workorder: unknown event kind %q", e.Kind)
	}
	w.Version = e.Version
	w.UpdatedAt = e.At
	return nil
}

// record applies a new event to w and appends it to *out, numbering it.
func (w *WorkOrder) record(out *[]Event, e Event) {
	e.WorkOrder = w.ID
	if e.Opening != nil {
		e.WorkOrder = e.Opening.ID
	}
	e.Version = w.Version + 1
	if err := w.Apply(&e); err != nil {
		// Events made here are built to apply; failing is a bug.
		panic(err)
	}
	*out = append(*out, e)
}

// HasIncident reports whether the incident is attached.
func (w *WorkOrder) HasIncident(id string) bool { return slices.Contains(w.Incidents, id) }

// AddNote records a note on the work order and returns its event.
func (w *WorkOrder) AddNote(n Note) []Event {
	var out []Event
	w.record(&out, Event{Kind: Noted, Actor: n.Author, At: n.At, Note: &n})
	return out
}
