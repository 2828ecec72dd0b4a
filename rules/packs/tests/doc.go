// Package tests holds the default rule pack's unit tests: *.test.yaml
// files for `frostline rules test` (see package ruletest for the format),
// one file per piece of physics the pack must get right: loss of cooling
// with and without controller signals, defrosts that must raise nothing,
// doors, short cycling, stuck and offline sensors against a whole-store
// outage, a slow leak, and rooftop units.
//
// `go test ./rules/packs/tests` runs every file in this folder against the
// pack on disk (rules/packs/default). Cases the pack gets wrong today live
// in pending/, each test marked pending with the numbers that fail it;
// `go test` leaves them out, and `frostline rules test rules/packs/tests`
// reports them as PENDING, or FIXED once a change to the pack makes them
// pass.
package tests
