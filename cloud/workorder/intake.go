package workorder

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/rules"
)

// Report is one thing intake receives: a sensor incident event, or a
// person's report of a problem.
type Report struct {
	Source Source
	// Key identifies the report for exactly-once processing: the
	// incident's message id ("<incident>-<seq>") or a client's
	// idempotency key. Empty: not de-duplicated.
	Key         string
	Site        string
	Asset       string
	AssetClass  string
	Problem     string
	Priority    string
	Trade       string
	Title       string
	Description string
	// Reporter is the name the person gave, shown on the work order; it
	// is a display name only. Actor is who filed the report, the
	// authenticated principal, and is what the events record.
	Reporter string
	Actor    string
	// Photos are ids of pictures stored with the report.
	Photos []string
	// Incident is set for sensor reports.
	Incident *rules.Event
	At       time.Time
}

// FromIncident turns an incident event into a report.
func FromIncident(ev *rules.Event) Report {
	return Report{
		Source: Sensor, Key: ev.MsgID(), Site: ev.Site, Asset: ev.Asset, AssetClass: ev.AssetClass,
		Problem: ev.Problem, Priority: ev.Priority, Trade: ev.Trade, Title: ev.Title,
		Description: ev.Summary, Incident: ev, At: ev.At,
	}
}

// Tx is what intake needs from a store, inside one transaction. A store
// implements it; every Receive or Sweep runs in one transaction, so an
// intake either happens completely or not at all.
type Tx interface {
	// Claim records key as processed and reports false if it already was.
	Claim(ctx context.Context, key string) (bool, error)
	// WorkOrder returns the work order with the id, or nil.
	WorkOrder(ctx context.Context, id string) (*WorkOrder, error)
	// ByIncident returns the work order an incident is attached to, or nil.
	ByIncident(ctx context.Context, incident string) (*WorkOrder, error)
	// Tombstone records that an incident cleared before any event of it
	// opened a work order; Tombstoned reports it. Messages can arrive out
	// of order (a redelivery after a replica died), and a late opening of
	// a cleared incident must not open work.
	Tombstone(ctx context.Context, incident string) error
	Tombstoned(ctx context.Context, incident string) (bool, error)
	// Sequence locks an incident's ordering until the transaction ends,
	// so another transaction on the same incident (another replica's)
	// waits for it, and returns the sequence of the incident's last event
	// applied (0: none) and how many of its events are held (order.go).
	Sequence(ctx context.Context, incident string) (applied, held int, err error)
	// Sequenced records the incident's last event applied and how many
	// are still held.
	Sequenced(ctx context.Context, incident string, applied, held int) error
	// Hold keeps an event that came before its predecessor was applied;
	// Unhold returns and forgets the held event of an incident with seq,
	// or nil when there is none.
	Hold(ctx context.Context, ev *rules.Event) error
	Unhold(ctx context.Context, incident string, seq int) (*rules.Event, error)
	// OpenFor returns the open work order for a problem family on an
	// asset, or nil.
	OpenFor(ctx context.Context, site, asset, family string) (*WorkOrder, error)
	// LastVerified returns the most recent work order for a problem family
	// on an asset verified at or after since, or nil.
	LastVerified(ctx context.Context, site, asset, family string, since time.Time) (*WorkOrder, error)
	// Asset returns the register entry, or nil when the asset is unknown.
	Asset(ctx context.Context, site, asset string) (*cloud.Asset, error)
	// NextNumber allocates the next work-order number.
	NextNumber(ctx context.Context) (int64, error)
	// Save appends events to a work order and stores its projection; it
	// fails with ECONFLICT if the work order's version moved meanwhile.
	Save(ctx context.Context, w *WorkOrder, events []Event) error
}

// Reason names what intake decided, for logs, metrics and the API.
type Reason string

