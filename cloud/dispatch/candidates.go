package dispatch

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/workorder"
	"github.com/frostline/frostline/rules"
)

// Reason is why a vendor was not a candidate. The empty Reason means it
// was eligible.
type Reason string

// Reasons a vendor is excluded, in the order they are checked.
const (
	Eligible              Reason = ""
	ReasonWrongTrade      Reason = "wrong_trade"             // does not work the work order's trade
	ReasonDeclined        Reason = "declined"                // declined this work order, or let it lapse
	ReasonDoNotDispatch   Reason = "do_not_dispatch"         // barred from new work
	ReasonOutOfCoverage   Reason = "out_of_coverage"         // the site is not in its coverage
	ReasonDocumentMissing Reason = "document_missing"        // a required document is not on file
	ReasonDocumentExpired Reason = "document_expired"        // a required document expires before the dispatch date
	ReasonNoTechnician    Reason = "no_certified_technician" // no technician holds the trade's documents
	ReasonAtCapacity      Reason = "at_capacity"             // holds as many open work orders as it takes
)

// Standing is a vendor as dispatch sees it at a moment: its record, how
// many open work orders it holds and its scorecard (nil: no history).
type Standing struct {
	Vendor    *Vendor
	Open      int
	Scorecard *Scorecard
}

// Breakdown is what a vendor was ranked on.
type Breakdown struct {
	// Warranty is set for the asset's warranty provider, which goes first.
	Warranty bool `json:"warranty,omitempty"`
	// Rank is the explicit site/trade rank, 0 when none.
	Rank int `json:"rank,omitempty"`
	// Score is the scorecard's composite, or the new-vendor score when
	// Scored is false.
	Score  float64 `json:"score"`
	Scored bool    `json:"scored"`
	// DistanceKM is from the vendor's centre to the site; nil unknown.
	DistanceKM *float64 `json:"distance_km,omitempty"`
	// Cost is the estimated visit: trip charge plus estimated hours at the
	// hourly rate, times the after-hours multiplier when AfterHours; nil
	// when the vendor has no rate for the trade.
	Cost       *float64 `json:"estimated_cost,omitempty"`
	AfterHours bool     `json:"after_hours,omitempty"`
	Internal   bool     `json:"internal,omitempty"`
}

// Candidate is one vendor's place in a decision: excluded with a reason,
// or eligible at a position with what it was ranked on.
type Candidate struct {
	Vendor string `json:"vendor"`
	Name   string `json:"name,omitempty"`
	// Reason and Detail explain an exclusion ("document_expired",
	// "coi_general_liability expired 2026-10-31").
	Reason Reason `json:"excluded,omitempty"`
	// Position is the place among eligible vendors, 1 first.
	Position  int        `json:"position,omitempty"`
	Breakdown *Breakdown `json:"breakdown,omitempty"`

	// facts behind Reason, formatted by Detail only when someone reads
	// them: a decision over 10,000 vendors then costs no string per
	// excluded vendor. Nil for reasons that need no detail, which keeps
	// the Excluded slice small (most of a large pool is wrong_trade).
	facts *facts
}

// facts are what an exclusion was decided on.
type facts struct {
	text      string // a fixed explanation (do-not-dispatch reason)
	doc       DocType
	tech      string
	expired   time.Time // zero: missing
	from, to  *rules.Location
	radius    float64
	open, cap int
}

// Detail explains the exclusion in a few words.
func (c *Candidate) Detail() string { return c.facts.detail(c.Reason) }

func (f *facts) detail(r Reason) string {
	switch {
	case f == nil:
		return ""
	case f.text != "":
		return f.text
	case r == ReasonOutOfCoverage:
		return fmt.Sprintf("%.1f km away, radius %.0f km", haversineKM(*f.from, *f.to), f.radius)
	case r == ReasonAtCapacity:
		return fmt.Sprintf("%d open of %d", f.open, f.cap)
	case r == ReasonDocumentMissing || r == ReasonDocumentExpired || r == ReasonNoTechnician:
		d := string(f.doc)
		if f.expired.IsZero() {
			d += " missing"
		} else {
			d += " expired " + f.expired.Format(time.DateOnly)
		}
		if f.tech != "" {
			d = "technician " + f.tech + ": " + d
		}
		return d
	}
	return ""
}

// MarshalJSON writes the candidate with its detail.
func (c Candidate) MarshalJSON() ([]byte, error) {
	type plain Candidate
	return json.Marshal(struct {
		plain
		Detail string `json:"detail,omitempty"`
	}{plain(c), c.Detail()})
}

