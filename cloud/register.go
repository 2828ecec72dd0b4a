package cloud

import (
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/frostline/frostline/rules"
)

// Site is a store in the asset register.
type Site struct {
	ID       string          `json:"id"`
	Name     string          `json:"name,omitempty"`
	Region   string          `json:"region,omitempty"`
	Timezone string          `json:"timezone,omitempty"`
	Location *rules.Location `json:"location,omitempty"`
	// GeofenceM is how far from Location, in metres, a technician may
	// check in without giving a reason; 0 is the default (300 m).
	GeofenceM float64 `json:"geofence_m,omitempty"`
}

// Warranty is who repairs an asset for free, and until when.
type Warranty struct {
	Provider string `json:"provider,omitempty"`
	Expires  string `json:"expires,omitempty"` // YYYY-MM-DD
}

// Asset is one piece of equipment in the register.
type Asset struct {
	Site        string    `json:"site"`
	ID          string    `json:"id"`
	Class       string    `json:"class"`
	Name        string    `json:"name,omitempty"`
	Make        string    `json:"make,omitempty"`
	Model       string    `json:"model,omitempty"`
	Serial      string    `json:"serial,omitempty"`
	Refrigerant string    `json:"refrigerant,omitempty"`
	InstalledOn string    `json:"installed_on,omitempty"` // YYYY-MM-DD
	Warranty    *Warranty `json:"warranty,omitempty"`
	// ReplacementCost is what a new unit costs installed, in USD.
	ReplacementCost float64 `json:"replacement_cost,omitempty"`
	// ExpectedLife is the asset's design life in years.
	ExpectedLife float64 `json:"expected_life_years,omitempty"`
}

// UnderWarranty reports whether the asset's warranty covers day t.
func (a *Asset) UnderWarranty(t time.Time) bool {
	if a.Warranty == nil || a.Warranty.Expires == "" {
		return false
	}
	exp, err := time.Parse(time.DateOnly, a.Warranty.Expires)
	return err == nil && !t.After(exp.Add(24*time.Hour))
}

// Validate checks an asset's fields, naming the first one at fault.
func (a *Asset) Validate() error {
	switch {
	case !validID(a.Site):
		return FieldError("site", "%q is not a valid id (letters, digits, _ -)", a.Site)
	case !validID(a.ID):
		return FieldError("id", "%q is not a valid id (letters, digits, _ -)", a.ID)
	case !slices.Contains(rules.AssetClasses, a.Class):
		return FieldError("class", "unknown asset class %q", a.Class)
	case !InRange(a.ReplacementCost, 0, MaxReplacementCost):
		return FieldError("replacement_cost", "want a number of USD in [0, %d]", MaxReplacementCost)
	case !InRange(a.ExpectedLife, 0, MaxExpectedLife):
		return FieldError("expected_life_years", "want a number of years in [0, %d]", MaxExpectedLife)
	}
	for _, d := range []struct{ field, v string }{{"installed_on", a.InstalledOn}, {"warranty.expires", warrantyExpiry(a)}} {
		if _, err := time.Parse(time.DateOnly, d.v); d.v != "" && err != nil {
			return FieldError(d.field, "want a date YYYY-MM-DD, got %q", d.v)
		}
	}
	return nil
}

func warrantyExpiry(a *Asset) string {
	if a.Warranty == nil {
		return ""
	}
	return a.Warranty.Expires
}

// Validate checks a site's fields, naming the first one at fault.
func (s *Site) Validate() error {
	if !validID(s.ID) {
		return FieldError("id", "%q is not a valid id (letters, digits, _ -)", s.ID)
	}
	if !PlainText(s.Name, 100) {
		return FieldError("name", "at most 100 characters of plain text (no control characters)")
	}
	if !PlainText(s.Region, 64) {
		return FieldError("region", "at most 64 characters of plain text (no control characters)")
	}
	if s.Timezone != "" {
		// An IANA name ("America/Chicago"): LoadLocation also takes
		// "Local" and paths, which mean nothing on another machine.
		if _, err := time.LoadLocation(s.Timezone); err != nil || s.Timezone == "Local" || strings.HasPrefix(s.Timezone, "/") || strings.Contains(s.Timezone, "..") {
			return FieldError("timezone", "%q is not an IANA time zone name such as America/Chicago", s.Timezone)
		}
	}
	if l := s.Location; l != nil && !ValidLocation(l) {
		return FieldError("location", "lat must be a number in [-90, 90] and lon in [-180, 180]")
	}
	if !InRange(s.GeofenceM, 0, MaxGeofenceM) {
		return FieldError("geofence_m", "want 0 (the default, 300 m) to %d metres", MaxGeofenceM)
	}
	return nil
}

