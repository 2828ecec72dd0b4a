package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/sla"
	"github.com/frostline/frostline/cloud/workorder"
)

// Book is what the cloud keeps of one work order's dispatch: the last
// decision, explained, and the offers made from it. A store keeps it as
// JSON beside the work order, written in the same transaction.
type Book struct {
	WorkOrder string   `json:"work_order"`
	Decision  Decision `json:"decision"`
	Offers    Offers   `json:"offers"`
	// Earlier holds the offers of previous decisions (a recall re-decides).
	Earlier []Offer `json:"earlier,omitempty"`
}

// Tx is what the Service needs of a work-order transaction.
type Tx interface {
	workorder.Tx
	Site(ctx context.Context, id string) (*cloud.Site, error)
	Events(ctx context.Context, wo string) ([]workorder.Event, error)
	Book(ctx context.Context, wo string) (*Book, error) // nil when none
	PutBook(ctx context.Context, b *Book, at time.Time) error
	Outcomes(ctx context.Context, wo string) ([]Outcome, error)
	PutOutcomes(ctx context.Context, outs []Outcome) error
}

// Register is the vendor register as the Service reads it, outside any
// work-order transaction.
type Register interface {
	// VendorsRevision moves on every change to the register.
	VendorsRevision(ctx context.Context) (int64, error)
	Vendors(ctx context.Context) ([]Vendor, error)
	// OpenByVendor counts open work orders per vendor.
	OpenByVendor(ctx context.Context) (map[string]int, error)
	// VendorOutcomes returns outcomes offered at or after since.
	VendorOutcomes(ctx context.Context, since time.Time) ([]Outcome, error)
}

// Service is the cloud's dispatcher: it implements workorder.Dispatcher
// over the vendor register, the company's Rules and the SLA policy. Its
// view of the vendor pool (records, open work, scorecards) is cached and
// reloaded when the register changes or Refresh passes; compliance is
// always judged on the cached records of the current revision.
type Service struct {
	Register Register
	Rules    Rules
	Policy   *workorder.Policy
	SLA      sla.Policy
	// Refresh is how long open-work counts and scorecards are reused
	// (default 30 s); ScoreOver is how far back scorecards look (365 d).
	Refresh   time.Duration
	ScoreOver time.Duration
	Log       *slog.Logger
	Now       func() time.Time

	mu     sync.Mutex
	rev    int64
	loaded time.Time
	pool   []Standing
	byID   map[string]*Vendor
	cards  map[string]*Scorecard
}

var _ workorder.Dispatcher[Tx] = (*Service)(nil)

// For is the Service as the Dispatcher of an Intake whose transactions
// are T, any transaction that keeps offer books (cloud/store.Tx in the
// service). There is one Service, with one view of the vendor pool,
// whatever T is.
func For[T Tx](s *Service) workorder.Dispatcher[T] { return bound[T]{s} }

type bound[T Tx] struct{ s *Service }

func (b bound[T]) Offer(ctx context.Context, tx T, w *workorder.WorkOrder, at time.Time, why string) ([]workorder.Event, error) {
	return b.s.Offer(ctx, tx, w, at, why)
}

func (b bound[T]) Lapse(ctx context.Context, tx T, w *workorder.WorkOrder, at time.Time) ([]workorder.Event, error) {
	return b.s.Lapse(ctx, tx, w, at)
}

func (b bound[T]) Answer(ctx context.Context, tx T, w *workorder.WorkOrder, action workorder.Action, in workorder.Input) ([]workorder.Event, error) {
	return b.s.Answer(ctx, tx, w, action, in)
}

