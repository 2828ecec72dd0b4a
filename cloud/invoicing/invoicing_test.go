package invoicing

import (
	"bytes"
	"encoding/csv"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/workorder"
)

var t0 = time.Date(2026, 12, 7, 15, 0, 0, 0, time.UTC)

// facts is a completed refrigeration job: 2 h of labour at the table's
// $100, one fan motor FM-220 at $180, one visit with a $50 trip charge:
// the computed invoice is $430.
func facts() *Facts {
	rate := 100.0
	w := &workorder.WorkOrder{ID: "wo_1", Number: 7, Site: "s1", Trade: "refrigeration", Vendor: "coolco", Status: workorder.Verified, NTE: 1500,
		Visits: []workorder.Visit{{In: t0}},
		Completion: &workorder.Completion{Labour: []workorder.Labour{{Hours: 2, Rate: 100}},
			Parts: []workorder.Part{{Code: "FM-220", Description: "fan motor", Quantity: 1, UnitCost: 180}}}}
	return &Facts{WorkOrder: w, Rate: &rate, TripCharge: 50, Expected: &workorder.Invoice{Total: 430}}
}

func sub(labourRate float64, extra ...Line) Submission {
	return Submission{Number: "CC-1001", Lines: append([]Line{
		{Kind: Labour, Description: "2 h", Quantity: 2, UnitPrice: labourRate},
		{Kind: Trip, Quantity: 1, UnitPrice: 50},
		{Kind: Part, PartNumber: "FM-220", Description: "fan motor", Quantity: 1, UnitPrice: 180},
	}, extra...)}
}

func codes(inv *Invoice) []string {
	var out []string
	for _, f := range inv.Findings {
		out = append(out, f.Code)
	}
	return out
}

func TestMatchingInvoiceIsAutoApproved(t *testing.T) {
	p := DefaultPolicy()
	inv, err := Submit("inv_1", sub(100, Line{Kind: Tax, Amount: 34.40}), facts(), &p, "coolco", t0)
	if err != nil {
		t.Fatal(err)
	}
	if inv.State != Approved || !inv.AutoApproved || inv.Subtotal != 430 || inv.Total != 464.40 || len(inv.Findings) != 0 {
		t.Errorf("%s auto %v subtotal %v total %v findings %v", inv.State, inv.AutoApproved, inv.Subtotal, inv.Total, inv.Findings)
	}
	if len(inv.History) != 2 || inv.History[1].By != "system" {
		t.Errorf("history %+v", inv.History)
	}
}

// TestLargeMatchStillNeedsTheHigherLevel: a clean invoice that matches
// the computed one stands for the FM's approval, not for the admin's that
// a total above $5,000 needs.
func TestLargeMatchStillNeedsTheHigherLevel(t *testing.T) {
	p := DefaultPolicy()
	f := facts()
	w := f.WorkOrder
	w.NTE = 7000
	w.Completion.Labour = []workorder.Labour{{Hours: 40, Rate: 100}}
	w.Completion.Parts = []workorder.Part{{Code: "CMP-9", Description: "compressor", Quantity: 1, UnitCost: 1950}}
	f.Expected = &workorder.Invoice{Total: 6000}
	inv, err := Submit("inv_9", Submission{Number: "CC-9", Lines: []Line{{Kind: Labour, Quantity: 40, UnitPrice: 100}, {Kind: Trip, Quantity: 1, UnitPrice: 50},
		{Kind: Part, PartNumber: "CMP-9", Quantity: 1, UnitPrice: 1950}}}, f, &p, "coolco", t0)
	if err != nil {
		t.Fatal(err)
	}
	if inv.State != Submitted || inv.AutoApproved || len(inv.Needs) != 1 || inv.Needs[0].Above != 5000 || len(inv.Findings) != 0 {
		t.Fatalf("%s auto %v needs %+v findings %v", inv.State, inv.AutoApproved, inv.Needs, inv.Findings)
	}
	if last := inv.History[len(inv.History)-1]; last.By != "system" || !strings.Contains(last.Note, "1 more approval(s) needed above $5000.00") {
		t.Errorf("history %+v", inv.History)
	}
	if err := inv.Approve("fay", cloud.RoleFM, &p, t0); cloud.ErrorCode(err) != cloud.EFORBIDDEN {
		t.Errorf("an FM: %v", err)
	}
	if err := inv.Approve("max", cloud.RoleAdmin, &p, t0); err != nil || inv.State != Approved {
		t.Fatalf("the admin: %v %s", err, inv.State)
	}
}

