// Package score judges incidents against labels: which labelled faults a
// rule set found, how early, how many of its incidents were false, and
// whether each named the problem right. It is the Go form of the shared
// score-incidents script (../shared/bin/score-incidents) and gives the same
// figures on the same files; `frostline rules score` and `rules replay
// --labels` print them, and the cloud writes a fleet's own outcomes in the
// same labels format (GET /api/v1/analytics/labels) so that a rule change
// can be backtested against its history.
//
// The package is pure: ParseLabels and ReadIncidents take bytes and
// readers, Score takes values. docs/labels.md documents the format and how
// an incident is matched to a fault.
package score
