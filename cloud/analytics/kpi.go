package analytics

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/frostline/frostline/cloud"
)

// Dimension is a way to slice the KPIs.
type Dimension string

// Dimensions.
const (
	Site       Dimension = "site"
	Region     Dimension = "region"
	Trade      Dimension = "trade"
	AssetClass Dimension = "asset_class"
	Vendor     Dimension = "vendor"
	Priority   Dimension = "priority"
	Source     Dimension = "source"
	Asset      Dimension = "asset"
)

// Dimensions lists every dimension, in the order groups are reported.
var Dimensions = []Dimension{Region, Site, Asset, AssetClass, Trade, Vendor, Priority, Source}

// ParseDimension reads a dimension name.
func ParseDimension(s string) (Dimension, bool) {
	d := Dimension(s)
	return d, slices.Contains(Dimensions, d)
}

// Query asks for the KPIs of the work orders matching Filter over the
// period [From, To), one Row per combination of the GroupBy dimensions (one
// Row for all when GroupBy is empty).
//
// Each KPI counts a work order in the period in which its own event fell:
// creation for created, completion rate, avoidance and preventive :
// reactive by count; an invoice's first submission for the dispute rate,
// its approval for the invoice cycle time (completion to approval); WORK_COMPLETE for MTTR, restore, first-time fix,
// recall, cost, NTE and documentation; acceptance and first check-in for
// the response times; the milestone's completion (or, still open, its due
// time once passed) for SLA; the due time for PM compliance. The backlog is
// taken at the end of the period, or now if that is earlier.
type Query struct {
	From, To time.Time
	// Now is the time the query is asked (for overdue milestones and a
	// backlog at a period still running).
	Now time.Time
	// Filter keeps the work orders whose dimension has the given value.
	Filter map[Dimension]string
	// GroupBy lists the dimensions to group by, without repeats.
	GroupBy []Dimension
	// Scope is the caller's: what it may not see is not counted.
	Scope cloud.Scope
}

// Validate checks a query, naming the field at fault.
func (q *Query) Validate() error {
	switch {
	case q.From.IsZero() || q.To.IsZero():
		return cloud.FieldError("from", "a period needs both from and to")
	case !q.From.Before(q.To):
		return cloud.FieldError("to", "to (%s) must be after from (%s)", q.To.Format(time.RFC3339), q.From.Format(time.RFC3339))
	case q.To.Sub(q.From) > 10*366*24*time.Hour:
		return cloud.FieldError("to", "a period is at most 10 years")
	}
	seen := map[Dimension]bool{}
	for _, d := range q.GroupBy {
		if !slices.Contains(Dimensions, d) {
			return cloud.FieldError("group_by", "unknown dimension %q (want %s)", d, dimensionList())
		}
		if seen[d] {
			return cloud.FieldError("group_by", "dimension %q given twice", d)
		}
		seen[d] = true
	}
	for d := range q.Filter {
		if !slices.Contains(Dimensions, d) {
			return cloud.FieldError(string(d), "unknown dimension %q", d)
		}
	}
	return nil
}

func dimensionList() string {
	s := make([]string, len(Dimensions))
	for i, d := range Dimensions {
		s[i] = string(d)
	}
	return strings.Join(s, ", ")
}

