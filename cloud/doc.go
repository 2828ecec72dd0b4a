// Package cloud is Frostline's cloud service: where sensor incidents from
// every store and people's reports become work orders that someone is
// accountable for.
//
// The root package holds the types every part of the service shares: the
// one coded error type (Error) that the HTTP layer maps to RFC 9457
// problem+json in exactly one place, the asset register (Site, Asset), and
// who is calling (Principal, Role, Scope). The work-order domain itself,
// its states, transition table and intake rules, is in cloud/workorder.
//
// One sub-package per technology, as in WTF Dial:
//
//	cloud/workorder  states, transitions, events, dedup and triage (pure)
//	cloud/sqlite     the embedded store (modernc.org/sqlite, WAL)
//	cloud/postgres   the multi-replica store (pgx/v5)
//	cloud/intake     the JetStream consumer that feeds incidents in
//	cloud/relay      publishes work-order notices from the outbox to JetStream
//	cloud/http       the REST API under /api/v1 and the pages for people
//	cloud/app        wires them together with Run/Close, for main and demos
package cloud
