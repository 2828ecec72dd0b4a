package storetest

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/dispatch"
	cloudhttp "github.com/frostline/frostline/cloud/http"
	"github.com/frostline/frostline/cloud/invoicing"
	"github.com/frostline/frostline/cloud/sla"
	"github.com/frostline/frostline/cloud/store"
	"github.com/frostline/frostline/cloud/workorder"
	"github.com/frostline/frostline/rules"
)

// InvoiceFlowStore is what the invoice flows need: the service's store
// and the vendor register the dispatcher reads.
type InvoiceFlowStore interface {
	Store
	dispatch.Register
}

// RunInvoiceFlows runs a vendor's invoice through the API on a store,
// from a work order completed by its vendor to its end (issue 17): a
// matching invoice auto-approved; one over the rate table disputed,
// revised and approved; one above an FM's limit escalated; warranty
// labour flagged; a duplicate refused; PAID from the AP export's round
// trip. open returns a fresh, empty store.
func RunInvoiceFlows(t *testing.T, open func(t *testing.T) InvoiceFlowStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, f *flow)
	}{
		{"MatchAutoApproved", flowAutoApproved},
		{"OverRateDisputedRevisedApproved", flowDisputed},
		{"AboveLimitEscalated", flowEscalated},
		{"WarrantyLabourFlagged", flowWarranty},
		{"DuplicateRefused", flowDuplicate},
		{"PaidFromExportRoundTrip", flowPaid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newFlow(t, open(t))) })
	}
}

// flow is the cloud's API over the store, with the dispatcher, a clock
// the test moves, one store (s1), a vendor (polar: $100 an hour, $50 a
// trip for refrigeration) and an asset under polar's own warranty.
type flow struct {
	s      InvoiceFlowStore
	srv    *cloudhttp.Server
	in     *workorder.Intake[store.Tx]
	clock  time.Time
	tokens map[string]string
	n      int
}

func newFlow(t *testing.T, s InvoiceFlowStore) *flow {
	t.Helper()
	ctx := context.Background()
	f := &flow{s: s, clock: T0, tokens: map[string]string{}}
	f.in = &workorder.Intake[store.Tx]{Policy: workorder.DefaultPolicy()}
	svc := &dispatch.Service{Register: s, Rules: dispatch.DefaultRules(), Policy: &f.in.Policy, SLA: sla.DefaultPolicy(),
		Now: func() time.Time { return f.clock }}
	f.in.Dispatcher = dispatch.For[store.Tx](svc)
	f.srv = cloudhttp.New(cloudhttp.Options{Store: s, Intake: f.in, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now: func() time.Time { return f.clock }, Dispatch: svc})
	if err := s.PutSite(ctx, &cloud.Site{ID: "s1", Name: "Store one", Timezone: "America/Chicago", Location: &rules.Location{Lat: 41.88, Lon: -87.63}}); err != nil {
		t.Fatal(err)
	}
	for _, a := range []cloud.Asset{
		{Site: "s1", ID: "wic-1", Class: "walk_in_cooler"},
		{Site: "s1", ID: "wic-w", Class: "walk_in_cooler", Warranty: &cloud.Warranty{Provider: "polar", Expires: "2027-01-01"}},
	} {
		if err := s.PutAsset(ctx, &a); err != nil {
			t.Fatal(err)
		}
	}
	for name, q := range map[string]cloudhttp.TokenRequest{
		"admin": {Role: cloud.RoleAdmin, Name: "ada"}, "admin2": {Role: cloud.RoleAdmin, Name: "abe"}, "fm": {Role: cloud.RoleFM, Name: "fiona"},
		"polar": {Role: cloud.RoleVendor, Vendor: "polar", Name: "polar-ap"}, "tech": {Role: cloud.RoleTechnician, Vendor: "polar", Name: "tech-polar"},
	} {
		tok, _, err := cloudhttp.IssueToken(ctx, s, q, T0)
		if err != nil {
			t.Fatal(err)
		}
		f.tokens[name] = tok
	}
	f.call(t, "admin", "POST", "/api/v1/vendors", `{"id":"polar","name":"Polar","kind":"external","trades":["refrigeration"],"coverage":{"sites":["s1"]},
		"warranty_provider":true,
		"documents":[{"type":"coi_general_liability","expires_at":"2028-01-01T00:00:00Z"},{"type":"coi_workers_comp","expires_at":"2028-01-01T00:00:00Z"}],
		"technicians":[{"id":"tech-polar","documents":[{"type":"epa_608","expires_at":"2030-01-01T00:00:00Z"}]}],
		"rates":{"refrigeration":{"hourly":100,"trip_charge":50}},"nte":{"refrigeration":{"P1":6000,"P2":600}},
		"ranks":[{"site":"s1","trade":"refrigeration","rank":1}]}`, 201)
	return f
}

