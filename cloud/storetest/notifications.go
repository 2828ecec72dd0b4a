package storetest

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/dispatch"
	"github.com/frostline/frostline/cloud/notify"
	"github.com/frostline/frostline/cloud/store"
	"github.com/frostline/frostline/cloud/workorder"
)

// NotificationStore is what the people and notification suite exercises.
type NotificationStore interface {
	Update(ctx context.Context, fn func(store.Tx) error) error
	PutSite(ctx context.Context, s *cloud.Site) error
	PutVendor(ctx context.Context, v *dispatch.Vendor, at time.Time) error
	PutPerson(ctx context.Context, p *notify.Person) error
	Person(ctx context.Context, id string) (*notify.Person, error)
	People(ctx context.Context) ([]notify.Person, error)
	DeletePerson(ctx context.Context, id string) error
	NotifyPeople(p *notify.Planner)
	notify.Outbox
	notify.PeopleStore
	Notifications(ctx context.Context, workOrder string, limit int) ([]notify.Notification, error)
	AckNotification(ctx context.Context, id, by string, now time.Time) (*notify.Notification, error)
}

// RunNotifications runs the people and notification suite; open returns
// a fresh, empty store.
func RunNotifications(t *testing.T, open func(t *testing.T) NotificationStore) {
	for _, tt := range []struct {
		name string
		fn   func(t *testing.T, s NotificationStore)
	}{
		{"People", testPeople},
		{"OutboxOncePerEvent", testNotificationOutbox},
		{"AckEscalateDigest", testAckEscalateDigest},
	} {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open(t)) })
	}
}

