// Package sla is the clock side of dispatch: when each milestone of a work
// order (acknowledge, arrive, complete) is due, when to remind the vendor,
// and when a milestone is breached and by how much.
//
// Targets come from the vendor's commitments for the work order's priority
// or, where the vendor committed to nothing, from the priority defaults of
// the Policy. A clock can run around the clock or only in the business
// hours of a weekly Calendar (with holidays) in the site's time zone, and
// on-hold time can be counted out when the Policy says so.
//
// The package is pure: Timers are built from a work order's events
// (Policy.Timers), and Sweep turns a set of open timers and the current
// time into reminder and breach Actions. Sweep has no memory; every Action
// carries a deterministic Key, so that a store claims each action exactly
// once with a unique constraint and several replicas can sweep the same
// timers without double reminders (docs/dispatch.md describes the table).
package sla
