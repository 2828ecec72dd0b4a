package http

import (
	"encoding/csv"
	"strings"
	"testing"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/invoicing"
	"github.com/frostline/frostline/cloud/notify"
	"github.com/frostline/frostline/rules"
)

// completedJob: a P1 dispatched to polar, checked in and completed with
// one hour at polar's $100 and one visit ($50 trip): the computed
// invoice is $150.
func completedJob(t *testing.T, d *dispatchFixture) string {
	t.Helper()
	w := d.incident(t, "i1", "wic-1", rules.Opened, "P1")
	d.act(t, "polar", w.ID, "accept", `{"technician":"tech-polar"}`, 200)
	d.act(t, "tech-polar", w.ID, "check_in", `{"lat":41.8801,"lon":-87.6301}`, 200)
	d.clock = t0.Add(time.Hour)
	d.act(t, "tech-polar", w.ID, "complete", `{"problem":"no_cooling","cause":"dirty_coil","remedy":"cleaned_coil","labour":[{"hours":1,"rate":100}]}`, 200)
	return w.ID
}

func TestInvoiceAutoApprovedExportedPaid(t *testing.T) {
	d := newDispatchFixture(t)
	wo := completedJob(t, d)
	body := `{"number":"PR-77","lines":[{"kind":"labour","quantity":1,"unit_price":100},{"kind":"trip","quantity":1,"unit_price":50},{"kind":"tax","amount":12}]}`
	if code, resp := d.do(t, "arctic", "POST", "/api/v1/workorders/"+wo+"/invoices", body); code != 404 {
		t.Errorf("another vendor invoices: %d %s", code, resp)
	}
	code, resp := d.do(t, "polar", "POST", "/api/v1/workorders/"+wo+"/invoices", body)
	inv := decodeAs[invoicing.Invoice](t, resp)
	if code != 201 || inv.State != invoicing.Approved || !inv.AutoApproved || inv.Expected != 150 || inv.Total != 162 {
		t.Fatalf("submit: %d %+v", code, inv)
	}
	if code, resp := d.do(t, "polar", "POST", "/api/v1/workorders/"+wo+"/invoices", body); code != 409 || !strings.Contains(resp, "duplicate") {
		t.Errorf("the same invoice again: %d %s", code, resp)
	}
	code, csvBody := d.do(t, "fm", "GET", "/api/v1/invoices/export", "")
	rows, err := csv.NewReader(strings.NewReader(csvBody)).ReadAll()
	if code != 200 || err != nil || len(rows) != 2 || rows[1][0] != inv.ID || rows[1][6] != "162.00" {
		t.Fatalf("export: %d %v %v", code, rows, err)
	}
	rows[1][8] = "ACH-0042"
	var b strings.Builder
	csv.NewWriter(&b).WriteAll(rows)
	for range 2 { // importing the file twice pays once
		if code, resp := d.do(t, "fm", "POST", "/api/v1/invoices/payments", b.String()); code != 200 || !strings.Contains(resp, `"rows":1`) {
			t.Fatalf("payments: %d %s", code, resp)
		}
	}
	list := decodeAs[struct{ Items []invoicing.Invoice }](t, mustDo(t, d.fixture, "polar", "GET", "/api/v1/workorders/"+wo+"/invoices", "", 200))
	if len(list.Items) != 1 || list.Items[0].State != invoicing.Paid || list.Items[0].PaymentRef != "ACH-0042" {
		t.Errorf("after AP: %+v", list.Items)
	}
	evs, _ := d.store.Events(t.Context(), wo)
	var notes []string
	for _, e := range evs {
		if e.Note != nil && strings.HasPrefix(e.Note.Text, "Invoice PR-77") {
			notes = append(notes, e.Note.Text)
		}
	}
	// Each change is a line of the history: submitted, approved at once, paid.
	if len(notes) != 3 || !strings.Contains(notes[0], "submitted: $162.00") || !strings.Contains(notes[1], "approved: $162.00") ||
		!strings.Contains(notes[2], "paid: $162.00; payment ACH-0042") {
		t.Errorf("history: %q", notes)
	}
}

