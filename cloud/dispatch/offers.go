package dispatch

import (
	"errors"
	"fmt"
	"time"

	"github.com/frostline/frostline/cloud/workorder"
)

// Errors from Offers. Each is wrapped with the work order and vendor.
var (
	ErrNotOffered   = errors.New("dispatch: work order is not on offer to this vendor")
	ErrLapsed       = errors.New("dispatch: offer lapsed")
	ErrNoncompliant = errors.New("dispatch: vendor not compliant")
	ErrNotAccepted  = errors.New("dispatch: work order not accepted by this vendor")
)

// Check re-checks a vendor's compliance at a moment, for a technician when
// one is named; it returns Eligible or the reason and what is wrong.
// CheckWith builds one from the vendor records.
type Check func(vendor, technician string, at time.Time) (Reason, string)

// CheckWith returns a Check over vendor records for a trade.
func CheckWith(vendors map[string]*Vendor, trade string, r *Rules) Check {
	return func(id, technician string, at time.Time) (Reason, string) {
		v, ok := vendors[id]
		if !ok {
			return ReasonDocumentMissing, "vendor " + id + " not on file"
		}
		return Comply(v, trade, technician, at, r)
	}
}

// Offer is one offer of the work order to one vendor.
type Offer struct {
	Vendor    string    `json:"vendor"`
	OfferedAt time.Time `json:"offered_at"`
	// Deadline is when the offer lapses unaccepted; zero: never.
	Deadline   time.Time `json:"deadline,omitzero"`
	Response   Response  `json:"response"`
	AnsweredAt time.Time `json:"answered_at,omitzero"`
	Reason     string    `json:"reason,omitempty"`
	Technician string    `json:"technician,omitempty"`
	ETA        time.Time `json:"eta,omitzero"`
}

// Move is a work-order action the cloud must take for an offer step,
// applied in order with workorder.Act: dispatch and decline as the system
// (workorder.System), accept as the vendor or technician who accepted.
type Move struct {
	Action   workorder.Action `json:"action"`
	Vendor   string           `json:"vendor,omitempty"`
	Reason   string           `json:"reason,omitempty"`
	AcceptBy *time.Time       `json:"accept_by,omitempty"`
}

// Offers is the offer bookkeeping of one work order, as a state machine:
// the best eligible vendor is offered the work order; it accepts, or
// declines, or lets the acceptance window pass, and then the next in the
// decision's queue is offered it. Compliance is re-checked when a vendor
// accepts (a certificate may have expired since the offer) and when its
// technician checks in. When the queue runs out the work order stays
// READY for a person (Exhausted).
//
// Offers is plain data: a store keeps it as JSON beside the work order
// and every method is a decision at a given time returning the Moves to
// apply. It is not safe for concurrent use; the store's optimistic lock
// on the work order serialises changes.
type Offers struct {
	WorkOrder string        `json:"work_order"`
	Window    time.Duration `json:"window"`
	// Queue is the vendors not yet offered, best first.
	Queue   []string `json:"queue"`
	Current *Offer   `json:"current,omitempty"`
	History []Offer  `json:"history"`
}

// Start offers a work order to the best vendor of a decision. window is
// the acceptance window (workorder.Policy.AcceptWithin for the priority);
// 0 means no limit.
func Start(d *Decision, window time.Duration, at time.Time) (*Offers, []Move) {
	o := &Offers{WorkOrder: d.WorkOrder, Window: window, Queue: d.Queue(), History: []Offer{}}
	return o, o.next(at, "")
}

// Exhausted reports whether no vendor holds or is left to get an offer.
func (o *Offers) Exhausted() bool { return o.Current == nil && !o.accepted() }

// Accepted returns the accepted offer, if any.
func (o *Offers) Accepted() (Offer, bool) {
	for _, h := range o.History {
		if h.Response == Accepted {
			return h, true
		}
	}
	return Offer{}, false
}

func (o *Offers) accepted() bool { _, ok := o.Accepted(); return ok }

// next offers the work order to the next vendor in the queue, after moves
// for the offer that ended (reason, if any, explains the re-offer).
func (o *Offers) next(at time.Time, why string) []Move {
	if len(o.Queue) == 0 {
		o.Current = nil
		return nil
	}
	v := o.Queue[0]
	o.Queue = o.Queue[1:]
	off := Offer{Vendor: v, OfferedAt: at, Response: Pending}
	m := Move{Action: workorder.Dispatch, Vendor: v, Reason: "offered to " + v}
	if why != "" {
		m.Reason = why + "; offered to " + v
	}
	if o.Window > 0 {
		off.Deadline = at.Add(o.Window)
		d := off.Deadline
		m.AcceptBy = &d
	}
	o.Current = &off
	return []Move{m}
}

// end closes the current offer with a response and re-offers.
func (o *Offers) end(r Response, at time.Time, reason string) []Move {
	return o.endThen(r, at, at, reason)
}

