package dispatch

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/frostline/frostline/cloud/sla"
	"github.com/frostline/frostline/cloud/workorder"
)

// Response is how a vendor answered an offer.
type Response string

// Responses.
const (
	Pending      Response = "pending"
	Accepted     Response = "accepted"
	Declined     Response = "declined"
	TimedOut     Response = "timed_out"    // no answer within the acceptance window
	Noncompliant Response = "noncompliant" // accepted, but failed the compliance re-check
	Withdrawn    Response = "withdrawn"    // the work order was cancelled or reassigned by a person
)

// Verification is how the sensor judged a fix.
type Verification string

// Verifications.
const (
	NotVerified  Verification = ""       // no sensor verification (a manual work order, no data)
	VerifyPassed Verification = "passed" // in range for the whole window: VERIFIED
	VerifyFailed Verification = "failed" // the fault came back: REOPENED
)

// Outcome is the record of one offer of one work order to one vendor,
// and, when the vendor took it, of how the work went. Scorecards are
// computed from these.
type Outcome struct {
	Vendor    string    `json:"vendor"`
	Trade     string    `json:"trade"`
	WorkOrder string    `json:"work_order"`
	Offered   time.Time `json:"offered"`
	Response  Response  `json:"response"`
	// SLA holds the result of each milestone that had a target.
	SLA []sla.Result `json:"sla,omitempty"`
	// Completed is set when the vendor's work reached WORK_COMPLETE.
	Completed bool `json:"completed,omitempty"`
	// Visits counts visits of at least MinVisit (see CountVisits).
	Visits int `json:"visits,omitempty"`
	// Recalled is set when the same problem on the same asset came back
	// within the recall window (30 days).
	Recalled     bool         `json:"recalled,omitempty"`
	Verification Verification `json:"verification,omitempty"`
	// Cost is what the work cost; PeerCost the average cost of comparable
	// work orders (same trade and priority) by other vendors; 0 unknown.
	Cost     float64 `json:"cost,omitempty"`
	PeerCost float64 `json:"peer_cost,omitempty"`
	// CheckIns counts check-ins; CheckInsCompliant those inside the
	// geofence without an override.
	CheckIns          int `json:"check_ins,omitempty"`
	CheckInsCompliant int `json:"check_ins_compliant,omitempty"`
	// Rating is the store's say on the visit, once verified (rating.go).
	Rating *StoreRating `json:"rating,omitempty"`
	// InvoiceDecided is set when the vendor's invoice for the work was
	// approved or rejected; InvoiceClean when it was approved without a
	// dispute (see InvoiceDecided).
	InvoiceDecided bool `json:"invoice_decided,omitempty"`
	InvoiceClean   bool `json:"invoice_clean,omitempty"`
}

// MinVisit is the shortest check-in that counts as a visit (domain notes
// §4: check-ins under 10 minutes don't count).
const MinVisit = 10 * time.Minute

// CountVisits counts the visits that last at least MinVisit; an open visit
// counts once it has.
func CountVisits(visits []workorder.Visit, now time.Time) int {
	n := 0
	for _, v := range visits {
		out := now
		if v.Out != nil {
			out = *v.Out
		}
		if out.Sub(v.In) >= MinVisit {
			n++
		}
	}
	return n
}

// Ratio is a fraction with its sample: N of Of. Value is NaN when Of is 0;
// JSON writes it as null.
type Ratio struct {
	N  int `json:"n"`
	Of int `json:"of"`
}

// Value returns N/Of, or NaN without a sample.
func (r Ratio) Value() float64 {
	if r.Of == 0 {
		return math.NaN()
	}
	return float64(r.N) / float64(r.Of)
}

// MarshalJSON writes {"n":..,"of":..,"value":..}.
func (r Ratio) MarshalJSON() ([]byte, error) {
	if r.Of == 0 {
		return fmt.Appendf(nil, `{"n":%d,"of":%d,"value":null}`, r.N, r.Of), nil
	}
	return fmt.Appendf(nil, `{"n":%d,"of":%d,"value":%.4f}`, r.N, r.Of, r.Value()), nil
}