// Intake outcomes.
const (
	Opened       Reason = "opened"        // a new work order
	OpenedRecall Reason = "opened_recall" // a new work order linked to a recently verified one
	Merged       Reason = "merged"        // attached to the open work order for the problem
	Updated      Reason = "updated"       // a later event of an incident already attached
	Repeat       Reason = "repeat"        // the same message again: nothing done
	Orphan       Reason = "orphan"        // a late event of an incident tombstoned by an older version: nothing to do
	Held         Reason = "held"          // came before its predecessor: kept, applied right after it (order.go)
)

// Result is what Receive did.
type Result struct {
	Reason    Reason
	WorkOrder *WorkOrder
	Events    []Event
	// Avoided is set when this report ended the work order as AVOIDED.
	Avoided bool
	// Dispatched is set when this report sent the work order out.
	Dispatched bool
}

// Intake turns reports into work-order events under a Policy, inside
// transactions of type T. T is the caller's whole transaction (cloud/store.Tx
// in the service): Intake itself needs only Tx of it, and hands it on
// unchanged to its Dispatcher, which may need more (cloud/dispatch keeps
// offer books in it). The compiler checks that T has all of it.
type Intake[T Tx] struct {
	Policy Policy
	// Dispatcher, when set, decides who gets work and keeps the offer
	// book (cloud/dispatch); without one Policy.Vendors name the provider.
	Dispatcher Dispatcher[T]
	// NewID returns a fresh work-order id; cloud.NewID("wo_") by default.
	NewID func() string
	// Readings, when set, returns the event time of an asset's newest
	// reading as its gateway's heartbeat last reported it; known is false
	// when the site's gateway sends no heartbeats (then nothing is
	// judged). Sensor verification refuses a window the asset sent
	// nothing in.
	Readings func(ctx context.Context, site, asset string) (newest time.Time, known bool)
}

// Dispatcher sends work out and hears the answers. Every method runs in
// the caller's transaction and returns the events it made (already
// applied to w); an error aborts the transaction.
type Dispatcher[T Tx] interface {
	// Offer sends a READY work order to the best eligible vendor. No
	// events means no vendor is eligible: it stays READY for a person.
	Offer(ctx context.Context, tx T, w *WorkOrder, at time.Time, why string) ([]Event, error)
	// Lapse withdraws a dispatch not accepted in time and offers the
	// work order to the next vendor.
	Lapse(ctx context.Context, tx T, w *WorkOrder, at time.Time) ([]Event, error)
	// Answer applies a person's dispatch, accept, decline or check-in
	// through the offer book, re-checking the vendor's compliance, and a
	// completion priced at the vendor's rate table (Input.Rate).
	Answer(ctx context.Context, tx T, w *WorkOrder, action Action, in Input) ([]Event, error)
	// Settle is told after a work order's status changed to WORK_COMPLETE,
	// VERIFIED or REOPENED, to record the vendor's outcome and, when
	// verified, to bill.
	Settle(ctx context.Context, tx T, w *WorkOrder, at time.Time) ([]Event, error)
}

func (in *Intake[T]) newID() string {
	if in.NewID != nil {
		return in.NewID()
	}
	return cloud.NewID("wo_")
}

// Receive processes one report in the caller's transaction: it dedups by
// key, attaches the report to the work order for its problem or opens a
// new one, triages it, and moves it on (dispatch, avoidance, escalation,
// reopen). Time is the report's own (event time), so replays decide alike.
// An incident's events are applied in their sequence order, whatever order
// they arrive in (order.go).
func (in *Intake[T]) Receive(ctx context.Context, tx T, r Report) (Result, error) {
	if r.Key != "" {
		fresh, err := tx.Claim(ctx, r.Key)
		if err != nil {
			return Result{}, fmt.Errorf("intake: claim %s: %w", r.Key, err)
		}
		if !fresh {
			return Result{Reason: Repeat}, nil
		}
	}
	if r.Incident != nil {
		return in.inOrder(ctx, tx, r)
	}
	return in.receive(ctx, tx, r)
}

