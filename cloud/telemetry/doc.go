// Package telemetry carries what the edge agents measure into InfluxDB, for
// the Grafana dashboards facilities managers watch: per-minute rollups and
// derived signals from every store, incident and work-order events as
// annotations, and (written by cloud/analytics) the daily KPI points. The
// schema is in docs/telemetry.md; this package is its only writer.
//
// Delivery. The edge publishes wire.Telemetry batches to JetStream
// (wire.TelemetryStream) and incident events to wire.IncidentStream; the
// cloud's relay publishes work-order notices to relay.Stream. A
// Consumer per stream (TelemetrySource, IncidentSource, WorkOrderSource),
// one per cloud replica on a durable pull consumer they all share, fetches
// them, writes their points with the
// client's blocking write API in batches, and acknowledges a message only
// after every one of its points is written. While InfluxDB is down nothing
// is acknowledged: the messages are nak'ed with a growing delay and the
// backlog waits in JetStream, on disk, so the cloud's memory stays flat
// (at most one batch of points in flight per replica) and the backlog
// drains when InfluxDB returns. The client's non-blocking WriteAPI is not
// used: its retry buffer lives in memory and drops the oldest data when
// the server stays down.
//
// Exactly once. A point's identity in InfluxDB is its measurement, tag set
// and timestamp; writing it again overwrites it with the same values. A
// redelivered message (a crash between write and ack, a replica killed
// mid-batch) therefore rewrites points, it never adds any.
//
// The annotation consumers read the incident and event streams beside the
// intake and the relay, under their own durable name, so an InfluxDB outage
// never slows the work-order path; WriteIncidents and WriteWorkOrderEvents
// are there for a caller that has events in hand.
//
// Cardinality. Tags are only site, asset, asset_class and metric on the
// telemetry measurements, plus problem, rule, priority and event on
// incidents and scope and vendor on KPIs: series are bounded by sites x
// assets x metrics (docs/telemetry.md has the sums).
// Everything that grows without bound (incident ids, summaries, values) is
// a field.
package telemetry