// call sends a request as who and checks the status; it returns the body.
func (f *flow) call(t *testing.T, who, method, path, body string, want int) string {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+f.tokens[who])
	if strings.HasPrefix(body, "{") {
		req.Header.Set("Content-Type", "application/json")
	} else if body != "" {
		req.Header.Set("Content-Type", "text/csv")
	}
	rec := httptest.NewRecorder()
	f.srv.ServeHTTP(rec, req)
	if rec.Code != want {
		t.Fatalf("%s %s %s as %s: %d, want %d: %s", method, path, body, who, rec.Code, want, rec.Body.String())
	}
	return rec.Body.String()
}

// completed opens a P1 on asset from a sensor, which goes to polar; polar
// accepts, its technician checks in and completes an hour later, having
// worked the labour (hours a day). It returns the work order's id.
func (f *flow) completed(t *testing.T, asset string, labour ...float64) string {
	t.Helper()
	f.n++
	e := &rules.Event{Event: rules.Opened, Incident: fmt.Sprintf("inc-%d", f.n), Seq: 1, Site: "s1", Asset: asset, AssetClass: "walk_in_cooler",
		Rule: "r", Problem: "no_cooling", Priority: "P1", Trade: "refrigeration", At: f.clock, Started: f.clock}
	var res workorder.Result
	err := f.s.Update(context.Background(), func(tx store.Tx) error {
		var err error
		res, err = f.in.Receive(context.Background(), tx, workorder.FromIncident(e))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	w := res.WorkOrder
	if w.Vendor != "polar" {
		t.Fatalf("work order %d went to %q, not polar", w.Number, w.Vendor)
	}
	act := func(who, action, body string) {
		f.call(t, who, "POST", "/api/v1/workorders/"+w.ID+"/actions/"+action, body, 200)
	}
	act("polar", "accept", `{"technician":"tech-polar"}`)
	act("tech", "check_in", `{"lat":41.8801,"lon":-87.6301}`)
	f.clock = f.clock.Add(time.Hour)
	var hours []string
	for _, h := range labour {
		hours = append(hours, fmt.Sprintf(`{"hours":%g,"rate":100}`, h))
	}
	act("tech", "complete", `{"problem":"no_cooling","cause":"dirty_coil","remedy":"cleaned_coil","labour":[`+strings.Join(hours, ",")+`]}`)
	f.clock = f.clock.Add(time.Hour)
	return w.ID
}

func (f *flow) submit(t *testing.T, wo, body string, want int) invoicing.Invoice {
	t.Helper()
	return decode[invoicing.Invoice](t, f.call(t, "polar", "POST", "/api/v1/workorders/"+wo+"/invoices", body, want))
}

func (f *flow) act(t *testing.T, who, inv, action, body string, want int) invoicing.Invoice {
	t.Helper()
	return decode[invoicing.Invoice](t, f.call(t, who, "POST", "/api/v1/invoices/"+inv+"/"+action, body, want))
}

func (f *flow) invoices(t *testing.T, wo string) []invoicing.Invoice {
	t.Helper()
	return decode[struct{ Items []invoicing.Invoice }](t, f.call(t, "fm", "GET", "/api/v1/workorders/"+wo+"/invoices", "", 200)).Items
}

// history is the work order's invoice notes.
func (f *flow) history(t *testing.T, wo string) []string {
	t.Helper()
	evs, err := f.s.Events(context.Background(), wo)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		if e.Note != nil && strings.HasPrefix(e.Note.Text, "Invoice ") {
			out = append(out, e.Note.Text)
		}
	}
	return out
}

// accuracy is polar's invoice accuracy on its scorecard: approved
// without a dispute, of decided.
func (f *flow) accuracy(t *testing.T) (n, of int) {
	t.Helper()
	card := decode[struct {
		Scorecard struct {
			InvoiceAccuracy struct{ N, Of int } `json:"invoice_accuracy"`
		}
	}](t, f.call(t, "fm", "GET", "/api/v1/vendors/polar/scorecard", "", 200))
	return card.Scorecard.InvoiceAccuracy.N, card.Scorecard.InvoiceAccuracy.Of
}

func decode[T any](t *testing.T, body string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("decode %T: %v: %s", v, err, body)
	}
	return v
}

func codes(fs []invoicing.Finding) string {
	var s []string
	for _, x := range fs {
		s = append(s, fmt.Sprintf("%d:%s", x.Line, x.Code))
	}
	return strings.Join(s, " ")
}