func (b bound[T]) Settle(ctx context.Context, tx T, w *workorder.WorkOrder, at time.Time) ([]workorder.Event, error) {
	return b.s.Settle(ctx, tx, w, at)
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Pool returns the vendors as dispatch sees them now.
func (s *Service) Pool(ctx context.Context) ([]Standing, map[string]*Vendor, error) {
	rev, err := s.Register.VendorsRevision(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("dispatch: vendor register: %w", err)
	}
	refresh := s.Refresh
	if refresh <= 0 {
		refresh = 30 * time.Second
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byID != nil && rev == s.rev && s.now().Sub(s.loaded) < refresh {
		return s.pool, s.byID, nil
	}
	vendors, err := s.Register.Vendors(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("dispatch: vendors: %w", err)
	}
	open, err := s.Register.OpenByVendor(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("dispatch: open work: %w", err)
	}
	over := s.ScoreOver
	if over <= 0 {
		over = 365 * 24 * time.Hour
	}
	outcomes, err := s.Register.VendorOutcomes(ctx, s.now().Add(-over))
	if err != nil {
		return nil, nil, fmt.Errorf("dispatch: outcomes: %w", err)
	}
	cards := Scorecards(outcomes, s.Rules.Weights)
	s.pool, s.byID, s.cards = make([]Standing, len(vendors)), make(map[string]*Vendor, len(vendors)), cards
	for i := range vendors {
		v := &vendors[i]
		s.byID[v.ID] = v
		s.pool[i] = Standing{Vendor: v, Open: open[v.ID], Scorecard: cards[v.ID]}
	}
	s.rev, s.loaded = rev, s.now()
	return s.pool, s.byID, nil
}

// Invalidate makes the next dispatch reload the pool.
func (s *Service) Invalidate() {
	s.mu.Lock()
	s.byID = nil
	s.mu.Unlock()
}

// Scorecard returns a vendor's scorecard over the service's period.
func (s *Service) Scorecard(ctx context.Context, vendor string) (Scorecard, error) {
	if _, _, err := s.Pool(ctx); err != nil {
		return Scorecard{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.cards[vendor]; c != nil {
		return *c, nil
	}
	return Score(vendor, nil, s.Rules.Weights), nil
}

// Scorecards returns every scored vendor's scorecard over the service's
// period, as dispatch ranks by it now.
func (s *Service) Scorecards(ctx context.Context) (map[string]*Scorecard, error) {
	if _, _, err := s.Pool(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cards, nil
}

// Scorecards scores every vendor in outcomes. Each accepted outcome with
// a cost is compared with the mean cost of the same trade's work by other
// vendors.
func Scorecards(outcomes []Outcome, w Weights) map[string]*Scorecard {
	for i := range outcomes {
		if c := outcomes[i].Cost; math.IsNaN(c) || math.IsInf(c, 0) {
			outcomes[i].Cost = 0 // a bad stored cost counts as unpriced, never breaks the scorecard
		}
	}
	type sum struct {
		total float64
		n     int
	}
	byTrade := map[string]sum{}
	byVendorTrade := map[[2]string]sum{}
	for _, o := range outcomes {
		if o.Cost > 0 {
			t := byTrade[o.Trade]
			byTrade[o.Trade] = sum{t.total + o.Cost, t.n + 1}
			k := [2]string{o.Vendor, o.Trade}
			v := byVendorTrade[k]
			byVendorTrade[k] = sum{v.total + o.Cost, v.n + 1}
		}
	}
	per := map[string][]Outcome{}
	for _, o := range outcomes {
		if o.Cost > 0 {
			all, mine := byTrade[o.Trade], byVendorTrade[[2]string{o.Vendor, o.Trade}]
			if n := all.n - mine.n; n > 0 {
				o.PeerCost = (all.total - mine.total) / float64(n)
			}
		}
		per[o.Vendor] = append(per[o.Vendor], o)
	}
	cards := make(map[string]*Scorecard, len(per))
	for v, outs := range per {
		c := Score(v, outs, w)
		cards[v] = &c
	}
	return cards
}

func (s *Service) window(priority string) time.Duration {
	if s.Policy == nil {
		return 0
	}
	return time.Duration(s.Policy.AcceptWithin[priority])
}

// decide runs Candidates for w now. A recall goes back to the vendor that
// did the work, when it is still eligible; prefer, when set, is moved to
// the front the same way (a person's choice among eligible vendors).
func (s *Service) decide(ctx context.Context, t Tx, w *workorder.WorkOrder, at time.Time, prefer string, full bool) (Decision, map[string]*Vendor, error) {
	pool, byID, err := s.Pool(ctx)
	if err != nil {
		return Decision{}, nil, err
	}
	site, err := t.Site(ctx, w.Site)
	if err != nil && cloud.ErrorCode(err) != cloud.ENOTFOUND {
		return Decision{}, nil, fmt.Errorf("dispatch: site %s: %w", w.Site, err)
	}
	asset, err := t.Asset(ctx, w.Site, w.Asset)
	if err != nil {
		return Decision{}, nil, fmt.Errorf("dispatch: asset %s/%s: %w", w.Site, w.Asset, err)
	}
	var d Decision
	if full {
		d = Candidates(w, site, asset, pool, at, &s.Rules)
	} else {
		d = CompactCandidates(w, site, asset, pool, at, &s.Rules)
	}
	if prefer != "" {
		if i := slices.IndexFunc(d.Eligible, func(c Candidate) bool { return c.Vendor == prefer }); i > 0 {
			c := d.Eligible[i]
			d.Eligible = append([]Candidate{c}, slices.Delete(d.Eligible, i, i+1)...)
			for j := range d.Eligible {
				d.Eligible[j].Position = j + 1
			}
		}
	}
	return d, byID, nil
}

// Offer implements workorder.Dispatcher: decide, keep the decision, offer
// the work order to the first eligible vendor.
func (s *Service) Offer(ctx context.Context, t Tx, w *workorder.WorkOrder, at time.Time, why string) ([]workorder.Event, error) {
	prefer := ""
	if w.Plan != nil && w.Plan.Vendor != "" {
		prefer = w.Plan.Vendor // a planned visit's preferred vendor or team, when eligible
	}
	if w.Status == workorder.Ready && w.Vendor != "" && w.Completion != nil {
		prefer = w.Vendor // a recall goes back to the vendor that did the work
	}
	if w.RecallOf != "" && len(w.Declined) == 0 && w.DispatchedAt == nil {
		if err := s.markRecalled(ctx, t, w.RecallOf); err != nil {
			return nil, err
		}
		if old, err := t.WorkOrder(ctx, w.RecallOf); err == nil && old != nil && old.Vendor != "" {
			prefer = old.Vendor
		}
	}
	d, byID, err := s.decide(ctx, t, w, at, prefer, false)
	if err != nil {
		return nil, err
	}
	return s.start(ctx, t, w, d, byID, at, why, workorder.Input{Actor: string(workorder.System), Role: workorder.System})
}

// start keeps a new decision and makes its first offer.
func (s *Service) start(ctx context.Context, t Tx, w *workorder.WorkOrder, d Decision, byID map[string]*Vendor, at time.Time, why string, by workorder.Input) ([]workorder.Event, error) {
	old, err := t.Book(ctx, w.ID)
	if err != nil {
		return nil, err
	}
	offers, moves := Start(&d, s.window(w.Priority), s.offeredAt(at))
	b := &Book{WorkOrder: w.ID, Decision: d.Compact(), Offers: *offers}
	if old != nil {
		b.Earlier = append(old.Earlier, old.Offers.History...)
	}
	if why != "" {
		for i := range moves {
			moves[i].Reason = why + "; " + moves[i].Reason
		}
	}
	events, err := s.apply(w, moves, at, byID, by)
	if err != nil {
		return nil, err
	}
	if len(moves) == 0 && s.Log != nil {
		s.Log.Warn("no eligible vendor: work order stays READY for a person", "component", "dispatch",
			"work_order", w.Number, "trade", w.Trade, "site", w.Site, "excluded", len(d.Excluded))
	}
	return events, s.keep(ctx, t, w, b, at)
}

// offeredAt is when an offer decided at event time at reaches its vendor:
// at, or now if at is past. A work order opened from a backlog (an edge
// back from an outage, a replica catching up) is offered now, and its
// vendor gets the whole acceptance window, not one that ran out while
// nobody could see the offer.
func (s *Service) offeredAt(at time.Time) time.Time {
	if now := s.now(); now.After(at) {
		return now
	}
	return at
}

// keep saves the book and the outcome of every answered offer.
func (s *Service) keep(ctx context.Context, t Tx, w *workorder.WorkOrder, b *Book, at time.Time) error {
	if err := t.PutBook(ctx, b, at); err != nil {
		return err
	}
	outs := b.Offers.Outcomes(w.Trade)
	if len(outs) == 0 {
		return nil
	}
	// Keep what Settle added to outcomes already on file.
	have, err := t.Outcomes(ctx, w.ID)
	if err != nil {
		return err
	}
	fresh := outs[:0]
	for _, o := range outs {
		if !slices.ContainsFunc(have, func(h Outcome) bool { return h.Vendor == o.Vendor && h.Offered.Equal(o.Offered) }) {
			fresh = append(fresh, o)
		}
	}
	return t.PutOutcomes(ctx, fresh)
}

// apply turns offer moves into work-order events. Dispatch and decline
// moves are the system's; an accept is by's (the vendor or technician);
// the first decline of a person's decline is by's too.
func (s *Service) apply(w *workorder.WorkOrder, moves []Move, at time.Time, byID map[string]*Vendor, by workorder.Input) ([]workorder.Event, error) {
	var events []workorder.Event
	for i, m := range moves {
		in := workorder.Input{Actor: string(workorder.System), Role: workorder.System, Vendor: m.Vendor, Reason: m.Reason, AcceptBy: m.AcceptBy, At: at}
		switch m.Action {
		case workorder.Dispatch:
			in.NTE = s.nte(byID[m.Vendor], w)
			if i == 0 && by.Role != workorder.System {
				in.Actor, in.Role = by.Actor, by.Role
			}
		case workorder.Accept:
			in.Actor, in.Role, in.Technician, in.ETA = by.Actor, by.Role, by.Technician, by.ETA
		case workorder.Decline:
			if i == 0 && by.Role != workorder.System && workorder.Allowed(workorder.Decline, by.Role) {
				in.Actor, in.Role = by.Actor, by.Role
			}
		}
		ev, err := workorder.Act(w, m.Action, in)
		if err != nil {
			return nil, fmt.Errorf("dispatch: %s %s: %w", m.Action, m.Vendor, err)
		}
		events = append(events, ev...)
	}
	return events, nil
}

// nte is the not-to-exceed a dispatch to v carries: the vendor's for the
// trade and priority, else the policy's default for the priority. It is
// never "no limit".
func (s *Service) nte(v *Vendor, w *workorder.WorkOrder) float64 {
	if v != nil {
		if n, ok := v.NTEFor(w.Trade, w.Priority); ok {
			return n
		}
	}
	if s.Policy != nil {
		return s.Policy.NTEFor(w.Priority)
	}
	p := workorder.DefaultPolicy()
	return p.NTEFor(w.Priority)
}

// complete prices a completion at the vendor's rate table (Input.Rate);
// the transition table then holds it to the NTE.
func (s *Service) complete(ctx context.Context, t Tx, w *workorder.WorkOrder, in workorder.Input) ([]workorder.Event, error) {
	_, byID, err := s.Pool(ctx)
	if err != nil {
		return nil, err
	}
	site, err := t.Site(ctx, w.Site)
	if err != nil && cloud.ErrorCode(err) != cloud.ENOTFOUND {
		return nil, fmt.Errorf("dispatch: site %s: %w", w.Site, err)
	}
	in.Rate, _ = LabourRate(byID[w.Vendor], w, site, &s.Rules)
	return workorder.Act(w, workorder.Complete, in)
}

// Lapse implements workorder.Dispatcher.
func (s *Service) Lapse(ctx context.Context, t Tx, w *workorder.WorkOrder, at time.Time) ([]workorder.Event, error) {
	b, err := t.Book(ctx, w.ID)
	if err != nil {
		return nil, err
	}
	if b == nil || b.Offers.Current == nil || b.Offers.Current.Vendor != w.Vendor {
		// Dispatched by hand or before the book existed: lapse it as a
		// decline and decide afresh.
		ev, err := workorder.Act(w, workorder.Decline, workorder.Input{Actor: string(workorder.System), Role: workorder.System, At: at,
			Reason: fmt.Sprintf("%s did not accept in time", w.Vendor)})
		if err != nil {
			return nil, nil
		}
		more, err := s.Offer(ctx, t, w, at, "dispatch lapsed")
		return append(ev, more...), err
	}
	_, byID, err := s.Pool(ctx)
	if err != nil {
		return nil, err
	}
	moves := b.Offers.Tick(at)
	events, err := s.apply(w, moves, at, byID, workorder.Input{Role: workorder.System})
	if err != nil {
		return nil, err
	}
	return events, s.keep(ctx, t, w, b, at)
}

// Answer implements workorder.Dispatcher.
func (s *Service) Answer(ctx context.Context, t Tx, w *workorder.WorkOrder, action workorder.Action, in workorder.Input) ([]workorder.Event, error) {
	switch action {
	case workorder.Dispatch:
		return s.dispatchByHand(ctx, t, w, in)
	case workorder.Complete:
		return s.complete(ctx, t, w, in)
	}
	b, err := t.Book(ctx, w.ID)
	if err != nil {
		return nil, err
	}
	vendor := in.Vendor
	if vendor == "" || in.Role == cloud.RoleAdmin || in.Role == cloud.RoleFM {
		vendor = w.Vendor
	}
	if b == nil || (action != workorder.CheckIn && (b.Offers.Current == nil || b.Offers.Current.Vendor != w.Vendor)) {
		// Not offered through the book (dispatched by an older version,
		// or by triage config): the plain transition table decides.
		return workorder.Act(w, action, in)
	}
	_, byID, err := s.Pool(ctx)
	if err != nil {
		return nil, err
	}
	check := CheckWith(byID, w.Trade, &s.Rules)
	switch action {
	case workorder.Accept:
		if !workorder.Allowed(workorder.Accept, in.Role) {
			return nil, cloud.Errorf(cloud.EFORBIDDEN, "a %s may not accept a work order", in.Role)
		}
		var eta time.Time
		if in.ETA != nil {
			eta = *in.ETA
		}
		moves, aerr := b.Offers.Accept(vendor, in.Technician, eta, in.At, check)
		events, err := s.apply(w, moves, in.At, byID, in)
		if err != nil {
			return nil, err
		}
		if err := s.keep(ctx, t, w, b, in.At); err != nil {
			return nil, err
		}
		if aerr != nil {
			refusal := offerError(aerr)
			if len(events) > 0 {
				return events, &workorder.MovedOn{Err: refusal}
			}
			return nil, refusal
		}
		return events, nil
	case workorder.Decline:
		if !workorder.Allowed(workorder.Decline, in.Role) {
			return nil, cloud.Errorf(cloud.EFORBIDDEN, "a %s may not decline a work order", in.Role)
		}
		if in.Reason == "" {
			return nil, cloud.FieldError("reason", "a reason is required")
		}
		moves, err := b.Offers.Decline(vendor, in.Reason, in.At)
		if err != nil {
			return nil, offerError(err)
		}
		events, err := s.apply(w, moves, in.At, byID, in)
		if err != nil {
			return nil, err
		}
		return events, s.keep(ctx, t, w, b, in.At)
	case workorder.CheckIn:
		tech := in.Technician
		if tech == "" {
			tech = w.Technician
		}
		if err := b.Offers.CheckIn(w.Vendor, tech, in.At, check); err != nil {
			return nil, offerError(err)
		}
		return workorder.Act(w, action, in)
	}
	return workorder.Act(w, action, in)
}

// dispatchByHand is a person's dispatch: to the vendor they name, if it
// is eligible (a person may overrule the ranking, never compliance), or
// to the best eligible vendor.
func (s *Service) dispatchByHand(ctx context.Context, t Tx, w *workorder.WorkOrder, in workorder.Input) ([]workorder.Event, error) {
	if !workorder.Allowed(workorder.Dispatch, in.Role) {
		return nil, cloud.Errorf(cloud.EFORBIDDEN, "a %s may not dispatch", in.Role)
	}
	if w.Status != workorder.Ready {
		return nil, cloud.Errorf(cloud.ECONFLICT, "cannot dispatch work order %d: it is %s, and dispatch needs READY", w.Number, w.Status.Upper())
	}
	// A person who names a vendor that declined the work order or let its
	// offer lapse has spoken to them since: that alone does not bar them.
	// Every other check still holds.
	judged := w
	if in.Vendor != "" && slices.Contains(w.Declined, in.Vendor) {
		c := *w
		c.Declined = slices.DeleteFunc(slices.Clone(w.Declined), func(v string) bool { return v == in.Vendor })
		judged = &c
	}
	d, byID, err := s.decide(ctx, t, judged, in.At, in.Vendor, true) // full: a refusal names the vendor's reason
	if err != nil {
		return nil, err
	}
	if in.Vendor != "" {
		if i := slices.IndexFunc(d.Excluded, func(c Candidate) bool { return c.Vendor == in.Vendor }); i >= 0 {
			c := d.Excluded[i]
			return nil, cloud.FieldError("vendor", "%s cannot be sent to work order %d: %s (%s)", in.Vendor, w.Number, c.Reason, c.Detail())
		}
		if len(d.Eligible) == 0 || d.Eligible[0].Vendor != in.Vendor {
			if _, known := byID[in.Vendor]; !known {
				return nil, cloud.FieldError("vendor", "no vendor %q in the register", in.Vendor)
			}
			return nil, cloud.FieldError("vendor", "%s is not eligible for work order %d", in.Vendor, w.Number)
		}
	}
	if len(d.Eligible) == 0 {
		return nil, cloud.Errorf(cloud.ECONFLICT, "no vendor is eligible for work order %d (%d excluded; see its dispatch decision)", w.Number, len(d.Excluded)+len(d.Omitted))
	}
	why := "dispatched by " + in.Actor
	if in.Reason != "" {
		why += ": " + in.Reason
	}
	return s.start(ctx, t, w, d, byID, in.At, why, in)
}

// offerError turns an offer-book refusal into the API's error.
func offerError(err error) error {
	switch {
	case errors.Is(err, ErrNotOffered), errors.Is(err, ErrNotAccepted):
		return cloud.Errorf(cloud.ECONFLICT, "%v", err)
	case errors.Is(err, ErrLapsed):
		return cloud.Errorf(cloud.ECONFLICT, "the offer lapsed before it was accepted; the work order went to the next vendor (%v)", err)
	case errors.Is(err, ErrNoncompliant):
		return cloud.Errorf(cloud.ECONFLICT, "compliance re-check failed: %v", err)
	}
	return err
}

// Settle implements workorder.Dispatcher: it completes the accepted
// vendor's outcome as the work goes (completed, verified, recalled) and
// bills a verified work order.
func (s *Service) Settle(ctx context.Context, t Tx, w *workorder.WorkOrder, at time.Time) ([]workorder.Event, error) {
	b, err := t.Book(ctx, w.ID)
	if err != nil || b == nil {
		return nil, err
	}
	if w.Status == workorder.Cancelled || w.Status == workorder.Duplicate {
		b.Offers.Withdraw(at, "work order "+string(w.Status))
		return nil, s.keep(ctx, t, w, b, at)
	}
	accepted, ok := b.Offers.Accepted()
	if !ok {
		return nil, nil
	}
	outs, err := t.Outcomes(ctx, w.ID)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(outs, func(o Outcome) bool { return o.Vendor == accepted.Vendor && o.Offered.Equal(accepted.OfferedAt) })
	if i < 0 {
		outs = append(outs, Outcome{Vendor: accepted.Vendor, Trade: w.Trade, WorkOrder: w.ID, Offered: accepted.OfferedAt, Response: Accepted})
		i = len(outs) - 1
	}
	o := &outs[i]
	var events []workorder.Event
	switch w.Status {
	case workorder.WorkComplete:
		o.Completed, o.Visits, o.Cost = true, CountVisits(w.Visits, at), w.Completion.Cost()
		o.CheckIns, o.CheckInsCompliant = len(w.Visits), 0
		for _, v := range w.Visits {
			if v.Override == "" {
				o.CheckInsCompliant++
			}
		}
	case workorder.Verified:
		if w.Verification == "sensor" {
			o.Verification = VerifyPassed
		}
		if o.SLA, err = s.slaResults(ctx, t, w); err != nil {
			return nil, err
		}
		_, byID, err := s.Pool(ctx)
		if err != nil {
			return nil, err
		}
		if w.Invoice == nil {
			site, _ := t.Site(ctx, w.Site)
			inv := MakeInvoice(byID[accepted.Vendor], w, site, &s.Rules, at)
			if events, err = w.Bill(inv); err != nil {
				return nil, err
			}
		}
	case workorder.Reopened:
		o.Recalled = true
		if w.VerifyUntil != nil || w.Source == workorder.Sensor {
			o.Verification = VerifyFailed
		}
	}
	return events, t.PutOutcomes(ctx, outs[i:i+1])
}

// markRecalled counts a recall against the vendor that did the earlier
// work order's work.
func (s *Service) markRecalled(ctx context.Context, t Tx, wo string) error {
	outs, err := t.Outcomes(ctx, wo)
	if err != nil {
		return err
	}
	for i := range outs {
		if outs[i].Response == Accepted && outs[i].Completed {
			outs[i].Recalled = true
			return t.PutOutcomes(ctx, outs[i:i+1])
		}
	}
	return nil
}

// slaResults measures the vendor's milestones from the work order's events.
func (s *Service) slaResults(ctx context.Context, t Tx, w *workorder.WorkOrder) ([]sla.Result, error) {
	events, err := t.Events(ctx, w.ID)
	if err != nil {
		return nil, err
	}
	_, byID, err := s.Pool(ctx)
	if err != nil {
		return nil, err
	}
	commit := func(string) *sla.Targets { return nil }
	if v := byID[w.Vendor]; v != nil {
		commit = v.CommitmentFor
	}
	loc := time.UTC
	if site, err := t.Site(ctx, w.Site); err == nil && site.Timezone != "" {
		if l, err := time.LoadLocation(site.Timezone); err == nil {
			loc = l
		}
	}
	var out []sla.Result
	for _, tm := range s.SLA.Timers(events, commit, loc) {
		if r, ok := tm.Result(); ok {
			out = append(out, r)
		}
	}
	return out, nil
}

// Commitment returns what a vendor committed to per priority, for the SLA
// clocks; a vendor not on file committed to nothing.
func (s *Service) Commitment(ctx context.Context, vendor string) func(priority string) *sla.Targets {
	_, byID, err := s.Pool(ctx)
	if err != nil || byID[vendor] == nil {
		return func(string) *sla.Targets { return nil }
	}
	return byID[vendor].CommitmentFor
}
