package workorder

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/frostline/frostline/cloud"
)

// PreventiveProblem is the problem code of a planned maintenance visit.
const PreventiveProblem = "preventive_maintenance"

// Checklist item kinds.
const (
	PassFail = "pass_fail" // the technician answers pass or fail
	Reading  = "reading"   // the technician records a measured value
)

// CheckItem is one step of a maintenance checklist.
type CheckItem struct {
	ID   string `json:"id"`
	Text string `json:"text"`
	Kind string `json:"kind"` // pass_fail or reading
	// Unit, Min and Max describe a reading; outside [Min, Max] fails.
	Unit     string   `json:"unit,omitempty"`
	Min      *float64 `json:"min,omitempty"`
	Max      *float64 `json:"max,omitempty"`
	Required bool     `json:"required,omitempty"`
	// Problem is the problem code of the corrective work order a failure
	// of this item raises ("other" when empty).
	Problem string `json:"problem,omitempty"`
}

// Answer is a technician's answer to one checklist item.
type Answer struct {
	Item    string    `json:"item"`
	Pass    *bool     `json:"pass,omitempty"`
	Reading *float64  `json:"reading,omitempty"`
	Note    string    `json:"note,omitempty"`
	By      string    `json:"by,omitempty"`
	At      time.Time `json:"at"`
}

// Failed reports whether a answers the item with a failure: a fail, or a
// reading outside the item's limits.
func (it *CheckItem) Failed(a Answer) bool {
	if a.Pass != nil {
		return !*a.Pass
	}
	if a.Reading != nil {
		return (it.Min != nil && *a.Reading < *it.Min) || (it.Max != nil && *a.Reading > *it.Max)
	}
	return false
}

// PlannedPart is a part a maintenance visit is expected to use.
type PlannedPart struct {
	Part        string  `json:"part"`
	Description string  `json:"description,omitempty"`
	Quantity    float64 `json:"quantity"`
}

// Plan is what a preventive work order carries from the schedule that
// generated it: which occurrence, when it is due, and the schedule's
// template, copied exactly so a later change of the schedule does not
// change work already out.
type Plan struct {
	Schedule string `json:"schedule"`
	// Occurrence identifies the visit within the schedule: the due date as
	// the rule computed it (before any store-calendar move), or the
	// run-hour threshold.
	Occurrence  string        `json:"occurrence"`
	DueAt       time.Time     `json:"due_at"`
	Checklist   []CheckItem   `json:"checklist,omitempty"`
	LabourHours float64       `json:"labour_hours,omitempty"`
	Parts       []PlannedPart `json:"parts,omitempty"`
	// Vendor is the preferred vendor or in-house team.
	Vendor    string `json:"vendor,omitempty"`
	Signature bool   `json:"signature_required,omitempty"`
	// Answers and SignedBy are filled in on site.
	Answers  []Answer `json:"answers,omitempty"`
	SignedBy string   `json:"signed_by,omitempty"`
}

func (p *Plan) clone() *Plan {
	if p == nil {
		return nil
	}
	c := *p
	c.Checklist = slices.Clone(p.Checklist)
	c.Parts = slices.Clone(p.Parts)
	c.Answers = slices.Clone(p.Answers)
	return &c
}

// Item returns the checklist item with the id, or nil.
func (p *Plan) Item(id string) *CheckItem {
	for i := range p.Checklist {
		if p.Checklist[i].ID == id {
			return &p.Checklist[i]
		}
	}
	return nil
}

// Answer returns the latest answer to an item, if any.
func (p *Plan) Answer(id string) (Answer, bool) {
	for i := len(p.Answers) - 1; i >= 0; i-- {
		if p.Answers[i].Item == id {
			return p.Answers[i], true
		}
	}
	return Answer{}, false
}

// Unanswered lists the required items without an answer, and whether a
// required signature is missing.
func (p *Plan) Unanswered() (items []string, unsigned bool) {
	if p == nil {
		return nil, false
	}
	for _, it := range p.Checklist {
		if _, ok := p.Answer(it.ID); it.Required && !ok {
			items = append(items, it.ID)
		}
	}
	return items, p.Signature && p.SignedBy == ""
}

// record folds answers into the plan: a later answer to an item replaces
// the earlier one.
func (p *Plan) record(answers []Answer, signedBy string) {
	for _, a := range answers {
		p.Answers = slices.DeleteFunc(p.Answers, func(x Answer) bool { return x.Item == a.Item })
		p.Answers = append(p.Answers, a)
	}
	if signedBy != "" {
		p.SignedBy = signedBy
	}
}

// pmFamily is a preventive work order's problem family: one per
// occurrence, so it is never merged with reactive work on the asset (or
// with another schedule's visit) by the one-open-per-family rule.
func pmFamily(p *Plan) string { return "pm:" + p.Schedule + ":" + p.Occurrence }

