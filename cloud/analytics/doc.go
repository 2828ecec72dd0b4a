// Package analytics computes the maintenance operation's key performance
// indicators (domain notes §5) from the work-order store: MTTR, time to
// restore, response times, first-time fix, recalls, completion and backlog
// age, SLA compliance per milestone, cost per work order and NTE overruns,
// preventive : reactive, PM compliance, documentation, call avoidance, and
// MTBF and availability per asset.
//
// A KPI query over a million work orders cannot fold each one's events in
// Go within a request. So every work order keeps one row of facts
// (FactsOf: its slicing dimensions and the few timestamps, durations, costs
// and flags the formulas need), written by the store in the same
// transaction as the work order itself (cloud/internal/sqldb, table
// wo_facts). A Query then runs as one SQL aggregate over those rows, which
// returns Sums per group, and Finish turns the sums into the ratios and
// means of a Row. The formulas therefore live in two halves that must be
// read together: what is counted (facts.go, and the SQL in
// cloud/internal/sqldb/facts.go) and how the counts are combined (kpi.go).
//
// Daily runs Query once a day per site, asset and vendor and writes the
// results to InfluxDB as kpis points (telemetry.Writer.WriteKPIs);
// Collector exports the live counts to Prometheus.
package analytics
