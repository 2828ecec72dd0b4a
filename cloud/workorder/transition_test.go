package workorder

import (
	"testing"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/rules"
)

var t0 = time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)

// at builds a work order in a state by replaying a plausible history.
func inState(t *testing.T, s Status) *WorkOrder {
	t.Helper()
	w := &WorkOrder{}
	var ev []Event
	w.record(&ev, Event{Kind: Created, At: t0, Opening: &Opening{ID: "wo_1", Number: 1, Site: "s1", Asset: "a1", Source: Sensor, Problem: "temp_high", Trade: "refrigeration", Priority: "P2"}})
	w.Status = s // shortcut: the table is what is under test
	w.NTE = 750  // a dispatch always carries an NTE
	return w
}

func ptr[T any](v T) *T { return &v }

func TestAct(t *testing.T) {
	site := &cloud.Site{ID: "s1", Location: &rules.Location{Lat: 52.0, Lon: 4.0}}
	done := &Completion{Problem: "temp_high", Cause: "fan_motor_failed", Remedy: "replaced_fan_motor",
		Parts: []Part{{Description: "fan motor", Quantity: 1, UnitCost: 120}}, Labour: []Labour{{Hours: 1.5, Rate: 90}}}
	tests := []struct {
		name   string
		from   Status
		action Action
		in     Input
		want   Status
		code   string // error code when refused
		field  string
	}{
		{"triage by system", New, Triage, Input{Role: System}, Triaged, "", ""},
		{"triage by fm refused", New, Triage, Input{Role: cloud.RoleFM}, "", cloud.EFORBIDDEN, ""},
		{"dispatch needs vendor", Ready, Dispatch, Input{Role: cloud.RoleFM}, "", cloud.EINVALID, "vendor"},
		{"dispatch", Ready, Dispatch, Input{Role: cloud.RoleFM, Vendor: "coolco"}, Dispatched, "", ""},
		{"dispatch from new is illegal", New, Dispatch, Input{Role: cloud.RoleFM, Vendor: "coolco"}, "", cloud.ECONFLICT, ""},
		{"approve", AwaitingApproval, Approve, Input{Role: cloud.RoleFM}, Ready, "", ""},
		{"store cannot approve", AwaitingApproval, Approve, Input{Role: cloud.RoleStore}, "", cloud.EFORBIDDEN, ""},
		{"accept", Dispatched, Accept, Input{Role: cloud.RoleVendor, Technician: "tom"}, Accepted, "", ""},
		{"decline needs reason", Dispatched, Decline, Input{Role: cloud.RoleVendor}, "", cloud.EINVALID, "reason"},
		{"decline goes back to ready", Dispatched, Decline, Input{Role: cloud.RoleVendor, Reason: "no technician free"}, Ready, "", ""},
		{"check in inside geofence", Accepted, CheckIn, Input{Role: cloud.RoleTechnician, Lat: ptr(52.0005), Lon: ptr(4.0005), Site: site}, InProgress, "", ""},
		{"check in far away", Accepted, CheckIn, Input{Role: cloud.RoleTechnician, Lat: ptr(52.1), Lon: ptr(4.0), Site: site}, "", cloud.EINVALID, "lat"},
		{"check in far away with override", Accepted, CheckIn, Input{Role: cloud.RoleTechnician, Lat: ptr(52.1), Lon: ptr(4.0), Site: site, Override: "GPS off in basement"}, InProgress, "", ""},
		{"check in inside a site's wider geofence", Accepted, CheckIn, Input{Role: cloud.RoleTechnician, Lat: ptr(52.1), Lon: ptr(4.0), Site: &cloud.Site{ID: "big", Location: site.Location, GeofenceM: 20000}}, InProgress, "", ""},
		{"check in outside a site's narrower geofence", Accepted, CheckIn, Input{Role: cloud.RoleTechnician, Lat: ptr(52.0005), Lon: ptr(4.0005), Site: &cloud.Site{ID: "small", Location: site.Location, GeofenceM: 50}}, "", cloud.EINVALID, "lat"},
		{"check in without position", Accepted, CheckIn, Input{Role: cloud.RoleTechnician, Site: site}, "", cloud.EINVALID, "lat"},
		{"hold needs reason", InProgress, Hold, Input{Role: cloud.RoleTechnician}, "", cloud.EINVALID, "reason"},
		{"hold", InProgress, Hold, Input{Role: cloud.RoleTechnician, Reason: "waiting for compressor"}, OnHold, "", ""},
		{"resume", OnHold, Resume, Input{Role: cloud.RoleTechnician}, InProgress, "", ""},
		{"check out", InProgress, CheckOut, Input{Role: cloud.RoleTechnician, Lat: ptr(52.0001), Lon: ptr(4.0), Site: site}, Accepted, "", ""},
		{"check out without position", InProgress, CheckOut, Input{Role: cloud.RoleTechnician, Site: site}, "", cloud.EINVALID, "lat"},
		{"check out far away", InProgress, CheckOut, Input{Role: cloud.RoleTechnician, Lat: ptr(52.1), Lon: ptr(4.0), Site: site}, "", cloud.EINVALID, "lat"},
		{"check out far away with override", InProgress, CheckOut, Input{Role: cloud.RoleTechnician, Lat: ptr(52.1), Lon: ptr(4.0), Site: site, Override: "phone died, checked out from the van"}, Accepted, "", ""},
		{"complete far away", InProgress, Complete, Input{Role: cloud.RoleTechnician, Completion: done, Rate: ptr(90.0), Lat: ptr(52.1), Lon: ptr(4.0), Site: site}, "", cloud.EINVALID, "lat"},
		{"complete needs cause", InProgress, Complete, Input{Role: cloud.RoleTechnician, Completion: &Completion{Problem: "temp_high", Remedy: "x"}}, "", cloud.EINVALID, "cause"},
		{"complete needs remedy", InProgress, Complete, Input{Role: cloud.RoleTechnician, Completion: &Completion{Problem: "temp_high", Cause: "x"}}, "", cloud.EINVALID, "remedy"},
		{"complete bad labour", InProgress, Complete, Input{Role: cloud.RoleTechnician, Completion: &Completion{Problem: "p", Cause: "c", Remedy: "r", Labour: []Labour{{Hours: 30}}}}, "", cloud.EINVALID, "labour[0].hours"},
		{"complete", InProgress, Complete, Input{Role: cloud.RoleTechnician, Completion: done, Rate: ptr(90.0)}, WorkComplete, "", ""},
		{"complete billed below the typed rate needs no approval", InProgress, Complete, Input{Role: cloud.RoleTechnician, Completion: done, Rate: ptr(95.0)}, WorkComplete, "", ""},
		{"complete on hold is illegal", OnHold, Complete, Input{Role: cloud.RoleTechnician, Completion: done}, "", cloud.ECONFLICT, ""},
		{"verify by store", WorkComplete, Verify, Input{Role: cloud.RoleStore}, Verified, "", ""},
		{"verify by vendor refused", WorkComplete, Verify, Input{Role: cloud.RoleVendor}, "", cloud.EFORBIDDEN, ""},
		{"reopen needs reason", Verifying, Reopen, Input{Role: cloud.RoleFM}, "", cloud.EINVALID, "reason"},
		{"reopen", Verified, Reopen, Input{Role: cloud.RoleFM, Reason: "still warm"}, Reopened, "", ""},
		{"release reopened", Reopened, Release, Input{Role: cloud.RoleFM}, Ready, "", ""},
		{"close", Verified, Close, Input{Role: cloud.RoleFM}, Closed, "", ""},
		{"closed is final", Closed, Reopen, Input{Role: cloud.RoleFM, Reason: "x"}, "", cloud.ECONFLICT, ""},
		{"cancel", Ready, Cancel, Input{Role: cloud.RoleStore, Reason: "reported by mistake"}, Cancelled, "", ""},
		{"cancel after dispatch", Dispatched, Cancel, Input{Role: cloud.RoleFM, Reason: "fixed by staff"}, Cancelled, "", ""},
		{"cancel in progress is illegal", InProgress, Cancel, Input{Role: cloud.RoleFM, Reason: "x"}, "", cloud.ECONFLICT, ""},
		{"avoid needs cleared incidents", Triaged, Avoid, Input{Role: System}, "", cloud.ECONFLICT, ""},
		{"duplicate needs target", Triaged, MarkDuplicate, Input{Role: cloud.RoleFM}, "", cloud.EINVALID, "duplicate_of"},
		{"duplicate", Triaged, MarkDuplicate, Input{Role: cloud.RoleFM, DuplicateOf: "wo_0"}, Duplicate, "", ""},
		{"unknown action", Triaged, Action("teleport"), Input{Role: cloud.RoleAdmin}, "", cloud.ENOTFOUND, "action"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := inState(t, tt.from)
			tt.in.At = t0.Add(time.Minute)
			ev, err := Act(w, tt.action, tt.in)
			if tt.code != "" {
				if got := cloud.ErrorCode(err); got != tt.code {
					t.Fatalf("error %v: code %q, want %q", err, got, tt.code)
				}
				if got := cloud.ErrorField(err); got != tt.field {
					t.Errorf("error %v names field %q, want %q", err, got, tt.field)
				}
				if w.Status != tt.from || w.Version != 1 {
					t.Errorf("refused action changed the work order: %s v%d", w.Status, w.Version)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if w.Status != tt.want || len(ev) != 1 || ev[0].To != tt.want || ev[0].Version != 2 {
				t.Fatalf("status %s, events %+v; want %s at version 2", w.Status, ev, tt.want)
			}
		})
	}
}

func TestConflictMessageIsClear(t *testing.T) {
	w := inState(t, Closed)
	_, err := Act(w, Complete, Input{Role: cloud.RoleTechnician})
	want := "cannot complete work order 1: it is CLOSED, and complete needs IN_PROGRESS"
	if got := cloud.ErrorMessage(err); got != want {
		t.Errorf("message %q, want %q", got, want)
	}
}

// TestTableReachesEveryState checks the table is connected: every state is
// reachable from NEW and every non-final state has a way out.
func TestTableReachesEveryState(t *testing.T) {
	seen := map[Status]bool{New: true}
	for changed := true; changed; {
		changed = false
		for _, r := range table {
			for _, f := range r.from {
				if seen[f] && !seen[r.to] {
					seen[r.to], changed = true, true
				}
			}
		}
	}
	for _, s := range Statuses {
		if !seen[s] {
			t.Errorf("state %s is unreachable", s)
		}
	}
	exits := map[Status]bool{}
	for _, r := range table {
		for _, f := range r.from {
			exits[f] = true
		}
	}
	for _, s := range Statuses {
		final := s == Closed || s == Avoided || s == Duplicate || s == Cancelled
		if exits[s] == final {
			t.Errorf("state %s: has exits %v, final %v", s, exits[s], final)
		}
	}
}

func TestReplayDerivesStatus(t *testing.T) {
	w := &WorkOrder{}
	var ev []Event
	w.record(&ev, Event{Kind: Created, At: t0, Opening: &Opening{ID: "wo_1", Number: 1, Site: "s1", Asset: "a1", Source: Manual, Problem: "not_cold", Trade: "refrigeration", Priority: "P2"}})
	steps := []struct {
		a  Action
		in Input
	}{
		{Triage, Input{Role: System}},
		{Release, Input{Role: System}},
		{Dispatch, Input{Role: System, Vendor: "coolco", NTE: 500}},
		{Accept, Input{Role: cloud.RoleVendor, Technician: "tom"}},
		{CheckIn, Input{Role: cloud.RoleTechnician, Override: "no gps"}},
		{Complete, Input{Role: cloud.RoleTechnician, Completion: &Completion{Problem: "p", Cause: "c", Remedy: "r", Parts: []Part{{Description: "x", Quantity: 2, UnitCost: 10}}}}},
		{Verify, Input{Role: cloud.RoleStore}},
	}
	for i, s := range steps {
		s.in.At = t0.Add(time.Duration(i+1) * time.Minute)
		out, err := Act(w, s.a, s.in)
		if err != nil {
			t.Fatalf("%s: %v", s.a, err)
		}
		ev = append(ev, out...)
	}
	got, err := Replay(ev)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != Verified || got.Vendor != "coolco" || got.Technician != "tom" || len(got.Visits) != 1 || got.Visits[0].Out == nil || got.Completion.Cost() != 20 || got.Version != 8 {
		t.Errorf("replayed %+v", got)
	}
	// A gap or a repeat in versions is refused: the optimistic lock.
	bad := append(ev[:3:3], ev[4:]...)
	if _, err := Replay(bad); err == nil {
		t.Error("replay with a version gap succeeded")
	}
}

// TestCompleteMoney: an NTE is never "no limit", labour is billed at the
// vendor's table or needs an approval, and numbers are finite and bounded
// (issue 15, items 1 and 2).
func TestCompleteMoney(t *testing.T) {
	inf, nan := 1/zero(), zero()/zero()
	c := func(parts []Part, labour []Labour) *Completion {
		return &Completion{Problem: "p", Cause: "c", Remedy: "r", Parts: parts, Labour: labour}
	}
	approved := []Approval{{Amount: 5000, From: 750, By: "fiona", Role: cloud.RoleFM}}
	tests := []struct {
		name      string
		nte       float64
		approvals []Approval
		rate      *float64
		done      *Completion
		code      string
		field     string
	}{
		{"within the NTE at the table rate", 750, nil, ptr(100.0), c([]Part{{Quantity: 2, UnitCost: 100}}, []Labour{{Hours: 2, Rate: 100}}), "", ""},
		{"no typed rate: billed at the table", 750, nil, ptr(100.0), c(nil, []Labour{{Hours: 2}}), "", ""},
		{"an NTE of 0 allows nothing", 0, nil, ptr(100.0), c([]Part{{Quantity: 1, UnitCost: 1}}, nil), cloud.ECONFLICT, "parts"},
		{"an NTE of 0 allows a free visit", 0, nil, ptr(100.0), c(nil, nil), "", ""},
		{"the issue's invoice", 500, nil, nil, c([]Part{{Quantity: 1, UnitCost: 250000}}, []Labour{{Hours: 24, Rate: 9999}}), cloud.ECONFLICT, "labour[0].rate"},
		{"parts above the NTE", 750, nil, ptr(100.0), c([]Part{{Quantity: 1, UnitCost: 700}}, []Labour{{Hours: 1}}), cloud.ECONFLICT, "parts"},
		{"table labour above the NTE", 750, nil, ptr(100.0), c(nil, []Labour{{Hours: 8, Rate: 10}}), cloud.ECONFLICT, "parts"},
		{"no rate table: labour needs approval", 750, nil, nil, c(nil, []Labour{{Hours: 1, Rate: 50}}), cloud.ECONFLICT, "labour[0].rate"},
		{"typed above the table needs approval", 750, nil, ptr(100.0), c(nil, []Labour{{Hours: 1, Rate: 150}}), cloud.ECONFLICT, "labour[0].rate"},
		{"typed above the table, approved", 5000, approved, ptr(100.0), c(nil, []Labour{{Hours: 1, Rate: 150}}), "", ""},
		{"approved, but above the approved NTE", 5000, approved, nil, c([]Part{{Quantity: 1, UnitCost: 5000}}, []Labour{{Hours: 1, Rate: 150}}), cloud.ECONFLICT, "parts"},
		{"huge quantity", 1e9, approved, ptr(100.0), c([]Part{{Quantity: 1e154, UnitCost: 1e154}}, nil), cloud.EINVALID, "parts[0].quantity"},
		{"huge unit cost", 1e9, approved, ptr(100.0), c([]Part{{Quantity: 1, UnitCost: 1e154}}, nil), cloud.EINVALID, "parts[0].unit_cost"},
		{"NaN unit cost", 750, nil, ptr(100.0), c([]Part{{Quantity: 1, UnitCost: nan}}, nil), cloud.EINVALID, "parts[0].unit_cost"},
		{"infinite quantity", 750, nil, ptr(100.0), c([]Part{{Quantity: inf, UnitCost: 1}}, nil), cloud.EINVALID, "parts[0].quantity"},
		{"NaN hours", 750, nil, ptr(100.0), c(nil, []Labour{{Hours: nan}}), cloud.EINVALID, "labour[0].hours"},
		{"infinite rate", 750, nil, ptr(100.0), c(nil, []Labour{{Hours: 1, Rate: inf}}), cloud.EINVALID, "labour[0].rate"},
		{"negative rate", 750, nil, ptr(100.0), c(nil, []Labour{{Hours: 1, Rate: -1}}), cloud.EINVALID, "labour[0].rate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := inState(t, InProgress)
			w.NTE, w.Approvals = tt.nte, tt.approvals
			_, err := Act(w, Complete, Input{Role: cloud.RoleTechnician, Completion: tt.done, Rate: tt.rate, At: t0})
			if got := cloud.ErrorCode(err); got != tt.code {
				t.Fatalf("error %v: code %q, want %q", err, got, tt.code)
			}
			if got := cloud.ErrorField(err); got != tt.field {
				t.Errorf("error %v names field %q, want %q", err, got, tt.field)
			}
			if err == nil && w.Status != WorkComplete {
				t.Errorf("status %s", w.Status)
			}
		})
	}
}

func zero() float64 { return 0 }
