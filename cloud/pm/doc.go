// Package pm is preventive maintenance: schedules that generate their own
// work orders. A Schedule names its assets (one asset, a class at a site,
// or a class everywhere), when visits fall due (an RFC 5545 recurrence
// rule, or every so many compressor run-hours or defrost cycles counted
// from the edge's telemetry), a condition that pulls the next visit
// forward when the equipment works harder than it should, and the
// template every visit's work order carries (trade, checklist, labour,
// parts, preferred vendor, signature).
//
// The Generator opens each visit's work order its lead time before it is
// due, through workorder.Intake.Plan, so planned work is triaged and
// dispatched like any other. Store calendars move visits off closed days
// and out of blackout periods, or skip them. Generation is idempotent: a
// store claims the (schedule, site, asset, occurrence) key in the
// transaction that opens the work order, so replicas and restarts never
// open a visit twice, and after downtime a schedule either skips what it
// missed or generates the latest missed visit once (catch_up).
//
// Forecast answers which visits fall due in a period, for budgeting. The
// package does no I/O of its own beyond its Store interface; cloud/sqlite
// and cloud/postgres implement it (cloud/internal/sqldb).
package pm