// endThen closes the current offer with a response at answered and makes
// the next offer at offer: a lapse is answered at its deadline, but the
// next vendor's window runs from when the lapse was seen, so a sweep that
// comes late does not hand the next vendor an offer already over.
func (o *Offers) endThen(r Response, answered, offer time.Time, reason string) []Move {
	c := *o.Current
	c.Response, c.AnsweredAt, c.Reason = r, answered, reason
	o.History = append(o.History, c)
	moves := []Move{{Action: workorder.Decline, Vendor: c.Vendor, Reason: reason}}
	return append(moves, o.next(offer, fmt.Sprintf("%s %s", c.Vendor, r))...)
}

func (o *Offers) current(vendor string) error {
	if o.Current == nil || o.Current.Vendor != vendor {
		return fmt.Errorf("work order %s, vendor %s: %w", o.WorkOrder, vendor, ErrNotOffered)
	}
	return nil
}

// Accept records the vendor's acceptance, with the technician who will go
// and an ETA, after re-checking compliance. A lapsed offer cannot be
// accepted: it times out (and is re-offered) instead. On a failed check the
// offer ends as noncompliant and goes to the next vendor: the returned
// moves must be applied even though the error says the vendor was refused.
func (o *Offers) Accept(vendor, technician string, eta, at time.Time, check Check) ([]Move, error) {
	if err := o.current(vendor); err != nil {
		return nil, err
	}
	if !o.Current.Deadline.IsZero() && at.After(o.Current.Deadline) {
		moves := o.endThen(TimedOut, o.Current.Deadline, at, vendor+" did not accept in time")
		return moves, fmt.Errorf("work order %s, vendor %s: %w at %s", o.WorkOrder, vendor, ErrLapsed, o.History[len(o.History)-1].Deadline.Format(time.RFC3339))
	}
	if reason, detail := check(vendor, technician, at); reason != Eligible {
		why := fmt.Sprintf("compliance re-check at accept: %s (%s)", reason, detail)
		moves := o.end(Noncompliant, at, why)
		return moves, fmt.Errorf("work order %s, vendor %s: %w: %s: %s", o.WorkOrder, vendor, ErrNoncompliant, reason, detail)
	}
	c := *o.Current
	c.Response, c.AnsweredAt, c.Technician, c.ETA = Accepted, at, technician, eta
	o.History = append(o.History, c)
	o.Current = nil
	return []Move{{Action: workorder.Accept, Vendor: vendor, Reason: "accepted"}}, nil
}

// Decline records the vendor's decline and re-offers.
func (o *Offers) Decline(vendor, reason string, at time.Time) ([]Move, error) {
	if err := o.current(vendor); err != nil {
		return nil, err
	}
	if reason == "" {
		reason = "declined"
	}
	return o.end(Declined, at, reason), nil
}

// Tick lapses the current offer once its window has passed, and re-offers
// from now. It is what a sweeper calls at the work order's AcceptBy;
// calling it early, or again, does nothing.
func (o *Offers) Tick(now time.Time) []Move {
	if o.Current == nil || o.Current.Deadline.IsZero() || now.Before(o.Current.Deadline) {
		return nil
	}
	return o.endThen(TimedOut, o.Current.Deadline, now, o.Current.Vendor+" did not accept in time")
}

// Withdraw ends the current offer without counting it against the vendor
// (a person cancelled or reassigned the work order).
func (o *Offers) Withdraw(at time.Time, reason string) {
	if o.Current == nil {
		return
	}
	c := *o.Current
	c.Response, c.AnsweredAt, c.Reason = Withdrawn, at, reason
	o.History = append(o.History, c)
	o.Current = nil
	o.Queue = nil
}

// CheckIn re-checks compliance when the accepted vendor's technician
// checks in. A refused check-in changes nothing: the work order stays
// ACCEPTED and the FM decides.
func (o *Offers) CheckIn(vendor, technician string, at time.Time, check Check) error {
	a, ok := o.Accepted()
	if !ok || a.Vendor != vendor {
		return fmt.Errorf("work order %s, vendor %s: %w", o.WorkOrder, vendor, ErrNotAccepted)
	}
	if reason, detail := check(vendor, technician, at); reason != Eligible {
		return fmt.Errorf("work order %s, vendor %s, technician %s: check-in refused: %w: %s: %s", o.WorkOrder, vendor, technician, ErrNoncompliant, reason, detail)
	}
	return nil
}

// Outcomes returns an outcome record per answered offer, for the
// scorecards. An accepted offer's record is completed later with how the
// work went.
func (o *Offers) Outcomes(trade string) []Outcome {
	out := make([]Outcome, 0, len(o.History))
	for _, h := range o.History {
		out = append(out, Outcome{Vendor: h.Vendor, Trade: trade, WorkOrder: o.WorkOrder, Offered: h.OfferedAt, Response: h.Response})
	}
	return out
}