// checklistDone guards Complete: a planned visit is complete only when
// every required checklist item is answered and, if the template asks, the
// work is signed off.
func checklistDone(w *WorkOrder, _ *Input) error {
	items, unsigned := w.Plan.Unanswered()
	switch {
	case len(items) > 0:
		return cloud.FieldError("checklist", "answer the required checklist items first: %s", strings.Join(items, ", "))
	case unsigned:
		return cloud.FieldError("signed_by", "this maintenance visit needs a signature before completion")
	}
	return nil
}

// both runs two guards in order.
func both(guards ...func(*WorkOrder, *Input) error) func(*WorkOrder, *Input) error {
	return func(w *WorkOrder, in *Input) error {
		for _, g := range guards {
			if err := g(w, in); err != nil {
				return err
			}
		}
		return nil
	}
}

// Checked records checklist answers (and a signature) on a planned visit.
// Answers are taken while a technician is assigned or on site.
func (w *WorkOrder) Checked(answers []Answer, signedBy, actor string, role cloud.Role, at time.Time) ([]Event, error) {
	if !slices.Contains(field, role) {
		return nil, cloud.Errorf(cloud.EFORBIDDEN, "a %s may not answer a checklist", role)
	}
	if w.Plan == nil || (len(w.Plan.Checklist) == 0 && !w.Plan.Signature) {
		return nil, cloud.Errorf(cloud.ECONFLICT, "work order %d has no checklist", w.Number)
	}
	if !slices.Contains([]Status{Accepted, InProgress, OnHold}, w.Status) {
		return nil, cloud.Errorf(cloud.ECONFLICT, "work order %d is %s: a checklist is answered between acceptance and completion", w.Number, w.Status.Upper())
	}
	if len(answers) == 0 && signedBy == "" {
		return nil, cloud.FieldError("answers", "give at least one answer or a signature")
	}
	if signedBy != "" && !w.Plan.Signature {
		return nil, cloud.FieldError("signed_by", "this visit needs no signature")
	}
	for i := range answers {
		a := &answers[i]
		f := fmt.Sprintf("answers[%d]", i)
		it := w.Plan.Item(a.Item)
		switch {
		case it == nil:
			return nil, cloud.FieldError(f, "no checklist item %q", a.Item)
		case it.Kind == PassFail && (a.Pass == nil || a.Reading != nil):
			return nil, cloud.FieldError(f, "item %s wants pass: true or false", it.ID)
		case it.Kind == Reading && (a.Reading == nil || a.Pass != nil || !cloud.InRange(*a.Reading, -MaxReading, MaxReading)):
			return nil, cloud.FieldError(f, "item %s wants a reading, a number in [-%d, %d]", it.ID, MaxReading, MaxReading)
		case len(a.Note) > 2000:
			return nil, cloud.FieldError(f, "note: at most 2000 characters")
		}
		a.By, a.At = actor, at
	}
	var out []Event
	w.record(&out, Event{Kind: Checked, Actor: actor, At: at, Answers: answers, SignedBy: signedBy})
	return out, nil
}

// Planned is one occurrence of a maintenance schedule, ready to become a
// work order.
type Planned struct {
	Site, Asset, AssetClass string
	Trade, Priority         string
	Title, Description      string
	Plan                    Plan
	// At is when the work order is generated (lead time before DueAt).
	At time.Time
}

// Validate checks what a planned work order needs.
func (p *Planned) Validate() error {
	switch {
	case !cloud.ValidID(p.Site):
		return cloud.FieldError("site", "required")
	case p.Asset == "":
		return cloud.FieldError("asset", "required")
	case p.Plan.Schedule == "" || p.Plan.Occurrence == "":
		return cloud.FieldError("schedule", "a planned work order needs its schedule and occurrence")
	case p.Trade == "":
		return cloud.FieldError("trade", "required")
	}
	return nil
}