// matching is polar's invoice for one hour and one visit: $150 and tax.
const matching = `{"number":"PR-1","lines":[{"kind":"labour","quantity":1,"unit_price":100},{"kind":"trip","quantity":1,"unit_price":50},{"kind":"tax","amount":12}]}`

func flowAutoApproved(t *testing.T, f *flow) {
	wo := f.completed(t, "wic-1", 1)
	inv := f.submit(t, wo, matching, 201)
	if inv.State != invoicing.Approved || !inv.AutoApproved || inv.Expected != 150 || inv.Total != 162 || len(inv.Findings) != 0 {
		t.Fatalf("a matching invoice: %+v", inv)
	}
	got := f.invoices(t, wo)
	if len(got) != 1 || got[0].ID != inv.ID || got[0].State != invoicing.Approved || got[0].DecidedAt == nil {
		t.Errorf("stored: %+v", got)
	}
	if n, of := f.accuracy(t); n != 1 || of != 1 {
		t.Errorf("invoice accuracy %d of %d, want 1 of 1", n, of)
	}
	if h := f.history(t, wo); len(h) != 2 || !strings.Contains(h[0], "submitted: $162.00") || !strings.Contains(h[1], "approved: $162.00; matches the computed invoice ($150.00)") {
		t.Errorf("history: %q", h)
	}
}

func flowDisputed(t *testing.T, f *flow) {
	wo := f.completed(t, "wic-1", 1)
	inv := f.submit(t, wo, `{"number":"PR-2","lines":[{"kind":"labour","quantity":1,"unit_price":165},{"kind":"trip","quantity":1,"unit_price":50}]}`, 201)
	if inv.State != invoicing.Submitted || codes(inv.Findings) != "0:over_rate -1:over_expected" {
		t.Fatalf("over the rate table: %s %+v", inv.State, inv.Findings)
	}
	f.act(t, "polar", inv.ID, "approve", "", 403)
	f.clock = f.clock.Add(time.Hour)
	d := f.act(t, "fm", inv.ID, "dispute", `{"disputes":[{"line":0,"reason":"your rate is $100/h"}]}`, 200)
	if d.State != invoicing.Disputed || len(d.Disputes) != 1 || d.Disputes[0].Line != 0 {
		t.Fatalf("disputed: %+v", d)
	}
	f.act(t, "fm", inv.ID, "approve", "", 409)
	f.clock = f.clock.Add(time.Hour)
	r := f.act(t, "polar", inv.ID, "revise", `{"submission":{"number":"PR-2","lines":[{"kind":"labour","quantity":1,"unit_price":100},{"kind":"trip","quantity":1,"unit_price":50}],"note":"rate corrected"}}`, 200)
	if r.State != invoicing.Approved || r.Revision != 2 || r.Total != 150 || len(r.Disputes) != 0 {
		t.Fatalf("revised: %+v", r)
	}
	if n, of := f.accuracy(t); n != 0 || of != 1 {
		t.Errorf("invoice accuracy %d of %d, want 0 of 1 (approved after a dispute)", n, of)
	}
	var states []invoicing.State
	for _, c := range f.invoices(t, wo)[0].History {
		states = append(states, c.State)
	}
	if fmt.Sprint(states) != "[submitted disputed submitted approved]" {
		t.Errorf("the invoice's history: %v", states)
	}
	if h := f.history(t, wo); len(h) != 4 || !strings.Contains(h[1], "disputed") || !strings.Contains(h[2], "submitted: $150.00; revision 2: rate corrected") ||
		!strings.Contains(h[3], "approved: $150.00") {
		t.Errorf("the work order's history: %q", h)
	}
}

func flowEscalated(t *testing.T, f *flow) {
	// 50 hours: $5,050 computed; tax above 10% keeps it for people. The
	// default policy: an FM approves up to $2,500; above $5,000 an admin
	// approves as well.
	wo := f.completed(t, "wic-1", 24, 24, 2)
	inv := f.submit(t, wo, `{"number":"PR-3","lines":[{"kind":"labour","quantity":50,"unit_price":100},{"kind":"trip","quantity":1,"unit_price":50},{"kind":"tax","amount":600}]}`, 201)
	if inv.State != invoicing.Submitted || inv.Total != 5650 || len(inv.Needs) != 2 || !strings.Contains(codes(inv.Findings), "tax_rate") {
		t.Fatalf("a large invoice: %s %v %+v %+v", inv.State, inv.Total, inv.Needs, inv.Findings)
	}
	if body := f.call(t, "fm", "POST", "/api/v1/invoices/"+inv.ID+"/approve", "", 403); !strings.Contains(body, "above what a fm may approve") {
		t.Errorf("the FM's refusal: %s", body)
	}
	one := f.act(t, "admin", inv.ID, "approve", "", 200)
	if one.State != invoicing.Submitted || len(one.Needs) != 1 || len(one.Approvals) != 1 {
		t.Fatalf("after the first approval: %+v", one)
	}
	f.act(t, "admin", inv.ID, "approve", "", 409) // the next level needs someone else
	two := f.act(t, "admin2", inv.ID, "approve", "", 200)
	if two.State != invoicing.Approved || len(two.Approvals) != 2 || two.Approvals[1].By != "abe" {
		t.Fatalf("after the second approval: %+v", two)
	}
}