// Milestone is SLA compliance for one milestone.
type Milestone struct {
	Met Ratio `json:"met"`
	// MeanLateness is the mean lateness of the misses.
	MeanLateness time.Duration `json:"mean_lateness"`
}

// Scorecard is a vendor's record over a set of outcomes.
type Scorecard struct {
	Vendor   string `json:"vendor"`
	Outcomes int    `json:"outcomes"`
	// Acceptance is accepted / offered (declines, lapses and failed
	// compliance re-checks count against it; withdrawn offers do not).
	Acceptance Ratio `json:"acceptance"`
	// SLA is met-by-due / applicable per milestone.
	SLA map[sla.Milestone]Milestone `json:"sla"`
	// FirstTimeFix is completed work orders with exactly one visit and no
	// recall / completed (domain notes §5).
	FirstTimeFix Ratio `json:"first_time_fix"`
	// VerifiedFix is sensor-verified fixes / sensor verifications.
	VerifiedFix Ratio `json:"verified_fix"`
	// Recall is recalled / completed.
	Recall Ratio `json:"recall"`
	// CostIndex is the vendor's cost over its peers' for the same work
	// orders: 1 is average, 0.8 is 20% cheaper. Nil without costs.
	CostIndex *float64 `json:"cost_index"`
	// CheckIn is compliant check-ins / check-ins.
	CheckIn Ratio `json:"check_in"`
	// Ratings is what stores said of the vendor's verified visits
	// (rating.go); not part of Score.
	Ratings Ratings `json:"ratings"`
	// InvoiceAccuracy is invoices approved without a dispute / invoices
	// decided (approved or rejected). Reported, not in the score.
	InvoiceAccuracy Ratio `json:"invoice_accuracy"`
	// Score is the composite in [0, 1] that ranking uses; Components are
	// what it was made of (each in [0, 1]). Without any component the
	// score is 0 and Rules.NewVendorScore stands in for it.
	Score      float64            `json:"score"`
	Components map[string]float64 `json:"components"`
}

// Weights combine a scorecard's rates into its composite score. A rate
// with no sample is left out and the others' weights scaled up.
type Weights struct {
	Acceptance   float64 `yaml:"acceptance" json:"acceptance"`
	SLA          float64 `yaml:"sla" json:"sla"`
	FirstTimeFix float64 `yaml:"first_time_fix" json:"first_time_fix"`
	VerifiedFix  float64 `yaml:"verified_fix" json:"verified_fix"`
	Recall       float64 `yaml:"recall" json:"recall"`
	Cost         float64 `yaml:"cost" json:"cost"`
	CheckIn      float64 `yaml:"check_in" json:"check_in"`
}

// DefaultWeights weigh what a store feels most: being on time and fixing
// it the first time, verified by the sensor.
func DefaultWeights() Weights {
	return Weights{Acceptance: 0.15, SLA: 0.25, FirstTimeFix: 0.2, VerifiedFix: 0.15, Recall: 0.1, Cost: 0.1, CheckIn: 0.05}
}

func (w *Weights) problems() []problem {
	var out []problem
	sum := 0.0
	for _, f := range []struct {
		name string
		v    float64
	}{{"acceptance", w.Acceptance}, {"sla", w.SLA}, {"first_time_fix", w.FirstTimeFix}, {"verified_fix", w.VerifiedFix},
		{"recall", w.Recall}, {"cost", w.Cost}, {"check_in", w.CheckIn}} {
		if !finiteNonNeg(f.v) {
			out = append(out, problem{f.name, "must be a number >= 0"})
		}
		sum += f.v
	}
	if len(out) == 0 && sum == 0 {
		out = append(out, problem{"acceptance", "at least one weight must be positive"})
	}
	return out
}

