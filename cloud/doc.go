// Package cloud is Frostline's cloud service: where sensor incidents from
// every store and people's reports become work orders that someone is
// accountable for.
//
// The root package holds the types every part of the service shares: the
// one coded error type (Error) that the HTTP layer maps to RFC 9457
// problem+json in exactly one place, the asset register (Site, Asset), and
// who is calling (Principal, Role, Scope).
//
// The rooms below it, domain first, then the contract with the database,
// the technologies, and the wiring (docs/architecture.md draws the arrows
// and follows a reading to a dispatched work order):
//
//	cloud/workorder      states, transitions, events, dedup and triage (pure)
//	cloud/dispatch       vendors, eligibility, ranking and offers; intake's Dispatcher
//	cloud/sla            SLA policy, business calendars, timers and their sweeper
//	cloud/pm             preventive maintenance schedules and their generator
//	cloud/purchasing     parts, stock, purchase orders and exports
//	cloud/invoicing      vendors' invoices: checked, approved or disputed, paid (pure)
//	cloud/notify         webhooks and people's notifications: routing, signing, plans, delivery
//	cloud/notify/email   the email channel (SMTP)
//	cloud/analytics      KPI facts, queries, the daily rollup and KPI points
//	cloud/chart          an asset's evidence as a server-side SVG
//	cloud/locale         the store staff's pages in English, Spanish and French
//	cloud/store          the store contract: what one transaction and a store must do
//	cloud/internal/sqldb the SQL both stores speak, implementing the contract
//	cloud/sqlite         the embedded store (modernc.org/sqlite, WAL)
//	cloud/postgres       the multi-replica store (pgx/v5)
//	cloud/storetest      the suite both stores must pass alike
//	cloud/intake         the JetStream consumer that feeds incidents in, and the timer sweeper
//	cloud/internal/pull  one JetStream pull, as intake, telemetry and pm's run-hours take messages
//	cloud/relay          publishes notices from the outbox to the events stream (its own)
//	cloud/telemetry      readings, incidents and KPIs from JetStream into InfluxDB
//	cloud/http           the REST API under /api/v1 and the pages for people
//	cloud/app            wires them together with Run/Close, for main and demos
//
// For tests (and the demo's mail room):
//
//	cloud/postgres/pgtest     a throwaway PostgreSQL 15 cluster
//	cloud/telemetry/influxtest InfluxDB 1.6 and what the telemetry tests run on
//	cloud/notify/mailsink     an SMTP server that keeps what it is sent
package cloud
