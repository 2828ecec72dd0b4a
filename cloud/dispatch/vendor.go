package dispatch

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/sla"
	"github.com/frostline/frostline/cloud/workorder"
	"github.com/frostline/frostline/rules"
)

// Kind says whose people a vendor's technicians are.
type Kind string

// Vendor kinds. Internal technicians (the customer's own) share the pool
// with external contractors and are ranked by the same rules.
const (
	External Kind = "external"
	Internal Kind = "internal"
)

// DocType is a kind of compliance document.
type DocType string

// Document types.
const (
	COIGeneralLiability DocType = "coi_general_liability" // certificate of insurance
	COIWorkersComp      DocType = "coi_workers_comp"
	License             DocType = "license"
	EPA608              DocType = "epa_608" // US EPA Section 608 refrigerant handling, per technician
)

// DocTypes lists every document type.
var DocTypes = []DocType{COIGeneralLiability, COIWorkersComp, License, EPA608}

// Document is one compliance document. It is valid up to and including
// ExpiresAt.
type Document struct {
	Type      DocType   `json:"type" yaml:"type"`
	Number    string    `json:"number,omitempty" yaml:"number"`
	ExpiresAt time.Time `json:"expires_at" yaml:"expires_at"`
}

// ValidOn reports whether the document covers t.
func (d *Document) ValidOn(t time.Time) bool { return !t.After(d.ExpiresAt) }

// Technician is one of a vendor's people.
type Technician struct {
	ID   string `json:"id" yaml:"id"`
	Name string `json:"name,omitempty" yaml:"name"`
	// Trades the technician works; empty means all the vendor's trades.
	Trades    []string   `json:"trades,omitempty" yaml:"trades"`
	Documents []Document `json:"documents,omitempty" yaml:"documents"`
}

// works reports whether the technician works a trade.
func (t *Technician) works(trade string) bool {
	return len(t.Trades) == 0 || slices.Contains(t.Trades, trade)
}

// Coverage is where a vendor works: listed sites, and/or every site within
// RadiusKM of a centre.
type Coverage struct {
	Sites    []string        `json:"sites,omitempty" yaml:"sites"`
	Center   *rules.Location `json:"center,omitempty" yaml:"center"`
	RadiusKM float64         `json:"radius_km,omitempty" yaml:"radius_km"`
}

// Rate is what a vendor charges for a trade, in USD.
type Rate struct {
	Hourly     float64 `json:"hourly" yaml:"hourly"`
	TripCharge float64 `json:"trip_charge,omitempty" yaml:"trip_charge"`
	// AfterHours multiplies the hourly rate outside business hours (1.5
	// for time and a half); 0 means 1.
	AfterHours float64 `json:"after_hours_multiplier,omitempty" yaml:"after_hours_multiplier"`
}

// DoNotDispatch bars a vendor from new work.
type DoNotDispatch struct {
	Reason string    `json:"reason" yaml:"reason"`
	Since  time.Time `json:"since,omitzero" yaml:"since"`
}

// Contact is someone to reach at a vendor.
type Contact struct {
	Name  string `json:"name" yaml:"name"`
	Role  string `json:"role,omitempty" yaml:"role"` // dispatch, billing, escalation
	Email string `json:"email,omitempty" yaml:"email"`
	Phone string `json:"phone,omitempty" yaml:"phone"`
}

// Rank is a company's explicit preference for a vendor at a site and
// trade: 1 is first choice. Empty or "*" site or trade matches any.
type Rank struct {
	Site  string `json:"site,omitempty" yaml:"site"`
	Trade string `json:"trade,omitempty" yaml:"trade"`
	Rank  int    `json:"rank" yaml:"rank"`
}

// Vendor is a service provider, or the customer's own technicians.
type Vendor struct {
	ID     string   `json:"id" yaml:"id"`
	Name   string   `json:"name" yaml:"name"`
	Kind   Kind     `json:"kind" yaml:"kind"`
	Trades []string `json:"trades" yaml:"trades"`
	// Coverage is where the vendor works.
	Coverage    Coverage     `json:"coverage" yaml:"coverage"`
	Documents   []Document   `json:"documents,omitempty" yaml:"documents"`
	Technicians []Technician `json:"technicians,omitempty" yaml:"technicians"`
	// Rates per trade.
	Rates map[string]Rate `json:"rates,omitempty" yaml:"rates"`
	// NTE is the default not-to-exceed amount in USD per trade, then
	// per priority: nte[refrigeration][P1].
	NTE map[string]map[string]float64 `json:"nte,omitempty" yaml:"nte"`
	// SLA is what the vendor commits to per priority.
	SLA           map[string]sla.Targets `json:"sla,omitempty" yaml:"sla"`
	DoNotDispatch *DoNotDispatch         `json:"do_not_dispatch,omitempty" yaml:"do_not_dispatch"`
	Contacts      []Contact              `json:"contacts,omitempty" yaml:"contacts"`
	// Capacity is how many open work orders the vendor takes at once; 0
	// is no limit.
	Capacity int    `json:"capacity,omitempty" yaml:"capacity"`
	Ranks    []Rank `json:"ranks,omitempty" yaml:"ranks"`
	// WarrantyProvider marks a manufacturer's authorised service agent:
	// named by an asset's warranty (by id, or by name when flagged), it
	// goes first and its coverage is not checked (the warranty obliges it
	// to come).
	WarrantyProvider bool `json:"warranty_provider,omitempty" yaml:"warranty_provider"`
}