// UnmarshalJSON reads a stored candidate; its detail comes back as text.
func (c *Candidate) UnmarshalJSON(b []byte) error {
	type plain Candidate
	var x struct {
		plain
		Detail string `json:"detail"`
	}
	if err := json.Unmarshal(b, &x); err != nil {
		return err
	}
	*c = Candidate(x.plain)
	if x.Detail != "" {
		c.facts = &facts{text: x.Detail}
	}
	return nil
}

// Decision is the explained outcome of Candidates. It is stored on the
// work order and shown in the API and the page.
type Decision struct {
	WorkOrder string    `json:"work_order"`
	Site      string    `json:"site"`
	Trade     string    `json:"trade"`
	At        time.Time `json:"at"`
	// Warranty names the provider the asset's warranty sends the work to,
	// when the asset is under warranty on the dispatch date.
	Warranty string `json:"warranty_provider,omitempty"`
	Order    []Key  `json:"order"`
	// Eligible vendors, best first; Excluded ones, in the pool's order.
	Eligible []Candidate `json:"eligible"`
	Excluded []Candidate `json:"excluded"`
	// Omitted counts exclusions left out of Excluded by Compact.
	Omitted map[Reason]int `json:"omitted,omitempty"`
}

// Compact returns the decision without the exclusions nobody needs to
// read one by one (vendors of another trade, or out of coverage), counted
// in Omitted instead: what a store keeps on the work order when the pool
// is nationwide. Every vendor that could have gone is still explained.
func (d *Decision) Compact() Decision {
	c := *d
	c.Excluded = make([]Candidate, 0, 16)
	c.Omitted = map[Reason]int{}
	for k, v := range d.Omitted {
		c.Omitted[k] = v
	}
	for _, x := range d.Excluded {
		if x.Reason == ReasonWrongTrade || x.Reason == ReasonOutOfCoverage {
			c.Omitted[x.Reason]++
			continue
		}
		c.Excluded = append(c.Excluded, x)
	}
	return c
}

// Chosen returns the vendor to offer the work order to first.
func (d *Decision) Chosen() (Candidate, bool) {
	if len(d.Eligible) == 0 {
		return Candidate{}, false
	}
	return d.Eligible[0], true
}

// Queue returns the eligible vendors' ids, best first: the order offers go
// out in.
func (d *Decision) Queue() []string {
	q := make([]string, len(d.Eligible))
	for i, c := range d.Eligible {
		q[i] = c.Vendor
	}
	return q
}

// Candidates decides which vendors may be sent to a work order at a time,
// and in what order. A vendor is eligible when it works the trade, has not
// declined the work order, is not barred, covers the site (the warranty
// provider need not), holds every required document valid on the day and,
// for trades that need them, has a technician with valid personal
// documents, and has room under its capacity. Eligible vendors are ranked:
// the asset's warranty provider (under warranty) first, then by the keys of
// r.Order, then by id so that the order is total and repeatable. The
// warranty names its provider by vendor id, or by name for a vendor flagged
// as a warranty provider.
//
// site and asset may be nil (a site with no location cannot be measured
// against a radius; an unknown asset has no warranty).
func Candidates(wo *workorder.WorkOrder, site *cloud.Site, asset *cloud.Asset, vendors []Standing, at time.Time, r *Rules) Decision {
	return candidates(wo, site, asset, vendors, at, r, false)
}

// CompactCandidates is Candidates(...).Compact() without building the
// exclusions it would drop: vendors of another trade or elsewhere are
// only counted. It is what the service keeps, and over a large pool it
// allocates a small fraction of what Candidates does.
func CompactCandidates(wo *workorder.WorkOrder, site *cloud.Site, asset *cloud.Asset, vendors []Standing, at time.Time, r *Rules) Decision {
	return candidates(wo, site, asset, vendors, at, r, true)
}

