package http

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/dispatch"
	"github.com/frostline/frostline/cloud/intake"
	"github.com/frostline/frostline/cloud/sla"
	"github.com/frostline/frostline/cloud/sqlite"
	"github.com/frostline/frostline/cloud/store"
	"github.com/frostline/frostline/cloud/workorder"
	"github.com/frostline/frostline/rules"
)

// dispatchFixture is the cloud's dispatch as it runs: a real SQLite
// store, the dispatch service as the intake's dispatcher, vendors created
// through the API, incidents received the way the JetStream consumer
// receives them, and a clock the test moves.
type dispatchFixture struct {
	*fixture
	in    *workorder.Intake[store.Tx]
	svc   *dispatch.Service
	clock time.Time
	seq   map[string]int
}

// Vendors every dispatch test starts with, for refrigeration at s1
// (Chicago): rank 1 lapsed (general liability expired), rank 2 polar,
// rank 3 arctic, then hvacco (wrong trade, rank 1 for hvac) and warrantyco
// (a manufacturer's agent that covers no site).
func vendorJSON(id string, rank int, trades string, glExpires string, extra string) string {
	return fmt.Sprintf(`{"id":%q,"name":%q,"kind":"external","trades":[%s],"coverage":{"sites":["s1"]},
		"documents":[{"type":"coi_general_liability","expires_at":%q},{"type":"coi_workers_comp","expires_at":"2028-01-01T00:00:00Z"}],
		"technicians":[{"id":"tech-%s","documents":[{"type":"epa_608","expires_at":"2030-01-01T00:00:00Z"}]}],
		"rates":{"refrigeration":{"hourly":100,"trip_charge":50}},
		"nte":{"refrigeration":{"P1":1000,"P2":600}},
		"ranks":[{"site":"s1","trade":"refrigeration","rank":%d}]%s}`, id, id, trades, glExpires, id, rank, extra)
}

func newDispatchFixture(t *testing.T) *dispatchFixture {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "d.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	d := &dispatchFixture{clock: t0}
	d.in = &workorder.Intake[store.Tx]{Policy: workorder.DefaultPolicy()}
	d.svc = &dispatch.Service{Register: db, Rules: dispatch.DefaultRules(), Policy: &d.in.Policy, SLA: sla.DefaultPolicy(),
		Now: func() time.Time { return d.clock }}
	d.in.Dispatcher = dispatch.For[store.Tx](d.svc)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := New(Options{Store: db, Intake: d.in, Log: log, Now: func() time.Time { return d.clock }, Dispatch: d.svc})
	d.fixture = &fixture{srv: srv, store: db, tokens: map[string]string{}}
	d.ts = httptest.NewServer(srv)
	t.Cleanup(d.ts.Close)
	if err := db.PutSite(ctx, &cloud.Site{ID: "s1", Name: "Store one", Timezone: "America/Chicago", Location: &rules.Location{Lat: 41.88, Lon: -87.63}}); err != nil {
		t.Fatal(err)
	}
	for _, a := range []cloud.Asset{
		{Site: "s1", ID: "wic-1", Class: "walk_in_cooler"},
		{Site: "s1", ID: "wic-2", Class: "walk_in_cooler", Warranty: &cloud.Warranty{Provider: "warrantyco", Expires: "2027-01-01"}},
	} {
		if err := db.PutAsset(ctx, &a); err != nil {
			t.Fatal(err)
		}
	}
	for name, q := range map[string]TokenRequest{
		"admin": {Role: cloud.RoleAdmin}, "fm": {Role: cloud.RoleFM, Name: "fiona"},
		"lapsed": {Role: cloud.RoleVendor, Vendor: "lapsed"}, "polar": {Role: cloud.RoleVendor, Vendor: "polar"},
		"arctic": {Role: cloud.RoleVendor, Vendor: "arctic"}, "tech-polar": {Role: cloud.RoleTechnician, Vendor: "polar", Name: "tech-polar"},
	} {
		tok, _, err := IssueToken(ctx, db, q, t0)
		if err != nil {
			t.Fatal(err)
		}
		d.tokens[name] = tok
	}
	for _, v := range []string{
		vendorJSON("lapsed", 1, `"refrigeration"`, "2026-03-31T00:00:00Z", ""),
		vendorJSON("polar", 2, `"refrigeration"`, "2028-01-01T00:00:00Z", `,"sla":{"P1":{"acknowledge":"15m","arrive":"4h"}}`),
		vendorJSON("arctic", 3, `"refrigeration"`, "2028-01-01T00:00:00Z", ""),
		`{"id":"hvacco","name":"HVAC Co","kind":"external","trades":["hvac"],"coverage":{"sites":["s1"]},"ranks":[{"site":"s1","trade":"hvac","rank":1}],
		  "documents":[{"type":"coi_general_liability","expires_at":"2028-01-01T00:00:00Z"},{"type":"coi_workers_comp","expires_at":"2028-01-01T00:00:00Z"}],
		  "technicians":[{"id":"h","documents":[{"type":"epa_608","expires_at":"2030-01-01T00:00:00Z"}]}]}`,
		`{"id":"warrantyco","name":"Warranty Co","kind":"external","trades":["refrigeration"],"warranty_provider":true,"coverage":{"sites":["elsewhere"]},
		  "documents":[{"type":"coi_general_liability","expires_at":"2028-01-01T00:00:00Z"},{"type":"coi_workers_comp","expires_at":"2028-01-01T00:00:00Z"}],
		  "technicians":[{"id":"w","documents":[{"type":"epa_608","expires_at":"2030-01-01T00:00:00Z"}]}]}`,
	} {
		if code, body := d.do(t, "admin", "POST", "/api/v1/vendors", v); code != 201 {
			t.Fatalf("create vendor: %d %s", code, body)
		}
	}
	return d
}

