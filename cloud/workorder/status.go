package workorder

import (
	"strings"
)

// Status is a work order's state. Its text form is the lower-case name
// ("in_progress"), which is what the API and the database carry.
type Status string

// States, adapted from ServiceChannel, Maximo and Fexa (domain notes §4).
const (
	New              Status = "new"
	Triaged          Status = "triaged"
	AwaitingApproval Status = "awaiting_approval"
	Ready            Status = "ready"
	Dispatched       Status = "dispatched"
	Accepted         Status = "accepted"
	InProgress       Status = "in_progress"
	OnHold           Status = "on_hold"
	WorkComplete     Status = "work_complete"
	Verifying        Status = "verifying"
	Verified         Status = "verified"
	Closed           Status = "closed"
	Avoided          Status = "avoided"
	Duplicate        Status = "duplicate"
	Cancelled        Status = "cancelled"
	Reopened         Status = "reopened"
)

// Statuses lists every state in lifecycle order.
var Statuses = []Status{
	New, Triaged, AwaitingApproval, Ready, Dispatched, Accepted, InProgress, OnHold,
	WorkComplete, Verifying, Verified, Closed, Avoided, Duplicate, Cancelled, Reopened,
}

// ParseStatus reads a state name in either case ("IN_PROGRESS" or
// "in_progress").
func ParseStatus(s string) (Status, bool) {
	st := Status(strings.ToLower(s))
	for _, k := range Statuses {
		if k == st {
			return st, true
		}
	}
	return "", false
}

// Open reports whether a work order in this state is still being worked:
// new incidents and reports for the same problem attach to it. A verified
// work order is no longer open; a problem after it is a possible recall.
func (s Status) Open() bool {
	switch s {
	case Verified, Closed, Avoided, Duplicate, Cancelled:
		return false
	}
	return true
}

// PreDispatch reports whether no provider has been sent yet.
func (s Status) PreDispatch() bool {
	switch s {
	case New, Triaged, AwaitingApproval, Ready:
		return true
	}
	return false
}

// Upper is the state's name as the domain notes write it ("IN_PROGRESS").
func (s Status) Upper() string { return strings.ToUpper(string(s)) }