func candidates(wo *workorder.WorkOrder, site *cloud.Site, asset *cloud.Asset, vendors []Standing, at time.Time, r *Rules, compact bool) Decision {
	d := Decision{WorkOrder: wo.ID, Site: wo.Site, Trade: wo.Trade, At: at, Order: r.Order}
	if compact {
		d.Excluded, d.Omitted = make([]Candidate, 0, 16), map[Reason]int{}
	} else {
		d.Excluded = make([]Candidate, 0, len(vendors))
	}
	warranty := wo.Warranty
	if asset != nil && asset.UnderWarranty(at) && asset.Warranty.Provider != "" {
		warranty = asset.Warranty.Provider
	}
	d.Warranty = warranty
	var loc *rules.Location
	if site != nil {
		loc = site.Location
	}
	afterHours := false
	if r.BusinessHours != nil {
		afterHours = !r.BusinessHours.Open(at, siteZone(site))
	}
	// ranked is kept small: the sort moves it around.
	type ranked struct {
		v *Vendor
		b *Breakdown
	}
	eligible := make([]ranked, 0, 16)
	var details slab
	for i := range vendors {
		s := &vendors[i]
		v := s.Vendor
		isWarranty := warranty != "" && (v.ID == warranty || (v.WarrantyProvider && v.Name == warranty))
		reason, f := screen(v, s.Open, wo, loc, isWarranty, at, r)
		if reason != Eligible {
			if compact && (reason == ReasonWrongTrade || reason == ReasonOutOfCoverage) {
				d.Omitted[reason]++
				continue
			}
			d.Excluded = append(d.Excluded, Candidate{Vendor: v.ID, Name: v.Name, Reason: reason, facts: details.put(f)})
			continue
		}
		b := &Breakdown{Warranty: isWarranty, Rank: v.RankAt(wo.Site, wo.Trade), Score: r.NewVendorScore,
			AfterHours: afterHours, Internal: v.Kind == Internal}
		if sc := s.Scorecard; sc != nil && sc.Outcomes >= r.MinOutcomes && len(sc.Components) > 0 {
			b.Score, b.Scored = sc.Score, true
		}
		if loc != nil && v.Coverage.Center != nil {
			km := math.Round(haversineKM(*v.Coverage.Center, *loc)*100) / 100
			b.DistanceKM = &km
		}
		if rate, ok := v.Rates[wo.Trade]; ok {
			hourly := rate.Hourly
			if afterHours && rate.AfterHours > 0 {
				hourly *= rate.AfterHours
			}
			c := rate.TripCharge + hourly*r.EstimateHours
			b.Cost = &c
		}
		eligible = append(eligible, ranked{v, b})
	}
	slices.SortFunc(eligible, func(a, b ranked) int { return compare(a.b, b.b, a.v.ID, b.v.ID, r) })
	d.Eligible = make([]Candidate, len(eligible))
	for i, e := range eligible {
		d.Eligible[i] = Candidate{Vendor: e.v.ID, Name: e.v.Name, Position: i + 1, Breakdown: e.b}
	}
	return d
}

// screen returns why a vendor may not be sent, or Eligible.
func screen(v *Vendor, open int, wo *workorder.WorkOrder, loc *rules.Location, warranty bool, at time.Time, r *Rules) (Reason, facts) {
	if !slices.Contains(v.Trades, wo.Trade) {
		return ReasonWrongTrade, facts{}
	}
	if slices.Contains(wo.Declined, v.ID) {
		return ReasonDeclined, facts{}
	}
	if v.DoNotDispatch != nil {
		return ReasonDoNotDispatch, facts{text: v.DoNotDispatch.Reason}
	}
	if !warranty {
		if ok, f := covers(&v.Coverage, wo.Site, loc); !ok {
			return ReasonOutOfCoverage, f
		}
	}
	if reason, f := comply(v, wo.Trade, "", at, r); reason != Eligible {
		return reason, f
	}
	if v.Capacity > 0 && open >= v.Capacity {
		return ReasonAtCapacity, facts{open: open, cap: v.Capacity}
	}
	return Eligible, facts{}
}

// slab hands out facts from blocks, so that a decision over a large pool
// makes a few dozen allocations rather than one per excluded vendor.
type slab struct{ block []facts }

func (s *slab) put(f facts) *facts {
	if f == (facts{}) {
		return nil
	}
	if len(s.block) == cap(s.block) {
		s.block = make([]facts, 0, 256) // a new block: pointers into the old one stay valid
	}
	s.block = append(s.block, f)
	return &s.block[len(s.block)-1]
}

// covers reports whether a vendor's coverage includes a site.
func covers(c *Coverage, site string, loc *rules.Location) (bool, facts) {
	if slices.Contains(c.Sites, site) {
		return true, facts{}
	}
	if c.Center == nil {
		return false, facts{text: "site not listed"}
	}
	if loc == nil {
		return false, facts{text: "site has no location to measure the radius against"}
	}
	// The great-circle distance is at least the difference in latitude,
	// so most of a nationwide pool is ruled out without trigonometry.
	if math.Abs(c.Center.Lat-loc.Lat)*kmPerDegree > c.RadiusKM || haversineKM(*c.Center, *loc) > c.RadiusKM {
		return false, facts{from: c.Center, to: loc, radius: c.RadiusKM}
	}
	return true, facts{}
}

// Comply checks a vendor's compliance on a day for a trade: its own
// documents and, for trades that need them, a technician's. With a
// technician named (at accept, at check-in) that technician must hold
// them; without, any technician who works the trade will do. It returns
// Eligible, or the reason and what is wrong.
func Comply(v *Vendor, trade, technician string, at time.Time, r *Rules) (Reason, string) {
	reason, f := comply(v, trade, technician, at, r)
	return reason, f.detail(reason)
}