// incident sends one incident event through intake, as the consumer does.
func (d *dispatchFixture) incident(t *testing.T, id, asset string, ev rules.EventType, priority string) *workorder.WorkOrder {
	t.Helper()
	if d.seq == nil {
		d.seq = map[string]int{}
	}
	d.seq[id]++ // each incident's events are numbered from 1, as the edge does
	e := &rules.Event{Event: ev, Incident: id, Seq: d.seq[id], Site: "s1", Asset: asset, AssetClass: "walk_in_cooler", Rule: "r",
		Problem: "no_cooling", Priority: priority, Trade: "refrigeration", At: d.clock, Started: t0}
	var res workorder.Result
	err := d.store.Update(context.Background(), func(tx store.Tx) error {
		var err error
		res, err = d.in.Receive(context.Background(), tx, workorder.FromIncident(e))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return res.WorkOrder
}

func (d *dispatchFixture) sweep(t *testing.T) {
	t.Helper()
	sw := &intake.Sweeper{Store: d.store, Intake: d.in, Now: func() time.Time { return d.clock }, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if _, err := sw.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func (d *dispatchFixture) wo(t *testing.T, id string) woView {
	t.Helper()
	code, body := d.do(t, "admin", "GET", "/api/v1/workorders/"+id, "")
	if code != 200 {
		t.Fatalf("get %s: %d %s", id, code, body)
	}
	var v woView
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func (d *dispatchFixture) act(t *testing.T, who, id, action, body string, want int) string {
	t.Helper()
	code, resp := d.do(t, who, "POST", "/api/v1/workorders/"+id+"/actions/"+action, body)
	if code != want {
		t.Fatalf("%s %s by %s: %d, want %d: %s", action, id, who, code, want, resp)
	}
	return resp
}

func TestDispatchChoosesCompliantVendorAndExplains(t *testing.T) {
	d := newDispatchFixture(t)
	w := d.incident(t, "i1", "wic-1", rules.Opened, "P1")
	if w.Status != workorder.Dispatched || w.Vendor != "polar" {
		t.Fatalf("P1 went %s to %q, want DISPATCHED to polar (lapsed is ranked first but uninsured, hvacco is the wrong trade)", w.Status, w.Vendor)
	}
	if w.NTE != 1000 {
		t.Errorf("NTE %v, want polar's P1 refrigeration default 1000", w.NTE)
	}
	code, body := d.do(t, "fm", "GET", "/api/v1/workorders/"+w.ID+"/dispatch", "")
	if code != 200 {
		t.Fatalf("dispatch decision: %d %s", code, body)
	}
	var b dispatch.Book
	if err := json.Unmarshal([]byte(body), &b); err != nil {
		t.Fatal(err)
	}
	reasons := map[string]dispatch.Reason{}
	for _, c := range b.Decision.Excluded {
		reasons[c.Vendor] = c.Reason
	}
	// The decision lists exclusions that matter by vendor and counts the
	// vendors that never could (wrong trade, elsewhere).
	if len(reasons) != 1 || reasons["lapsed"] != dispatch.ReasonDocumentExpired ||
		b.Decision.Omitted[dispatch.ReasonWrongTrade] != 1 || b.Decision.Omitted[dispatch.ReasonOutOfCoverage] != 1 {
		t.Errorf("exclusions %v, omitted %v", reasons, b.Decision.Omitted)
	}
	if q := b.Decision.Queue(); len(q) != 2 || q[0] != "polar" || q[1] != "arctic" {
		t.Errorf("eligible %v, want polar then arctic", q)
	}
	if !strings.Contains(body, "coi_general_liability") {
		t.Errorf("the decision does not say which document: %s", body)
	}
	// Vendors do not see dispatch decisions; a person cannot send work to
	// the uninsured vendor either.
	if code, _ := d.do(t, "polar", "GET", "/api/v1/workorders/"+w.ID+"/dispatch", ""); code != 403 {
		t.Errorf("vendor reads the decision: %d", code)
	}
	d.act(t, "polar", w.ID, "decline", `{"reason":"no one free"}`, 200)
	d.act(t, "arctic", w.ID, "decline", `{"reason":"too far"}`, 200)
	if v := d.wo(t, w.ID); v.Status != workorder.Ready || v.Vendor != "" {
		t.Fatalf("after every eligible vendor declined: %s %q", v.Status, v.Vendor)
	}
	resp := d.act(t, "fm", w.ID, "dispatch", `{"vendor":"lapsed"}`, 400)
	if !strings.Contains(resp, "document_expired") || !strings.Contains(resp, `"field":"vendor"`) {
		t.Errorf("manual dispatch to an uninsured vendor: %s", resp)
	}
	d.act(t, "fm", w.ID, "dispatch", `{"vendor":"hvacco"}`, 400)
}

func TestDispatchWarrantyProviderFirst(t *testing.T) {
	d := newDispatchFixture(t)
	w := d.incident(t, "i1", "wic-2", rules.Opened, "P1")
	if w.Vendor != "warrantyco" {
		t.Fatalf("asset under warranty dispatched to %q, want warrantyco", w.Vendor)
	}
}

func TestDispatchDeclineAndTimeoutReoffer(t *testing.T) {
	d := newDispatchFixture(t)
	w := d.incident(t, "i1", "wic-1", rules.Opened, "P1")
	// A vendor cannot answer for another.
	d.act(t, "arctic", w.ID, "accept", "", 404)
	d.act(t, "polar", w.ID, "decline", `{"reason":"no technician free"}`, 200)
	v := d.wo(t, w.ID)
	if v.Status != workorder.Dispatched || v.Vendor != "arctic" || v.AcceptBy == nil {
		t.Fatalf("after polar declined: %s to %q", v.Status, v.Vendor)
	}
	// arctic lets the 30-minute P1 window pass.
	d.clock = d.clock.Add(29 * time.Minute)
	d.sweep(t)
	if v := d.wo(t, w.ID); v.Vendor != "arctic" {
		t.Fatalf("lapsed early: %q", v.Vendor)
	}
	d.clock = d.clock.Add(2 * time.Minute)
	d.sweep(t)
	v = d.wo(t, w.ID)
	if v.Status != workorder.Ready || v.Vendor != "" || len(v.Declined) != 2 {
		t.Fatalf("after arctic's window: %s %q declined %v", v.Status, v.Vendor, v.Declined)
	}
	// Both answers count on the scorecards.
	for vendor, resp := range map[string]string{"polar": "declined", "arctic": "timed_out"} {
		code, body := d.do(t, "fm", "GET", "/api/v1/vendors/"+vendor+"/scorecard", "")
		if code != 200 || !strings.Contains(body, `"acceptance":{"n":0,"of":1,`) {
			t.Errorf("%s scorecard after %s: %d %s", vendor, resp, code, body)
		}
	}
}

func TestAcceptRechecksCompliance(t *testing.T) {
	d := newDispatchFixture(t)
	w := d.incident(t, "i1", "wic-1", rules.Opened, "P1")
	if w.Vendor != "polar" {
		t.Fatalf("offered to %q", w.Vendor)
	}
	// Within the 30-minute window, but the certificate ran out meanwhile.
	d.clock = t0.Add(20 * time.Minute)
	if code, body := d.do(t, "admin", "PUT", "/api/v1/vendors/polar",
		vendorJSON("polar", 2, `"refrigeration"`, t0.Add(10*time.Minute).Format(time.RFC3339), "")); code != 200 {
		t.Fatalf("update polar: %d %s", code, body)
	}
	resp := d.act(t, "polar", w.ID, "accept", `{"technician":"tech-polar"}`, 409)
	if !strings.Contains(resp, "compliance") {
		t.Errorf("refusal does not say why: %s", resp)
	}
	if v := d.wo(t, w.ID); v.Status != workorder.Dispatched || v.Vendor != "arctic" {
		t.Fatalf("after the failed re-check: %s to %q, want DISPATCHED to arctic", v.Status, v.Vendor)
	}
}

func TestNTEVerificationInvoiceAndRecall(t *testing.T) {
	d := newDispatchFixture(t)
	w := d.incident(t, "i1", "wic-1", rules.Opened, "P1")
	eta := t0.Add(2 * time.Hour).Format(time.RFC3339)
	d.act(t, "polar", w.ID, "accept", `{"technician":"tech-polar","eta":"`+eta+`"}`, 200)
	if v := d.wo(t, w.ID); v.ETA == nil || v.Technician != "tech-polar" {
		t.Fatalf("accept kept no ETA or technician: %+v", v.WorkOrder)
	}
	d.clock = t0.Add(time.Hour)
	d.act(t, "tech-polar", w.ID, "check_in", `{"lat":41.8801,"lon":-87.6301}`, 200)
	d.clock = t0.Add(3 * time.Hour)
	complete := `{"problem":"no_cooling","cause":"failed_compressor","remedy":"replaced_compressor",
		"parts":[{"code":"CMP-1","description":"compressor","quantity":1,"unit_cost":900}],"labour":[{"hours":2,"rate":100}]}`
	resp := d.act(t, "tech-polar", w.ID, "complete", complete, 409)
	if !strings.Contains(resp, "not-to-exceed") {
		t.Errorf("overrun refusal: %s", resp)
	}
	// The vendor quotes; the FM's limit (2,500) covers it, but the quote
	// is asked to be approved by the vendor first: refused.
	if code, body := d.do(t, "polar", "POST", "/api/v1/workorders/"+w.ID+"/quote", `{"amount":1200,"description":"compressor and 2 h"}`); code != 200 || !strings.Contains(body, `"quote"`) {
		t.Fatalf("quote: %d %s", code, body)
	}
	if code, _ := d.do(t, "polar", "POST", "/api/v1/workorders/"+w.ID+"/approvals", ""); code != 403 {
		t.Errorf("a vendor approved its own quote: %d", code)
	}
	if code, body := d.do(t, "fm", "POST", "/api/v1/workorders/"+w.ID+"/approvals", `{"amount":3000}`); code != 403 || !strings.Contains(body, "limit") {
		t.Errorf("FM above limit: %d %s", code, body)
	}
	if code, body := d.do(t, "fm", "POST", "/api/v1/workorders/"+w.ID+"/approvals", `{"reason":"compressor is gone"}`); code != 200 || !strings.Contains(body, `"nte":1200`) {
		t.Fatalf("FM approval of the quote: %d %s", code, body)
	}
	d.act(t, "tech-polar", w.ID, "complete", complete, 200)
	v := d.wo(t, w.ID)
	if v.Status != workorder.Verifying || v.VerifyUntil == nil || !v.VerifyUntil.Equal(d.clock.Add(2*time.Hour)) {
		t.Fatalf("after completion: %s until %v, want VERIFYING for the cooler's 2 h", v.Status, v.VerifyUntil)
	}
	// The incident clears; the window passes with the cooler in range.
	d.clock = d.clock.Add(30 * time.Minute)
	d.incident(t, "i1", "wic-1", rules.Cleared, "P1")
	d.clock = d.clock.Add(2 * time.Hour)
	d.sweep(t)
	v = d.wo(t, w.ID)
	if v.Status != workorder.Verified || v.Verification != "sensor" || v.Invoice == nil {
		t.Fatalf("after the window: %s verified by %q, invoice %+v", v.Status, v.Verification, v.Invoice)
	}
	// 2 h x $100 + compressor $900 + one trip $50 = 1,150, within the
	// approved 1,200.
	if inv := v.Invoice; inv.Total != 1150 || inv.WrittenOff != 0 || len(inv.Lines) != 3 {
		t.Errorf("invoice %+v", inv)
	}

	// The fault comes back within 30 days: a new work order, a recall of
	// this one, offered to polar first although arctic would rank lower
	// anyway; polar's scorecard counts the recall.
	d.clock = d.clock.Add(72 * time.Hour)
	w2 := d.incident(t, "i2", "wic-1", rules.Opened, "P1")
	if !w2.Recall || w2.RecallOf != w.ID || w2.Vendor != "polar" {
		t.Fatalf("recall: %+v", w2)
	}
	code, body := d.do(t, "fm", "GET", "/api/v1/vendors/polar/scorecard", "")
	if code != 200 || !strings.Contains(body, `"recall":{"n":1,"of":1,`) {
		t.Errorf("polar's scorecard: %d %s", code, body)
	}
}

func TestFailedVerificationReopensToSameVendor(t *testing.T) {
	d := newDispatchFixture(t)
	w := d.incident(t, "i1", "wic-1", rules.Opened, "P1")
	d.act(t, "polar", w.ID, "accept", `{"technician":"tech-polar"}`, 200)
	d.act(t, "tech-polar", w.ID, "check_in", `{"lat":41.8801,"lon":-87.6301}`, 200)
	d.clock = t0.Add(time.Hour)
	d.act(t, "tech-polar", w.ID, "complete", `{"problem":"no_cooling","cause":"dirty_coil","remedy":"cleaned_coil","labour":[{"hours":1,"rate":100}]}`, 200)
	d.clock = d.clock.Add(20 * time.Minute)
	d.incident(t, "i1", "wic-1", rules.Cleared, "P1")
	d.clock = d.clock.Add(40 * time.Minute)
	d.incident(t, "i3", "wic-1", rules.Opened, "P1") // the cooler warms again inside the window
	v := d.wo(t, w.ID)
	if v.Status != workorder.Dispatched || v.Vendor != "polar" {
		t.Fatalf("after the fault returned in verification: %s to %q, want re-DISPATCHED to polar", v.Status, v.Vendor)
	}
	code, body := d.do(t, "fm", "GET", "/api/v1/vendors/polar/scorecard", "")
	if code != 200 || !strings.Contains(body, `"recall":{"n":1,"of":1,`) || !strings.Contains(body, `"verified_fix":{"n":0,"of":1,`) {
		t.Errorf("polar's scorecard: %d %s", code, body)
	}
}

func TestVendorRegisterAPI(t *testing.T) {
	d := newDispatchFixture(t)
	for _, tc := range []struct {
		who, method, path, body string
		want                    int
		contains                string
	}{
		{"fm", "GET", "/api/v1/vendors", "", 200, `"polar"`},
		{"polar", "GET", "/api/v1/vendors/polar", "", 200, `"polar"`},
		{"polar", "GET", "/api/v1/vendors/arctic", "", 404, "not found"},
		{"polar", "POST", "/api/v1/vendors", vendorJSON("x", 1, `"refrigeration"`, "2028-01-01T00:00:00Z", ""), 403, ""},
		{"admin", "POST", "/api/v1/vendors", vendorJSON("polar", 1, `"refrigeration"`, "2028-01-01T00:00:00Z", ""), 409, "exists"},
		{"admin", "POST", "/api/v1/vendors", `{"id":"bad","name":"B","kind":"contractor","trades":["refrigeration"],"coverage":{"sites":["s1"]}}`, 400, `"field":"kind"`},
		{"admin", "POST", "/api/v1/vendors", `{"id":"bad","name":"B","kind":"external","trades":["refrigeration"]}`, 400, "coverage"},
		{"admin", "POST", "/api/v1/vendors", `{"id":"bad","nme":"B"}`, 400, "nme"},
		{"admin", "PUT", "/api/v1/vendors/arctic", vendorJSON("polar", 1, `"refrigeration"`, "2028-01-01T00:00:00Z", ""), 400, "path"},
		{"fm", "GET", "/api/v1/vendors/expiring?within=90d", "", 200, `"lapsed"`},
		{"fm", "GET", "/api/v1/vendors/expiring?within=soon", "", 400, "within"},
		{"fm", "GET", "/api/v1/vendors/polar/scorecard?from=yesterday", "", 400, "from"},
		{"fm", "GET", "/api/v1/vendors/nobody/scorecard", "", 404, ""},
		{"admin", "DELETE", "/api/v1/vendors/arctic", "", 204, ""},
		{"admin", "DELETE", "/api/v1/vendors/arctic", "", 404, ""},
	} {
		code, body := d.do(t, tc.who, tc.method, tc.path, tc.body)
		if code != tc.want || !strings.Contains(body, tc.contains) {
			t.Errorf("%s %s %s: %d %s, want %d containing %q", tc.who, tc.method, tc.path, code, body, tc.want, tc.contains)
		}
	}
	// The expired certificate is reported as expired, the valid ones not
	// at all within 90 days.
	_, body := d.do(t, "fm", "GET", "/api/v1/vendors/expiring?within=90d", "")
	var got struct{ Items []dispatch.Expiring }
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Items) != 1 || got.Items[0].Vendor != "lapsed" || !got.Items[0].Expired {
		t.Errorf("expiring: %+v", got.Items)
	}
	// Deleting arctic reached the dispatcher: it is not a candidate.
	w := d.incident(t, "i1", "wic-1", rules.Opened, "P1")
	d.act(t, "polar", w.ID, "decline", `{"reason":"busy"}`, 200)
	if v := d.wo(t, w.ID); v.Status != workorder.Ready {
		t.Errorf("offered to a deleted vendor: %s %q", v.Status, v.Vendor)
	}
}

func TestWorkOrderPageShowsDispatch(t *testing.T) {
	d := newDispatchFixture(t)
	w := d.incident(t, "i1", "wic-1", rules.Opened, "P1")
	for who, want := range map[string][]string{
		"fm":    {`id="dispatch"`, "lapsed", "document_expired", "coi_general_liability expired", "polar", "pending until", "Not to exceed: $1000.00"},
		"polar": {"Not to exceed"},
	} {
		req := httptest.NewRequest("GET", "/workorders/"+w.ID, nil)
		req.Header.Set("Authorization", "Bearer "+d.tokens[who])
		rec := httptest.NewRecorder()
		d.srv.ServeHTTP(rec, req)
		if rec.Code != 200 {
			t.Fatalf("%s: page %d %s", who, rec.Code, rec.Body)
		}
		for _, s := range want {
			if !strings.Contains(rec.Body.String(), s) {
				t.Errorf("%s's page lacks %q", who, s)
			}
		}
		if who == "polar" && strings.Contains(rec.Body.String(), `id="dispatch"`) {
			t.Errorf("a vendor sees the dispatch decision")
		}
	}
}

// TestFieldStepsFromThePage walks a vendor and its technician through the
// work-order page's forms: accept with an ETA, a check-in refused outside
// the geofence and then accepted inside it, completion with codes and
// hours; each refusal is shown on the page.
func TestFieldStepsFromThePage(t *testing.T) {
	d := newDispatchFixture(t)
	w := d.incident(t, "i1", "wic-1", rules.Opened, "P1")
	post := func(who string, form string) string {
		t.Helper()
		req := httptest.NewRequest("POST", "/workorders/"+w.ID+"/act", strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Bearer "+d.tokens[who])
		rec := httptest.NewRecorder()
		d.srv.ServeHTTP(rec, req)
		if rec.Code != 303 {
			t.Fatalf("%s %s: %d %s", who, form, rec.Code, rec.Body)
		}
		return rec.Header().Get("Location")
	}
	page := func(who string) string {
		req := httptest.NewRequest("GET", "/workorders/"+w.ID, nil)
		req.Header.Set("Authorization", "Bearer "+d.tokens[who])
		rec := httptest.NewRecorder()
		d.srv.ServeHTTP(rec, req)
		return rec.Body.String()
	}
	if p := page("polar"); !strings.Contains(p, `id="accept"`) || !strings.Contains(p, `id="decline"`) || strings.Contains(p, `id="check_in"`) {
		t.Fatalf("a dispatched work order's page for the vendor offers the wrong steps")
	}
	if loc := post("polar", "action=accept&technician=tech-polar&eta=2026-07-01T10:00"); !strings.Contains(loc, "flash=accept") {
		t.Fatalf("accept: %s", loc)
	}
	if v := d.wo(t, w.ID); v.Status != workorder.Accepted || v.ETA == nil || v.ETA.Hour() != 10 {
		t.Fatalf("after accept: %s eta %v", v.Status, v.ETA)
	}
	loc := post("tech-polar", "action=check_in&lat=41.95&lon=-87.63")
	if !strings.Contains(loc, "refused=") || !strings.Contains(loc, "geofence") && !strings.Contains(loc, "override") {
		t.Fatalf("a check-in 8 km away: %s", loc)
	}
	post("tech-polar", "action=check_in&lat=41.8801&lon=-87.6301")
	if v := d.wo(t, w.ID); v.Status != workorder.InProgress || len(v.Visits) != 1 {
		t.Fatalf("after check-in: %s %+v", v.Status, v.Visits)
	}
	if loc := post("tech-polar", "action=complete&problem=no_cooling&cause=&remedy=x"); !strings.Contains(loc, "refused=") {
		t.Fatalf("completion without a cause: %s", loc)
	}
	d.clock = d.clock.Add(time.Hour)
	post("tech-polar", "action=complete&problem=no_cooling&cause=dirty_coil&remedy=cleaned_coil&hours=1.5")
	v := d.wo(t, w.ID)
	if v.Status != workorder.Verifying || v.Completion == nil || v.Completion.Labour[0].Hours != 1.5 {
		t.Fatalf("after completion: %s %+v", v.Status, v.Completion)
	}
	if p := page("tech-polar"); strings.Contains(p, `id="complete"`) || !strings.Contains(p, "Sensor verification until") {
		t.Errorf("a verifying work order's page for the technician")
	}
}

// TestPlannedVisitGoesToPreferredVendor: a preventive work order goes to
// its template's preferred vendor when that vendor is eligible, ahead of
// the ranking, and to the ranking's first when it is not.
func TestPlannedVisitGoesToPreferredVendor(t *testing.T) {
	d := newDispatchFixture(t)
	ctx := context.Background()
	for i, tc := range []struct{ prefer, want string }{{"arctic", "arctic"}, {"lapsed", "polar"}} {
		var w *workorder.WorkOrder
		err := d.store.Update(ctx, func(tx store.Tx) error {
			res, err := d.in.Plan(ctx, tx, workorder.Planned{Site: "s1", Asset: "wic-1", Trade: "refrigeration", Priority: "P1",
				Plan: workorder.Plan{Schedule: "pm-coil", Occurrence: fmt.Sprint(i), DueAt: d.clock.Add(24 * time.Hour), Vendor: tc.prefer}, At: d.clock})
			w = res.WorkOrder
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if w.Status != workorder.Dispatched || w.Vendor != tc.want {
			t.Errorf("planned visit preferring %s: %s to %q, want %s", tc.prefer, w.Status, w.Vendor, tc.want)
		}
	}
}

// TestVerificationWaitsOneMoreWindow: an incident still open when the
// window ends (the edge clears a long-run incident only after hours of
// normal cycles) extends verification once; cleared by then, the sensors
// verify; still open, a person must.
func TestVerificationWaitsOneMoreWindow(t *testing.T) {
	for _, clears := range []bool{true, false} {
		d := newDispatchFixture(t)
		w := d.incident(t, "i1", "wic-1", rules.Opened, "P1")
		d.act(t, "polar", w.ID, "accept", `{"technician":"tech-polar"}`, 200)
		d.act(t, "tech-polar", w.ID, "check_in", `{"lat":41.8801,"lon":-87.6301}`, 200)
		d.clock = t0.Add(time.Hour)
		d.act(t, "tech-polar", w.ID, "complete", `{"problem":"no_cooling","cause":"low_charge","remedy":"leak_repaired","labour":[{"hours":1,"rate":100}]}`, 200)
		d.clock = d.clock.Add(2*time.Hour + time.Minute)
		d.sweep(t)
		v := d.wo(t, w.ID)
		if v.Status != workorder.Verifying || v.Verification != "extended" || v.VerifyUntil == nil || !v.VerifyUntil.Equal(d.clock.Add(2*time.Hour)) {
			t.Fatalf("at the window's end with the incident open: %s %q until %v", v.Status, v.Verification, v.VerifyUntil)
		}
		if clears {
			d.clock = d.clock.Add(time.Hour)
			d.incident(t, "i1", "wic-1", rules.Cleared, "P1")
		}
		d.clock = t0.Add(6 * time.Hour)
		d.sweep(t)
		v = d.wo(t, w.ID)
		switch {
		case clears && (v.Status != workorder.Verified || v.Verification != "sensor"):
			t.Errorf("cleared within the extension: %s %q", v.Status, v.Verification)
		case !clears && (v.Status != workorder.Verifying || v.Verification != "awaiting_person" || v.VerifyUntil != nil):
			t.Errorf("still open after the extension: %s %q until %v", v.Status, v.Verification, v.VerifyUntil)
		}
	}
}

// TestPageFormsRefuseNonFiniteNumbers: "NaN", "Inf" and out-of-range
// positions and hours in the work-order page's forms are refused on the
// page, naming the field, never a 500 (issue 15, item 2).
func TestPageFormsRefuseNonFiniteNumbers(t *testing.T) {
	d := newDispatchFixture(t)
	w := d.incident(t, "i1", "wic-1", rules.Opened, "P1")
	d.act(t, "polar", w.ID, "accept", `{"technician":"tech-polar"}`, 200)
	post := func(form string) string {
		t.Helper()
		req := httptest.NewRequest("POST", "/workorders/"+w.ID+"/act", strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Bearer "+d.tokens["tech-polar"])
		rec := httptest.NewRecorder()
		d.srv.ServeHTTP(rec, req)
		if rec.Code != 303 {
			t.Fatalf("%s: %d %s", form, rec.Code, rec.Body)
		}
		return rec.Header().Get("Location")
	}
	for _, form := range []string{
		"action=check_in&lat=NaN&lon=NaN&override=gps+off",
		"action=check_in&lat=Inf&lon=4&override=gps+off",
		"action=check_in&lat=41.88&lon=-Inf",
		"action=check_in&lat=91&lon=0&override=x",
	} {
		if loc := post(form); !strings.Contains(loc, "refused=") {
			t.Errorf("%s: %s", form, loc)
		}
	}
	post("action=check_in&lat=41.8801&lon=-87.6301")
	for _, form := range []string{
		"action=complete&problem=no_cooling&cause=c&remedy=r&hours=NaN",
		"action=complete&problem=no_cooling&cause=c&remedy=r&hours=%2BInf",
		"action=complete&problem=no_cooling&cause=c&remedy=r&hours=1e300",
	} {
		if loc := post(form); !strings.Contains(loc, "refused=") {
			t.Errorf("%s: %s", form, loc)
		}
	}
	if v := d.wo(t, w.ID); v.Status != workorder.InProgress || len(v.Visits) != 1 || *v.Visits[0].Lat != 41.8801 {
		t.Errorf("after the refusals: %s %+v", v.Status, v.Visits)
	}
}