// receive applies one report, already claimed and, for an incident event,
// in its turn.
func (in *Intake[T]) receive(ctx context.Context, tx T, r Report) (Result, error) {
	var w *WorkOrder
	reason := Merged
	var err error
	if r.Incident != nil {
		if w, err = tx.ByIncident(ctx, r.Incident.Incident); err != nil {
			return Result{}, fmt.Errorf("intake: incident %s: %w", r.Incident.Incident, err)
		}
		switch dead := false; {
		case w != nil:
			reason = Updated
		case r.Incident.Event == rules.Cleared:
			// A clear with no work order is its incident's first event
			// applied: the incident's only event, or one released after
			// its predecessors were given up on (order.go). The problem
			// came and went before anyone was sent, which is a truck roll
			// saved: the clear opens (or merges into) the work order its
			// opening would have, and advance ends a new one AVOIDED at
			// once, so the call-avoidance count sees it. A late opening
			// then finds the work order by incident and opens nothing. (No
			// tombstone: the incident's link row is the work order's now;
			// tombstones written by older versions are still honoured
			// below.)
		default:
			if dead, err = tx.Tombstoned(ctx, r.Incident.Incident); err != nil {
				return Result{}, fmt.Errorf("intake: incident %s: %w", r.Incident.Incident, err)
			}
			if dead {
				return Result{Reason: Orphan}, nil
			}
		}
	}
	family := Family(r.Problem)
	if w == nil {
		if w, err = tx.OpenFor(ctx, r.Site, r.Asset, family); err != nil {
			return Result{}, fmt.Errorf("intake: open work order: %w", err)
		}
	}
	var events []Event
	res := Result{Reason: reason}
	if w == nil {
		if w, res.Reason, err = in.open(ctx, tx, r, &events); err != nil {
			return Result{}, err
		}
	}
	in.attach(w, r, &events, &res)
	if err := in.advance(ctx, tx, w, r.At, &events, &res); err != nil {
		return Result{}, err
	}
	if err := tx.Save(ctx, w, events); err != nil {
		return Result{}, fmt.Errorf("intake: save work order %d: %w", w.Number, err)
	}
	res.WorkOrder, res.Events = w, events
	return res, nil
}

// open creates and triages a new work order for r.
func (in *Intake[T]) open(ctx context.Context, tx T, r Report, events *[]Event) (*WorkOrder, Reason, error) {
	reason := Opened
	o := &Opening{
		Site: r.Site, Asset: r.Asset, AssetClass: r.AssetClass, Source: r.Source, Problem: r.Problem,
		Trade: r.Trade, Priority: r.Priority, Title: r.Title, Description: r.Description, Reporter: r.Reporter,
	}
	if since := r.At.Add(-time.Duration(in.Policy.RecallWindow)); in.Policy.RecallWindow > 0 {
		prev, err := tx.LastVerified(ctx, r.Site, r.Asset, Family(r.Problem), since)
		if err != nil {
			return nil, "", fmt.Errorf("intake: recall lookup: %w", err)
		}
		if prev != nil {
			o.RecallOf, reason = prev.ID, OpenedRecall
		}
	}
	if a, err := tx.Asset(ctx, r.Site, r.Asset); err != nil {
		return nil, "", fmt.Errorf("intake: asset: %w", err)
	} else if a != nil {
		if o.AssetClass == "" {
			o.AssetClass = a.Class
		}
		if a.UnderWarranty(r.At) && a.Warranty.Provider != "" {
			o.Warranty = a.Warranty.Provider
		}
	}
	if o.Priority == "" {
		o.Priority = "P3"
	}
	if o.Trade == "" {
		o.Trade = DefaultTrade(o.Problem, o.AssetClass)
		if r.Asset == rules.SiteAsset && o.Trade == "refrigeration" {
			// A whole-store complaint ("the store is too warm") is about
			// the building's air, not one case.
			o.Trade = "hvac"
		}
	}
	if r.Asset == rules.SiteAsset && r.Problem == "gateway_offline" {
		o.Trade = "controls"
	}
	in.Policy.Triage(o)
	if r.Source == Sensor {
		if d := in.Policy.HoldOffFor(o.Priority); d > 0 {
			t := r.At.Add(d)
			o.HoldUntil = &t
		}
	}
	if o.Title == "" {
		o.Title = strings.ReplaceAll(o.Problem, "_", " ") + " on " + o.Asset
	}
	n, err := tx.NextNumber(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("intake: number: %w", err)
	}
	o.ID, o.Number = in.newID(), n
	w := &WorkOrder{}
	w.record(events, Event{Kind: Created, Actor: actor(r), At: r.At, Opening: o, Reason: string(reason)})
	w.record(events, Event{Kind: Transition, Action: Triage, From: New, To: Triaged, Actor: string(System), At: r.At,
		Reason: fmt.Sprintf("%s %s for %s", o.Priority, o.Problem, o.Trade)})
	if o.Approval {
		w.record(events, Event{Kind: Transition, Action: RequestApproval, From: Triaged, To: AwaitingApproval,
			Actor: string(System), At: r.At, Reason: "triage rule requires approval"})
	}
	return w, reason, nil
}

