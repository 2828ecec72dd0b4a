// Package workorder is the work-order domain: the states a work order moves
// through, the one transition table with its guards, the append-only events
// a work order is made of, and the intake rules that turn incidents and
// people's reports into work orders (dedup, problem families, recall links,
// triage, hold-off and escalation).
//
// A work order is its events: Replay folds them into a WorkOrder, and its
// status is the target of its last transition. Every change, whether from
// intake or a person's action, is a decision made here (Act, Intake.Receive,
// Intake.Sweep) that returns new events; a store appends them under the
// work order's version (optimistic locking), in one transaction with
// whatever else the change touched.
//
// The package does no I/O of its own. Intake reads and writes through the
// small Tx interface it declares; the store contract (cloud/store.Tx)
// embeds it, and cloud/internal/sqldb's Tx implements it for both stores.
package workorder
