//go:build race

package dispatch

// raceEnabled: timing tests skip under the race detector, which slows
// everything down several times and pauses unpredictably.
const raceEnabled = true