func comply(v *Vendor, trade, technician string, at time.Time, r *Rules) (Reason, facts) {
	if v.DoNotDispatch != nil {
		return ReasonDoNotDispatch, facts{text: v.DoNotDispatch.Reason}
	}
	if !(v.Kind == Internal && r.Documents.InternalExempt) {
		for _, list := range [][]DocType{r.Documents.All, r.Documents.Trades[trade]} {
			for _, t := range list {
				if reason, f := holds(v.Documents, t, at); reason != Eligible {
					return reason, f
				}
			}
		}
	}
	need := r.Documents.Technician[trade]
	if len(need) == 0 && (technician == "" || len(v.Technicians) == 0) {
		return Eligible, facts{}
	}
	var f facts
	seen := false
	for i := range v.Technicians {
		t := &v.Technicians[i]
		if (technician != "" && t.ID != technician) || !t.works(trade) {
			continue
		}
		reason, tf := Eligible, facts{}
		for _, dt := range need {
			if reason, tf = holds(t.Documents, dt, at); reason != Eligible {
				break
			}
		}
		if reason == Eligible {
			return Eligible, facts{}
		}
		tf.tech = t.ID
		f, seen = tf, true
	}
	if !seen {
		// Built only here: comply runs for every vendor of a large pool.
		f.text = "no technician for " + trade + " on file"
		if technician != "" {
			f.text = "technician " + technician + " is not on file for " + trade
		}
	}
	return ReasonNoTechnician, f
}

// holds checks that docs include a document of type t valid at at; with
// several of a type (a renewal uploaded early) any valid one will do.
func holds(docs []Document, t DocType, at time.Time) (Reason, facts) {
	found := false
	var latest time.Time
	for i := range docs {
		if docs[i].Type != t {
			continue
		}
		if docs[i].ValidOn(at) {
			return Eligible, facts{}
		}
		found = true
		if docs[i].ExpiresAt.After(latest) {
			latest = docs[i].ExpiresAt
		}
	}
	if !found {
		return ReasonDocumentMissing, facts{doc: t}
	}
	return ReasonDocumentExpired, facts{doc: t, expired: latest}
}

// compare orders two eligible vendors: warranty first, then r.Order, then
// id.
func compare(a, b *Breakdown, aID, bID string, r *Rules) int {
	if a.Warranty != b.Warranty {
		if a.Warranty {
			return -1
		}
		return 1
	}
	for _, k := range r.Order {
		var c int
		switch k {
		case ByRank:
			c = cmp.Compare(rankKey(a.Rank), rankKey(b.Rank))
		case ByScore:
			c = -cmp.Compare(bucket(a.Score, r.Buckets.Score), bucket(b.Score, r.Buckets.Score))
		case ByDistance:
			c = cmp.Compare(bucketPtr(a.DistanceKM, r.Buckets.DistanceKM), bucketPtr(b.DistanceKM, r.Buckets.DistanceKM))
		case ByCost:
			c = cmp.Compare(bucketPtr(a.Cost, r.Buckets.CostUSD), bucketPtr(b.Cost, r.Buckets.CostUSD))
		case ByInternal:
			c = -cmp.Compare(b2i(a.Internal), b2i(b.Internal))
		}
		if c != 0 {
			return c
		}
	}
	return cmp.Compare(aID, bID)
}

func rankKey(r int) int {
	if r <= 0 {
		return math.MaxInt
	}
	return r
}

// bucket maps v to its bucket's floor; width 0 keeps v.
func bucket(v, width float64) float64 {
	if width <= 0 {
		return v
	}
	return math.Floor(v / width)
}

// bucketPtr is bucket for an optional value; unknown sorts last.
func bucketPtr(v *float64, width float64) float64 {
	if v == nil {
		return math.Inf(1)
	}
	return bucket(*v, width)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

const earthKM = 6371.0

// kmPerDegree is the length of a degree of latitude.
const kmPerDegree = earthKM * math.Pi / 180

// haversineKM is the great-circle distance in kilometres.
func haversineKM(a, b rules.Location) float64 {
	const r = earthKM
	rad := math.Pi / 180
	dlat, dlon := (b.Lat-a.Lat)*rad, (b.Lon-a.Lon)*rad
	h := math.Sin(dlat/2)*math.Sin(dlat/2) + math.Cos(a.Lat*rad)*math.Cos(b.Lat*rad)*math.Sin(dlon/2)*math.Sin(dlon/2)
	return 2 * r * math.Asin(math.Sqrt(math.Min(1, h)))
}

// siteZone returns the site's time zone, UTC when unknown.
func siteZone(site *cloud.Site) *time.Location {
	if site == nil || site.Timezone == "" {
		return time.UTC
	}
	if l, err := time.LoadLocation(site.Timezone); err == nil {
		return l
	}
	return time.UTC
}
