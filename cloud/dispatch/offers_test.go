package dispatch

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/frostline/frostline/cloud/workorder"
)

func moves(ms []Move) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = fmt.Sprintf("%s %s", m.Action, m.Vendor)
	}
	return out
}

func TestOffers(t *testing.T) {
	rl := DefaultRules()
	vs := []Vendor{vendor("a"), vendor("b"), vendor("c")}
	byID := map[string]*Vendor{}
	for i := range vs {
		byID[vs[i].ID] = &vs[i]
	}
	check := CheckWith(byID, "refrigeration", &rl)
	d := &Decision{WorkOrder: "wo_1", Eligible: []Candidate{{Vendor: "a"}, {Vendor: "b"}, {Vendor: "c"}}}
	window := 30 * time.Minute

	type step struct {
		name string
		do   func(o *Offers) ([]Move, error)
		want []string
		err  error
	}
	tests := []struct {
		name     string
		steps    []step
		resp     []Response // history responses at the end
		accepted string
	}{
		{
			name: "accept", resp: []Response{Accepted}, accepted: "a",
			steps: []step{{"a accepts", func(o *Offers) ([]Move, error) {
				return o.Accept("a", "a-t1", t0.Add(2*time.Hour), t0.Add(5*time.Minute), check)
			}, []string{"accept a"}, nil}},
		},
		{
			name: "decline re-offers to the next", resp: []Response{Declined, Accepted}, accepted: "b",
			steps: []step{
				{"a declines", func(o *Offers) ([]Move, error) { return o.Decline("a", "no technician free", t0.Add(time.Minute)) },
					[]string{"decline a", "dispatch b"}, nil},
				{"b accepts", func(o *Offers) ([]Move, error) { return o.Accept("b", "", time.Time{}, t0.Add(2*time.Minute), check) },
					[]string{"accept b"}, nil},
			},
		},
		{
			name: "timeout re-offers to the next", resp: []Response{TimedOut, TimedOut, Declined},
			steps: []step{
				{"early tick does nothing", func(o *Offers) ([]Move, error) { return o.Tick(t0.Add(29 * time.Minute)), nil }, []string{}, nil},
				{"a lapses", func(o *Offers) ([]Move, error) { return o.Tick(t0.Add(30 * time.Minute)), nil }, []string{"decline a", "dispatch b"}, nil},
				{"tick again does nothing", func(o *Offers) ([]Move, error) { return o.Tick(t0.Add(31 * time.Minute)), nil }, []string{}, nil},
				{"a cannot accept any more", func(o *Offers) ([]Move, error) { return o.Accept("a", "", time.Time{}, t0.Add(32*time.Minute), check) },
					nil, ErrNotOffered},
				{"b accepts too late", func(o *Offers) ([]Move, error) { return o.Accept("b", "", time.Time{}, t0.Add(61*time.Minute), check) },
					[]string{"decline b", "dispatch c"}, ErrLapsed},
				{"c declines: nobody left", func(o *Offers) ([]Move, error) { return o.Decline("c", "too far", t0.Add(70*time.Minute)) },
					[]string{"decline c"}, nil},
			},
		},
		{
			name: "compliance re-checked at accept", resp: []Response{Noncompliant, Accepted}, accepted: "b",
			steps: []step{
				{"a's insurance lapses after the offer", func(o *Offers) ([]Move, error) {
					byID["a"].Documents[0].ExpiresAt = t0.Add(time.Minute)
					defer func() { byID["a"].Documents[0].ExpiresAt = day(365) }()
					return o.Accept("a", "", time.Time{}, t0.Add(10*time.Minute), check)
				}, []string{"decline a", "dispatch b"}, ErrNoncompliant},
				{"b accepts", func(o *Offers) ([]Move, error) {
					return o.Accept("b", "b-t1", time.Time{}, t0.Add(12*time.Minute), check)
				},
					[]string{"accept b"}, nil},
			},
		},
		{
			name: "a technician without EPA 608 cannot be sent", resp: []Response{Noncompliant}, // then b is on offer
			steps: []step{{"a names an uncertified technician", func(o *Offers) ([]Move, error) {
				return o.Accept("a", "stranger", time.Time{}, t0.Add(10*time.Minute), check)
			}, []string{"decline a", "dispatch b"}, ErrNoncompliant}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, ms := Start(d, window, t0)
			if got := moves(ms); !slices.Equal(got, []string{"dispatch a"}) || ms[0].AcceptBy == nil || !ms[0].AcceptBy.Equal(t0.Add(window)) {
				t.Fatalf("start: %v", ms)
			}
			for _, s := range tt.steps {
				ms, err := s.do(o)
				if !errors.Is(err, s.err) {
					t.Fatalf("%s: error %v, want %v", s.name, err, s.err)
				}
				if got := moves(ms); !slices.Equal(got, s.want) && !(len(got) == 0 && len(s.want) == 0) {
					t.Fatalf("%s: moves %v, want %v", s.name, got, s.want)
				}
			}
			var got []Response
			for _, h := range o.History {
				got = append(got, h.Response)
			}
			if !slices.Equal(got, tt.resp) {
				t.Errorf("history %v, want %v", got, tt.resp)
			}
			a, ok := o.Accepted()
			if (tt.accepted != "") != ok || a.Vendor != tt.accepted {
				t.Errorf("accepted %q (%v), want %q", a.Vendor, ok, tt.accepted)
			}
			if outs := o.Outcomes("refrigeration"); len(outs) != len(tt.resp) {
				t.Errorf("outcomes %d, want %d", len(outs), len(tt.resp))
			}
		})
	}
}

