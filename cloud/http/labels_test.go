package http

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/postgres"
	"github.com/frostline/frostline/cloud/postgres/pgtest"
	"github.com/frostline/frostline/cloud/sqlite"
	"github.com/frostline/frostline/cloud/store"
	"github.com/frostline/frostline/cloud/workorder"
	"github.com/frostline/frostline/rules/score"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// woBuilder records a work order event by event, as the service would,
// and saves them in one transaction.
type woBuilder struct {
	t   testing.TB
	w   *workorder.WorkOrder
	evs []workorder.Event
}

func ptr[T any](v T) *T { return &v }

func lt(s string) time.Time {
	t, err := time.Parse("2006-01-02 15:04", s)
	if err != nil {
		panic(err)
	}
	return t
}

func newWOB(t testing.TB, id string, num int64, site, asset string, src workorder.Source, problem, when string) *woBuilder {
	b := &woBuilder{t: t, w: &workorder.WorkOrder{}}
	return b.add(workorder.Event{Kind: workorder.Created, Actor: "system", At: lt(when), Opening: &workorder.Opening{
		ID: id, Number: num, Site: site, Asset: asset, AssetClass: "walk_in_cooler", Source: src, Problem: problem,
		Trade: "refrigeration", Priority: "P2"}})
}

func (b *woBuilder) add(e workorder.Event) *woBuilder {
	b.t.Helper()
	e.WorkOrder, e.Version = b.w.ID, b.w.Version+1
	if e.Opening != nil {
		e.WorkOrder = e.Opening.ID
	}
	if err := b.w.Apply(&e); err != nil {
		b.t.Fatal(err)
	}
	b.evs = append(b.evs, e)
	return b
}

func (b *woBuilder) tr(a workorder.Action, to workorder.Status, when string, mod ...func(*workorder.Event)) *woBuilder {
	e := workorder.Event{Kind: workorder.Transition, Action: a, From: b.w.Status, To: to, Actor: "x", At: lt(when)}
	for _, m := range mod {
		m(&e)
	}
	return b.add(e)
}

func (b *woBuilder) incident(id, event, started, when string) *woBuilder {
	st := lt(started)
	return b.add(workorder.Event{Kind: workorder.Attached, Actor: "edge", At: lt(when),
		Evidence: &workorder.Evidence{Incident: id, Event: event, Problem: b.w.Problem, Started: &st, At: lt(when)}})
}

// repaired takes the work order through dispatch, a visit and completion
// (with the technician's problem and cause) to verification at verified.
func (b *woBuilder) repaired(problem, cause, visit, verified string) *woBuilder {
	return b.tr(workorder.Triage, workorder.Triaged, visit).tr(workorder.Release, workorder.Ready, visit).
		tr(workorder.Dispatch, workorder.Dispatched, visit, func(e *workorder.Event) { e.Vendor = "coolco" }).
		tr(workorder.Accept, workorder.Accepted, visit).
		tr(workorder.CheckIn, workorder.InProgress, visit, func(e *workorder.Event) { e.Visit = &workorder.Visit{In: lt(visit)} }).
		tr(workorder.Complete, workorder.WorkComplete, verified, func(e *workorder.Event) {
			e.Completion = &workorder.Completion{Problem: problem, Cause: cause, Remedy: "fixed"}
		})
}

func (b *woBuilder) save(ctx context.Context, s Store) {
	b.t.Helper()
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.Save(ctx, b.w, b.evs) }); err != nil {
		b.t.Fatalf("save %s: %v", b.w.ID, err)
	}
}

// labelsFixture is a server on a real store with two sites and the work
// orders whose outcomes the labels export must tell apart.
type labelsFixture struct {
	ts     *httptest.Server
	tokens map[string]string
}

