package dispatch

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/frostline/frostline/cloud/sla"
	"github.com/frostline/frostline/cloud/workorder"
)

func met(m sla.Milestone, target time.Duration) sla.Result {
	return sla.Result{Milestone: m, Met: true, Target: target}
}

func missed(m sla.Milestone, target, late time.Duration) sla.Result {
	return sla.Result{Milestone: m, Target: target, Lateness: late}
}

// The fixture, computed by hand (domain notes §5):
//
//	acceptance     3 accepted of 5 offers (the withdrawn one does not count)  = 0.6
//	SLA            acknowledge 2/3 (mean lateness 30m), arrive 2/3 (1h),
//	               complete 2/3 (12h); credit (6 + 0 + 0.75 + 0.5) / 9       = 0.80556
//	first-time fix wo1 only (wo2 took two visits, wo3 was recalled)          = 1/3
//	verified fix   2 passed of 3 verifications                               = 2/3
//	recall         1 of 3 completed -> component 1 - 1/3                     = 2/3
//	cost index     (400 + 900 + 300) / (500 + 600 + 400) = 1.0667 -> 1.5 - it = 0.43333
//	check-in       3 compliant of 4                                          = 0.75
//	composite      .15*.6 + .25*.80556 + .2*.33333 + .15*.66667 + .1*.66667
//	               + .1*.43333 + .05*.75                                      = 0.60556
var fixture = []Outcome{
	{Vendor: "coolco", WorkOrder: "wo1", Response: Accepted, Completed: true, Visits: 1, Verification: VerifyPassed,
		SLA:  []sla.Result{met(sla.Acknowledge, 30*time.Minute), met(sla.Arrive, 4*time.Hour), met(sla.Complete, 24*time.Hour)},
		Cost: 400, PeerCost: 500, CheckIns: 1, CheckInsCompliant: 1},
	{Vendor: "coolco", WorkOrder: "wo2", Response: Accepted, Completed: true, Visits: 2, Verification: VerifyPassed,
		SLA:  []sla.Result{met(sla.Acknowledge, 30*time.Minute), missed(sla.Arrive, 4*time.Hour, time.Hour), met(sla.Complete, 24*time.Hour)},
		Cost: 900, PeerCost: 600, CheckIns: 2, CheckInsCompliant: 1},
	{Vendor: "coolco", WorkOrder: "wo3", Response: Accepted, Completed: true, Visits: 1, Recalled: true, Verification: VerifyFailed,
		SLA:  []sla.Result{missed(sla.Acknowledge, 30*time.Minute, 30*time.Minute), met(sla.Arrive, 4*time.Hour), missed(sla.Complete, 24*time.Hour, 12*time.Hour)},
		Cost: 300, PeerCost: 400, CheckIns: 1, CheckInsCompliant: 1},
	{Vendor: "coolco", WorkOrder: "wo4", Response: Declined},
	{Vendor: "coolco", WorkOrder: "wo5", Response: TimedOut},
	{Vendor: "coolco", WorkOrder: "wo6", Response: Withdrawn},
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-4 }

