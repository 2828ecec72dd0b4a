//go:build race

package sla

// raceEnabled: timing tests skip under the race detector.
const raceEnabled = true
