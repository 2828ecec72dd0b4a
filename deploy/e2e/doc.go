// Package e2e is Frostline's end-to-end test: the shipped binaries, as
// separate processes, on the real servers a deployment runs.
//
// The test builds frostline-edge, frostline-cloud and frostline; starts
// mosquitto, PostgreSQL 15, InfluxDB and the current nats-server (each its
// own process, on free loopback ports); runs one edge agent and two cloud
// replicas sharing the database and NATS; and lets `frostline sim` play a
// store whose walk-in cooler's compressor fails. Along the way it kills a
// cloud replica and the edge agent with SIGKILL, as a power cut would.
//
// What it checks is what a facilities manager would: one P1 refrigeration
// work order for the cooler, sent to the right vendor, taken through
// acceptance, an on-site check-in inside the geofence, completion and
// verification through the REST API; the store's telemetry and the
// incidents in InfluxDB. What "nothing lost, nothing doubled" means is
// decided by an oracle: the same simulation, written as CSV and replayed
// through the same rules by `frostline rules replay`, names every incident
// event the live system must have carried exactly once.
//
// TestChaos is the chaos drill: a fleet of stores on one edge agent,
// with a seeded schedule of faults (SIGKILLs of the edge and of either
// replica, nats-server outages, immediate PostgreSQL restarts) while a
// bot plays the vendors, the FM and store staff, and the triage timers
// come due (the simulation runs behind the wall clock). It checks the
// incident stream, the work orders and their events, the notices, the
// webhook deliveries and InfluxDB's rollups against the same oracle;
// `make chaos` runs it longer and wider (docs/operations.md).
//
// There is no code here outside the tests; this file holds the package
// documentation. Under -short the test is skipped; with CI=true a missing
// server fails it.
package e2e
