package workorder

import (
	"slices"

	"github.com/frostline/frostline/rules"
)

// A problem family groups problem codes that are one real problem on one
// asset seen at different stages: a temperature creeping up (temp_trend),
// a compressor that never stops (long_runtime), a case that is too warm
// (temp_high) and one that does not cool at all (no_cooling) are the same
// failing refrigeration circuit. Incidents of one family on one asset
// attach to one work order, which escalates to the most severe problem
// seen.
type problemInfo struct {
	family   string
	severity int
}

var problems = map[string]problemInfo{
	"temp_trend":      {"temperature", 1},
	"long_runtime":    {"temperature", 2},
	"temp_high":       {"temperature", 3},
	"not_cold":        {"temperature", 3}, // what store staff report
	"no_cooling":      {"temperature", 4},
	"cooling_failure": {"temperature", 4},
	"rack_failure":    {"temperature", 5}, // on the rack: every case it serves
	"temp_low":        {"temp_low", 1},
	"door_openings":   {"door", 1},
	"door_ajar":       {"door", 2},
	"door_damage":     {"door", 2},
	"short_cycling":   {"short_cycling", 1},
	"sensor_stuck":    {"sensor", 1},
	"sensor_offline":  {"sensor", 2},
	"gateway_offline": {"gateway", 1},
}

// ReportProblems are the problem codes a person may report: the sensor
// vocabulary plus what only people see.
var ReportProblems = append(slices.Clone(rules.Problems),
	"not_cold", "water_leak", "ice_buildup", "noise", "door_damage", "lighting", "other")

// Family returns the problem family of a problem code; a code outside any
// family is its own.
func Family(problem string) string {
	if p, ok := problems[problem]; ok {
		return p.family
	}
	return problem
}

// Severity orders problems within a family; higher is worse.
func Severity(problem string) int { return problems[problem].severity }

// DefaultTrade is the trade a report of problem on an asset of class goes
// to when neither the reporter nor a triage rule says.
func DefaultTrade(problem, class string) string {
	switch problem {
	case "gateway_offline", "sensor_offline", "sensor_stuck":
		return "controls"
	case "water_leak":
		return "plumbing"
	case "lighting":
		return "electrical"
	case "door_damage":
		return "general"
	}
	if class == "rooftop_unit" {
		return "hvac"
	}
	return "refrigeration"
}

// Priority helpers: P1 is the most urgent.
func priorityRank(p string) int {
	if i := slices.Index(rules.Priorities, p); i >= 0 {
		return i
	}
	return len(rules.Priorities)
}

// Higher reports whether priority a is more urgent than b.
func Higher(a, b string) bool { return priorityRank(a) < priorityRank(b) }

// raise returns the priority one level more urgent than p, P1 at most.
func raise(p string) string {
	i := priorityRank(p)
	if i <= 0 || i >= len(rules.Priorities) {
		return p
	}
	return rules.Priorities[i-1]
}
