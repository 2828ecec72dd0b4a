package cloud

import "github.com/frostline/frostline/rules"

// InRange reports whether v is a finite number in [lo, hi]. NaN and the
// infinities are never in range: every number that comes in (a quantity,
// a cost, hours, a rate, a coordinate) is checked with it against a
// documented range (docs/operations.md, "Input validation").
func InRange(v, lo, hi float64) bool { return v >= lo && v <= hi }

// ValidLocation reports whether l is a real position: latitude in
// [-90, 90] and longitude in [-180, 180], both finite.
func ValidLocation(l *rules.Location) bool {
	return l != nil && InRange(l.Lat, -90, 90) && InRange(l.Lon, -180, 180)
}

// Ranges for the register's numbers.
const (
	MaxGeofenceM       = 50_000      // a site's check-in radius, metres
	MaxReplacementCost = 100_000_000 // an asset's replacement cost, USD
	MaxExpectedLife    = 100         // an asset's design life, years
)
