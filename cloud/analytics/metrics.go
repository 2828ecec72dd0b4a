package analytics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/frostline/frostline/cloud"
)

// Collector exports the live KPI counts to Prometheus, computed at scrape
// time by one KPI query over the last 24 hours (about as costly as a
// one-day query in docs/benchmarks.md): the backlog by age and priority,
// work orders created, completed and avoided in the last day, and the
// day's rates and times. Register it on the service's registry.
type Collector struct {
	Source Querier
	// Timeout bounds the query (default 5 s); Now is the clock.
	Timeout time.Duration
	Now     func() time.Time
}

var (
	backlogDesc = prometheus.NewDesc("frostline_kpi_backlog_workorders",
		"Open work orders (the backlog) by age bucket and priority.", []string{"age", "priority"}, nil)
	dayCountDesc = prometheus.NewDesc("frostline_kpi_last_day_workorders",
		"Work orders created, completed (WORK_COMPLETE) and avoided in the last 24 hours.", []string{"event"}, nil)
	dayRatioDesc = prometheus.NewDesc("frostline_kpi_last_day_ratio",
		"KPI rates over the last 24 hours (0..1); absent when undefined.", []string{"kpi"}, nil)
	daySecondsDesc = prometheus.NewDesc("frostline_kpi_last_day_seconds",
		"KPI mean times over the last 24 hours; absent when undefined.", []string{"kpi"}, nil)
)

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- backlogDesc
	ch <- dayCountDesc
	ch <- dayRatioDesc
	ch <- daySecondsDesc
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	t := now()
	rep, err := c.Source.KPIs(ctx, Query{From: t.Add(-24 * time.Hour), To: t, Now: t, Scope: cloud.Scope{All: true},
		GroupBy: []Dimension{Priority}})
	if err != nil {
		ch <- prometheus.NewInvalidMetric(backlogDesc, err)
		return
	}
	var total Sums
	ages := []string{"0_2d", "2_7d", "7_30d", "30d_plus"}
	for _, row := range rep.Rows {
		s := row.Sums
		for i, a := range ages {
			ch <- prometheus.MustNewConstMetric(backlogDesc, prometheus.GaugeValue, float64(s.BacklogAge[i]), a, row.Group[string(Priority)])
		}
		total = add(total, s)
	}
	for _, e := range []struct {
		name string
		n    int64
	}{{"created", total.Created}, {"completed", total.Completed}, {"avoided", total.Avoided}} {
		ch <- prometheus.MustNewConstMetric(dayCountDesc, prometheus.GaugeValue, float64(e.n), e.name)
	}
	v := Finish(total, 24*time.Hour, false)
	for _, k := range []struct{ label, name string }{
		{"first_time_fix", "first_time_fix_rate"}, {"recall", "recall_rate"}, {"completion", "completion_rate"},
		{"sla_compliance", "sla_compliance"}, {"call_avoidance", "call_avoidance_rate"}, {"nte_overrun", "nte_overrun_rate"},
		{"invoice_dispute", "invoice_dispute_rate"}, {"store_fixed", "store_fixed_rate"},
	} {
		if x := v[k.name]; x != nil {
			ch <- prometheus.MustNewConstMetric(dayRatioDesc, prometheus.GaugeValue, *x, k.label)
		}
	}
	for _, k := range []struct{ label, name string }{
		{"mttr", "mttr_hours"}, {"time_to_restore", "time_to_restore_hours"},
		{"response_accept", "response_accept_hours"}, {"response_onsite", "response_onsite_hours"},
		{"invoice_cycle", "invoice_cycle_hours"},
	} {
		if x := v[k.name]; x != nil {
			ch <- prometheus.MustNewConstMetric(daySecondsDesc, prometheus.GaugeValue, *x*3600, k.label)
		}
	}
}

// add sums two groups' sums, for a total over groups.
func add(a, b Sums) Sums {
	a.Created += b.Created
	a.CreatedNet += b.CreatedNet
	a.CreatedVerified += b.CreatedVerified
	a.Avoided += b.Avoided
	a.Incidents += b.Incidents
	a.Completed += b.Completed
	a.FirstFixes += b.FirstFixes
	a.Recalls += b.Recalls
	a.Documented += b.Documented
	a.CostSum += b.CostSum
	a.CostNonZero += b.CostNonZero
	a.WithNTE += b.WithNTE
	a.Overruns += b.Overruns
	a.Repairs += b.Repairs
	a.RepairSeconds += b.RepairSeconds
	a.Failures += b.Failures
	a.RestoreSeconds += b.RestoreSeconds
	a.DowntimeSeconds += b.DowntimeSeconds
	a.Accepts += b.Accepts
	a.AcceptSeconds += b.AcceptSeconds
	a.OnSites += b.OnSites
	a.OnSiteSeconds += b.OnSiteSeconds
	a.Preventive += b.Preventive
	a.ConditionBased += b.ConditionBased
	a.Corrective += b.Corrective
	a.PreventiveCost += b.PreventiveCost
	a.ConditionBasedCost += b.ConditionBasedCost
	a.CorrectiveCost += b.CorrectiveCost
	a.PMDue += b.PMDue
	a.PMOnTime += b.PMOnTime
	a.Invoices += b.Invoices
	a.InvoicesDisputed += b.InvoicesDisputed
	a.InvoicesApproved += b.InvoicesApproved
	a.InvoiceCycles += b.InvoiceCycles
	a.InvoiceCycleSeconds += b.InvoiceCycleSeconds
	a.Ratings += b.Ratings
	a.RatingsFixed += b.RatingsFixed
	a.RatingScores += b.RatingScores
	for i := range a.SLA {
		a.SLA[i].Applicable += b.SLA[i].Applicable
		a.SLA[i].Met += b.SLA[i].Met
		a.SLA[i].Missed += b.SLA[i].Missed
		a.SLA[i].LateSeconds += b.SLA[i].LateSeconds
	}
	a.Backlog += b.Backlog
	for i := range a.BacklogAge {
		a.BacklogAge[i] += b.BacklogAge[i]
		a.BacklogByPri[i] += b.BacklogByPri[i]
	}
	a.OpenNew += b.OpenNew
	a.OpenDispatched += b.OpenDispatched
	a.OpenInProgress += b.OpenInProgress
	a.OpenOnHold += b.OpenOnHold
	a.OpenVerifying += b.OpenVerifying
	return a
}
