// Package rules is Frostline's rule language and its engine.
//
// FMs and integrators write rules as YAML (see docs/rules.md). Parse decodes
// them strictly and reports every problem as "file:line:col: rule "id": msg";
// Compile turns a parsed Set into evaluators; an Engine runs them over
// readings on event time (the reading's own timestamp), so a replay of
// recorded data gives the same incidents, byte for byte, as the live agent.
//
// The engine turns anomalies into incident events: one incident per episode
// per (site, asset, rule), opened, updated and cleared, with an id derived
// from (site, asset, rule, episode start) so that every retry downstream is
// idempotent. Its state is small, bounded per series and rule, and can be
// snapshotted and restored so that a restarted agent continues an episode.
//
// The package is pure: it does no I/O of its own. Callers hand it bytes or
// an fs.FS and readings; it hands back events.
package rules