// Score computes a vendor's scorecard from its outcome records. The
// caller picks the records (a vendor, a trade, a period).
//
// The composite is the weighted mean of these components, each in [0, 1]:
// acceptance rate; SLA compliance over all milestones, where a miss counts
// 1 - lateness/target (a little late costs a little, twice the target or
// more costs all); first-time-fix rate; verified-fix rate; 1 - recall
// rate; cost, 1.5 - cost index clamped to [0, 1] (peer average scores
// 0.5, two thirds of it or less scores 1); check-in compliance.
func Score(vendor string, outcomes []Outcome, w Weights) Scorecard {
	sc := Scorecard{Vendor: vendor, Outcomes: len(outcomes), SLA: map[sla.Milestone]Milestone{}, Components: map[string]float64{}}
	late := map[sla.Milestone]time.Duration{}
	var slaCredit float64
	var slaN int
	var cost, peer float64
	for _, o := range outcomes {
		switch o.Response {
		case Accepted:
			sc.Acceptance.N++
			sc.Acceptance.Of++
		case Declined, TimedOut, Noncompliant:
			sc.Acceptance.Of++
		}
		for _, r := range o.SLA {
			m := sc.SLA[r.Milestone]
			m.Met.Of++
			slaN++
			if r.Met {
				m.Met.N++
				slaCredit++
			} else {
				late[r.Milestone] += r.Lateness
				if target := r.Target; target > 0 {
					slaCredit += math.Max(0, 1-float64(r.Lateness)/float64(target))
				}
			}
			sc.SLA[r.Milestone] = m
		}
		if o.Completed {
			sc.FirstTimeFix.Of++
			sc.Recall.Of++
			if o.Visits == 1 && !o.Recalled {
				sc.FirstTimeFix.N++
			}
			if o.Recalled {
				sc.Recall.N++
			}
			if o.Cost > 0 && o.PeerCost > 0 {
				cost += o.Cost
				peer += o.PeerCost
			}
		}
		switch o.Verification {
		case VerifyPassed:
			sc.VerifiedFix.N++
			sc.VerifiedFix.Of++
		case VerifyFailed:
			sc.VerifiedFix.Of++
		}
		sc.CheckIn.N += o.CheckInsCompliant
		sc.CheckIn.Of += o.CheckIns
		if o.InvoiceDecided {
			sc.InvoiceAccuracy.Of++
			if o.InvoiceClean {
				sc.InvoiceAccuracy.N++
			}
		}
	}
	comp := sc.Components
	for k, m := range sc.SLA {
		if miss := m.Met.Of - m.Met.N; miss > 0 {
			m.MeanLateness = late[k] / time.Duration(miss)
			sc.SLA[k] = m
		}
	}
	if peer > 0 {
		ci := cost / peer
		sc.CostIndex = &ci
		comp["cost"] = math.Min(1, math.Max(0, 1.5-ci))
	}
	put := func(name string, v float64) {
		if !math.IsNaN(v) {
			comp[name] = v
		}
	}
	put("acceptance", sc.Acceptance.Value())
	if slaN > 0 {
		put("sla", slaCredit/float64(slaN))
	}
	put("first_time_fix", sc.FirstTimeFix.Value())
	put("verified_fix", sc.VerifiedFix.Value())
	put("recall", 1-sc.Recall.Value())
	put("check_in", sc.CheckIn.Value())
	weights := map[string]float64{"acceptance": w.Acceptance, "sla": w.SLA, "first_time_fix": w.FirstTimeFix,
		"verified_fix": w.VerifiedFix, "recall": w.Recall, "cost": w.Cost, "check_in": w.CheckIn}
	// Summed in a fixed order: a map's order would move the score's last
	// bits from one call to the next, and ranking ties with it.
	var sum, wsum float64
	for _, name := range slices.Sorted(maps.Keys(comp)) {
		sum += weights[name] * comp[name]
		wsum += weights[name]
	}
	if wsum > 0 {
		sc.Score = sum / wsum
	}
	sc.Ratings = rated(outcomes)
	return sc
}
