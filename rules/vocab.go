package rules

import "slices"

// Asset classes Frostline knows (domain notes, section 2).
var AssetClasses = []string{
	"walk_in_cooler", "walk_in_freezer", "reach_in_cooler", "reach_in_freezer",
	"display_case_mt", "display_case_lt", "compressor_rack", "rooftop_unit",
}

// Trades a work order can go to.
var Trades = []string{"refrigeration", "hvac", "electrical", "plumbing", "general", "controls"}

// Priorities, most urgent first.
var Priorities = []string{"P1", "P2", "P3", "P4"}

// Problems are the problem codes sensor incidents carry.
var Problems = []string{
	"temp_high", "temp_low", "temp_trend", "no_cooling", "long_runtime", "door_ajar",
	"door_openings", "short_cycling", "sensor_stuck", "sensor_offline",
	"cooling_failure", "gateway_offline", "sensor_fault", "rack_failure",
}

// MetricKind says how a metric's values are read.
type MetricKind uint8

const (
	Analog MetricKind = iota // a measured number, e.g. a temperature in C
	Binary                   // 0 or 1, e.g. door_open
	Enum                     // a word mapped to a number, e.g. mode
)

// Metric describes one canonical metric.
type Metric struct {
	Name  string
	Kind  MetricKind
	Unit  string   // SI unit inside Frostline ("C", "kPa", "")
	Words []string // for Enum: the value of word i is i
}

// Metrics are the canonical metric names, SI units inside Frostline.
var Metrics = []Metric{
	{Name: "air_temp", Unit: "C"},
	{Name: "defrost", Kind: Binary},
	{Name: "door_open", Kind: Binary},
	{Name: "compressor_on", Kind: Binary},
	{Name: "suction_pressure", Unit: "kPa"},
	{Name: "discharge_pressure", Unit: "kPa"},
	{Name: "zone_temp", Unit: "C"},
	{Name: "zone_setpoint", Unit: "C"},
	{Name: "supply_air_temp", Unit: "C"},
	{Name: "return_air_temp", Unit: "C"},
	{Name: "outdoor_air_temp", Unit: "C"},
	{Name: "fan_on", Kind: Binary},
	{Name: "mode", Kind: Enum, Words: []string{"off", "cool", "heat", "fan", "auto"}},
	{Name: "maintenance", Kind: Binary},
}

// MetricID is a metric's index in Metrics.
type MetricID uint8

// NoMetric is returned by LookupMetric for an unknown name.
const NoMetric MetricID = 255

var metricIndex = func() map[string]MetricID {
	m := make(map[string]MetricID, len(Metrics))
	for i, d := range Metrics {
		m[d.Name] = MetricID(i)
	}
	return m
}()

// LookupMetric returns the id of a canonical metric name, or NoMetric.
func LookupMetric(name string) MetricID {
	if id, ok := metricIndex[name]; ok {
		return id
	}
	return NoMetric
}

// IsTemperature reports whether the metric is a temperature in C, which is
// what unit conversion from Fahrenheit applies to.
func (id MetricID) IsTemperature() bool {
	return int(id) < len(Metrics) && Metrics[id].Unit == "C"
}

// String returns the metric's canonical name.
func (id MetricID) String() string {
	if int(id) < len(Metrics) {
		return Metrics[id].Name
	}
	return "unknown"
}

// WordValue returns the number a word stands for in an Enum or Binary
// metric: "cool" for mode, "on"/"off", "true"/"false", "open"/"closed".
func WordValue(id MetricID, word string) (float64, bool) {
	if int(id) >= len(Metrics) {
		return 0, false
	}
	d := Metrics[id]
	switch d.Kind {
	case Enum:
		if i := slices.Index(d.Words, word); i >= 0 {
			return float64(i), true
		}
	case Binary:
		switch word {
		case "1", "on", "true", "open", "yes":
			return 1, true
		case "0", "off", "false", "closed", "no":
			return 0, true
		}
	}
	return 0, false
}

func known(list []string, s string) bool { return slices.Contains(list, s) }