// Validate checks a vendor, reporting every problem found as a
// *cloud.Error per field (joined), so an API caller sees them all.
func (v *Vendor) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, cloud.FieldError(field, format, args...))
	}
	if !cloud.ValidID(v.ID) {
		bad("id", "%q is not a valid id (letters, digits, _ -)", v.ID)
	}
	if strings.TrimSpace(v.Name) == "" {
		bad("name", "missing")
	}
	if v.Kind != External && v.Kind != Internal {
		bad("kind", "%q is not external or internal", v.Kind)
	}
	if len(v.Trades) == 0 {
		bad("trades", "a vendor needs at least one trade")
	}
	for i, t := range v.Trades {
		if !slices.Contains(rules.Trades, t) {
			bad(fmt.Sprintf("trades[%d]", i), "unknown trade %q (want one of %s)", t, strings.Join(rules.Trades, ", "))
		}
	}
	c := v.Coverage
	if len(c.Sites) == 0 && c.Center == nil {
		bad("coverage", "list sites, or give a center and radius_km")
	}
	for i, s := range c.Sites {
		if !cloud.ValidID(s) {
			bad(fmt.Sprintf("coverage.sites[%d]", i), "%q is not a valid site id", s)
		}
	}
	if l := c.Center; l != nil && !cloud.ValidLocation(l) {
		bad("coverage.center", "lat must be a number in [-90, 90] and lon in [-180, 180]")
	}
	if c.Center != nil && !(c.RadiusKM > 0 && c.RadiusKM <= 2000) {
		bad("coverage.radius_km", "must be in (0, 2000] with a center")
	}
	if c.Center == nil && c.RadiusKM != 0 {
		bad("coverage.radius_km", "needs a center")
	}
	validDocs := func(field string, docs []Document) {
		for i, d := range docs {
			f := fmt.Sprintf("%s[%d]", field, i)
			if !slices.Contains(DocTypes, d.Type) {
				bad(f+".type", "unknown document type %q", d.Type)
			}
			if d.ExpiresAt.IsZero() {
				bad(f+".expires_at", "missing")
			}
		}
	}
	validDocs("documents", v.Documents)
	seen := map[string]bool{}
	for i, t := range v.Technicians {
		f := fmt.Sprintf("technicians[%d]", i)
		if !cloud.ValidID(t.ID) {
			bad(f+".id", "%q is not a valid id", t.ID)
		} else if seen[t.ID] {
			bad(f+".id", "%q listed twice", t.ID)
		}
		seen[t.ID] = true
		for j, tr := range t.Trades {
			if !slices.Contains(v.Trades, tr) {
				bad(fmt.Sprintf("%s.trades[%d]", f, j), "%q is not one of the vendor's trades", tr)
			}
		}
		validDocs(f+".documents", t.Documents)
	}
	for _, tr := range sortedKeys(v.Rates) {
		r, f := v.Rates[tr], "rates."+tr
		if !slices.Contains(v.Trades, tr) {
			bad(f, "%q is not one of the vendor's trades", tr)
		}
		if !cloud.InRange(r.Hourly, 0, workorder.MaxHourlyRate) {
			bad(f+".hourly", "must be a number of USD in [0, %d]", workorder.MaxHourlyRate)
		}
		if !cloud.InRange(r.TripCharge, 0, MaxTripCharge) {
			bad(f+".trip_charge", "must be a number of USD in [0, %d]", MaxTripCharge)
		}
		if r.AfterHours != 0 && !(r.AfterHours >= 1 && r.AfterHours <= 5) {
			bad(f+".after_hours_multiplier", "must be in [1, 5]")
		}
	}
	for _, tr := range sortedKeys(v.NTE) {
		if !slices.Contains(v.Trades, tr) {
			bad("nte."+tr, "%q is not one of the vendor's trades", tr)
		}
		for _, p := range sortedKeys(v.NTE[tr]) {
			if !slices.Contains(rules.Priorities, p) {
				bad("nte."+tr+"."+p, "not a priority (want P1-P4)")
			}
			if n := v.NTE[tr][p]; !(n > 0 && n <= workorder.MaxNTE) {
				bad("nte."+tr+"."+p, "must be a number of USD in (0, %d]: leave the priority out to use the default", workorder.MaxNTE)
			}
		}
	}
	for _, p := range sortedKeys(v.SLA) {
		if !slices.Contains(rules.Priorities, p) {
			bad("sla."+p, "not a priority (want P1-P4)")
		}
		for _, e := range v.SLA[p].Validate("sla." + p) {
			field, msg, _ := strings.Cut(e.Error(), ": ")
			bad(field, "%s", msg)
		}
	}
	if d := v.DoNotDispatch; d != nil && strings.TrimSpace(d.Reason) == "" {
		bad("do_not_dispatch.reason", "say why the vendor may not be dispatched")
	}
	for i, c := range v.Contacts {
		if strings.TrimSpace(c.Name) == "" {
			bad(fmt.Sprintf("contacts[%d].name", i), "missing")
		}
		if c.Email == "" && c.Phone == "" {
			bad(fmt.Sprintf("contacts[%d]", i), "give an email or a phone")
		}
	}
	if v.Capacity < 0 {
		bad("capacity", "must not be negative")
	}
	for i, r := range v.Ranks {
		f := fmt.Sprintf("ranks[%d]", i)
		if r.Rank < 1 {
			bad(f+".rank", "must be 1 or more (1 is first choice)")
		}
		if r.Trade != "" && r.Trade != "*" && !slices.Contains(v.Trades, r.Trade) {
			bad(f+".trade", "%q is not one of the vendor's trades", r.Trade)
		}
	}
	return errors.Join(errs...)
}

