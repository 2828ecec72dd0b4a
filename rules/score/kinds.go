package score

import "slices"

// Fault kinds the labels name, as the simulator injects them and the
// shared labelled sets label them.
const (
	CompressorFailure = "compressor_failure"
	RefrigerantLeak   = "refrigerant_leak"
	DoorAjar          = "door_ajar"
	ShortCycling      = "short_cycling"
	SensorStuck       = "sensor_stuck"
	SensorOffline     = "sensor_offline"
	GatewayOffline    = "gateway_offline"
	CoolingFailure    = "cooling_failure"
	RackFailure       = "rack_failure"
)

// Accept lists, per fault kind, the problem codes that name it right (a
// label's accept). Temperature codes name any loss of cooling: a case that
// is too warm is, whatever the cause.
var Accept = map[string][]string{
	CompressorFailure: {"no_cooling", "temp_high", "temp_trend"},
	RefrigerantLeak:   {"long_runtime", "no_cooling", "temp_high", "temp_trend"},
	DoorAjar:          {"door_ajar", "temp_high", "temp_trend"},
	ShortCycling:      {"short_cycling"},
	SensorStuck:       {"sensor_stuck"},
	SensorOffline:     {"sensor_offline"},
	GatewayOffline:    {"gateway_offline", "sensor_offline"},
	CoolingFailure:    {"cooling_failure", "no_cooling", "temp_high", "temp_trend"},
	RackFailure:       {"compressor_failure", "no_cooling", "rack_failure", "temp_high", "temp_trend"},
}

// kindOfProblem is the fault a problem code points at when nothing better
// is known: a work order's problem, or a technician's.
var kindOfProblem = map[string]string{
	"no_cooling":      CompressorFailure,
	"long_runtime":    RefrigerantLeak,
	"leak":            RefrigerantLeak,
	"door_ajar":       DoorAjar,
	"short_cycling":   ShortCycling,
	"sensor_stuck":    SensorStuck,
	"sensor_offline":  SensorOffline,
	"gateway_offline": GatewayOffline,
	"cooling_failure": CoolingFailure,
	"rack_failure":    RackFailure,
}

// KindOf names the fault behind a problem code: the code itself when it is
// a fault kind (a technician's completion may say refrigerant_leak), the
// fault it points at (long_runtime: a leak), or, for a code that names no
// one fault (temp_high), the code. ok is false in that last case.
func KindOf(problem string) (kind string, ok bool) {
	if _, known := Accept[problem]; known {
		return problem, true
	}
	if k, known := kindOfProblem[problem]; known {
		return k, true
	}
	return problem, false
}

// AcceptFor is the accept list of a fault of kind raised as problem: the
// kind's codes and the problem itself, sorted.
func AcceptFor(kind, problem string) []string {
	acc := slices.Clone(Accept[kind])
	if problem != "" && !slices.Contains(acc, problem) {
		acc = append(acc, problem)
	}
	slices.Sort(acc)
	return acc
}
