package analytics_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/analytics"
	"github.com/frostline/frostline/cloud/workorder"
)

// TestLabelsOutcomes reads work orders one by one: which become faults,
// which negatives, which say nothing, and the times each takes.
func TestLabelsOutcomes(t *testing.T) {
	from, to := at("2026-03-01 00:00"), at("2026-03-08 00:00")
	wo := func(id string, src workorder.Source, status workorder.Status, problem, created string, mod ...func(*workorder.WorkOrder)) *workorder.WorkOrder {
		w := &workorder.WorkOrder{ID: id, Site: "s1", Asset: "a-" + id, AssetClass: "walk_in_cooler", Source: src, Status: status,
			Problem: problem, CreatedAt: at(created), UpdatedAt: at(created).Add(5 * time.Hour)}
		for _, m := range mod {
			m(w)
		}
		return w
	}
	ev := func(event, started, when string) func(*workorder.WorkOrder) {
		return func(w *workorder.WorkOrder) {
			w.Evidence = append(w.Evidence, workorder.Evidence{Incident: "i-" + w.ID, Event: event, Started: ptr(at(started)), At: at(when)})
		}
	}
	done := func(problem, cause string) func(*workorder.WorkOrder) {
		return func(w *workorder.WorkOrder) {
			w.Completion = &workorder.Completion{Problem: problem, Cause: cause, Remedy: "r"}
		}
	}
	verified := func(when string) func(*workorder.WorkOrder) {
		return func(w *workorder.WorkOrder) { w.VerifiedAt = ptr(at(when)) }
	}
	visit := func(in, out string) func(*workorder.WorkOrder) {
		return func(w *workorder.WorkOrder) {
			w.Visits = append(w.Visits, workorder.Visit{In: at(in), Out: ptr(at(out))})
		}
	}
	wos := []*workorder.WorkOrder{
		// Faults.
		wo("temp", workorder.Sensor, workorder.Verified, "temp_high", "2026-03-02 10:00", ev("opened", "2026-03-02 09:40", "2026-03-02 10:00"),
			done("temp_high", "dirty_coil"), verified("2026-03-02 18:00")),
		wo("tech", workorder.Sensor, workorder.Closed, "temp_trend", "2026-03-03 10:00", ev("opened", "2026-03-03 09:00", "2026-03-03 10:00"),
			ev("cleared", "2026-03-03 09:00", "2026-03-03 15:00"), done("refrigerant_leak", "leak"), verified("2026-03-03 18:00")),
		// A rack's incidents name the cases and when the product breached.
		wo("rack", workorder.Sensor, workorder.Verified, "rack_failure", "2026-03-04 02:00", func(w *workorder.WorkOrder) {
			w.Evidence = append(w.Evidence,
				workorder.Evidence{Incident: "r1", Event: "cleared", Started: ptr(at("2026-03-04 01:50")), At: at("2026-03-04 05:00"),
					Affected: []string{"c1", "c2"}, BreachedAt: ptr(at("2026-03-04 03:10"))},
				workorder.Evidence{Incident: "r2", Event: "cleared", Started: ptr(at("2026-03-04 02:30")), At: at("2026-03-04 05:10"),
					Affected: []string{"c2", "c3"}, BreachedAt: ptr(at("2026-03-04 03:00"))})
		}, done("rack_failure", "tripped_breaker"), verified("2026-03-04 09:00")),
		wo("first", workorder.Sensor, workorder.Verified, "no_cooling", "2026-03-01 00:00", ev("opened", "2026-03-01 00:00", "2026-03-01 00:00"),
			ev("cleared", "2026-02-28 23:00", "2026-02-28 23:30"), done("no_cooling", "fan"), verified("2026-03-01 05:00")),
		// Negatives.
		wo("nff", workorder.Sensor, workorder.WorkComplete, "door_ajar", "2026-03-04 10:00", ev("opened", "2026-03-04 09:50", "2026-03-04 10:00"),
			done("door_ajar", " NFF "), visit("2026-03-04 11:00", "2026-03-04 11:30"), visit("2026-03-04 13:00", "2026-03-04 13:20")),
		wo("nffv", workorder.Sensor, workorder.Verified, "temp_high", "2026-03-05 10:00", ev("opened", "2026-03-05 09:50", "2026-03-05 10:00"),
			done("temp_high", "no_problem_found"), verified("2026-03-05 16:00")),
		wo("avoid", workorder.Sensor, workorder.Avoided, "temp_high", "2026-03-06 10:00"),
		// Nothing either way.
		wo("open", workorder.Sensor, workorder.InProgress, "temp_high", "2026-03-02 10:00", done("temp_high", "no_fault_found")),
		wo("reopened", workorder.Sensor, workorder.Reopened, "no_cooling", "2026-03-02 10:00", done("no_cooling", "fan")),
		wo("dup", workorder.Sensor, workorder.Duplicate, "no_cooling", "2026-03-02 10:00"),
		wo("cancel", workorder.Sensor, workorder.Cancelled, "no_cooling", "2026-03-02 10:00"),
		wo("manual", workorder.Manual, workorder.Verified, "noise", "2026-03-02 10:00", done("noise", "fan"), verified("2026-03-02 12:00")),
		wo("pm", workorder.Preventive, workorder.Verified, "pm", "2026-03-02 10:00", done("pm", "done"), verified("2026-03-02 12:00")),
		wo("late", workorder.Sensor, workorder.Verified, "no_cooling", "2026-03-08 00:00", done("no_cooling", "fan"), verified("2026-03-08 05:00")),
	}
	assets := []*cloud.Asset{{Site: "s2", ID: "b", Class: "walk_in_freezer"}, {Site: "s1", ID: "a", Class: "walk_in_cooler"}}
	l := analytics.Labels(from, to, assets, wos)

	if !l.Epoch.Equal(from) || !l.End.Equal(to) || len(l.Assets) != 2 || l.Assets[0].Site != "s1" {
		t.Errorf("epoch %v end %v assets %+v", l.Epoch, l.End, l.Assets)
	}
	var faults []string
	for _, f := range l.Faults {
		faults = append(faults, strings.Join([]string{f.Asset, f.Fault, f.Start.Format("02 15:04"), f.End.Format("02 15:04"), strings.Join(f.Accept, "+")}, " "))
	}
	want := []string{
		// Opened again after a clear: ends at verification, not at the clear.
		"a-first compressor_failure 28 23:00 01 05:00",
		// A problem that names no one fault stays itself; no clear: ends at verification.
		"a-temp temp_high 02 09:40 02 18:00",
		// The technician named the fault; the clear ends it.
		"a-tech refrigerant_leak 03 09:00 03 15:00",
		"a-rack rack_failure 04 01:50 04 05:10",
	}
	want[0] += " no_cooling+temp_high+temp_trend"
	want[1] += " temp_high"
	want[2] += " long_runtime+no_cooling+temp_high+temp_trend"
	want[3] += " compressor_failure+no_cooling+rack_failure+temp_high+temp_trend"
	if !slices.Equal(faults, want) {
		t.Errorf("faults\n got %q\nwant %q", faults, want)
	}
	for _, f := range l.Faults {
		switch {
		case f.Fault == "rack_failure":
			if !slices.Equal(f.Members, []string{"c1", "c2", "c3"}) || f.Breach == nil || !f.Breach.Equal(at("2026-03-04 03:00")) {
				t.Errorf("rack trip: members %v breach %v, want c1 c2 c3 and the earliest breach", f.Members, f.Breach)
			}
		case f.Members != nil || f.Breach != nil:
			t.Errorf("%s: members %v breach %v, want none", f.Asset, f.Members, f.Breach)
		}
	}
	var negs []string
	for _, n := range l.Negatives {
		negs = append(negs, strings.Join([]string{n.WorkOrder, n.Reason, n.Start.Format("02 15:04"), n.End.Format("02 15:04")}, " "))
	}
	wantNegs := []string{
		// No visit ended: the last visit's end. Verified but nothing found: still a negative.
		"nff no_fault_found 04 09:50 04 13:20",
		"nffv no_fault_found 05 09:50 05 15:00",
		// No evidence: from creation to the last change.
		"avoid avoided 06 10:00 06 15:00",
	}
	if !slices.Equal(negs, wantNegs) {
		t.Errorf("negatives\n got %q\nwant %q", negs, wantNegs)
	}
}
