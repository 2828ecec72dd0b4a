package workorder

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/rules"
)

// Action is a named transition.
type Action string

// Actions. The API exposes each as POST /workorders/{id}/actions/{action}.
const (
	Triage          Action = "triage"
	RequestApproval Action = "request_approval"
	Approve         Action = "approve"
	Release         Action = "release" // to READY: hold-off over, or reopened work goes out again
	Dispatch        Action = "dispatch"
	Decline         Action = "decline"
	Accept          Action = "accept"
	CheckIn         Action = "check_in"
	Hold            Action = "hold"
	Resume          Action = "resume"
	CheckOut        Action = "check_out"
	Complete        Action = "complete"
	StartVerifying  Action = "start_verifying"
	Verify          Action = "verify"
	Reopen          Action = "reopen"
	Close           Action = "close"
	Cancel          Action = "cancel"
	Avoid           Action = "avoid"
	MarkDuplicate   Action = "duplicate"
)

// System is the actor and role of decisions the service makes itself
// (triage, hold-off, avoidance).
const System cloud.Role = "system"

// Input is what an action is given besides the work order.
type Input struct {
	Actor       string      // who acts: a token's name or id, or "system"
	Role        cloud.Role  // the actor's role
	Reason      string      // why; some actions require it
	Vendor      string      // dispatch: the provider sent
	Technician  string      // accept: who will go; check_in: who is there
	Lat, Lon    *float64    // check_in, check_out, complete: where the technician is
	Override    string      // check_in, check_out, complete: why a position outside the geofence is right
	Completion  *Completion // complete
	DuplicateOf string      // duplicate: the work order this one repeats
	Site        *cloud.Site // check_in, check_out, complete: the site, for its geofence
	Photos      []Photo     // check_in, check_out, complete: pictures attached to the visit
	AcceptBy    *time.Time  // dispatch: when it lapses unless accepted
	NTE         float64     // dispatch: the not-to-exceed (the vendor's, else the policy's default)
	// Rate is, on complete, the hourly rate the vendor's rate table gives
	// for the work order's trade (after-hours multiplier applied), or nil
	// when the vendor has none. Labour is billed at it; a line typed above
	// it, or any priced labour without it, needs an approved NTE.
	Rate        *float64
	ETA         *time.Time // accept: when the technician expects to arrive
	VerifyUntil *time.Time // start_verifying: end of the sensor verification window
	// Verification is how a verify was decided: "sensor" (the system saw
	// the asset in range for the window) or "person" (the default).
	Verification string
	At           time.Time
}

// rule is one row of the transition table.
type rule struct {
	from  []Status
	to    Status
	who   []cloud.Role // roles allowed to take the action
	guard func(w *WorkOrder, in *Input) error
}

var (
	staff   = []cloud.Role{cloud.RoleAdmin, cloud.RoleFM}
	field   = []cloud.Role{cloud.RoleAdmin, cloud.RoleFM, cloud.RoleVendor, cloud.RoleTechnician}
	anyone  = []cloud.Role{cloud.RoleAdmin, cloud.RoleFM, cloud.RoleStore}
	system  = []cloud.Role{System}
	preDisp = []Status{New, Triaged, AwaitingApproval, Ready}
)

func with(roles []cloud.Role, more ...cloud.Role) []cloud.Role {
	return append(slices.Clone(roles), more...)
}

// table is the one transition table: every legal move, who may make it and
// what must hold. Anything not here is refused.
var table = map[Action]rule{
	Triage:          {from: []Status{New}, to: Triaged, who: system},
	RequestApproval: {from: []Status{Triaged, Ready}, to: AwaitingApproval, who: with(staff, System)},
	Approve:         {from: []Status{AwaitingApproval}, to: Ready, who: staff},
	Release:         {from: []Status{Triaged, Reopened}, to: Ready, who: with(staff, System)},
	Dispatch:        {from: []Status{Ready}, to: Dispatched, who: with(staff, System), guard: needVendor},
	Decline:         {from: []Status{Dispatched}, to: Ready, who: []cloud.Role{cloud.RoleAdmin, cloud.RoleVendor, System}, guard: needReason},
	Accept:          {from: []Status{Dispatched}, to: Accepted, who: []cloud.Role{cloud.RoleAdmin, cloud.RoleVendor, cloud.RoleTechnician}},
	CheckIn:         {from: []Status{Accepted}, to: InProgress, who: field, guard: geofence},
	Hold:            {from: []Status{InProgress}, to: OnHold, who: field, guard: needReason},
	Resume:          {from: []Status{OnHold}, to: InProgress, who: field},
	CheckOut:        {from: []Status{InProgress}, to: Accepted, who: field, guard: geofence},
	Complete:        {from: []Status{InProgress}, to: WorkComplete, who: field, guard: both(needCompletion, checklistDone, leavingSite)},
	StartVerifying:  {from: []Status{WorkComplete}, to: Verifying, who: with(staff, System)},
	Verify:          {from: []Status{WorkComplete, Verifying}, to: Verified, who: with(anyone, System)},
	Reopen:          {from: []Status{WorkComplete, Verifying, Verified}, to: Reopened, who: with(anyone, System), guard: needReason},
	Close:           {from: []Status{Verified}, to: Closed, who: with(staff, System)},
	Cancel:          {from: append(slices.Clone(preDisp), Dispatched, Accepted), to: Cancelled, who: anyone, guard: noVisitOrCost},
	Avoid:           {from: preDisp, to: Avoided, who: system, guard: allCleared},
	MarkDuplicate:   {from: append(slices.Clone(preDisp), Dispatched), to: Duplicate, who: staff, guard: needDuplicateOf},
}