func newLabelsFixture(t *testing.T, db Store) *labelsFixture {
	ctx := context.Background()
	now := lt("2026-07-10 00:00")
	srv := New(Options{Store: db, Intake: &workorder.Intake[store.Tx]{Policy: workorder.DefaultPolicy()},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return now }})
	f := &labelsFixture{ts: httptest.NewServer(srv), tokens: map[string]string{}}
	t.Cleanup(f.ts.Close)
	for _, s := range []cloud.Site{{ID: "s1", Region: "north"}, {ID: "s2", Region: "south"}} {
		if err := db.PutSite(ctx, &s); err != nil {
			t.Fatal(err)
		}
		for _, a := range []string{"wic-1", "wic-2", "dc-1"} {
			if err := db.PutAsset(ctx, &cloud.Asset{Site: s.ID, ID: a, Class: "walk_in_cooler"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, q := range map[string]TokenRequest{
		"admin":    {Role: cloud.RoleAdmin},
		"fm-north": {Role: cloud.RoleFM, Region: "north"},
		"store":    {Role: cloud.RoleStore, Sites: []string{"s2"}, Name: "anna"},
		"vendor":   {Role: cloud.RoleVendor, Vendor: "coolco"},
	} {
		tok, _, err := IssueToken(ctx, db, q, now)
		if err != nil {
			t.Fatal(err)
		}
		f.tokens[name] = tok
	}
	verify := func(e *workorder.Event) { e.Verification = "sensor" }
	// A: a compressor failure, repaired, the incident cleared at 14:00,
	// verified by the sensor: a fault from the incident's start.
	newWOB(t, "A", 1, "s1", "wic-1", workorder.Sensor, "no_cooling", "2026-07-06 09:00").
		incident("iA", "opened", "2026-07-06 08:50", "2026-07-06 09:00").
		repaired("no_cooling", "failed_compressor", "2026-07-06 11:00", "2026-07-06 13:30").
		incident("iA", "cleared", "2026-07-06 08:50", "2026-07-06 14:00").
		tr(workorder.Verify, workorder.Verified, "2026-07-06 16:00", verify).save(ctx, db)
	// B: long runtime, the technician found a leak, verified and closed;
	// no incident cleared: the fault ends at verification.
	newWOB(t, "B", 2, "s1", "wic-2", workorder.Sensor, "long_runtime", "2026-07-07 02:00").
		incident("iB", "opened", "2026-07-07 01:30", "2026-07-07 02:00").
		repaired("refrigerant_leak", "leak_at_valve", "2026-07-07 09:00", "2026-07-07 12:00").
		tr(workorder.Verify, workorder.Verified, "2026-07-07 15:00", verify).
		tr(workorder.Close, workorder.Closed, "2026-07-08 09:00").save(ctx, db)
	// C: too warm, recovered on its own before anyone was sent: avoided.
	newWOB(t, "C", 3, "s1", "dc-1", workorder.Sensor, "temp_high", "2026-07-07 10:00").
		incident("iC", "opened", "2026-07-07 09:55", "2026-07-07 10:00").
		incident("iC", "cleared", "2026-07-07 09:55", "2026-07-07 10:40").
		tr(workorder.Avoid, workorder.Avoided, "2026-07-07 10:45").save(ctx, db)
	// D: door ajar, the technician found nothing: no fault found.
	newWOB(t, "D", 4, "s2", "wic-1", workorder.Sensor, "door_ajar", "2026-07-08 06:00").
		incident("iD", "opened", "2026-07-08 05:50", "2026-07-08 06:00").
		repaired("door_ajar", "No_Fault_Found", "2026-07-08 08:00", "2026-07-08 08:30").save(ctx, db)
	// E: still being worked: says nothing yet.
	newWOB(t, "E", 5, "s2", "wic-2", workorder.Sensor, "temp_high", "2026-07-08 12:00").
		incident("iE", "opened", "2026-07-08 11:50", "2026-07-08 12:00").
		tr(workorder.Triage, workorder.Triaged, "2026-07-08 12:00").save(ctx, db)
	// F: a person's report, verified: not a sensor outcome.
	newWOB(t, "F", 6, "s2", "wic-2", workorder.Manual, "noise", "2026-07-07 12:00").
		repaired("noise", "loose_panel", "2026-07-07 13:00", "2026-07-07 14:00").
		tr(workorder.Verify, workorder.Verified, "2026-07-07 15:00").save(ctx, db)
	// G: the whole of s2 silent, verified: a fault on asset "*".
	newWOB(t, "G", 7, "s2", "*", workorder.Sensor, "gateway_offline", "2026-07-08 20:00").
		incident("iG", "opened", "2026-07-08 19:40", "2026-07-08 20:00").
		incident("iG", "cleared", "2026-07-08 19:40", "2026-07-08 22:10").
		repaired("gateway_offline", "power_cut", "2026-07-08 21:00", "2026-07-08 22:00").
		tr(workorder.Verify, workorder.Verified, "2026-07-08 23:00", verify).save(ctx, db)
	// R: s1's rack tripped: its incident named the cases and when the
	// product breached; verified.
	r := newWOB(t, "R", 9, "s1", "dc-1", workorder.Sensor, "rack_failure", "2026-07-09 02:00")
	r.add(workorder.Event{Kind: workorder.Attached, Actor: "edge", At: lt("2026-07-09 02:00"), Evidence: &workorder.Evidence{
		Incident: "iR", Event: "opened", Problem: "rack_failure", Started: ptr(lt("2026-07-09 01:45")), At: lt("2026-07-09 02:00"),
		Affected: []string{"wic-1", "wic-2"}}})
	r.add(workorder.Event{Kind: workorder.Attached, Actor: "edge", At: lt("2026-07-09 05:00"), Evidence: &workorder.Evidence{
		Incident: "iR", Event: "cleared", Problem: "rack_failure", Started: ptr(lt("2026-07-09 01:45")), At: lt("2026-07-09 05:00"),
		Affected: []string{"wic-1", "wic-2"}, BreachedAt: ptr(lt("2026-07-09 03:05"))}})
	r.repaired("rack_failure", "tripped_breaker", "2026-07-09 04:00", "2026-07-09 04:30").
		tr(workorder.Verify, workorder.Verified, "2026-07-09 07:00", verify).save(ctx, db)
	// H: verified, but created before the period.
	newWOB(t, "H", 8, "s1", "wic-1", workorder.Sensor, "no_cooling", "2026-07-01 09:00").
		incident("iH", "opened", "2026-07-01 08:50", "2026-07-01 09:00").
		repaired("no_cooling", "failed_fan", "2026-07-01 11:00", "2026-07-01 13:30").
		tr(workorder.Verify, workorder.Verified, "2026-07-01 16:00", verify).save(ctx, db)
	return f
}

func (f *labelsFixture) get(t *testing.T, who, query string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest("GET", f.ts.URL+"/api/v1/analytics/labels"+query, nil)
	req.Header.Set("Authorization", "Bearer "+f.tokens[who])
	resp, err := f.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func TestLabelsSQLite(t *testing.T) {
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "l.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	checkLabels(t, newLabelsFixture(t, db))
}

func TestLabelsPostgres(t *testing.T) {
	db, err := postgres.Open(context.Background(), pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	checkLabels(t, newLabelsFixture(t, db))
}

const labelsPeriod = "?from=2026-07-05&to=2026-07-10T00:00:00Z"

func checkLabels(t *testing.T, f *labelsFixture) {
	code, body, hdr := f.get(t, "admin", labelsPeriod)
	if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
		t.Fatalf("%d %s: %s", code, hdr.Get("Content-Type"), body)
	}
	// The export is a labels file the scorer reads.
	l, err := score.ParseLabels([]byte(body))
	if err != nil {
		t.Fatalf("%v\n%s", err, body)
	}
	if !l.Epoch.Equal(lt("2026-07-05 00:00")) || !l.End.Equal(lt("2026-07-10 00:00")) || len(l.Assets) != 6 {
		t.Errorf("epoch %v end %v, %d assets", l.Epoch, l.End, len(l.Assets))
	}
	type fault struct{ site, asset, kind, start, end, accept string }
	var faults []fault
	for _, x := range l.Faults {
		faults = append(faults, fault{x.Site, x.Asset, x.Fault, x.Start.Format("01-02 15:04"), x.End.Format("01-02 15:04"), strings.Join(x.Accept, ",")})
	}
	wantFaults := []fault{
		{"s1", "wic-1", "compressor_failure", "07-06 08:50", "07-06 14:00", "no_cooling,temp_high,temp_trend"},
		{"s1", "wic-2", "refrigerant_leak", "07-07 01:30", "07-07 15:00", "long_runtime,no_cooling,temp_high,temp_trend"},
		{"s2", "*", "gateway_offline", "07-08 19:40", "07-08 22:10", "gateway_offline,sensor_offline"},
		{"s1", "dc-1", "rack_failure", "07-09 01:45", "07-09 05:00", "compressor_failure,no_cooling,rack_failure,temp_high,temp_trend"},
	}
	if !slices.Equal(faults, wantFaults) {
		t.Errorf("faults\n got %v\nwant %v", faults, wantFaults)
	}
	if len(l.Faults) == 4 {
		rack := l.Faults[3]
		if !slices.Equal(rack.Members, []string{"wic-1", "wic-2"}) || rack.Breach == nil || !rack.Breach.Equal(lt("2026-07-09 03:05")) {
			t.Errorf("rack trip: members %v breach %v", rack.Members, rack.Breach)
		}
	}
	type neg struct{ site, asset, reason, start, end, problem, wo string }
	var negs []neg
	for _, n := range l.Negatives {
		negs = append(negs, neg{n.Site, n.Asset, n.Reason, n.Start.Format("01-02 15:04"), n.End.Format("01-02 15:04"), n.Problem, n.WorkOrder})
	}
	wantNegs := []neg{
		{"s1", "dc-1", "avoided", "07-07 09:55", "07-07 10:40", "temp_high", "C"},
		{"s2", "wic-1", "no_fault_found", "07-08 05:50", "07-08 08:30", "door_ajar", "D"},
	}
	if !slices.Equal(negs, wantNegs) {
		t.Errorf("negatives\n got %v\nwant %v", negs, wantNegs)
	}

	// Backtesting against it: a rule set that raises the fault, the
	// avoided warm spell and the no-fault door scores one true positive
	// and two false positives on negatives.
	incs := []score.Incident{
		{Site: "s1", Asset: "wic-1", Problem: "no_cooling", At: lt("2026-07-06 09:10")},
		{Site: "s1", Asset: "dc-1", Problem: "temp_high", At: lt("2026-07-07 10:05")},
		{Site: "s2", Asset: "wic-1", Problem: "door_ajar", At: lt("2026-07-08 06:00")},
		{Site: "s1", Asset: "wic-2", Problem: "temp_high", At: lt("2026-07-09 02:10")},
	}
	r := score.Score(l, incs, 0, score.DefaultGrace)
	if r.TruePositives != 2 || r.FalsePositives != 2 || r.FPOnNegatives != 2 || r.Accepted != 2 {
		t.Errorf("score: tp %d fp %d on negatives %d accepted %d", r.TruePositives, r.FalsePositives, r.FPOnNegatives, r.Accepted)
	}
	if least, ok := r.SuddenMin(); !ok || least != 55 || len(r.PerTrip) != 1 || r.PerTrip[0] != 1 {
		t.Errorf("rack trip: sudden lead %v %v, per trip %v; want 55 min, [1]", least, ok, r.PerTrip)
	}

	// Scope: an FM of the north sees s1, store staff of s2 see s2.
	for who, want := range map[string]struct {
		site                      string
		assets, faults, negatives int
	}{"fm-north": {"s1", 3, 3, 1}, "store": {"s2", 3, 1, 1}} {
		code, body, _ := f.get(t, who, labelsPeriod)
		if code != 200 {
			t.Fatalf("%s: %d %s", who, code, body)
		}
		l, err := score.ParseLabels([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Assets) != want.assets || len(l.Faults) != want.faults || len(l.Negatives) != want.negatives {
			t.Errorf("%s: %d assets %d faults %d negatives, want %+v", who, len(l.Assets), len(l.Faults), len(l.Negatives), want)
		}
		for _, a := range l.Assets {
			if a.Site != want.site {
				t.Errorf("%s sees %s/%s", who, a.Site, a.Asset)
			}
		}
		for _, x := range l.Faults {
			if x.Site != want.site {
				t.Errorf("%s sees a fault at %s", who, x.Site)
			}
		}
	}

	// Defaults: to is now (the fixture's 10 July), from 30 days before,
	// which takes H in too.
	code, body, _ = f.get(t, "admin", "")
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	var d struct {
		Epoch, End time.Time
		Faults     []json.RawMessage
	}
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatal(err)
	}
	if !d.End.Equal(lt("2026-07-10 00:00")) || !d.Epoch.Equal(lt("2026-06-10 00:00")) || len(d.Faults) != 5 {
		t.Errorf("defaults: epoch %v end %v, %d faults", d.Epoch, d.End, len(d.Faults))
	}

	// Refusals: problem+json naming the parameter; vendors are refused.
	for _, c := range []struct {
		who, query string
		code       int
		field      string
	}{
		{"admin", "?from=yesterday", 400, "from"},
		{"admin", "?to=2026-13-01", 400, "to"},
		{"admin", "?from=2026-07-09&to=2026-07-08", 400, "to"},
		{"admin", "?from=2026-07-01&from=2026-07-02", 400, "from"},
		{"admin", "?site=s1", 400, "site"},
		{"vendor", labelsPeriod, 403, ""},
		{"nobody", labelsPeriod, 401, ""},
	} {
		code, body, hdr := f.get(t, c.who, c.query)
		if code != c.code || hdr.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s %s: %d %s %s", c.who, c.query, code, hdr.Get("Content-Type"), body)
			continue
		}
		if c.field != "" && !strings.Contains(body, `"field":"`+c.field+`"`) {
			t.Errorf("%s: the problem does not name %s: %s", c.query, c.field, body)
		}
	}
}

// FuzzLabelsQuery: whatever query string a client sends, parsing it either
// refuses it naming a parameter or yields a period that ends after it
// starts.
func FuzzLabelsQuery(f *testing.F) {
	for _, s := range []string{"", labelsPeriod[1:], "from=2026-07-09&to=2026-07-08", "to=2026-07-01T00:00:00%2B02:00",
		"from=x", "site=s1", "from=2026-07-01&from=2026-07-02", "=1"} {
		f.Add(s)
	}
	now := lt("2026-07-10 00:00")
	f.Fuzz(func(t *testing.T, raw string) {
		r, err := http.NewRequest("GET", "/api/v1/analytics/labels?"+raw, nil)
		if err != nil {
			return // not a URL a client could send
		}
		from, to, err := parseLabelsQuery(r, now)
		if err != nil {
			if cloud.ErrorCode(err) != cloud.EINVALID || cloud.ErrorField(err) == "" {
				t.Fatalf("%q: %v: want an invalid-parameter error naming the parameter", raw, err)
			}
			return
		}
		if !from.Before(to) {
			t.Fatalf("%q: from %v not before to %v", raw, from, to)
		}
	})
}
