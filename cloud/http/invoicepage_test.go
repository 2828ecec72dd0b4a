package http

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/frostline/frostline/cloud/invoicing"
	"github.com/frostline/frostline/rules"
)

func TestSubmissionOfForm(t *testing.T) {
	tests := []struct {
		name    string
		form    url.Values
		want    []invoicing.Line
		wantErr string
	}{
		{"rows, blanks skipped, tax last",
			url.Values{"number": {" PR-1 "}, "kind_0": {"labour"}, "qty_0": {"1.5"}, "price_0": {"$100"}, "kind_1": {"part"}, "part_1": {"FLT-2"},
				"qty_1": {"2"}, "price_1": {"12.5"}, "kind_2": {"trip"}, "qty_2": {""}, "tax": {"9.75"}},
			[]invoicing.Line{{Kind: "labour", Quantity: 1.5, UnitPrice: 100}, {Kind: "part", PartNumber: "FLT-2", Quantity: 2, UnitPrice: 12.5},
				{Kind: "tax", Description: "tax", Amount: 9.75}}, ""},
		{"not a number", url.Values{"kind_0": {"labour"}, "qty_0": {"NaN"}}, nil, "qty_0"},
		{"a bad tax", url.Values{"kind_0": {"trip"}, "qty_0": {"1"}, "tax": {"lots"}}, nil, "tax"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sub, err := submissionOf(tt.form)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil || sub.Number != "PR-1" || len(sub.Lines) != len(tt.want) {
				t.Fatalf("%+v %v", sub, err)
			}
			for i, l := range tt.want {
				if sub.Lines[i] != l {
					t.Errorf("line %d: %+v, want %+v", i, sub.Lines[i], l)
				}
			}
		})
	}
}

// TestInvoiceFormRefusals: the page's forms refuse what the API refuses,
// on the page (a flash, not an error page): a vendor approving, an FM
// submitting, an invoice of another work order, a cross-site post.
func TestInvoiceFormRefusals(t *testing.T) {
	d := newDispatchFixture(t)
	wo := completedJob(t, d)
	other := d.incident(t, "i2", "wic-2", rules.Opened, "P2")
	inv := decodeAs[invoicing.Invoice](t, mustDo(t, d.fixture, "polar", "POST", "/api/v1/workorders/"+wo+"/invoices",
		`{"number":"PR-5","lines":[{"kind":"labour","quantity":1,"unit_price":120},{"kind":"trip","quantity":1,"unit_price":50}]}`, 201))
	client := &http.Client{CheckRedirect: noRedirect}
	post := func(who, woID string, form url.Values, origin string) (int, string) {
		req, _ := http.NewRequest("POST", d.ts.URL+"/workorders/"+woID+"/invoices", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		req.AddCookie(d.session(t, who))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if loc == nil {
			return resp.StatusCode, ""
		}
		return resp.StatusCode, loc.Query().Get("refused") + loc.Query().Get("flash")
	}
	tests := []struct {
		name, who, wo string
		form          url.Values
		origin        string
		code          int
		want          string
	}{
		{"the vendor approves", "polar", wo, url.Values{"action": {"approve"}, "invoice": {inv.ID}}, "", 303, "may not"},
		{"the FM submits", "fm", wo, url.Values{"action": {"submit"}, "number": {"X"}, "kind_0": {"trip"}, "qty_0": {"1"}}, "", 303, "may not"},
		{"another work order's invoice", "fm", other.ID, url.Values{"action": {"approve"}, "invoice": {inv.ID}}, "", 303, "not found on this work order"},
		{"a second invoice while one is open", "polar", wo, url.Values{"action": {"submit"}, "number": {"PR-6"}, "kind_0": {"trip"}, "qty_0": {"1"}, "price_0": {"50"}}, "", 303, "revise it"},
		{"no such action", "fm", wo, url.Values{"action": {"teleport"}, "invoice": {inv.ID}}, "", 303, "want submit"},
		{"a dispute without a reason", "fm", wo, url.Values{"action": {"dispute"}, "invoice": {inv.ID}}, "", 303, "at least one line"},
		{"cross-site", "fm", wo, url.Values{"action": {"approve"}, "invoice": {inv.ID}}, "https://evil.example", 403, ""},
		{"the FM disputes line 1", "fm", wo, url.Values{"action": {"dispute"}, "invoice": {inv.ID}, "reason_0": {"$100/h"}}, "", 303, "Invoice PR-5: disputed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, msg := post(tt.who, tt.wo, tt.form, tt.origin)
			if code != tt.code || !strings.Contains(msg, tt.want) {
				t.Errorf("%d %q, want %d %q", code, msg, tt.code, tt.want)
			}
		})
	}
	got := decodeAs[struct{ Items []invoicing.Invoice }](t, mustDo(t, d.fixture, "fm", "GET", "/api/v1/workorders/"+wo+"/invoices", "", 200))
	if len(got.Items) != 1 || got.Items[0].State != invoicing.Disputed || len(got.Items[0].Disputes) != 1 || got.Items[0].Disputes[0].Line != 0 {
		t.Errorf("after the forms: %+v", got.Items)
	}
	// The technician sees no invoice section; the vendor and the FM do.
	for who, want := range map[string]bool{"polar": true, "fm": true, "tech-polar": false} {
		_, body := d.do(t, who, "GET", "/workorders/"+wo, "")
		if strings.Contains(body, `id="invoices"`) != want {
			t.Errorf("%s: invoice section shown %v, want %v", who, !want, want)
		}
	}
}