func TestInvoiceDisputedRevisedApproved(t *testing.T) {
	d := newDispatchFixture(t)
	wo := completedJob(t, d)
	tm, err := notify.LoadTemplates()
	if err != nil {
		t.Fatal(err)
	}
	d.srv.planner = &notify.Planner{Templates: tm, BaseURL: "https://fl.example"}
	for _, p := range []*notify.Person{
		{ID: "polar-ap", Name: "Polar AP", Role: cloud.RoleVendor, Scope: notify.PersonScope{Vendor: "polar"}, Email: "ap@polar.example"},
		{ID: "fiona", Name: "Fiona", Role: cloud.RoleFM, Scope: notify.PersonScope{All: true}, Email: "fiona@example.com"},
	} {
		if err := d.store.PutPerson(t.Context(), p); err != nil {
			t.Fatal(err)
		}
	}
	over := `{"number":"PR-78","lines":[{"kind":"labour","quantity":1,"unit_price":165},{"kind":"trip","quantity":1,"unit_price":50}]}`
	inv := decodeAs[invoicing.Invoice](t, mustDo(t, d.fixture, "polar", "POST", "/api/v1/workorders/"+wo+"/invoices", over, 201))
	if inv.State != invoicing.Submitted || len(inv.Findings) == 0 || inv.Findings[0].Code != invoicing.OverRate {
		t.Fatalf("over the rate: %+v", inv)
	}
	base := "/api/v1/invoices/" + inv.ID + "/"
	if code, _ := d.do(t, "polar", "POST", base+"approve", ""); code != 403 {
		t.Errorf("the vendor approves its own invoice: %d", code)
	}
	// The vendor's office hears of the dispute, with the line and why.
	mustDo(t, d.fixture, "fm", "POST", base+"dispute", `{"disputes":[{"line":0,"reason":"your rate is $100/h"}]}`, 200)
	log := decodeAs[struct{ Items []notify.Notification }](t, mustDo(t, d.fixture, "fm", "GET", "/api/v1/notifications?work_order="+wo, "", 200))
	var told *notify.Notification
	for i, n := range log.Items {
		if n.Topic == notify.TopicInvoiceDispute {
			told = &log.Items[i]
		}
	}
	if told == nil || told.Person != "polar-ap" || told.Subject != "Invoice PR-78 for WO-1 disputed" {
		t.Errorf("the vendor was not told: %+v", log.Items)
	} else if n, err := d.store.Notification(t.Context(), told.ID); err != nil || !strings.Contains(n.Text, "line 1 (labour, $165.00): your rate is $100/h") {
		t.Errorf("dispute message: %v\n%s", err, n.Text)
	}
	if code, _ := d.do(t, "fm", "POST", base+"approve", ""); code != 409 {
		t.Errorf("approving a disputed invoice: %d", code)
	}
	fixed := `{"submission":{"number":"PR-78","lines":[{"kind":"labour","quantity":1,"unit_price":100},{"kind":"trip","quantity":1,"unit_price":50}],"note":"rate corrected"}}`
	inv = decodeAs[invoicing.Invoice](t, mustDo(t, d.fixture, "polar", "POST", base+"revise", fixed, 200))
	if inv.State != invoicing.Approved || inv.Revision != 2 {
		t.Fatalf("revised: %+v", inv)
	}
	// The FM heard of the first submission, which waited for them; the
	// vendor's office of the approval of the revision.
	log = decodeAs[struct{ Items []notify.Notification }](t, mustDo(t, d.fixture, "fm", "GET", "/api/v1/notifications?work_order="+wo, "", 200))
	heard := map[string]string{}
	for _, n := range log.Items {
		heard[n.Topic] += n.Person + ": " + n.Subject + ";"
	}
	if heard[notify.TopicInvoiceWaiting] != "fiona: Invoice PR-78 for WO-1 waits for your approval: $215.00;" ||
		heard[notify.TopicInvoiceApproved] != "polar-ap: Invoice PR-78 for WO-1 approved: $150.00;" {
		t.Errorf("told: %q", heard)
	}
	if code, resp := d.do(t, "fm", "POST", base+"pay", `{"payment_ref":"CHK-1"}`); code != 200 || !strings.Contains(resp, `"state":"paid"`) {
		t.Errorf("pay: %d %s", code, resp)
	}
	if code, _ := d.do(t, "fm", "POST", base+"teleport", ""); code != 404 {
		t.Errorf("unknown action: %d", code)
	}
}
