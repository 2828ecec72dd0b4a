package dispatch_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/dispatch"
	"github.com/frostline/frostline/cloud/notify"
	"github.com/frostline/frostline/cloud/sla"
	"github.com/frostline/frostline/cloud/workorder"
	"github.com/frostline/frostline/rules"
)

// TestLoop runs the three packages the way the cloud is to wire them,
// against the real work-order transition table: a READY work order is
// decided on, offered, declined by the first vendor, accepted by the
// second; its SLA clocks come from its events and the sweep reminds once;
// every notable event reaches the store's webhook, signed, and never the
// other store's.
func TestLoop(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 14, 0, 0, 0, time.UTC)
	site := &cloud.Site{ID: "s1", Timezone: "America/Chicago", Location: &rules.Location{Lat: 41.90, Lon: -87.65}}
	insured := []dispatch.Document{{Type: dispatch.COIGeneralLiability, ExpiresAt: t0.AddDate(1, 0, 0)}, {Type: dispatch.COIWorkersComp, ExpiresAt: t0.AddDate(1, 0, 0)}}
	certified := []dispatch.Technician{{ID: "tom", Documents: []dispatch.Document{{Type: dispatch.EPA608, ExpiresAt: t0.AddDate(5, 0, 0)}}}}
	vendors := []dispatch.Vendor{
		{ID: "arctic", Name: "Arctic", Kind: dispatch.External, Trades: []string{"refrigeration"}, Coverage: dispatch.Coverage{Sites: []string{"s1"}},
			Documents: insured, Technicians: certified, Ranks: []dispatch.Rank{{Site: "s1", Rank: 1}}},
		{ID: "polar", Name: "Polar", Kind: dispatch.External, Trades: []string{"refrigeration"}, Coverage: dispatch.Coverage{Sites: []string{"s1"}},
			Documents: insured, Technicians: certified, Ranks: []dispatch.Rank{{Site: "s1", Rank: 2}},
			SLA: map[string]sla.Targets{"P2": {Acknowledge: sla.Duration(20 * time.Minute)}}},
		{ID: "lapsed", Name: "Lapsed", Kind: dispatch.External, Trades: []string{"refrigeration"}, Coverage: dispatch.Coverage{Sites: []string{"s1"}},
			Documents: insured[:1], Technicians: certified},
	}
	byID := map[string]*dispatch.Vendor{}
	pool := make([]dispatch.Standing, len(vendors))
	for i := range vendors {
		byID[vendors[i].ID], pool[i] = &vendors[i], dispatch.Standing{Vendor: &vendors[i]}
	}
	rl := dispatch.DefaultRules()

	// The webhook receivers: store s1's and store s2's.
	var mu sync.Mutex // handler goroutines append
	got := map[string][]string{}
	secret := notify.NewSecret(t0)
	clock := t0
	recv := func(name string) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			if err := notify.Verify(r.Header.Get(notify.SignatureHeader), body, clock, notify.DefaultTolerance, []byte(secret.Value)); err != nil {
				http.Error(w, err.Error(), http.StatusUnauthorized)
				return
			}
			mu.Lock()
			got[name] = append(got[name], r.Header.Get(notify.EventHeader))
			mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		}))
	}
	s1, s2 := recv("s1"), recv("s2")
	defer s1.Close()
	defer s2.Close()
	subs := []notify.Subscription{
		{ID: "hook-s1", URL: s1.URL, Scope: cloud.Scope{Sites: []string{"s1"}}, Secrets: []notify.Secret{secret}},
		{ID: "hook-s2", URL: s2.URL, Scope: cloud.Scope{Sites: []string{"s2"}}, Secrets: []notify.Secret{secret}},
	}
	deliverer := &notify.Deliverer{Client: s1.Client(), Now: func() time.Time { return clock }}
	defer s1.Client().CloseIdleConnections()

	// The work order, READY, and the events it is made of.
	var events []workorder.Event
	w := &workorder.WorkOrder{}
	apply := func(ev []workorder.Event) {
		t.Helper()
		for _, e := range ev {
			events = append(events, e)
			if !e.Notable() {
				continue
			}
			ds, err := notify.Route(subs, notify.EnvelopeOf(workorder.NoticeOf(w, e)), clock)
			if err != nil {
				t.Fatal(err)
			}
			for i := range ds {
				sub := subs[slices.IndexFunc(subs, func(s notify.Subscription) bool { return s.ID == ds[i].Subscription })]
				if err := deliverer.Deliver(context.Background(), &sub, &ds[i], nil); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	created := workorder.Event{Version: 1, Kind: workorder.Created, At: t0, WorkOrder: "wo_1",
		Opening: &workorder.Opening{ID: "wo_1", Number: 1, Site: "s1", Asset: "a1", Source: workorder.Sensor, Problem: "temp_high", Trade: "refrigeration", Priority: "P2"}}
	if err := w.Apply(&created); err != nil {
		t.Fatal(err)
	}
	apply([]workorder.Event{created})
	for _, a := range []workorder.Action{workorder.Triage, workorder.Release} {
		ev, err := workorder.Act(w, a, workorder.Input{Role: workorder.System, Actor: "system", At: t0})
		if err != nil {
			t.Fatal(err)
		}
		apply(ev)
	}
	act := func(m dispatch.Move, at time.Time) {
		t.Helper()
		in := workorder.Input{Role: workorder.System, Actor: "system", Vendor: m.Vendor, Reason: m.Reason, AcceptBy: m.AcceptBy, At: at}
		if m.Action == workorder.Accept {
			in.Role, in.Actor, in.Technician = cloud.RoleVendor, m.Vendor, "tom"
		}
		ev, err := workorder.Act(w, m.Action, in)
		if err != nil {
			t.Fatalf("%s %s: %v", m.Action, m.Vendor, err)
		}
		apply(ev)
	}

	// Decide and offer.
	d := dispatch.Candidates(w, site, nil, pool, t0, &rl)
	if q := d.Queue(); !slices.Equal(q, []string{"arctic", "polar"}) || d.Excluded[0].Reason != dispatch.ReasonDocumentMissing {
		t.Fatalf("queue %v, excluded %+v", q, d.Excluded)
	}
	policy := workorder.DefaultPolicy()
	offers, moves := dispatch.Start(&d, time.Duration(policy.AcceptWithin["P2"]), t0)
	for _, m := range moves {
		act(m, t0)
	}
	// arctic declines; polar is offered it and accepts.
	clock = t0.Add(5 * time.Minute)
	moves, err := offers.Decline("arctic", "no technician free", clock)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range moves {
		act(m, clock)
	}
	if w.Status != workorder.Dispatched || w.Vendor != "polar" {
		t.Fatalf("after the decline: %s to %s", w.Status, w.Vendor)
	}

	// SLA: polar committed to acknowledge a P2 within 20 minutes.
	sp := sla.DefaultPolicy()
	loc, _ := time.LoadLocation(site.Timezone)
	timers := sp.Timers(events, byID["polar"].CommitmentFor, loc)
	var reminders int
	claimed := map[string]bool{}
	for m := 0; m < 20; m++ { // due at 14:25, dispatched at 14:05
		for _, a := range sla.Sweep(clock.Add(time.Duration(m)*time.Minute), timers) {
			if !claimed[a.Key] && a.Milestone == sla.Acknowledge {
				claimed[a.Key] = true
				if a.Kind != sla.Remind {
					t.Errorf("%s before due", a.Kind)
				}
				reminders++
			}
		}
	}
	if reminders != 1 {
		t.Errorf("%d acknowledge reminders, want the 15-minute one only", reminders)
	}

	clock = t0.Add(15 * time.Minute)
	moves, err = offers.Accept("polar", "tom", clock.Add(2*time.Hour), clock, dispatch.CheckWith(byID, "refrigeration", &rl))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range moves {
		act(m, clock)
	}
	timers = sp.Timers(events, byID["polar"].CommitmentFor, loc)
	if r, ok := timers[0].Result(); !ok || !r.Met {
		t.Errorf("acknowledge: %+v", r)
	}
	outcomes := offers.Outcomes("refrigeration")
	if len(outcomes) != 2 || outcomes[0].Response != dispatch.Declined || outcomes[1].Response != dispatch.Accepted {
		t.Errorf("outcomes %+v", outcomes)
	}

	mu.Lock()
	defer mu.Unlock()
	// created, triage, release, dispatch arctic, decline, dispatch polar, accept
	if len(got["s1"]) != 7 || got["s1"][0] != notify.WorkOrderCreated || len(got["s2"]) != 0 {
		t.Errorf("webhooks: %v", got)
	}
}