// Plan opens a preventive work order for one occurrence of a schedule in
// the caller's transaction and moves it on as intake moves a triaged work
// order: triage rules apply (a rule may ask for approval), and the work
// goes through the same dispatch step (intake's dispatch, with its
// Dispatcher when there is one).
// It is never merged into reactive work: its problem family is its own.
// Idempotency is the caller's: the store records (schedule, occurrence)
// in the same transaction.
func (in *Intake[T]) Plan(ctx context.Context, tx T, p Planned) (Result, error) {
	if err := p.Validate(); err != nil {
		return Result{}, err
	}
	o := &Opening{
		Site: p.Site, Asset: p.Asset, AssetClass: p.AssetClass, Source: Preventive, Problem: PreventiveProblem,
		Trade: p.Trade, Priority: p.Priority, Title: p.Title, Description: p.Description, Reporter: "pm",
		Plan: p.Plan.clone(),
	}
	if a, err := tx.Asset(ctx, p.Site, p.Asset); err != nil {
		return Result{}, fmt.Errorf("plan: asset: %w", err)
	} else if a != nil {
		if o.AssetClass == "" {
			o.AssetClass = a.Class
		}
		if a.UnderWarranty(p.Plan.DueAt) && a.Warranty.Provider != "" {
			o.Warranty = a.Warranty.Provider
		}
	}
	if o.Priority == "" {
		o.Priority = "P4"
	}
	if o.Title == "" {
		o.Title = "Planned maintenance on " + o.Asset
	}
	in.Policy.Triage(o)
	n, err := tx.NextNumber(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("plan: number: %w", err)
	}
	o.ID, o.Number = in.newID(), n
	var events []Event
	w := &WorkOrder{}
	w.record(&events, Event{Kind: Created, Actor: "pm", At: p.At, Opening: o, Reason: string(Opened)})
	w.record(&events, Event{Kind: Transition, Action: Triage, From: New, To: Triaged, Actor: string(System), At: p.At,
		Reason: fmt.Sprintf("%s preventive maintenance for %s, due %s", o.Priority, o.Trade, p.Plan.DueAt.UTC().Format(time.DateOnly))})
	res := Result{Reason: Opened}
	if o.Approval {
		w.record(&events, Event{Kind: Transition, Action: RequestApproval, From: Triaged, To: AwaitingApproval,
			Actor: string(System), At: p.At, Reason: "triage rule requires approval"})
	} else {
		// The same dispatch step as reactive work. Without a Dispatcher
		// the template's vendor comes first in the policy's vendor list;
		// a Dispatcher ranks vendors itself (it can read w.Plan.Vendor).
		d := in
		if v := p.Plan.Vendor; v != "" {
			cp := *in
			cp.Policy.Vendors = append([]VendorRule{{Site: p.Site, Trade: o.Trade, Vendor: v}}, in.Policy.Vendors...)
			d = &cp
		}
		if err := d.dispatch(ctx, tx, w, p.At, &events, &res, "preventive maintenance due "+p.Plan.DueAt.UTC().Format(time.DateOnly)); err != nil {
			return Result{}, fmt.Errorf("plan: %w", err)
		}
	}
	if err := tx.Save(ctx, w, events); err != nil {
		return Result{}, fmt.Errorf("plan: save work order %d: %w", w.Number, err)
	}
	res.WorkOrder, res.Events = w, events
	return res, nil
}

// Corrective raises the work order for a failed checklist item of a
// preventive work order, linked to it (Origin). It is reactive work like a
// person's report: it merges into an open work order for the problem on
// the asset, and is dispatched as such. Raising the same item twice is a
// Repeat.
func (in *Intake[T]) Corrective(ctx context.Context, tx T, pm *WorkOrder, item, actor string, at time.Time) (Result, error) {
	if pm.Plan == nil {
		return Result{}, cloud.Errorf(cloud.ECONFLICT, "work order %d is not a planned visit", pm.Number)
	}
	it := pm.Plan.Item(item)
	if it == nil {
		return Result{}, cloud.FieldError("item", "no checklist item %q", item)
	}
	a, ok := pm.Plan.Answer(item)
	if !ok || !it.Failed(a) {
		return Result{}, cloud.FieldError("item", "checklist item %s has not failed", item)
	}
	fresh, err := tx.Claim(ctx, "corrective:"+pm.ID+":"+item)
	if err != nil {
		return Result{}, fmt.Errorf("corrective: claim: %w", err)
	}
	if !fresh {
		return Result{Reason: Repeat}, nil
	}
	problem := it.Problem
	if problem == "" {
		problem = "other"
	}
	desc := fmt.Sprintf("Failed at planned maintenance (work order %d): %s", pm.Number, it.Text)
	if a.Reading != nil {
		desc += fmt.Sprintf(" (reading %g %s)", *a.Reading, it.Unit)
	}
	if a.Note != "" {
		desc += ": " + a.Note
	}
	r := Report{Source: Manual, Site: pm.Site, Asset: pm.Asset, AssetClass: pm.AssetClass, Problem: problem,
		Trade: pm.Trade, Title: strings.ReplaceAll(problem, "_", " ") + " found at PM on " + pm.Asset,
		Description: desc, Reporter: actor, At: at}
	var events []Event
	res := Result{Reason: Merged}
	w, err := tx.OpenFor(ctx, r.Site, r.Asset, Family(r.Problem))
	if err != nil {
		return Result{}, fmt.Errorf("corrective: open work order: %w", err)
	}
	if w == nil {
		if w, res.Reason, err = in.open(ctx, tx, r, &events); err != nil {
			return Result{}, err
		}
		// The link is part of the opening event, so it replays.
		events[0].Opening.Origin, w.Origin = pm.ID, pm.ID
	}
	in.attach(w, r, &events, &res)
	if err := in.advance(ctx, tx, w, r.At, &events, &res); err != nil {
		return Result{}, fmt.Errorf("corrective: %w", err)
	}
	if err := tx.Save(ctx, w, events); err != nil {
		return Result{}, fmt.Errorf("corrective: save work order %d: %w", w.Number, err)
	}
	res.WorkOrder, res.Events = w, events
	return res, nil
}
