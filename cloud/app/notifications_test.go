package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/dispatch"
	"github.com/frostline/frostline/cloud/notify"
	"github.com/frostline/frostline/cloud/notify/email"
	"github.com/frostline/frostline/cloud/notify/mailsink"
	"github.com/frostline/frostline/cloud/postgres/pgtest"
	"github.com/frostline/frostline/cloud/store"
	"github.com/frostline/frostline/cloud/workorder"
)

const peopleYAML = annYAML + fmYAML

const annYAML = `
- id: ann
  name: Ann Lee
  role: store
  scope: {sites: [s1]}
  email: ann@store.example
`

const fmYAML = `
- id: fay
  name: Fay Moreno
  role: fm
  scope: {region: north}
  email: fay@fm.example
  manager: max
- id: max
  name: Max Ortiz
  role: admin
  email: max@fm.example
  preferences: {p1_created: off}
`

// TestPeopleHearTheP1Path runs two cloud replicas, each in its own
// process, on one PostgreSQL with an SMTP server in this one, and walks a
// P1 report from creation to verification through the API. Half-way, the
// replica that is sending the store contact's "on site" message is held
// by the SMTP server before it has taken the message, and killed with
// SIGKILL: no shutdown, no outcome recorded, its lease left to run out.
// The other replica carries on, sends that message once its lease is
// over, and the people get the right messages, each exactly once per
// (event, person, channel). Then the store contact follows the rating link
// in the verified message and answers; the link works once.
func TestPeopleHearTheP1Path(t *testing.T) {
	dsn := pgtest.DSN(t)
	// The first attempt to hand Ann a message after armed is held in the
	// middle of its SMTP transaction (after RCPT, before DATA) until
	// release; held says which replica (its HELO name) was sending.
	var armed atomic.Bool
	held, release := make(chan string, 1), make(chan struct{})
	var once sync.Once
	freeAll := func() { once.Do(func() { close(release) }) }
	defer freeAll()
	sink, err := mailsink.Start("127.0.0.1:0", mailsink.Options{Hold: func(helo, rcpt string) {
		if rcpt == "ann@store.example" && armed.CompareAndSwap(true, false) {
			held <- helo
			<-release
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	defer freeAll() // before the sink closes
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "people.yaml"), []byte(peopleYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	admin, _ := cloud.NewToken()
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.Database = DatabaseConfig{Driver: "postgres", DSN: dsn}
	cfg.AdminToken = admin
	cfg.People = []string{filepath.Join(dir, "*.yaml")}
	n := &cfg.Notifications
	n.BaseURL, n.LinkSecret = "https://fl.example", strings.Repeat("x", 32)
	n.Email.Host, n.Email.Port, n.Email.TLS, n.Email.From = "127.0.0.1", sink.Port(), "none", "Frostline <alerts@fl.example>"
	n.Sender.Poll, n.Sender.Timeout, n.Sender.Lease = 20*time.Millisecond, 2*time.Second, 4*time.Second
	n.DigestAt = "" // TestDigest has the digest
	ctx := context.Background()
	st, err := OpenStore(ctx, cfg.Database)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	seedCoolCo(t, st)
	// Each replica names itself in HELO, so the SMTP server knows who sends.
	cfgA, cfgB := cfg, cfg
	cfgA.Notifications.Email.HELO, cfgB.Notifications.Email.HELO = "replica-a", "replica-b"
	a, b := startProcess(t, "replica-a", cfgA), startProcess(t, "replica-b", cfgB)
	raw := func(r *process, method, path, body string, want int) []byte {
		t.Helper()
		code, out := call(t, method, "http://"+r.addr+path, admin, body)
		if code != want {
			t.Fatalf("%s %s on %s: %d, want %d: %s", method, path, r.name, code, want, out)
		}
		return []byte(out)
	}
	call := func(r *process, method, path, body string, want int) map[string]any {
		t.Helper()
		var out map[string]any
		json.Unmarshal(raw(r, method, path, body, want), &out)
		return out
	}
	res := call(a, "POST", "/api/v1/workorders", `{"site":"s1","asset":"wic-1","problem":"temp_high","priority":"P1","description":"warm","reporter":"ann"}`, 201)
	wo := res["id"].(string)
	if status := call(a, "GET", "/api/v1/workorders/"+wo, "", 200)["status"]; status != string(workorder.Dispatched) {
		if status == string(workorder.New) || status == string(workorder.Triaged) {
			call(a, "POST", "/api/v1/workorders/"+wo+"/actions/release", "", 200)
		}
		call(a, "POST", "/api/v1/workorders/"+wo+"/actions/dispatch", `{"vendor":"coolco"}`, 200)
	}
	eta := time.Now().Add(2 * time.Hour).UTC().Format(time.RFC3339)
	call(a, "POST", "/api/v1/workorders/"+wo+"/actions/accept", `{"technician":"tom","eta":"`+eta+`"}`, 200)
	waitMail(t, sink, 4) // report received, P1 to fay, the offer, vendor assigned
	waitDelivered(t, st, wo, 4)
	// Mid-way: the technician checks in, and whichever replica picks up
	// Ann's "on site" message is held mid-transaction and killed.
	armed.Store(true)
	call(a, "POST", "/api/v1/workorders/"+wo+"/actions/check_in", `{"override":"no GPS in the back room"}`, 200)
	var victim, survivor *process
	select {
	case helo := <-held:
		victim, survivor = a, b
		if helo == "replica-b" {
			victim, survivor = b, a
		}
	case <-time.After(20 * time.Second):
		t.Fatal("nobody sent Ann the on-site message")
	}
	victim.kill(t)
	freeAll()
	t.Logf("%s was sending Ann's on-site message: killed with SIGKILL mid-transaction; %s carries on", victim.name, survivor.name)
	call(survivor, "POST", "/api/v1/workorders/"+wo+"/actions/complete", `{"problem":"temp_high","cause":"dirty_coil","remedy":"cleaned_coil","labour":[{"hours":1,"rate":100}]}`, 200)
	call(survivor, "POST", "/api/v1/workorders/"+wo+"/actions/verify", "", 200)
	waitMail(t, sink, 7)
	waitDelivered(t, st, wo, 7)
	time.Sleep(300 * time.Millisecond) // anything more would be a duplicate
	got := map[string][]string{}
	ids := map[string]int{}
	var onSite, verified *mailsink.Mail
	for _, m := range sink.Messages() {
		got[m.To[0]] = append(got[m.To[0]], m.Subject)
		ids[m.MessageID]++
		if !strings.Contains(m.Text, "https://fl.example/workorders/"+wo) || !strings.Contains(m.HTML, `href="https://fl.example/workorders/`+wo+`"`) {
			t.Errorf("%q to %s has no link to the work order", m.Subject, m.To[0])
		}
		switch {
		case strings.Contains(m.Subject, "is on site"):
			onSite = &m
		case strings.Contains(m.Subject, "fix verified"):
			verified = &m
		}
	}
	for id, k := range ids {
		if k != 1 {
			t.Errorf("message %s delivered %d times", id, k)
		}
	}
	if onSite == nil || onSite.Helo != survivor.name {
		t.Errorf("the on-site message came from %v, want %s, which took it over from the killed %s", onSite, survivor.name, victim.name)
	}
	want := map[string][]string{
		"ann@store.example":       {"opened from your report", "is coming, ETA", "is on site", "work completed", "fix verified"},
		"fay@fm.example":          {"P1 at Austin North"},
		"dispatch@coolco.example": {"New work for coolco"},
	}
	for to, subjects := range want {
		if len(got[to]) != len(subjects) {
			t.Errorf("%s got %d messages, want %d: %q", to, len(got[to]), len(subjects), got[to])
			continue
		}
		for _, s := range subjects { // sent concurrently: in any order
			if !slices.ContainsFunc(got[to], func(g string) bool { return strings.Contains(g, s) }) {
				t.Errorf("%s got %q, none containing %q", to, got[to], s)
			}
		}
	}
	if len(got) != len(want) {
		keys := make([]string, 0, len(got))
		for k := range got {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		t.Errorf("mail went to %v (max turned P1s off)", keys)
	}
	// The delivery log says the same: each (event, person, channel) once.
	log2 := call(survivor, "GET", "/api/v1/notifications?work_order="+wo, "", 200)["items"].([]any)
	var sent []string
	for _, it := range log2 {
		m := it.(map[string]any)
		if m["state"] == "delivered" {
			sent = append(sent, fmt.Sprint(m["topic"], "/", m["person"]))
		}
	}
	slices.Sort(sent)
	if len(sent) != 7 || !slices.Contains(sent, "offer/vendor:coolco:0") || len(slices.Compact(slices.Clone(sent))) != 7 {
		t.Errorf("log: %v", sent)
	}

	// Ann follows the rating link in her verified message: the page asks,
	// her answer is recorded once.
	if verified == nil {
		t.Fatal("no verified message")
	}
	_, tok, ok := strings.Cut(verified.Text, "https://fl.example/rate/")
	if !ok {
		t.Fatalf("the verified message has no rating link:\n%s", verified.Text)
	}
	link := "http://" + survivor.addr + "/rate/" + strings.Fields(tok)[0]
	page := func(resp *http.Response, err error) (int, string) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := page(http.Get(link)); code != 200 || !strings.Contains(body, `name="score"`) {
		t.Fatalf("the rating page: %d\n%s", code, body)
	}
	answer := url.Values{"fixed": {"yes"}, "score": {"5"}, "comment": {"cold again, thanks Tom"}}
	if code, body := page(http.PostForm(link, answer)); code != 200 || !strings.Contains(body, "Thanks for your answer") {
		t.Fatalf("answering: %d\n%s", code, body)
	}
	if code, body := page(http.PostForm(link, answer)); code != 409 || !strings.Contains(body, "Already answered by Ann Lee") {
		t.Errorf("the link used twice: %d\n%s", code, body)
	}
	var rv struct {
		Rating workorder.Rating
	}
	json.Unmarshal(raw(survivor, "GET", "/api/v1/workorders/"+wo+"/rating", "", 200), &rv)
	if r := rv.Rating; !r.Fixed || r.Score != 5 || r.By != "Ann Lee" || r.Via != "link" || r.Vendor != "coolco" || r.Comment != "cold again, thanks Tom" {
		t.Errorf("rating %+v", r)
	}
	survivor.stop(t)
}

// seedCoolCo puts Austin North (s1) with its walk-in cooler and CoolCo, a
// compliant refrigeration vendor with a dispatch contact, on file.
func seedCoolCo(t *testing.T, st interface {
	PutSite(ctx context.Context, s *cloud.Site) error
	PutAsset(ctx context.Context, a *cloud.Asset) error
	PutVendor(ctx context.Context, v *dispatch.Vendor, at time.Time) error
}) {
	t.Helper()
	ctx := context.Background()
	if err := st.PutSite(ctx, &cloud.Site{ID: "s1", Name: "Austin North", Region: "north", Timezone: "America/Chicago"}); err != nil {
		t.Fatal(err)
	}
	if err := st.PutAsset(ctx, &cloud.Asset{Site: "s1", ID: "wic-1", Class: "walk_in_cooler"}); err != nil {
		t.Fatal(err)
	}
	var docs []dispatch.Document
	for _, d := range dispatch.DocTypes {
		docs = append(docs, dispatch.Document{Type: d, Number: "n", ExpiresAt: time.Now().AddDate(1, 0, 0)})
	}
	if err := st.PutVendor(ctx, &dispatch.Vendor{ID: "coolco", Name: "CoolCo", Kind: dispatch.External, Trades: []string{"refrigeration"},
		Coverage: dispatch.Coverage{Sites: []string{"s1"}}, Documents: docs, Rates: map[string]dispatch.Rate{"refrigeration": {Hourly: 100, TripCharge: 50}},
		Technicians: []dispatch.Technician{{ID: "tom", Name: "Tom", Documents: docs}}, Contacts: []dispatch.Contact{{Name: "CoolCo dispatch", Role: "dispatch", Email: "dispatch@coolco.example"}}}, time.Now()); err != nil {
		t.Fatal(err)
	}
}

// waitDelivered waits until the log of work order wo shows n messages
// delivered (each one's outcome recorded).
func waitDelivered(t *testing.T, st Store, wo string, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ns, err := st.Notifications(context.Background(), wo, 0)
		if err != nil {
			t.Fatal(err)
		}
		k := 0
		for _, x := range ns {
			if x.State == notify.Delivered {
				k++
			}
		}
		if k >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d messages recorded delivered after 20s", k, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitMail waits until the sink holds at least n messages.
func waitMail(t *testing.T, sink *mailsink.Sink, n int) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		changed := sink.Changed()
		if len(sink.Messages()) >= n {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			var subjects []string
			for _, m := range sink.Messages() {
				subjects = append(subjects, m.To[0]+": "+m.Subject)
			}
			t.Fatalf("%d messages after 20s, want %d: %q", len(subjects), n, subjects)
		}
	}
}

// TestEscalationQuietHoursDigestBySMTP drives the time-based parts on one
// SQLite replica against a real SMTP server: an SLA breach reaches the FM
// at once, climbs to the FM's manager when nobody acknowledges, and stops
// when the manager acknowledges from the emailed link (once: the link
// cannot be replayed); a store contact in quiet hours gets a P3 later and
// a P1 at once; the next morning's digest lists the open work.
func TestEscalationQuietHoursDigestBySMTP(t *testing.T) {
	sink, err := mailsink.Start("127.0.0.1:0", mailsink.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	dir := t.TempDir()
	chicago, _ := time.LoadLocation("America/Chicago")
	// Ann's quiet hours are the hour around now, in the site's time zone.
	// The events below happen at this same now: starting the service can
	// take seconds under load, and a later now could fall past the end of
	// the quiet hours written with minutes only.
	now := time.Now().UTC()
	local := now.In(chicago)
	quiet := fmt.Sprintf("- id: ann\n  name: Ann Lee\n  role: store\n  scope: {sites: [s1]}\n  email: ann@store.example\n  quiet_hours: {start: %q, end: %q}\n",
		local.Add(-30*time.Minute).Format("15:04"), local.Add(30*time.Minute).Format("15:04"))
	if err := os.WriteFile(filepath.Join(dir, "people.yaml"), []byte(quiet+fmYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.Database = DatabaseConfig{Driver: "sqlite", Path: filepath.Join(dir, "f.db")}
	cfg.People = []string{filepath.Join(dir, "people.yaml")}
	n := &cfg.Notifications
	n.BaseURL, n.LinkSecret = "http://set.below", strings.Repeat("y", 32)
	n.Email.Host, n.Email.Port, n.Email.TLS, n.Email.From = "127.0.0.1", sink.Port(), "none", "alerts@fl.example"
	n.Sender.Poll = 20 * time.Millisecond
	n.CheckEvery, n.DigestAt = time.Hour, "" // the test calls the loops itself, at its own clock
	ctx, cancel := context.WithCancel(context.Background())
	a, err := New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	n.BaseURL = "http://" + a.Addr()
	a.notify.planner.BaseURL = n.BaseURL
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done; a.Close() }()
	st := a.Store()
	if err := st.PutSite(ctx, &cloud.Site{ID: "s1", Name: "Austin North", Region: "north", Timezone: "America/Chicago"}); err != nil {
		t.Fatal(err)
	}
	var w *workorder.WorkOrder
	save := func(mk func(w *workorder.WorkOrder) []workorder.Event) {
		t.Helper()
		if err := st.Update(ctx, func(tx store.Tx) error {
			if w == nil {
				w = &workorder.WorkOrder{}
			} else {
				w, _ = tx.WorkOrder(ctx, w.ID)
			}
			return tx.Save(ctx, w, mk(w))
		}); err != nil {
			t.Fatal(err)
		}
	}
	apply := func(w *workorder.WorkOrder, es ...workorder.Event) []workorder.Event {
		for i := range es {
			es[i].WorkOrder, es[i].Version = "wo_q", w.Version+1
			if err := w.Apply(&es[i]); err != nil {
				t.Fatal(err)
			}
		}
		return es
	}
	// A P3 report in Ann's quiet hours: held for her.
	save(func(w *workorder.WorkOrder) []workorder.Event {
		return apply(w, workorder.Event{Kind: workorder.Created, At: now, Opening: &workorder.Opening{ID: "wo_q", Number: 5, Site: "s1",
			Asset: "wic-1", Source: workorder.Manual, Problem: "noise", Trade: "refrigeration", Priority: "P3"}})
	})
	// Escalated to P1: Fay is told at once, through anyone's quiet hours.
	save(func(w *workorder.WorkOrder) []workorder.Event {
		return apply(w, workorder.Event{Kind: workorder.Escalated, At: now, Priority: "P1"})
	})
	waitMail(t, sink, 1)
	log, err := st.Notifications(ctx, "wo_q", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range log {
		if l.Person == "ann" && (l.State != "pending" || !strings.HasPrefix(l.Note, "held for quiet hours") || !l.NextAt.After(now.Add(29*time.Minute))) {
			t.Errorf("ann's P3 receipt: %s due %s (%s)", l.State, l.NextAt, l.Note)
		}
	}
	// The breach: Fay at once; nobody acknowledges; Max 30 minutes on.
	save(func(w *workorder.WorkOrder) []workorder.Event {
		return w.MarkSLA(workorder.SLAMark{Key: "breach-arrive", Kind: "breach", Milestone: "arrive", Due: now.Add(-time.Hour), Lateness: time.Hour, At: now})
	})
	waitMail(t, sink, 2)
	// The service's sender records the breach as sent before a sender on
	// a clock half an hour ahead may look (leases assume clocks agree
	// within a lease).
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		n, err := st.Notification(ctx, "wo_q-3/sla_breach/fay/email")
		if err == nil && n.State == notify.Delivered {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("fay's breach not recorded sent: %+v %v", n, err)
		}
	}
	// The service's own loop runs on the wall clock; this one, over the
	// same store and planner, half an hour on.
	ch := &notify.Chains{Store: st, Planner: a.notify.planner, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now: func() time.Time { return now.Add(31 * time.Minute) }}
	if err := ch.Escalate(ctx); err != nil {
		t.Fatal(err)
	}
	// The step is due at the chain's clock, half an hour on: a sender on
	// that clock sends it (the service's own is on the wall clock).
	mail, err := email.New(n.Email)
	if err != nil {
		t.Fatal(err)
	}
	later := notify.NewSender(st, []notify.Channel{mail}, n.Sender, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	later.Now = ch.Now
	// At that clock Ann's quiet hours are over too: her receipt goes.
	if _, err := later.Once(ctx); err != nil {
		t.Fatal(err)
	}
	waitMail(t, sink, 4)
	var esc mailsink.Mail
	var annGot bool
	for _, m := range sink.Messages() {
		switch m.To[0] {
		case "max@fm.example":
			esc = m
		case "ann@store.example":
			annGot = strings.Contains(m.Subject, "opened from your report")
		}
	}
	if !strings.HasPrefix(esc.Subject, "Escalated to you: SLA breach on WO-5") || !annGot {
		t.Fatalf("after half an hour: max got %q; ann her receipt: %v", esc.Subject, annGot)
	}
	i := strings.Index(esc.Text, n.BaseURL+"/ack/")
	if i < 0 {
		t.Fatalf("no acknowledge link in %q", esc.Text)
	}
	link := strings.Fields(esc.Text[i:])[0]
	ack := func() (int, string) {
		resp, err := http.PostForm(link, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := ack(); code != 200 || !strings.Contains(body, "Thank you, Max Ortiz") {
		t.Fatalf("ack: %d %s", code, body)
	}
	if code, body := ack(); code != 409 || !strings.Contains(body, "already acknowledged by Max Ortiz") {
		t.Errorf("the link again: %d %s", code, body)
	}
	// Acknowledged: the chain stops (Max has no manager anyway; Fay's
	// own step is done).
	ch.Now = func() time.Time { return now.Add(3 * time.Hour) }
	if err := ch.Escalate(ctx); err != nil {
		t.Fatal(err)
	}
	// The next morning at 07:05 Chicago: Fay's and Max's digests.
	tomorrow := time.Now().In(chicago).AddDate(0, 0, 1)
	ch.DigestAt, ch.DigestZone = "07:00", chicago
	ch.Now = func() time.Time {
		return time.Date(tomorrow.Year(), tomorrow.Month(), tomorrow.Day(), 7, 5, 0, 0, chicago)
	}
	for range 2 { // twice: one digest each all the same
		if err := ch.Digests(ctx); err != nil {
			t.Fatal(err)
		}
	}
	later.Now = ch.Now
	if _, err := later.Once(ctx); err != nil {
		t.Fatal(err)
	}
	waitMail(t, sink, 6)
	time.Sleep(200 * time.Millisecond)
	digests := map[string]string{}
	for _, m := range sink.Messages() {
		if strings.HasPrefix(m.Subject, "Frostline daily digest") {
			if _, dup := digests[m.To[0]]; dup {
				t.Errorf("two digests to %s", m.To[0])
			}
			digests[m.To[0]] = m.Text
		}
	}
	if len(digests) != 2 || !strings.Contains(digests["fay@fm.example"], "WO-5  P1") || !strings.Contains(digests["fay@fm.example"], "Austin North (s1) (1)") {
		t.Errorf("digests: %v", digests)
	}
	if len(sink.Messages()) != 6 {
		for _, m := range sink.Messages() {
			t.Log(m.To, m.Subject)
		}
		t.Errorf("%d messages, want 6", len(sink.Messages()))
	}
}
