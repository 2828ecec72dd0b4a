// Package sim simulates a store's refrigeration and HVAC equipment as
// physics, not random numbers: per asset a lumped thermal model with a
// thermostat, defrost heaters on a schedule, doors opened by shoppers and
// staff through the trading day, and rooftop units working against a daily
// outdoor temperature curve, and compressor racks that serve the cases
// naming them in served_by (the rack reports compressor_on while any of
// them calls for cooling). Faults are injected into the physics
// (a compressor that runs but no longer pumps, a charge that leaks away over
// days, a door left open, a chattering relay, a rack that trips and takes
// every case it serves with it) or into the sensors (stuck,
// offline, a whole gateway silent), and the simulator writes down, as labels,
// when each fault started and ended and when the product passed the
// food-safety limit.
//
// The same readings feed `frostline sim` (MQTT at real time or faster, or
// the CSV that `frostline rules replay` reads), the demo, and the tests
// that check the default rule pack on stores it was not tuned on.
package sim