// PlainText reports whether s is plain text a person typed: valid UTF-8,
// at most most characters, no control characters (line breaks included).
func PlainText(s string, most int) bool {
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > most {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return false
		}
	}
	return true
}

func validID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || (i > 0 && (r == '_' || r == '-'))
		if !ok {
			return false
		}
	}
	return true
}

// ValidID reports whether s is a valid site or asset id.
func ValidID(s string) bool { return validID(s) }

// FromSiteFile turns a parsed site file (the same file the edge agent and
// `frostline rules replay` read) into register entries.
func FromSiteFile(s *rules.Site) (Site, []Asset) {
	site := Site{ID: s.ID, Name: s.Name, Region: s.Region, Timezone: s.Timezone, Location: s.Location}
	assets := make([]Asset, 0, len(s.Assets))
	for _, a := range s.Assets {
		assets = append(assets, Asset{
			Site: s.ID, ID: a.ID, Class: a.Class, Name: a.Name, Make: a.Make, Model: a.Model,
			Serial: a.Serial, Refrigerant: a.Refrigerant, InstalledOn: a.InstalledOn,
			ReplacementCost: a.ReplacementUSD,
		})
	}
	return site, assets
}

// Verdict is the repair-versus-replace indicator for an asset.
type Verdict struct {
	// RepairCost is what the asset's completed work orders cost.
	RepairCost float64 `json:"repair_cost"`
	// Ratio is RepairCost over the replacement cost (0 when unknown).
	Ratio float64 `json:"ratio"`
	// AgeYears is the asset's age, when its install date is known.
	AgeYears *float64 `json:"age_years,omitempty"`
	// LifeUsed is AgeYears over the expected life, when both are known.
	LifeUsed *float64 `json:"life_used,omitempty"`
	// Advice is "repair", "watch", "replace" or "unknown".
	Advice string `json:"advice"`
	Why    string `json:"why"`
}

// RepairOrReplace judges an asset by the common rule of thumb for
// refrigeration and HVAC equipment: replace when cumulative repairs reach
// half the replacement cost, or a quarter of it once the asset has outlived
// its expected life; watch from 30% or 80% of life.
func RepairOrReplace(a *Asset, repairCost float64, now time.Time) Verdict {
	v := Verdict{RepairCost: repairCost, Advice: "unknown", Why: "no replacement cost recorded"}
	if t, err := time.Parse(time.DateOnly, a.InstalledOn); err == nil {
		age := now.Sub(t).Hours() / 24 / 365.25
		v.AgeYears = &age
		if InRange(a.ExpectedLife, 1e-9, MaxExpectedLife) {
			used := age / a.ExpectedLife
			v.LifeUsed = &used
		}
	}
	if !InRange(a.ReplacementCost, 1e-9, MaxReplacementCost) || !InRange(repairCost, 0, 1e15) {
		return v // nothing recorded, or a stored value out of range: no advice rather than a broken report
	}
	v.Ratio = repairCost / a.ReplacementCost
	old := v.LifeUsed != nil && *v.LifeUsed >= 1
	switch {
	case v.Ratio >= 0.5:
		v.Advice, v.Why = "replace", "repairs have cost half the replacement cost or more"
	case old && v.Ratio >= 0.25:
		v.Advice, v.Why = "replace", "past its expected life and repairs exceed a quarter of the replacement cost"
	case v.Ratio >= 0.3 || (v.LifeUsed != nil && *v.LifeUsed >= 0.8):
		v.Advice, v.Why = "watch", "repair costs or age approaching the replacement threshold"
	default:
		v.Advice, v.Why = "repair", "repairs are well below the replacement cost"
	}
	return v
}