func testPeople(t *testing.T, s NotificationStore) {
	ctx := context.Background()
	p := &notify.Person{ID: "fay", Name: "Fay", Role: cloud.RoleFM, Scope: notify.PersonScope{Region: "north"}, Email: "fay@fm.example",
		Quiet: &notify.QuietHours{Start: "21:00", End: "07:00"}, Preferences: map[string]notify.Preference{"digest": notify.On}, UpdatedAt: T0}
	if err := s.PutPerson(ctx, p); err != nil {
		t.Fatal(err)
	}
	got, err := s.Person(ctx, "fay")
	if err != nil || got.Quiet == nil || got.Quiet.End != "07:00" || got.Preference("digest") != notify.On || !got.UpdatedAt.Equal(T0) {
		t.Fatalf("person %+v, %v", got, err)
	}
	p.Name = "Fay Moreno"
	if err := s.PutPerson(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := s.PutVendor(ctx, &dispatch.Vendor{ID: "coolco", Name: "CoolCo", Kind: dispatch.External, Trades: []string{"refrigeration"},
		Contacts: []dispatch.Contact{{Name: "Dispatch", Role: "dispatch", Email: "dispatch@coolco.example"}, {Name: "AP", Role: "billing", Email: "ap@coolco.example"},
			{Name: "Fay again", Email: "fay@fm.example"}}}, T0); err != nil {
		t.Fatal(err)
	}
	if ps, err := s.People(ctx); err != nil || len(ps) != 1 || ps[0].Name != "Fay Moreno" {
		t.Errorf("people on file %+v, %v", ps, err)
	}
	all, err := s.Everyone(ctx)
	if err != nil || len(all) != 3 || all[1].ID != "vendor:coolco:0" || all[1].Scope.Vendor != "coolco" || all[1].Source != "vendor" ||
		all[2].ID != "vendor:coolco:1" || all[2].Preference(notify.TopicOffer) != notify.Off || all[2].Preference(notify.TopicInvoiceDispute) != notify.On {
		t.Errorf("everyone %+v, %v (want Fay, CoolCo's dispatcher, and its billing contact for invoices only; not Fay twice)", all, err)
	}
	if err := s.DeletePerson(ctx, "fay"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Person(ctx, "fay"); cloud.ErrorCode(err) != cloud.ENOTFOUND {
		t.Errorf("deleted: %v", err)
	}
	if err := s.DeletePerson(ctx, "fay"); cloud.ErrorCode(err) != cloud.ENOTFOUND {
		t.Errorf("deleted twice: %v", err)
	}
}

func testPlanner(t *testing.T) *notify.Planner {
	t.Helper()
	tm, err := notify.LoadTemplates()
	if err != nil {
		t.Fatal(err)
	}
	links, _ := notify.NewLinks([]byte(strings.Repeat("s", 32)))
	return &notify.Planner{Templates: tm, BaseURL: "https://fl.example", Links: links, LinkTTL: time.Hour,
		Escalation: notify.Escalation{After: 30 * time.Minute, Levels: 1}}
}

// seedPeople puts a site, a store contact, an FM with a manager and the
// manager.
func seedPeople(t *testing.T, s NotificationStore) {
	t.Helper()
	ctx := context.Background()
	if err := s.PutSite(ctx, &cloud.Site{ID: "s1", Name: "Austin North", Region: "north", Timezone: "America/Chicago"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []notify.Person{
		{ID: "ann", Name: "Ann", Role: cloud.RoleStore, Scope: notify.PersonScope{Sites: []string{"s1"}}, Email: "ann@store.example"},
		{ID: "fay", Name: "Fay", Role: cloud.RoleFM, Scope: notify.PersonScope{Region: "north"}, Email: "fay@fm.example", Manager: "max",
			Preferences: map[string]notify.Preference{notify.TopicQuoteWaiting: notify.Digest}},
		{ID: "max", Name: "Max", Role: cloud.RoleAdmin, Email: "max@hq.example"},
	} {
		if err := s.PutPerson(ctx, &p); err != nil {
			t.Fatal(err)
		}
	}
}

// saveP1 opens a P1 report on s1 through a transaction whose Save plans
// its notifications (the store's people projection, NotifyPeople), and
// plans them once more by hand, as a second replica or a retried
// transaction might: nothing is written twice.
func saveP1(t *testing.T, s NotificationStore, p *notify.Planner, events func(w *workorder.WorkOrder) []workorder.Event) *workorder.WorkOrder {
	t.Helper()
	ctx := context.Background()
	var w *workorder.WorkOrder
	err := s.Update(ctx, func(tx store.Tx) error {
		w = &workorder.WorkOrder{}
		evs := events(w)
		if err := tx.Save(ctx, w, evs); err != nil {
			return err
		}
		return p.Project(ctx, tx, w, evs, T0)
	})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func p1Opening(w *workorder.WorkOrder) []workorder.Event {
	e := workorder.Event{WorkOrder: "wo_n1", Version: 1, Kind: workorder.Created, At: T0, Actor: "ann",
		Opening: &workorder.Opening{ID: "wo_n1", Number: 1, Site: "s1", Asset: "wic-1", Source: workorder.Manual, Problem: "temp_high", Trade: "refrigeration", Priority: "P1"}}
	if err := w.Apply(&e); err != nil {
		panic(err)
	}
	return []workorder.Event{e}
}

func testNotificationOutbox(t *testing.T, s NotificationStore) {
	ctx := context.Background()
	seedPeople(t, s)
	p := testPlanner(t)
	s.NotifyPeople(p)
	w := saveP1(t, s, p, p1Opening)
	log, err := s.Notifications(ctx, w.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]notify.State{}
	for _, n := range log {
		got[n.Topic+"/"+n.Person] = n.State
	}
	if len(log) != 2 || got["report_received/ann"] != notify.Pending || got["p1_created/fay"] != notify.Pending {
		t.Fatalf("log %v, want ann's receipt and fay's P1, once each", got)
	}
	// Two senders claim at once: each notification goes to one.
	var mu sync.Mutex
	claimed := map[string]string{}
	var wg sync.WaitGroup
	for _, owner := range []string{"a", "b"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ns, err := s.ClaimNotifications(ctx, owner, T0, time.Minute, 10)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, n := range ns {
				if prev, ok := claimed[n.ID]; ok {
					t.Errorf("%s claimed by %s and %s", n.ID, prev, owner)
				}
				claimed[n.ID] = owner
				if n.Text == "" || n.HTML == "" || n.Name == "" || n.Address == "" {
					t.Errorf("claimed %s without its message: %+v", n.ID, n)
				}
			}
		}()
	}
	wg.Wait()
	if len(claimed) != 2 {
		t.Fatalf("claimed %v", claimed)
	}
	if ns, _ := s.ClaimNotifications(ctx, "c", T0.Add(30*time.Second), time.Minute, 10); len(ns) != 0 {
		t.Errorf("leased notifications claimed again: %d", len(ns))
	}
	// The lease runs out: c takes them; a then finishes late and loses.
	ns, err := s.ClaimNotifications(ctx, "c", T0.Add(2*time.Minute), time.Minute, 10)
	if err != nil || len(ns) != 2 {
		t.Fatalf("after the lease: %d, %v", len(ns), err)
	}
	sent := T0.Add(2 * time.Minute)
	n := ns[0]
	n.Attempts, n.State, n.SentAt = 1, notify.Delivered, &sent
	if err := s.FinishNotification(ctx, &n, sent); err != nil {
		t.Fatal(err)
	}
	late := ns[0]
	late.Attempts, late.State = 1, notify.Delivered
	if err := s.FinishNotification(ctx, &late, sent); err != notify.ErrLeaseLost {
		t.Errorf("second finish: %v, want the lease lost", err)
	}
	r := ns[1]
	r.Attempts, r.State, r.NextAt, r.LastError = 1, notify.Pending, T0.Add(time.Hour), "451 try later"
	if err := s.FinishNotification(ctx, &r, sent); err != nil {
		t.Fatal(err)
	}
	if ns, _ := s.ClaimNotifications(ctx, "d", T0.Add(59*time.Minute), time.Minute, 10); len(ns) != 0 {
		t.Errorf("a retry claimed before it is due")
	}
	if ns, _ := s.ClaimNotifications(ctx, "d", T0.Add(time.Hour), time.Minute, 10); len(ns) != 1 || ns[0].Attempts != 1 || ns[0].LastError != "451 try later" {
		t.Errorf("the retry: %+v", ns)
	}
}

func testAckEscalateDigest(t *testing.T, s NotificationStore) {
	ctx := context.Background()
	seedPeople(t, s)
	p := testPlanner(t)
	s.NotifyPeople(p)
	breach := func(w *workorder.WorkOrder) []workorder.Event {
		evs := p1Opening(w)
		e := workorder.Event{WorkOrder: w.ID, Version: 2, Kind: workorder.SLAMarked, At: T0,
			SLA: &workorder.SLAMark{Key: "b", Kind: "breach", Milestone: "arrive", Due: T0.Add(-time.Hour), Lateness: time.Hour, At: T0}}
		q := workorder.Event{WorkOrder: w.ID, Version: 3, Kind: workorder.Quoted, At: T0, Quote: &workorder.Quote{Amount: 9000, Description: "compressor"}}
		for _, x := range []*workorder.Event{&e, &q} {
			if err := w.Apply(x); err != nil {
				panic(err)
			}
		}
		return append(evs, e, q)
	}
	w := saveP1(t, s, p, breach)
	if due, err := s.DueEscalations(ctx, T0.Add(29*time.Minute), 10); err != nil || len(due) != 0 {
		t.Fatalf("due early: %v %v", due, err)
	}
	ch := &notify.Chains{Store: s, Planner: p, Log: discard(), Now: func() time.Time { return T0.Add(31 * time.Minute) }}
	for range 2 { // a second replica escalates nothing more
		if err := ch.Escalate(ctx); err != nil {
			t.Fatal(err)
		}
	}
	log, _ := s.Notifications(ctx, w.ID, 0)
	var toMax []notify.Notification
	for _, n := range log {
		if n.Person == "max" {
			toMax = append(toMax, n)
		}
	}
	if len(toMax) != 1 || toMax[0].Topic != notify.TopicSLABreach || toMax[0].Step != 1 || toMax[0].EscalateAt != nil {
		t.Fatalf("escalated to max: %+v", toMax)
	}
	// Max acknowledges; a second use of the link is refused.
	if n, err := s.AckNotification(ctx, toMax[0].ID, "Max", T0.Add(40*time.Minute)); err != nil || n.AckedBy != "Max" {
		t.Fatalf("ack: %+v %v", n, err)
	}
	if _, err := s.AckNotification(ctx, toMax[0].ID, "Max", T0.Add(41*time.Minute)); cloud.ErrorCode(err) != cloud.ECONFLICT || !strings.Contains(err.Error(), "already acknowledged by Max") {
		t.Errorf("replayed ack: %v", err)
	}
	var fayBreach string
	for _, n := range log {
		if n.Person == "fay" && n.Topic == notify.TopicSLABreach {
			fayBreach = n.ID
		}
	}
	if _, err := s.AckNotification(ctx, fayBreach, "Fay", T0.Add(42*time.Minute)); cloud.ErrorCode(err) != cloud.ECONFLICT {
		t.Errorf("fay's link after max acknowledged: %v", err)
	}
	// The digest: fay's quote notification was held for it.
	ch.DigestAt, ch.Now = "07:00", func() time.Time { return time.Date(2026, 7, 2, 12, 5, 0, 0, time.UTC) }
	for range 2 {
		if err := ch.Digests(ctx); err != nil {
			t.Fatal(err)
		}
	}
	held, _ := s.HeldFor(ctx, "fay")
	if len(held) != 0 {
		t.Errorf("still held after the digest: %d", len(held))
	}
	due, err := s.ClaimNotifications(ctx, "x", time.Date(2026, 7, 2, 12, 5, 0, 0, time.UTC), time.Minute, 50)
	if err != nil {
		t.Fatal(err)
	}
	digests := map[string]notify.Notification{}
	for _, n := range due {
		if n.Topic == notify.TopicDigest {
			digests[n.Person] = n
		}
	}
	if len(digests) != 2 || !strings.Contains(digests["fay"].Text, "WO-1") || !strings.Contains(digests["fay"].Text, "quote of $9,000.00") {
		t.Errorf("digests %v; fay's:\n%s", len(digests), digests["fay"].Text)
	}
	if _, ok := digests["ann"]; ok {
		t.Error("a store contact with nothing held got a digest")
	}
	// Pruning takes what is finished and keeps what is still to send.
	before, _ := s.Notifications(ctx, w.ID, 0)
	n, err := s.PruneNotifications(ctx, T0.Add(48*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	after, _ := s.Notifications(ctx, w.ID, 0)
	for _, a := range after {
		if a.State != notify.Pending && a.State != notify.Held {
			t.Errorf("%s (%s) survived pruning", a.ID, a.State)
		}
	}
	if n == 0 || len(after) == len(before) {
		t.Errorf("pruned %d of %d", n, len(before))
	}
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