func flowWarranty(t *testing.T, f *flow) {
	wo := f.completed(t, "wic-w", 1)
	inv := f.submit(t, wo, matching, 201)
	if inv.State != invoicing.Submitted || inv.AutoApproved || !strings.Contains(codes(inv.Findings), "0:warranty_labour") {
		t.Fatalf("warranty labour: %s %+v", inv.State, inv.Findings)
	}
	r := f.act(t, "fm", inv.ID, "reject", `{"reason":"under your warranty: bill the manufacturer"}`, 200)
	if r.State != invoicing.Rejected {
		t.Fatalf("rejected: %+v", r)
	}
	if n, of := f.accuracy(t); n != 0 || of != 1 {
		t.Errorf("invoice accuracy after the rejection %d of %d, want 0 of 1", n, of)
	}
	// Without the labour it is the trip alone, which the warranty does
	// not cover: fine, but not the computed amount, so a person approves.
	again := f.submit(t, wo, `{"number":"PR-4b","lines":[{"kind":"trip","quantity":1,"unit_price":50}]}`, 201)
	if again.State != invoicing.Submitted || len(again.Findings) != 0 {
		t.Fatalf("the trip alone: %s %+v", again.State, again.Findings)
	}
	f.act(t, "fm", again.ID, "approve", "", 200)
}

func flowDuplicate(t *testing.T, f *flow) {
	wo := f.completed(t, "wic-1", 1)
	if first := f.submit(t, wo, matching, 201); first.State != invoicing.Approved {
		t.Fatalf("the first: %+v", first)
	}
	if body := f.call(t, "polar", "POST", "/api/v1/workorders/"+wo+"/invoices", strings.Replace(matching, "PR-1", "PR-1-again", 1), 409); !strings.Contains(body, "duplicate") {
		t.Errorf("the same amount again: %s", body)
	}
	if got := f.invoices(t, wo); len(got) != 1 {
		t.Errorf("%d invoices kept, want 1", len(got))
	}
}

func flowPaid(t *testing.T, f *flow) {
	wo := f.completed(t, "wic-1", 1)
	inv := f.submit(t, wo, matching, 201)
	body := f.call(t, "fm", "GET", "/api/v1/invoices/export", "", 200)
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil || len(rows) != 2 || rows[1][0] != inv.ID || rows[1][6] != "162.00" || rows[1][8] != "" {
		t.Fatalf("export: %v %q", err, rows)
	}
	rows[1][8] = "ACH-0042"
	var b strings.Builder
	if err := csv.NewWriter(&b).WriteAll(rows); err != nil {
		t.Fatal(err)
	}
	f.clock = f.clock.Add(24 * time.Hour)
	for i := range 2 { // the same file twice pays once
		got := decode[struct{ Paid, Rows int }](t, f.call(t, "fm", "POST", "/api/v1/invoices/payments", b.String(), 200))
		if got.Rows != 1 || got.Paid != 1-i {
			t.Errorf("import %d: %+v", i+1, got)
		}
	}
	paid := f.invoices(t, wo)
	if len(paid) != 1 || paid[0].State != invoicing.Paid || paid[0].PaymentRef != "ACH-0042" || paid[0].PaidAt == nil || !paid[0].PaidAt.Equal(f.clock) {
		t.Fatalf("after AP: %+v", paid)
	}
	all, err := f.s.Invoices(context.Background(), invoicing.Paid)
	if err != nil || len(all) != 1 {
		t.Errorf("paid invoices: %d %v", len(all), err)
	}
	if h := f.history(t, wo); len(h) != 3 || !strings.Contains(h[2], "paid: $162.00; payment ACH-0042") {
		t.Errorf("history: %q", h)
	}
	// A paid invoice leaves the export's unpaid rows but stays in it with
	// its reference; a wrong total in AP's file pays nothing.
	body = f.call(t, "fm", "GET", "/api/v1/invoices/export", "", 200)
	if !strings.Contains(body, "ACH-0042") {
		t.Errorf("export after payment: %s", body)
	}
	f.call(t, "fm", "POST", "/api/v1/invoices/payments", "invoice_id,total,payment_ref\n"+inv.ID+",99.00,ACH-9\n", 400)
}