// Sums are what the store adds up per group; Finish turns them into KPIs.
// Durations are in seconds, costs in USD.
type Sums struct {
	Created         int64 // created in the period
	CreatedNet      int64 // of those, not cancelled, duplicate or avoided
	CreatedVerified int64 // of those, reached VERIFIED
	Avoided         int64 // created in the period and AVOIDED
	Incidents       int64 // incidents on work orders created in the period

	Completed   int64 // WORK_COMPLETE in the period
	FirstFixes  int64 // of those: one visit of >= 10 min, not recalled since
	Recalls     int64 // of those: flagged recall
	Documented  int64 // of those: cause, remedy and parts recorded
	CostSum     float64
	CostNonZero int64 // completed with a cost above $0
	WithNTE     int64 // completed with an NTE
	Overruns    int64 // of those, priced above it

	Repairs        int64 // completed in the period with a check-in before the restore
	RepairSeconds  float64
	Failures       int64 // corrective (not PM) work orders completed in the period
	RestoreSeconds float64
	// DowntimeSeconds is restore minus onset of those Failures, counted
	// from the period's start: what MTBF and availability subtract.
	DowntimeSeconds float64

	Accepts       int64 // accepted in the period
	AcceptSeconds float64
	OnSites       int64 // first on site in the period
	OnSiteSeconds float64

	Preventive, ConditionBased, Corrective             int64   // created in the period (net)
	PreventiveCost, ConditionBasedCost, CorrectiveCost float64 // completed in the period

	PMDue, PMOnTime int64

	// Invoices first submitted in the period, and of those the ones
	// disputed at least once; invoices approved in the period, those
	// with a completion, and the sum of completion to approval.
	Invoices, InvoicesDisputed      int64
	InvoicesApproved, InvoiceCycles int64
	InvoiceCycleSeconds             float64

	// The stores' ratings of verified visits given in the period: how
	// many, of those the ones called fixed, and the sum of their scores
	// (1 to 5).
	Ratings, RatingsFixed int64
	RatingScores          float64

	SLA [3]SLASums // acknowledge, arrive, complete

	Backlog      int64
	BacklogAge   [4]int64 // 0-2 d, 2-7 d, 7-30 d, 30 d and more
	BacklogByPri [4]int64 // P1..P4
	// Open by status now: new (new, triaged, awaiting approval, ready,
	// reopened), dispatched (dispatched, accepted), in progress, on hold,
	// verifying (work complete, verifying).
	OpenNew, OpenDispatched, OpenInProgress, OpenOnHold, OpenVerifying int64
}

// SLASums count one milestone.
type SLASums struct {
	Applicable, Met, Missed int64
	LateSeconds             float64
}

// Row is one group's KPIs.
type Row struct {
	// Group is the value of each GroupBy dimension.
	Group map[string]string `json:"group"`
	// Values are the KPIs by name (Names), nil where undefined (0/0).
	Values map[string]*float64 `json:"values"`
	Sums   Sums                `json:"-"`
}

// Report is a query's answer.
type Report struct {
	From    time.Time `json:"from"`
	To      time.Time `json:"to"`
	GroupBy []string  `json:"group_by"`
	Rows    []Row     `json:"rows"`
}

// Names are the KPIs of a Row, in report order. Rates are fractions
// (0..1), durations hours, costs USD; the names are those of the kpis
// measurement in InfluxDB (docs/telemetry.md) where it has them.
var Names = []string{
	"created", "completed", "avoided", "incidents",
	"backlog", "backlog_age_0_2d", "backlog_age_2_7d", "backlog_age_7_30d", "backlog_age_30d_plus",
	"open_p1", "open_p2", "open_p3", "open_p4",
	"open_new", "open_dispatched", "open_in_progress", "open_on_hold", "open_verifying",
	"mttr_hours", "time_to_restore_hours", "response_accept_hours", "response_onsite_hours",
	"first_time_fix_rate", "recall_rate", "recalls", "completion_rate",
	"sla_compliance", "sla_ack", "sla_arrive", "sla_complete", "sla_lateness_hours",
	"sla_ack_lateness_hours", "sla_arrive_lateness_hours", "sla_complete_lateness_hours",
	"cost_per_wo", "cost_per_wo_nonzero", "nte_overrun_rate",
	"pm_ratio", "pm_ratio_cost", "pm_compliance", "doc_completion", "call_avoidance_rate",
	"failures", "mtbf_hours", "availability",
	"invoices", "invoices_approved", "invoice_cycle_hours", "invoice_dispute_rate",
	"ratings", "store_rating", "store_fixed_rate",
}