// attach adds r's evidence to w and escalates problem and priority.
func (in *Intake[T]) attach(w *WorkOrder, r Report, events *[]Event, res *Result) {
	ev := Evidence{Event: "report", Problem: r.Problem, Priority: r.Priority, Title: r.Title,
		Reporter: r.Reporter, Description: r.Description, At: r.At, Photos: r.Photos}
	if i := r.Incident; i != nil {
		started := i.Started
		ev = Evidence{
			Incident: i.Incident, Seq: i.Seq, Event: string(i.Event), Rule: i.Rule, Problem: i.Problem,
			Priority: i.Priority, Title: i.Title, Summary: i.Summary, Metric: i.Metric, Value: i.Value,
			Peak: i.Peak, Limit: i.Limit, OutOfRange: i.OutOfRange, Occurrences: i.Occurrences,
			Started: &started, At: i.At, PredictedAt: i.PredictedAt,
			PredictedBreachAt: i.PredictedBreachAt, BreachedAt: i.BreachedAt, Affected: i.Affected,
			Panel: in.Policy.PanelURL(i.Site, i.Asset, i.Started.Add(-time.Hour), i.At.Add(time.Hour)),
		}
		if j := w.evidenceFor(i.Incident); j >= 0 && w.Evidence[j].Seq > i.Seq {
			return // an older event arriving late: keep the newer evidence
		}
	}
	prevPeak, hadPrev := 0.0, false
	if j := w.evidenceFor(ev.Incident); j >= 0 {
		prevPeak, hadPrev = w.Evidence[j].Peak, true
	}
	w.record(events, Event{Kind: Attached, Actor: actor(r), At: r.At, Evidence: &ev, Reason: ev.Event})
	if ev.Event == "cleared" {
		return
	}
	// Escalation: a more severe problem of the family, a higher priority
	// from the source, or an excursion that keeps worsening.
	esc := Event{Kind: Escalated, Actor: string(System), At: r.At}
	var why []string
	if Severity(r.Problem) > Severity(w.Problem) && Family(r.Problem) == w.Family {
		esc.Problem = r.Problem
		why = append(why, fmt.Sprintf("problem now %s (was %s)", r.Problem, w.Problem))
	}
	prio := w.Priority
	if r.Priority != "" && Higher(r.Priority, prio) {
		prio = r.Priority
		why = append(why, fmt.Sprintf("reported as %s", r.Priority))
	}
	if r.Incident != nil && hadPrev && worsened(r.Incident, prevPeak) && prio != "P1" {
		if after := time.Duration(in.Policy.EscalateAfter[prio]); after > 0 && r.Incident.OutOfRange >= after.Seconds() && sinceEscalation(w) >= after {
			prio = raise(prio)
			why = append(why, fmt.Sprintf("excursion still worsening after %s", rules.Duration(after)))
		}
	}
	if prio != w.Priority {
		esc.Priority = prio
	}
	if esc.Problem != "" || esc.Priority != "" {
		esc.Reason = strings.Join(why, "; ")
		w.record(events, esc)
	}
}

