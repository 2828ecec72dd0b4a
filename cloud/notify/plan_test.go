package notify

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/workorder"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func testPlanner(t *testing.T) *Planner {
	t.Helper()
	tm, err := LoadTemplates()
	if err != nil {
		t.Fatal(err)
	}
	links, err := NewLinks([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	return &Planner{Templates: tm, BaseURL: "https://fl.example/", Links: links, LinkTTL: 72 * time.Hour,
		Escalation: Escalation{After: 30 * time.Minute, Levels: 2}}
}

func testWorld() *World {
	return &World{Site: &cloud.Site{ID: "s1", Name: "Austin North", Region: "north", Timezone: "America/Chicago"},
		People: []Person{
			{ID: "ann", Name: "Ann", Role: cloud.RoleStore, Scope: PersonScope{Sites: []string{"s1"}}, Email: "ann@store.example"},
			{ID: "sam", Name: "Sam", Role: cloud.RoleStore, Scope: PersonScope{Sites: []string{"s2"}}, Email: "sam@store.example"},
			{ID: "fay", Name: "Fay", Role: cloud.RoleFM, Scope: PersonScope{Region: "north"}, Email: "fay@fm.example", Manager: "max"},
			{ID: "max", Name: "Max", Role: cloud.RoleFM, Scope: PersonScope{All: true}, Email: "max@fm.example", Manager: "vp"},
			{ID: "vp", Name: "Vi", Role: cloud.RoleAdmin, Email: "vi@hq.example"},
			{ID: "vendor:coolco:0", Name: "CoolCo dispatch", Role: cloud.RoleVendor, Scope: PersonScope{Vendor: "coolco"}, Email: "dispatch@coolco.example", Source: "vendor"},
			{ID: "frost", Name: "FrostFix", Role: cloud.RoleVendor, Scope: PersonScope{Vendor: "frostfix"}, Email: "ops@frostfix.example"},
		}}
}

// TestPlanWhoHearsWhat walks a P1 report through its life and checks who
// is told what at each step.
func TestPlanWhoHearsWhat(t *testing.T) {
	p := testPlanner(t)
	world := testWorld()
	t0 := time.Date(2026, 12, 7, 15, 0, 0, 0, time.UTC) // 09:00 in Austin
	eta := t0.Add(2 * time.Hour)
	acceptBy := t0.Add(30 * time.Minute)
	w := &workorder.WorkOrder{}
	step := func(e workorder.Event) []workorder.Event {
		e.Version, e.WorkOrder = w.Version+1, "wo_1"
		if e.At.IsZero() {
			e.At = t0
		}
		if err := w.Apply(&e); err != nil {
			t.Fatal(err)
		}
		return []workorder.Event{e}
	}
	cases := []struct {
		name  string
		event workorder.Event
		want  []string // topic/person
	}{
		{"a P1 report opens", workorder.Event{Kind: workorder.Created, Opening: &workorder.Opening{ID: "wo_1", Number: 7, Site: "s1", Asset: "wic-1",
			Source: workorder.Manual, Problem: "temp_high", Trade: "refrigeration", Priority: "P1"}},
			[]string{"report_received/ann", "p1_created/fay", "p1_created/max"}},
		{"a second report merges", workorder.Event{Kind: workorder.Attached, Evidence: &workorder.Evidence{Event: "report", Problem: "temp_high", Reporter: "ann"}},
			[]string{"report_merged/ann"}},
		{"triaged: nobody", workorder.Event{Kind: workorder.Transition, Action: workorder.Triage, From: workorder.New, To: workorder.Triaged}, nil},
		{"released: nobody", workorder.Event{Kind: workorder.Transition, Action: workorder.Release, From: workorder.Triaged, To: workorder.Ready}, nil},
		{"offered to coolco", workorder.Event{Kind: workorder.Transition, Action: workorder.Dispatch, From: workorder.Ready, To: workorder.Dispatched,
			Vendor: "coolco", AcceptBy: &acceptBy, NTE: 1500}, []string{"offer/vendor:coolco:0"}},
		{"accepted with an ETA", workorder.Event{Kind: workorder.Transition, Action: workorder.Accept, From: workorder.Dispatched, To: workorder.Accepted,
			ETA: &eta, Technician: "tom"}, []string{"vendor_assigned/ann"}},
		{"breach", workorder.Event{Kind: workorder.SLAMarked, SLA: &workorder.SLAMark{Key: "k", Kind: "breach", Milestone: "arrive", Due: t0, Lateness: 40 * time.Minute, At: t0}},
			[]string{"sla_breach/fay", "sla_breach/max"}},
		{"reminder", workorder.Event{Kind: workorder.SLAMarked, SLA: &workorder.SLAMark{Key: "r", Kind: "remind", Milestone: "complete", Due: t0.Add(4 * time.Hour), At: t0}},
			[]string{"sla_reminder/vendor:coolco:0"}},
		{"on site", workorder.Event{Kind: workorder.Transition, Action: workorder.CheckIn, From: workorder.Accepted, To: workorder.InProgress}, []string{"on_site/ann"}},
		{"quote above the NTE", workorder.Event{Kind: workorder.Quoted, Quote: &workorder.Quote{Amount: 2400, Description: "compressor"}}, []string{"quote_waiting/fay", "quote_waiting/max"}},
		{"completed", workorder.Event{Kind: workorder.Transition, Action: workorder.Complete, From: workorder.InProgress, To: workorder.WorkComplete,
			Completion: &workorder.Completion{Problem: "temp_high", Cause: "x", Remedy: "replaced_fan_motor"}}, []string{"completed/ann"}},
		{"verifying", workorder.Event{Kind: workorder.Transition, Action: workorder.StartVerifying, From: workorder.WorkComplete, To: workorder.Verifying}, nil},
		{"verified", workorder.Event{Kind: workorder.Transition, Action: workorder.Verify, From: workorder.Verifying, To: workorder.Verified, Verification: "sensor"},
			[]string{"verified/ann"}},
		{"rated fixed: nobody", workorder.Event{Kind: workorder.Rated, Rating: &workorder.Rating{Fixed: true, Score: 5, By: "Ann", At: t0}}, nil},
		{"rated not fixed after the window: the FMs", workorder.Event{Kind: workorder.Rated, Rating: &workorder.Rating{Score: 1, Comment: "warm again",
			By: "Ann", At: t0, Outcome: workorder.RatingFlagged}}, []string{"not_fixed/fay", "not_fixed/max"}},
	}
	for _, tc := range cases {
		evs := step(tc.event)
		ns, err := p.Plan(w, evs, world, t0)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var got []string
		for _, n := range ns {
			got = append(got, n.Topic+"/"+n.Person)
			if n.Channel != "email" || n.State != Pending || !n.NextAt.Equal(t0) {
				t.Errorf("%s: %s: channel %s state %s next %s", tc.name, n.ID, n.Channel, n.State, n.NextAt)
			}
			if !strings.Contains(n.Text, "https://fl.example/workorders/wo_1") || !strings.Contains(n.HTML, `href="https://fl.example/workorders/wo_1"`) {
				t.Errorf("%s: %s has no link to the work order's page", tc.name, n.ID)
			}
			if wantAck := n.Topic == TopicSLABreach || n.Topic == TopicP1Created; wantAck != strings.Contains(n.Text, "/ack/") {
				t.Errorf("%s: %s: ack link present %v, want %v", tc.name, n.ID, !wantAck, wantAck)
			}
			// The store's verified message asks whether it is fixed, by a
			// link signed for that one notification.
			if wantRate := n.Topic == TopicVerified; wantRate != strings.Contains(n.Text, "/rate/") {
				t.Errorf("%s: %s: rate link present %v, want %v", tc.name, n.ID, !wantRate, wantRate)
			} else if wantRate {
				_, tok, _ := strings.Cut(n.Text, "https://fl.example/rate/")
				tok = strings.Fields(tok)[0]
				if id, err := p.Links.Verify(tok, t0.Add(71*time.Hour)); err != nil || id != n.ID {
					t.Errorf("%s: rate link names %q (%v), want %s", tc.name, id, err, n.ID)
				}
				if _, err := p.Links.Verify(tok, t0.Add(72*time.Hour)); err != ErrLinkExpired {
					t.Errorf("%s: rate link after its TTL: %v, want expired", tc.name, err)
				}
			}
			if n.Topic == TopicNotFixed && (!strings.Contains(n.Text, "past the recall window") || !strings.Contains(n.Text, "warm again") || !strings.Contains(n.Subject, "not fixed")) {
				t.Errorf("%s: the FM's message does not say it is flagged:\n%s", tc.name, n.Text)
			}
			if n.Topic == TopicSLABreach && (n.EscalateAt == nil || !n.EscalateAt.Equal(t0.Add(30*time.Minute))) {
				t.Errorf("%s: %s escalates at %v", tc.name, n.ID, n.EscalateAt)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: told %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestQuietHours: outside P1, a person in quiet hours (in the site's time
// zone) gets the message when they end; a P1 breaks through.
func TestQuietHours(t *testing.T) {
	p := testPlanner(t)
	world := testWorld()
	world.People[0].Quiet = &QuietHours{Start: "21:00", End: "07:30"}
	chicago, _ := time.LoadLocation("America/Chicago")
	for _, tc := range []struct {
		name     string
		at       time.Time
		priority string
		want     time.Time // zero: now
	}{
		{"evening, P3", time.Date(2026, 12, 7, 22, 15, 0, 0, chicago), "P3", time.Date(2026, 12, 8, 7, 30, 0, 0, chicago)},
		{"small hours, P2", time.Date(2026, 12, 8, 3, 0, 0, 0, chicago), "P2", time.Date(2026, 12, 8, 7, 30, 0, 0, chicago)},
		{"evening, P1 breaks through", time.Date(2026, 12, 7, 22, 15, 0, 0, chicago), "P1", time.Time{}},
		{"daytime, P3", time.Date(2026, 12, 8, 12, 0, 0, 0, chicago), "P3", time.Time{}},
		{"the end minute itself", time.Date(2026, 12, 8, 7, 30, 0, 0, chicago), "P3", time.Time{}},
		{"across the spring DST change", time.Date(2027, 3, 14, 1, 0, 0, 0, chicago), "P4", time.Date(2027, 3, 14, 7, 30, 0, 0, chicago)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := &workorder.WorkOrder{ID: "wo_q", Number: 9, Site: "s1", Asset: "a", Source: workorder.Manual, Problem: "noise", Priority: tc.priority}
			ev := workorder.Event{Kind: workorder.Created, Version: 1, At: tc.at, Opening: &workorder.Opening{Priority: tc.priority}}
			ns, err := p.Plan(w, []workorder.Event{ev}, world, tc.at.UTC())
			if err != nil {
				t.Fatal(err)
			}
			var ann *Notification
			for i := range ns {
				if ns[i].Person == "ann" {
					ann = &ns[i]
				}
			}
			if ann == nil {
				t.Fatal("ann not told")
			}
			want := tc.want
			if want.IsZero() {
				want = tc.at
			}
			if !ann.NextAt.Equal(want) {
				t.Errorf("due %s, want %s (%s)", ann.NextAt.In(chicago), want, ann.Note)
			}
		})
	}
}

func TestPreferences(t *testing.T) {
	p := testPlanner(t)
	world := testWorld()
	world.People[2].Preferences = map[string]Preference{"*": Digest, TopicSLABreach: On}
	world.People[3].Preferences = map[string]Preference{TopicP1Created: Off}
	w := &workorder.WorkOrder{ID: "wo_p", Number: 3, Site: "s1", Asset: "a", Source: workorder.Sensor, Problem: "temp_high", Priority: "P1"}
	now := time.Date(2026, 12, 7, 15, 0, 0, 0, time.UTC)
	ns, err := p.Plan(w, []workorder.Event{{Kind: workorder.Created, Version: 1, At: now, Opening: &workorder.Opening{Priority: "P1"}}}, world, now)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]State{}
	for _, n := range ns {
		got[n.Person] = n.State
	}
	if got["fay"] != Held || got["max"] != Skipped || len(got) != 2 {
		t.Errorf("states %v, want fay held for the digest and max skipped", got)
	}
}

// TestEscalate climbs the chain: Fay's manager Max, then Max's manager Vi,
// then nobody (two levels).
func TestEscalate(t *testing.T) {
	p := testPlanner(t)
	world := testWorld()
	now := time.Date(2026, 12, 7, 15, 0, 0, 0, time.UTC)
	w := &workorder.WorkOrder{ID: "wo_e", Number: 4, Site: "s1", Asset: "a", Problem: "temp_high", Priority: "P2", Version: 5}
	e := workorder.Event{Kind: workorder.SLAMarked, Version: 5, At: now, SLA: &workorder.SLAMark{Kind: "breach", Milestone: "arrive", Due: now.Add(-time.Hour), Lateness: time.Hour}}
	ns, err := p.Plan(w, []workorder.Event{e}, world, now)
	if err != nil {
		t.Fatal(err)
	}
	fay := ns[0]
	if fay.Person != "fay" {
		t.Fatalf("first %s", fay.Person)
	}
	up, err := p.Escalate(&fay, w, &e, world, now.Add(31*time.Minute))
	if err != nil || len(up) != 1 || up[0].Person != "max" || up[0].Step != 1 || up[0].ID != "wo_e-5/sla_breach.1/max/email" {
		t.Fatalf("step 1: %+v %v", up, err)
	}
	if !strings.HasPrefix(up[0].Subject, "Escalated to you:") || !strings.Contains(up[0].Text, "within 30m0s") {
		t.Errorf("step 1 reads %q / %q", up[0].Subject, up[0].Text)
	}
	up2, err := p.Escalate(&up[0], w, &e, world, now.Add(62*time.Minute))
	if err != nil || len(up2) != 1 || up2[0].Person != "vp" || up2[0].Step != 2 || up2[0].EscalateAt != nil {
		t.Fatalf("step 2: %+v %v", up2, err)
	}
	if up3, err := p.Escalate(&up2[0], w, &e, world, now.Add(93*time.Minute)); err != nil || len(up3) != 0 {
		t.Fatalf("past the last level: %+v %v", up3, err)
	}
	// An FM who takes everything in the digest does not stop the chain.
	world.People[2].Preferences = map[string]Preference{"*": Digest}
	ns, _ = p.Plan(w, []workorder.Event{e}, world, now)
	if ns[0].Person != "fay" || ns[0].State != Held || ns[0].EscalateAt == nil {
		t.Errorf("fay's held breach: %s escalates at %v", ns[0].State, ns[0].EscalateAt)
	}
}

func TestLinks(t *testing.T) {
	l, err := NewLinks([]byte(strings.Repeat("a", 32)))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 7, 15, 0, 0, 0, time.UTC)
	tok := l.Sign("wo_1-5/sla_breach/fay/email", now.Add(time.Hour))
	if id, err := l.Verify(tok, now); err != nil || id != "wo_1-5/sla_breach/fay/email" {
		t.Fatalf("verify: %q %v", id, err)
	}
	if _, err := l.Verify(tok, now.Add(time.Hour)); err != ErrLinkExpired {
		t.Errorf("at expiry: %v", err)
	}
	other, _ := NewLinks([]byte(strings.Repeat("b", 32)))
	if _, err := other.Verify(tok, now); err != ErrLinkInvalid {
		t.Errorf("other key: %v", err)
	}
	rotated, _ := NewLinks([]byte(strings.Repeat("b", 32)), []byte(strings.Repeat("a", 32)))
	if _, err := rotated.Verify(tok, now); err != nil {
		t.Errorf("after rotation, the old key still verifies: %v", err)
	}
	p64, m64, _ := strings.Cut(tok, ".")
	for _, bad := range []string{"", ".", tok + "x", "x" + tok, p64, m64 + "." + p64, strings.ToUpper(tok)} {
		if _, err := l.Verify(bad, now); err != ErrLinkInvalid {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if _, err := NewLinks([]byte("short")); err == nil {
		t.Error("a short key was taken")
	}
}

func FuzzLinksVerify(f *testing.F) {
	l, _ := NewLinks([]byte(strings.Repeat("a", 32)))
	f.Add(l.Sign("x/y", time.Unix(2e9, 0)))
	f.Add("a.b")
	f.Fuzz(func(t *testing.T, tok string) {
		l.Verify(tok, time.Unix(1e9, 0)) //nolint:errcheck // must not panic
	})
}

// TestTemplatesGolden renders every topic for one work order and compares
// with testdata/messages/<topic>.golden (-update rewrites them).
func TestTemplatesGolden(t *testing.T) {
	p := testPlanner(t)
	p.Links = nil // links carry times; the golden files should not
	chicago, _ := time.LoadLocation("America/Chicago")
	at := time.Date(2026, 12, 7, 9, 5, 0, 0, chicago)
	v := View{Person: "Ann Lee", Number: 42, What: "Walk-in cooler warm <door ajar?>", Site: "s1", SiteName: "Austin North", Asset: "wic-1",
		Problem: "temp_high", Priority: "P1", Trade: "refrigeration", Status: "accepted", Vendor: "CoolCo", Technician: "Tom",
		Remedy: "replaced fan motor", Verification: "sensor", RecallOf: "wo_0", At: when(at, chicago), ETA: when(at.Add(2*time.Hour), chicago),
		AcceptBy: when(at.Add(30*time.Minute), chicago), Due: when(at, chicago), Quote: money(2400), QuoteText: "compressor", NTE: money(1500),
		Milestone: "arrive", Lateness: age(47 * time.Minute), Link: "https://fl.example/workorders/wo_42", AckLink: "https://fl.example/ack/TOKEN",
		OpenCount: 2, Sites: []DigestSite{{Site: "Austin North (s1)", Rows: []DigestRow{{Number: 40, Priority: "P2", Status: "dispatched", Age: age(50 * time.Hour), What: "noise", Vendor: "CoolCo", Link: "https://fl.example/workorders/wo_40"}, {Number: 42, Priority: "P1", Status: "new", Age: age(5 * time.Minute), What: "warm"}}}},
		Held: []string{"WO-41: work completed"}, Score: 2, Comment: "still warm <again>", Recall: true, Invoice: "CC-1042"}
	for _, topic := range Topics {
		vv := v
		if topic == TopicDigest { // a digest is about no one work order
			vv.Link, vv.AckLink = "", ""
		}
		if LinkFor(topic) == LinkRate {
			vv.RateLink = "https://fl.example/rate/TOKEN"
		}
		subject, text, html, err := p.Templates.Render(topic, &vv)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(html, "<door") || !strings.Contains(html, "&lt;door") && strings.Contains(text, "<door") {
			t.Errorf("%s: the title is not escaped in HTML", topic)
		}
		got := "Subject: " + subject + "\n\n" + text + "\n----\n" + html + "\n"
		file := filepath.Join("testdata", "messages", topic+".golden")
		if *update {
			os.MkdirAll(filepath.Dir(file), 0o755)
			if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("%v (run with -update)", err)
		}
		if got != string(want) {
			t.Errorf("%s differs from %s:\n%s", topic, file, got)
		}
	}
}

func TestParsePeople(t *testing.T) {
	good := []byte(`
- id: fay
  name: Fay Moreno
  role: fm
  scope: {region: north}
  email: fay@fm.example
  manager: max
  quiet_hours: {start: "21:00", end: "07:00"}
  preferences: {"*": on, digest: on, quote_waiting: digest}
- id: ann
  name: Ann
  role: store
  scope: {sites: [s1]}
  phone: "+15125550100"
  channels: [sms]
`)
	ps, err := ParsePeople("people.yaml", good)
	if err != nil || len(ps) != 2 || ps[0].Preference(TopicQuoteWaiting) != Digest || ps[1].Address("sms") != "+15125550100" {
		t.Fatalf("%+v %v", ps, err)
	}
	bad := []byte(`
- id: x
  name: X
  role: store
  email: not-an-address
  quiet_hours: {start: "25:00", end: "07:00"}
  preferences: {weather: on, digest: loud}
- id: x
  name: Y
  role: vendor
  scope: {}
  email: y@v.example
  colour: blue
`)
	_, err = ParsePeople("people.yaml", bad)
	if err == nil || !strings.Contains(err.Error(), "colour") {
		t.Fatalf("unknown field: %v", err)
	}
	bad = []byte(strings.Replace(string(bad), "  colour: blue\n", "", 1))
	_, err = ParsePeople("people.yaml", bad)
	for _, want := range []string{"people[0] (x)", "scope.sites", "email", "quiet_hours.start", "preferences.weather", "preferences.digest", "scope.vendor", "appears twice"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
}