// TestOverRateDisputedRevisedApproved: labour above the table is flagged
// and waits; the FM disputes that line; the vendor revises; it matches.
func TestOverRateDisputedRevisedApproved(t *testing.T) {
	p := DefaultPolicy()
	f := facts()
	inv, err := Submit("inv_1", sub(140), f, &p, "coolco", t0)
	if err != nil {
		t.Fatal(err)
	}
	if inv.State != Submitted || !slices.Contains(codes(inv), OverRate) || inv.Findings[0].Line != 0 {
		t.Fatalf("%s %v", inv.State, inv.Findings)
	}
	if err := inv.Revise(sub(100), f, &p, "coolco", t0); cloud.ErrorCode(err) != cloud.ECONFLICT {
		t.Errorf("revised before a dispute: %v", err)
	}
	if err := inv.Dispute("fay", []Dispute{{Line: 3, Reason: "x"}}, t0); cloud.ErrorCode(err) != cloud.EINVALID {
		t.Errorf("a dispute of a line that is not there: %v", err)
	}
	if err := inv.Dispute("fay", []Dispute{{Line: 0, Reason: "your rate for refrigeration is $100/h"}}, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if inv.State != Disputed || inv.Disputes[0].Line != 0 {
		t.Fatalf("%s %+v", inv.State, inv.Disputes)
	}
	if err := inv.Revise(sub(100), f, &p, "coolco", t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if inv.State != Approved || inv.Revision != 2 || len(inv.Findings) != 0 || inv.Total != 430 {
		t.Errorf("revised: %s rev %d %v %v", inv.State, inv.Revision, inv.Findings, inv.Total)
	}
	states := []State{}
	for _, c := range inv.History {
		states = append(states, c.State)
	}
	if !slices.Equal(states, []State{Submitted, Disputed, Submitted, Approved}) {
		t.Errorf("history %v", states)
	}
}

// TestAboveTheApproversLimitEscalates: a $6,000 job is above an FM's
// limit; an admin approves the first level, and above $5,000 a second
// admin must approve too.
func TestAboveTheApproversLimitEscalates(t *testing.T) {
	p := DefaultPolicy()
	f := facts()
	w := f.WorkOrder
	w.NTE, w.Approvals = 7000, []workorder.Approval{{Amount: 7000, From: 1500, By: "max", Role: cloud.RoleAdmin}}
	w.Completion.Labour = []workorder.Labour{{Hours: 40, Rate: 100}}
	w.Completion.Parts = []workorder.Part{{Code: "CMP-9", Description: "compressor", Quantity: 1, UnitCost: 1950}}
	f.Expected = nil // no computed invoice yet: a person decides
	inv, err := Submit("inv_2", Submission{Number: "CC-2", Lines: []Line{{Kind: Labour, Quantity: 40, UnitPrice: 100}, {Kind: Trip, Quantity: 1, UnitPrice: 50},
		{Kind: Part, PartNumber: "cmp-9", Quantity: 1, UnitPrice: 1950}}}, f, &p, "coolco", t0)
	if err != nil {
		t.Fatal(err)
	}
	if inv.State != Submitted || inv.Total != 6000 || len(inv.Needs) != 2 || len(inv.Findings) != 0 {
		t.Fatalf("%s %v needs %v findings %v", inv.State, inv.Total, inv.Needs, inv.Findings)
	}
	if err := inv.Approve("fay", cloud.RoleFM, &p, t0); cloud.ErrorCode(err) != cloud.EFORBIDDEN || !strings.Contains(err.Error(), "higher approver") {
		t.Errorf("FM above her limit: %v", err)
	}
	if err := inv.Approve("max", cloud.RoleAdmin, &p, t0); err != nil || inv.State != Submitted || len(inv.Needs) != 1 {
		t.Fatalf("first admin: %v %s %v", err, inv.State, inv.Needs)
	}
	if err := inv.Approve("max", cloud.RoleAdmin, &p, t0); cloud.ErrorCode(err) != cloud.ECONFLICT {
		t.Errorf("the same admin twice: %v", err)
	}
	if err := inv.Approve("vi", cloud.RoleAdmin, &p, t0.Add(time.Hour)); err != nil || inv.State != Approved || inv.DecidedAt == nil {
		t.Fatalf("second admin: %v %s", err, inv.State)
	}
}

func TestWarrantyLabourFlagged(t *testing.T) {
	p := DefaultPolicy()
	f := facts()
	f.Warranty = true
	inv, err := Submit("inv_3", sub(100), f, &p, "coolco", t0)
	if err != nil {
		t.Fatal(err)
	}
	if inv.State != Submitted || !slices.Contains(codes(inv), WarrantyLabour) {
		t.Errorf("%s %v", inv.State, inv.Findings)
	}
}

func TestDuplicateRefused(t *testing.T) {
	p := DefaultPolicy()
	f := facts()
	first, err := Submit("inv_4", sub(100), f, &p, "coolco", t0)
	if err != nil {
		t.Fatal(err)
	}
	f.Others = []*Invoice{first}
	if _, err := Submit("inv_5", sub(100), f, &p, "coolco", t0); !errors.Is(err, ErrDuplicate) || cloud.ErrorCode(err) != cloud.ECONFLICT {
		t.Errorf("duplicate: %v", err)
	}
	first.State = Rejected
	if _, err := Submit("inv_6", sub(100), f, &p, "coolco", t0); err != nil {
		t.Errorf("after the first was rejected: %v", err)
	}
}

func TestChecks(t *testing.T) {
	p := DefaultPolicy()
	for _, tc := range []struct {
		name  string
		lines []Line
		want  []string
	}{
		{"a part not recorded", []Line{{Kind: Part, PartNumber: "XX-1", Quantity: 1, UnitPrice: 10}}, []string{PartNotUsed}},
		{"a part above its cost", []Line{{Kind: Part, PartNumber: "FM-220", Quantity: 1, UnitPrice: 250}}, []string{OverPartCost}},
		{"more parts than used", []Line{{Kind: Part, PartNumber: "FM-220", Quantity: 2, UnitPrice: 180}}, []string{OverPartCost}},
		{"more hours than recorded", []Line{{Kind: Labour, Quantity: 3, UnitPrice: 100}}, []string{OverHours}},
		{"two trips for one visit", []Line{{Kind: Trip, Quantity: 2, UnitPrice: 50}}, []string{OverTrip}},
		{"tax above the rate", []Line{{Kind: Labour, Quantity: 1, UnitPrice: 100}, {Kind: Tax, Amount: 30}}, []string{TaxRate}},
		{"above the NTE", []Line{{Kind: Labour, Quantity: 2, UnitPrice: 100}, {Kind: Trip, Quantity: 1, UnitPrice: 50}, {Kind: Part, PartNumber: "FM-220", Quantity: 1, UnitPrice: 180},
			{Kind: Trip, Quantity: 0.5, UnitPrice: 3000}}, []string{OverTrip, OverTrip, OverNTE, OverExpected}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv, err := Submit("inv", Submission{Number: "N", Lines: tc.lines}, facts(), &p, "coolco", t0)
			if err != nil {
				t.Fatal(err)
			}
			if got := codes(inv); !slices.Equal(got, tc.want) {
				t.Errorf("findings %v, want %v", inv.Findings, tc.want)
			}
		})
	}
	for _, bad := range []struct {
		sub   Submission
		field string
	}{
		{Submission{Number: "", Lines: sub(100).Lines}, "number"},
		{Submission{Number: "N"}, "lines"},
		{Submission{Number: "N", Lines: []Line{{Kind: "beer", Quantity: 1}}}, "lines[0].kind"},
		{Submission{Number: "N", Lines: []Line{{Kind: Labour, Quantity: -1, UnitPrice: 100}}}, "lines[0]"},
		{Submission{Number: "N", Lines: []Line{{Kind: Part, Quantity: 1, UnitPrice: 1}}}, "lines[0].part_number"},
	} {
		if _, err := Submit("inv", bad.sub, facts(), &p, "coolco", t0); err == nil || !strings.Contains(err.Error(), bad.field) {
			t.Errorf("%+v: %v, want it to name %s", bad.sub, err, bad.field)
		}
	}
	f := facts()
	f.WorkOrder.Status = workorder.InProgress
	if _, err := Submit("inv", sub(100), f, &p, "coolco", t0); cloud.ErrorCode(err) != cloud.ECONFLICT {
		t.Errorf("before completion: %v", err)
	}
}

// TestPaidFromAnExportRoundTrip: approved invoices go to AP as CSV; AP
// fills in payment references and sends the file back; the invoices are
// PAID, once however often the file is imported.
func TestPaidFromAnExportRoundTrip(t *testing.T) {
	p := DefaultPolicy()
	inv, err := Submit("inv_7", sub(100), facts(), &p, "coolco", t0)
	if err != nil || inv.State != Approved {
		t.Fatalf("%v %v", inv, err)
	}
	open := &Invoice{ID: "inv_8", State: Submitted, Total: 99}
	var b bytes.Buffer
	if err := ExportCSV(&b, []*Invoice{inv, open}); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil || len(rows) != 2 || rows[1][0] != "inv_7" || rows[1][6] != "430.00" || rows[1][8] != "" {
		t.Fatalf("export %v %v", rows, err)
	}
	rows[1][8] = "ACH-20261208-0042" // AP pays it
	var back bytes.Buffer
	cw := csv.NewWriter(&back)
	cw.WriteAll(rows)
	pays, err := ReadPayments(bytes.NewReader(back.Bytes()))
	if err != nil || len(pays) != 1 || pays[0].Invoice != "inv_7" || pays[0].Total != 430 {
		t.Fatalf("payments %+v %v", pays, err)
	}
	for range 2 {
		if err := ApplyPayment(inv, pays[0], "ap-import", t0.Add(24*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if inv.State != Paid || inv.PaymentRef != "ACH-20261208-0042" || inv.History[len(inv.History)-1].State != Paid || len(inv.History) != 3 {
		t.Errorf("%s %q %+v", inv.State, inv.PaymentRef, inv.History)
	}
	if err := ApplyPayment(open, Payment{Invoice: "inv_8", Ref: "x", Total: 99}, "ap", t0); cloud.ErrorCode(err) != cloud.ECONFLICT {
		t.Errorf("paying a submitted invoice: %v", err)
	}
	wrong := &Invoice{ID: "inv_9", State: Approved, Total: 100}
	if err := ApplyPayment(wrong, Payment{Invoice: "inv_9", Ref: "x", Total: 90}, "ap", t0); err == nil || wrong.State != Approved {
		t.Errorf("AP paid another amount: %v", err)
	}
}

func TestReadPaymentsErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "header"},
		{"invoice_id,total\n", "payment_ref"},
		{"invoice_id,total,payment_ref\ninv_1,abc,R1\n", "line 2: total"},
		{"invoice_id,total,payment_ref\ninv_1,1,R1\ninv_1,1,R2\n", "line 3: invoice inv_1 appears twice"},
		{"invoice_id,total,payment_ref\n,1,R1\n", "line 2"},
	} {
		if _, err := ReadPayments(strings.NewReader(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.in, err, tc.want)
		}
	}
	// Columns in any order, a BOM, unpaid rows skipped.
	ps, err := ReadPayments(strings.NewReader("\ufeffPayment_Ref,total,invoice_id\n,5,inv_a\nR9,7.5,inv_b\n"))
	if err != nil || len(ps) != 1 || ps[0].Invoice != "inv_b" || ps[0].Ref != "R9" || ps[0].Total != 7.5 {
		t.Errorf("%+v %v", ps, err)
	}
}

func FuzzReadPayments(f *testing.F) {
	f.Add("invoice_id,total,payment_ref\ninv_1,430.00,ACH-1\n")
	f.Add("invoice_id,work_order,vendor,vendor_invoice,subtotal,tax,total,approved_at,payment_ref\ninv_7,wo_1,coolco,CC-1,430.00,0.00,430.00,2026-12-07T15:00:00Z,ACH\n")
	f.Fuzz(func(t *testing.T, in string) {
		ps, err := ReadPayments(strings.NewReader(in))
		if err == nil {
			for _, p := range ps {
				if p.Invoice == "" || p.Ref == "" || !(p.Total >= 0) {
					t.Errorf("accepted %+v", p)
				}
			}
		}
	})
}