func TestScore(t *testing.T) {
	sc := Score("coolco", fixture, DefaultWeights())
	checks := []struct {
		name      string
		got, want float64
	}{
		{"acceptance", sc.Acceptance.Value(), 0.6},
		{"acknowledge met", sc.SLA[sla.Acknowledge].Met.Value(), 2.0 / 3},
		{"arrive met", sc.SLA[sla.Arrive].Met.Value(), 2.0 / 3},
		{"complete met", sc.SLA[sla.Complete].Met.Value(), 2.0 / 3},
		{"sla component", sc.Components["sla"], 7.25 / 9},
		{"first-time fix", sc.FirstTimeFix.Value(), 1.0 / 3},
		{"verified fix", sc.VerifiedFix.Value(), 2.0 / 3},
		{"recall", sc.Recall.Value(), 1.0 / 3},
		{"cost index", *sc.CostIndex, 1600.0 / 1500},
		{"cost component", sc.Components["cost"], 1.5 - 1600.0/1500},
		{"check-in", sc.CheckIn.Value(), 0.75},
		{"score", sc.Score, 0.605556},
	}
	for _, c := range checks {
		if !near(c.got, c.want) {
			t.Errorf("%s = %.5f, want %.5f", c.name, c.got, c.want)
		}
	}
	for m, want := range map[sla.Milestone]time.Duration{sla.Acknowledge: 30 * time.Minute, sla.Arrive: time.Hour, sla.Complete: 12 * time.Hour} {
		if got := sc.SLA[m].MeanLateness; got != want {
			t.Errorf("%s mean lateness %v, want %v", m, got, want)
		}
	}
	if sc.Outcomes != 6 {
		t.Errorf("outcomes %d", sc.Outcomes)
	}
	b, err := json.Marshal(sc)
	if err != nil || !strings.Contains(string(b), `"acceptance":{"n":3,"of":5,"value":0.6000}`) {
		t.Errorf("json %s %v", b, err)
	}
}

func TestScoreRenormalises(t *testing.T) {
	// Only offers: the score is the acceptance rate alone.
	sc := Score("new", []Outcome{{Response: Accepted}, {Response: Declined}, {Response: Accepted}, {Response: Accepted}}, DefaultWeights())
	if !near(sc.Score, 0.75) || len(sc.Components) != 1 {
		t.Errorf("score %v components %v", sc.Score, sc.Components)
	}
	// Nothing at all: no components, score 0, JSON still encodes.
	empty := Score("none", nil, DefaultWeights())
	if empty.Score != 0 || len(empty.Components) != 0 {
		t.Errorf("empty: %+v", empty)
	}
	if _, err := json.Marshal(empty); err != nil {
		t.Error(err)
	}
	// Much later than the target costs the whole milestone, not more.
	late := Score("late", []Outcome{{SLA: []sla.Result{missed(sla.Arrive, time.Hour, 5*time.Hour)}}}, DefaultWeights())
	if late.Components["sla"] != 0 {
		t.Errorf("sla component %v", late.Components["sla"])
	}
}

func TestCountVisits(t *testing.T) {
	at := func(m int) *time.Time { x := t0.Add(time.Duration(m) * time.Minute); return &x }
	visits := []workorder.Visit{
		{In: t0, Out: at(9)},         // too short
		{In: *at(60), Out: at(70)},   // exactly 10 minutes: counts
		{In: *at(120), Out: at(200)}, // counts
		{In: *at(300)},               // open: counts once 10 minutes have passed
	}
	if n := CountVisits(visits, *at(305)); n != 2 {
		t.Errorf("got %d, want 2", n)
	}
	if n := CountVisits(visits, *at(320)); n != 3 {
		t.Errorf("got %d, want 3", n)
	}
}

func TestScoreInvoiceAccuracy(t *testing.T) {
	tests := []struct {
		name      string
		outs      []Outcome
		n, of     int
		undefined bool
	}{
		{"none decided", []Outcome{{Vendor: "v", Response: Accepted, Completed: true}}, 0, 0, true},
		{"clean and disputed", []Outcome{
			{Vendor: "v", Response: Accepted, InvoiceDecided: true, InvoiceClean: true},
			{Vendor: "v", Response: Accepted, InvoiceDecided: true},
			{Vendor: "v", Response: Accepted, InvoiceDecided: true, InvoiceClean: true},
			{Vendor: "v", Response: Declined},
		}, 2, 3, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := Score("v", tt.outs, DefaultWeights())
			if sc.InvoiceAccuracy.N != tt.n || sc.InvoiceAccuracy.Of != tt.of || math.IsNaN(sc.InvoiceAccuracy.Value()) != tt.undefined {
				t.Errorf("invoice accuracy %+v", sc.InvoiceAccuracy)
			}
			if _, in := sc.Components["invoice_accuracy"]; in {
				t.Error("invoice accuracy is reported, not scored")
			}
		})
	}
}