// Actions lists the actions in a stable order.
func Actions() []Action {
	out := make([]Action, 0, len(table))
	for a := range table {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

// Allowed reports whether role may take action at all, in any state.
func Allowed(action Action, role cloud.Role) bool {
	r, ok := table[action]
	return ok && slices.Contains(r.who, role)
}

// Target returns the state an action leads to.
func Target(action Action) (Status, bool) {
	r, ok := table[action]
	return r.to, ok
}

// Act decides an action on a work order: it checks the table and the
// guard and, when the action is legal, applies it to w and returns the
// event to append. A refused action is a *cloud.Error: EINVALID for a bad
// input (naming the field), EFORBIDDEN for a role that may not act,
// ECONFLICT for an action the current state does not allow.
func Act(w *WorkOrder, action Action, in Input) ([]Event, error) {
	r, ok := table[action]
	if !ok {
		return nil, &cloud.Error{Code: cloud.ENOTFOUND, Field: "action", Message: fmt.Sprintf("unknown action %q", action)}
	}
	if !slices.Contains(r.who, in.Role) {
		return nil, cloud.Errorf(cloud.EFORBIDDEN, "a %s may not %s a work order", in.Role, action)
	}
	if !slices.Contains(r.from, w.Status) {
		names := make([]string, len(r.from))
		for i, s := range r.from {
			names[i] = s.Upper()
		}
		return nil, cloud.Errorf(cloud.ECONFLICT, "cannot %s work order %d: it is %s, and %s needs %s",
			action, w.Number, w.Status.Upper(), action, strings.Join(names, " or "))
	}
	if r.guard != nil {
		if err := r.guard(w, &in); err != nil {
			return nil, err
		}
	}
	e := Event{Kind: Transition, Action: action, From: w.Status, To: r.to, Actor: in.Actor, Reason: in.Reason, At: in.At}
	switch action {
	case Dispatch:
		e.Vendor, e.AcceptBy, e.NTE = in.Vendor, in.AcceptBy, in.NTE
	case Accept:
		e.Technician, e.ETA = in.Technician, in.ETA
	case StartVerifying:
		e.VerifyUntil = in.VerifyUntil
	case Verify:
		e.Verification = in.Verification
		if e.Verification == "" {
			e.Verification = "person"
		}
	case CheckIn:
		tech := in.Technician
		if tech == "" {
			tech = in.Actor
		}
		e.Visit = &Visit{Technician: tech, In: in.At, Lat: in.Lat, Lon: in.Lon, Override: in.Override, Photos: in.Photos}
	case CheckOut, Complete:
		if in.Lat != nil || in.Override != "" || len(in.Photos) > 0 {
			e.Visit = &Visit{OutLat: in.Lat, OutLon: in.Lon, OutOverride: in.Override, Photos: in.Photos}
		}
		e.Completion = in.Completion
	case MarkDuplicate:
		e.DuplicateOf = in.DuplicateOf
	}
	var out []Event
	w.record(&out, e)
	return out, nil
}

func needReason(_ *WorkOrder, in *Input) error {
	if strings.TrimSpace(in.Reason) == "" {
		return cloud.FieldError("reason", "a reason is required")
	}
	return nil
}

func needVendor(_ *WorkOrder, in *Input) error {
	if in.Vendor == "" {
		return cloud.FieldError("vendor", "dispatch needs a vendor")
	}
	return nil
}

func needDuplicateOf(_ *WorkOrder, in *Input) error {
	if in.DuplicateOf == "" {
		return cloud.FieldError("duplicate_of", "name the work order this one duplicates")
	}
	return nil
}

func allCleared(w *WorkOrder, _ *Input) error {
	if !w.AllCleared() {
		return cloud.Errorf(cloud.ECONFLICT, "work order %d still has an open incident or a person's report", w.Number)
	}
	return nil
}

// noVisitOrCost: a work order may be cancelled only before anyone went to
// site or spent anything; after that it is completed or closed.
func noVisitOrCost(w *WorkOrder, in *Input) error {
	if len(w.Visits) > 0 || w.Completion != nil {
		return cloud.Errorf(cloud.ECONFLICT, "cannot cancel work order %d: a technician has been on site", w.Number)
	}
	return needReason(w, in)
}

func needCompletion(w *WorkOrder, in *Input) error {
	if err := completionValid(in.Completion); err != nil {
		return err
	}
	cost, off := in.Completion.Billable(in.Rate)
	if len(off) > 0 && len(w.Approvals) == 0 {
		i := off[0]
		table := "the vendor has no rate for " + w.Trade
		if in.Rate != nil {
			table = fmt.Sprintf("the vendor's rate for %s is $%.2f/h", w.Trade, *in.Rate)
		}
		return &cloud.Error{Code: cloud.ECONFLICT, Field: fmt.Sprintf("labour[%d].rate", i), Message: fmt.Sprintf(
			"work order %d: labour at $%.2f/h is off the rate table (%s); submit a quote and have it approved first", w.Number, in.Completion.Labour[i].Rate, table)}
	}
	// The NTE is never "no limit": 0 (a work order dispatched before every
	// dispatch carried one) means nothing may be spent without an approval.
	if cost > w.NTE+0.005 {
		return &cloud.Error{Code: cloud.ECONFLICT, Field: "parts", Message: fmt.Sprintf(
			"work order %d: parts and labour of $%.2f exceed the not-to-exceed of $%.2f; submit a quote and have it approved first", w.Number, cost, w.NTE)}
	}
	return nil
}

func completionValid(c *Completion) error {
	switch {
	case c == nil || c.Problem == "":
		return cloud.FieldError("problem", "completion needs a problem code")
	case c.Cause == "":
		return cloud.FieldError("cause", "completion needs a cause code")
	case c.Remedy == "":
		return cloud.FieldError("remedy", "completion needs a remedy code")
	}
	return ValidLines(c.Parts, c.Labour)
}

// ValidLines checks a completion's parts and labour: every number finite
// and in its range (MaxQuantity, MaxUnitCost, 24 hours, MaxHourlyRate),
// naming the field at fault. The API checks them at its edge with this
// too, whatever the action.
func ValidLines(parts []Part, labour []Labour) error {
	for i, p := range parts {
		if !cloud.InRange(p.Quantity, 0, MaxQuantity) || p.Quantity == 0 {
			return cloud.FieldError(fmt.Sprintf("parts[%d].quantity", i), "quantity must be a number in (0, %d]", MaxQuantity)
		}
		if !cloud.InRange(p.UnitCost, 0, MaxUnitCost) {
			return cloud.FieldError(fmt.Sprintf("parts[%d].unit_cost", i), "unit_cost must be a number of USD in [0, %d]", MaxUnitCost)
		}
	}
	for i, l := range labour {
		if !cloud.InRange(l.Hours, 0, 24) || l.Hours == 0 {
			return cloud.FieldError(fmt.Sprintf("labour[%d].hours", i), "hours must be a number in (0, 24]")
		}
		if !cloud.InRange(l.Rate, 0, MaxHourlyRate) {
			return cloud.FieldError(fmt.Sprintf("labour[%d].rate", i), "rate must be a number of USD an hour in [0, %d]", MaxHourlyRate)
		}
	}
	return nil
}

// GeofenceMeters is how far from the site's location a check-in may be,
// unless the site sets its own radius (cloud.Site.GeofenceM).
const GeofenceMeters = 300

// geofence: a check-in or check-out is inside the site's geofence by GPS,
// or carries a logged override reason (GPS indoors is poor; the override
// is audited). A visit that starts and ends at the store is evidence of
// the time billed.
func geofence(_ *WorkOrder, in *Input) error {
	if in.Lat != nil && in.Lon != nil && !cloud.ValidLocation(&rules.Location{Lat: *in.Lat, Lon: *in.Lon}) {
		return cloud.FieldError("lat", "lat must be a number in [-90, 90] and lon in [-180, 180]") // recorded even with an override
	}
	if in.Override != "" {
		return nil
	}
	if in.Lat == nil || in.Lon == nil {
		return cloud.FieldError("lat", "a check-in or check-out needs lat and lon, or an override reason")
	}
	if in.Site == nil || in.Site.Location == nil {
		return nil // no geofence known for the site: accept the position as recorded
	}
	radius := float64(GeofenceMeters)
	if in.Site.GeofenceM > 0 {
		radius = in.Site.GeofenceM
	}
	if d := distance(*in.Site.Location, *in.Lat, *in.Lon); d > radius {
		return cloud.FieldError("lat", "the position is %.0f m from the site (more than %.0f m); give an override reason", d, radius)
	}
	return nil
}

// leavingSite: completing ends the visit, so a position given with it is
// held to the geofence as a check-out's is; without one the visit's
// check-in stands for it (a completion may be recorded from the office).
func leavingSite(w *WorkOrder, in *Input) error {
	if in.Lat == nil && in.Lon == nil {
		return nil
	}
	return geofence(w, in)
}

// distance is the haversine distance in metres.
func distance(a rules.Location, lat, lon float64) float64 {
	const r = 6371e3
	rad := math.Pi / 180
	dlat, dlon := (lat-a.Lat)*rad, (lon-a.Lon)*rad
	h := math.Sin(dlat/2)*math.Sin(dlat/2) + math.Cos(a.Lat*rad)*math.Cos(lat*rad)*math.Sin(dlon/2)*math.Sin(dlon/2)
	return 2 * r * math.Asin(math.Sqrt(h))
}