// worsened reports whether an incident's peak moved further past its limit
// than prev.
func worsened(i *rules.Event, prev float64) bool {
	if i.Limit == nil {
		return i.Peak > prev
	}
	return abs(i.Peak-*i.Limit) > abs(prev-*i.Limit)
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// sinceEscalation is how long the work order has been at its priority,
// up to the time of its latest event.
func sinceEscalation(w *WorkOrder) time.Duration {
	from := w.CreatedAt
	if w.EscalatedAt != nil {
		from = *w.EscalatedAt
	}
	return w.UpdatedAt.Sub(from)
}

// advance moves the work order on after new evidence: avoidance when all
// cleared within hold-off, dispatch for work that must not wait, reopen
// when the problem comes back during verification.
func (in *Intake[T]) advance(ctx context.Context, tx T, w *WorkOrder, at time.Time, events *[]Event, res *Result) error {
	sys := Input{Actor: string(System), Role: System, At: at}
	switch {
	case w.Status.PreDispatch() && w.AllCleared() && (w.HoldUntil == nil || !at.After(*w.HoldUntil)) && w.Source == Sensor:
		sys.Reason = "all incidents cleared before dispatch"
		if ev, err := Act(w, Avoid, sys); err == nil {
			*events = append(*events, ev...)
			res.Avoided = true
		}
	case w.Status == Triaged && w.Approval:
		// waits for an FM's approval
	case w.Status == Triaged && w.HoldUntil == nil:
		return in.dispatch(ctx, tx, w, at, events, res, "no hold-off for "+w.Priority)
	case w.Status == Triaged && w.Reports > 0:
		return in.dispatch(ctx, tx, w, at, events, res, "confirmed by a person's report")
	case w.Status == Triaged && w.HoldUntil != nil && w.Priority == "P1":
		return in.dispatch(ctx, tx, w, at, events, res, "escalated to P1")
	case (w.Status == WorkComplete || w.Status == Verifying) && lastIsNewTrouble(*events):
		sys.Reason = "problem recurred during verification"
		ev, err := Act(w, Reopen, sys)
		if err != nil {
			return nil
		}
		*events = append(*events, ev...)
		return in.after(ctx, tx, w, Reopen, at, events)
	}
	return nil
}

func lastIsNewTrouble(events []Event) bool {
	for i := len(events) - 1; i >= 0; i-- {
		if e := events[i].Evidence; e != nil {
			return e.Event == string(rules.Opened) || e.Event == "report"
		}
	}
	return false
}

// dispatch releases a triaged or reopened work order and sends it out:
// through the Dispatcher when there is one, else to the warranty provider
// if the asset is under warranty, else to the first vendor for the trade
// that has not declined it.
func (in *Intake[T]) dispatch(ctx context.Context, tx T, w *WorkOrder, at time.Time, events *[]Event, res *Result, why string) error {
	sys := Input{Actor: string(System), Role: System, At: at, Reason: why}
	if w.Status == Triaged || w.Status == Reopened {
		ev, err := Act(w, Release, sys)
		if err != nil {
			return nil
		}
		*events = append(*events, ev...)
	}
	if in.Dispatcher != nil {
		ev, err := in.Dispatcher.Offer(ctx, tx, w, at, why)
		if err != nil {
			return fmt.Errorf("intake: dispatch work order %d: %w", w.Number, err)
		}
		*events = append(*events, ev...)
		res.Dispatched = w.Status == Dispatched
		return nil
	}
	sys.Vendor, sys.Reason = in.Policy.VendorFor(w.Site, w.Trade, w.Declined...), ""
	if w.Warranty != "" && !slices.Contains(w.Declined, w.Warranty) {
		sys.Vendor, sys.Reason = w.Warranty, "asset under warranty: "
	}
	sys.AcceptBy = in.Policy.AcceptBy(w.Priority, at)
	sys.NTE = in.Policy.NTEFor(w.Priority) // no vendor register: the policy's default
	if sys.Vendor == "" {
		return nil // stays READY until an FM dispatches it
	}
	sys.Reason += "auto-dispatch to " + sys.Vendor
	if ev, err := Act(w, Dispatch, sys); err == nil {
		*events = append(*events, ev...)
		res.Dispatched = true
	}
	return nil
}

// settle tells the Dispatcher about a finished, verified or reopened
// work order.
func (in *Intake[T]) settle(ctx context.Context, tx T, w *WorkOrder, at time.Time, events *[]Event) error {
	if in.Dispatcher == nil {
		return nil
	}
	ev, err := in.Dispatcher.Settle(ctx, tx, w, at)
	if err != nil {
		return fmt.Errorf("intake: settle work order %d: %w", w.Number, err)
	}
	*events = append(*events, ev...)
	return nil
}

// Timer is when the work order next needs the sweeper: the end of its
// hold-off while TRIAGED, the lapse of its dispatch while DISPATCHED, the
// end of its verification window while VERIFYING.
func (w *WorkOrder) Timer() *time.Time {
	switch w.Status {
	case Triaged:
		return w.HoldUntil
	case Dispatched:
		return w.AcceptBy
	case Verifying:
		return w.VerifyUntil
	}
	return nil
}

// Sweep moves on a work order whose timer has run out. At the end of a
// hold-off it dispatches if the problem persists, or ends it AVOIDED if
// it cleared; a dispatch not accepted in time lapses like a decline and
// goes to the next vendor; a verification window that passed with the
// asset back in range verifies the fix. Call it for each work order a
// store lists as due, in a transaction.
func (in *Intake[T]) Sweep(ctx context.Context, tx T, w *WorkOrder, now time.Time) ([]Event, Result, error) {
	var events []Event
	res := Result{Reason: Updated, WorkOrder: w}
	if t := w.Timer(); t == nil || now.Before(*t) {
		return nil, res, nil
	}
	var err error
	switch {
	case w.Status == Dispatched && in.Dispatcher != nil:
		events, err = in.Dispatcher.Lapse(ctx, tx, w, now)
		res.Dispatched = w.Status == Dispatched
	case w.Status == Dispatched:
		ev, aerr := Act(w, Decline, Input{Actor: string(System), Role: System, At: now,
			Reason: fmt.Sprintf("%s did not accept in time", w.Vendor)})
		if aerr != nil {
			return nil, res, nil
		}
		events = append(events, ev...)
		err = in.dispatch(ctx, tx, w, now, &events, &res, "dispatch lapsed")
	case w.Status == Verifying:
		err = in.verifyBySensor(ctx, tx, w, now, &events)
	case w.AllCleared():
		ev, aerr := Act(w, Avoid, Input{Actor: string(System), Role: System, At: now, Reason: "all incidents cleared within hold-off"})
		if aerr == nil {
			events = append(events, ev...)
			res.Avoided = true
		}
	case w.Approval:
		return nil, res, nil
	default:
		err = in.dispatch(ctx, tx, w, now, &events, &res, "hold-off over, problem persists")
	}
	if err != nil {
		return nil, res, err
	}
	res.Events = events
	return events, res, nil
}

func actor(r Report) string {
	if r.Actor != "" {
		return r.Actor
	}
	if r.Source == Sensor {
		return "sensor"
	}
	return string(r.Source)
}