func finiteNonNeg(f float64) bool { return f >= 0 && !math.IsInf(f, 0) }

// MaxTripCharge is the largest trip charge a rate table may hold, in USD.
const MaxTripCharge = 10_000

// NTEFor returns the vendor's default not-to-exceed for a trade and
// priority, and whether it has one. An NTE of 0 (kept from before
// Validate refused it) is none: it never means "no limit".
func (v *Vendor) NTEFor(trade, priority string) (float64, bool) {
	n, ok := v.NTE[trade][priority]
	return n, ok && n > 0 && n <= workorder.MaxNTE
}

// CommitmentFor returns the vendor's SLA commitment for a priority, or nil.
func (v *Vendor) CommitmentFor(priority string) *sla.Targets {
	if t, ok := v.SLA[priority]; ok {
		return &t
	}
	return nil
}

// RankAt returns the vendor's explicit rank for a site and trade, the most
// specific match winning (site and trade, then site, then trade, then
// any), or 0 when it has none.
func (v *Vendor) RankAt(site, trade string) int {
	best, bestSpec := 0, -1
	for _, r := range v.Ranks {
		siteOK := r.Site == "" || r.Site == "*" || r.Site == site
		tradeOK := r.Trade == "" || r.Trade == "*" || r.Trade == trade
		if !siteOK || !tradeOK {
			continue
		}
		spec := 0
		if r.Site == site {
			spec += 2
		}
		if r.Trade == trade {
			spec++
		}
		if spec > bestSpec {
			best, bestSpec = r.Rank, spec
		}
	}
	return best
}

// Expiring is a document that expires soon (or has expired).
type Expiring struct {
	Vendor     string    `json:"vendor"`
	Technician string    `json:"technician,omitempty"`
	Type       DocType   `json:"type"`
	ExpiresAt  time.Time `json:"expires_at"`
	Expired    bool      `json:"expired"`
}

// ExpiringDocuments lists the documents, of vendors and their technicians,
// that expire before now+within, soonest first. Expired ones are included
// and flagged, so the report is also the list of what is already blocking
// dispatch.
func ExpiringDocuments(vendors []Vendor, now time.Time, within time.Duration) []Expiring {
	var out []Expiring
	limit := now.Add(within)
	add := func(v, tech string, docs []Document) {
		for _, d := range docs {
			if d.ExpiresAt.Before(limit) {
				out = append(out, Expiring{Vendor: v, Technician: tech, Type: d.Type, ExpiresAt: d.ExpiresAt, Expired: !d.ValidOn(now)})
			}
		}
	}
	for i := range vendors {
		v := &vendors[i]
		add(v.ID, "", v.Documents)
		for _, t := range v.Technicians {
			add(v.ID, t.ID, t.Documents)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].ExpiresAt.Before(out[j].ExpiresAt) })
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