func TestOffersCheckIn(t *testing.T) {
	rl := DefaultRules()
	a := vendor("a")
	a.Technicians = append(a.Technicians, Technician{ID: "rookie"})
	check := CheckWith(map[string]*Vendor{"a": &a}, "refrigeration", &rl)
	o, _ := Start(&Decision{WorkOrder: "wo_1", Eligible: []Candidate{{Vendor: "a"}}}, 0, t0)
	if err := o.CheckIn("a", "a-t1", t0, check); !errors.Is(err, ErrNotAccepted) {
		t.Fatalf("check-in before accept: %v", err)
	}
	if _, err := o.Accept("a", "a-t1", time.Time{}, t0.Add(48*time.Hour), check); err != nil {
		t.Fatalf("accept without a window never lapses: %v", err)
	}
	if err := o.CheckIn("a", "a-t1", t0.Add(49*time.Hour), check); err != nil {
		t.Errorf("certified technician: %v", err)
	}
	if err := o.CheckIn("a", "rookie", t0.Add(49*time.Hour), check); !errors.Is(err, ErrNoncompliant) {
		t.Errorf("rookie without EPA 608: %v", err)
	}
	if err := o.CheckIn("a", "a-t1", day(400), check); !errors.Is(err, ErrNoncompliant) {
		t.Errorf("after the insurance expired: %v", err)
	}
	if err := o.CheckIn("b", "b-t1", t0, check); !errors.Is(err, ErrNotAccepted) {
		t.Errorf("another vendor: %v", err)
	}
}

func TestOffersNobodyEligible(t *testing.T) {
	o, ms := Start(&Decision{WorkOrder: "wo_1"}, time.Hour, t0)
	if len(ms) != 0 || !o.Exhausted() {
		t.Errorf("moves %v, exhausted %v", ms, o.Exhausted())
	}
}

// TestMovesApply: the moves an offer sequence returns are legal
// work-order transitions, applied as the system.
func TestMovesApply(t *testing.T) {
	w, err := workorder.Replay([]workorder.Event{{Version: 1, Kind: workorder.Created, At: t0,
		Opening: &workorder.Opening{ID: "wo_1", Number: 1, Site: "s1", Asset: "a1", Trade: "refrigeration", Priority: "P2", Problem: "temp_high"}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []workorder.Action{workorder.Triage, workorder.Release} {
		if _, err := workorder.Act(w, a, workorder.Input{Role: workorder.System, Actor: "system", At: t0}); err != nil {
			t.Fatal(err)
		}
	}
	o, ms := Start(&Decision{WorkOrder: "wo_1", Eligible: []Candidate{{Vendor: "a"}, {Vendor: "b"}}}, time.Hour, t0)
	ms2, _ := o.Decline("a", "busy", t0.Add(time.Minute))
	for _, m := range append(ms, ms2...) {
		role := workorder.System
		if _, err := workorder.Act(w, m.Action, workorder.Input{Role: role, Actor: "system", Vendor: m.Vendor, Reason: m.Reason, AcceptBy: m.AcceptBy, At: t0}); err != nil {
			t.Fatalf("%s %s: %v", m.Action, m.Vendor, err)
		}
	}
	if w.Status != workorder.Dispatched || w.Vendor != "b" || !slices.Equal(w.Declined, []string{"a"}) {
		t.Errorf("work order %s vendor %s declined %v", w.Status, w.Vendor, w.Declined)
	}
}