// Finish computes a group's KPIs from its sums over a period of the given
// length. MTBF and availability are per asset, so they are given only
// when asset is true (the rows are assets).
func Finish(s Sums, period time.Duration, asset bool) map[string]*float64 {
	v := make(map[string]*float64, len(Names))
	num := func(name string, x float64) {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			v[name] = nil // a bad stored value (an overflowed cost) makes the KPI unknown, never the report fail
			return
		}
		v[name] = &x
	}
	ratio := func(name string, a, b float64) {
		if b > 0 {
			num(name, a/b)
		} else {
			v[name] = nil
		}
	}
	const hour = 3600.0
	num("created", float64(s.Created))
	num("completed", float64(s.Completed))
	num("avoided", float64(s.Avoided))
	num("incidents", float64(s.Incidents))
	num("backlog", float64(s.Backlog))
	for i, k := range []string{"backlog_age_0_2d", "backlog_age_2_7d", "backlog_age_7_30d", "backlog_age_30d_plus"} {
		num(k, float64(s.BacklogAge[i]))
	}
	for i := range s.BacklogByPri {
		num(fmt.Sprintf("open_p%d", i+1), float64(s.BacklogByPri[i]))
	}
	num("open_new", float64(s.OpenNew))
	num("open_dispatched", float64(s.OpenDispatched))
	num("open_in_progress", float64(s.OpenInProgress))
	num("open_on_hold", float64(s.OpenOnHold))
	num("open_verifying", float64(s.OpenVerifying))

	ratio("mttr_hours", s.RepairSeconds/hour, float64(s.Repairs))
	ratio("time_to_restore_hours", s.RestoreSeconds/hour, float64(s.Failures))
	ratio("response_accept_hours", s.AcceptSeconds/hour, float64(s.Accepts))
	ratio("response_onsite_hours", s.OnSiteSeconds/hour, float64(s.OnSites))
	ratio("first_time_fix_rate", float64(s.FirstFixes), float64(s.Completed))
	ratio("recall_rate", float64(s.Recalls), float64(s.Completed))
	num("recalls", float64(s.Recalls))
	ratio("completion_rate", float64(s.CreatedVerified), float64(s.CreatedNet))

	var app, met, missed int64
	var late float64
	for i, k := range []string{"ack", "arrive", "complete"} {
		m := s.SLA[i]
		ratio("sla_"+k, float64(m.Met), float64(m.Applicable))
		ratio("sla_"+k+"_lateness_hours", m.LateSeconds/hour, float64(m.Missed))
		app, met, missed, late = app+m.Applicable, met+m.Met, missed+m.Missed, late+m.LateSeconds
	}
	ratio("sla_compliance", float64(met), float64(app))
	ratio("sla_lateness_hours", late/hour, float64(missed))

	ratio("cost_per_wo", s.CostSum, float64(s.Completed))
	ratio("cost_per_wo_nonzero", s.CostSum, float64(s.CostNonZero))
	ratio("nte_overrun_rate", float64(s.Overruns), float64(s.WithNTE))
	ratio("pm_ratio", float64(s.Preventive+s.ConditionBased), float64(s.Corrective))
	ratio("pm_ratio_cost", s.PreventiveCost+s.ConditionBasedCost, s.CorrectiveCost)
	ratio("pm_compliance", float64(s.PMOnTime), float64(s.PMDue))
	ratio("doc_completion", float64(s.Documented), float64(s.Completed))
	ratio("call_avoidance_rate", float64(s.Avoided), float64(s.Created))

	num("invoices", float64(s.Invoices))
	num("invoices_approved", float64(s.InvoicesApproved))
	ratio("invoice_cycle_hours", s.InvoiceCycleSeconds/hour, float64(s.InvoiceCycles))
	ratio("invoice_dispute_rate", float64(s.InvoicesDisputed), float64(s.Invoices))

	num("ratings", float64(s.Ratings))
	ratio("store_rating", s.RatingScores, float64(s.Ratings))
	ratio("store_fixed_rate", float64(s.RatingsFixed), float64(s.Ratings))

	num("failures", float64(s.Failures))
	v["mtbf_hours"], v["availability"] = nil, nil
	if asset && period > 0 {
		up := max(period.Seconds()-s.DowntimeSeconds, 0)
		ratio("mtbf_hours", up/hour, float64(s.Failures))
		num("availability", up/period.Seconds())
	}
	return v
}
