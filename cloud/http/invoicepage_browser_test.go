package http

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/device"

	"github.com/frostline/frostline/cloud/invoicing"
)

// TestInvoiceOnThePage: on a phone, the vendor's office submits its
// invoice on the work order's page (prefilled from the work recorded),
// billing its labour above the rate table and a filter nobody recorded;
// the FM sees each line's check, disputes the rate with a reason; the
// vendor revises the rate; the FM accepts the filter and approves. The
// invoice's history and the work order's timeline show each step.
func TestInvoiceOnThePage(t *testing.T) {
	d := newDispatchFixture(t)
	wo := completedJob(t, d) // 1 h at polar's $100 and one visit: $150 expected
	b := newTab(t)
	id := func(s string) chromedp.ID { return chromedp.ID(s) }
	page := d.ts.URL + "/workorders/" + wo
	// state waits for the invoice's state on the page the form led to.
	state := func(want string) {
		t.Helper()
		// After the form's post, the page it redirects to: a poll begun
		// on the page that posted ends with it, so it is asked again.
		js := `location.hash === '#invoices' && (document.querySelector('#invoice-state') || {}).textContent === '` + want + `'`
		var err error
		for range 20 {
			if _, err = chromedp.Run(b.ctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(2*time.Second))); err == nil {
				return
			}
		}
		t.Fatalf("invoice state %s: %v\n%s", want, err, b.text("main"))
	}
	b.do(chromedp.Emulate(device.IPhone12))

	browserSignIn(t, b.ctx, d.ts.URL, d.tokens["polar"], "table")
	b.do(chromedp.Navigate(page), chromedp.WaitVisible(id("invoice-form")))
	if got := b.text("#expected"); got != "$150.00" {
		t.Errorf("expected amount %q, want $150.00", got)
	}
	for sel, want := range map[string]string{"#kind_0": "labour", "#qty_0": "1", "#price_0": "100", "#kind_1": "trip", "#price_1": "50"} {
		if got, err := chromedp.Run(b.ctx, chromedp.Value(chromedp.CSS(sel))); err != nil || got != want {
			t.Errorf("prefilled %s = %q (%v), want %q", sel, got, err, want)
		}
	}
	b.do(chromedp.SendKeys(id("number"), "PR-90"),
		chromedp.SetValue(id("price_0"), "165"),
		chromedp.SetValue(id("kind_2"), "part"), chromedp.SendKeys(id("part_2"), "FLT-2"), chromedp.SendKeys(id("desc_2"), "filter drier"),
		chromedp.SendKeys(id("qty_2"), "1"), chromedp.SendKeys(id("price_2"), "24"),
		chromedp.SendKeys(id("tax"), "10"),
		chromedp.Click(id("submit-invoice")))
	state("submitted")
	if got := b.text("#line-0"); !strings.Contains(got, "$165.00 an hour is above the rate table's $100.00") {
		t.Errorf("the labour line's check: %q", got)
	}
	if got := b.text("#line-2"); !strings.Contains(got, "FLT-2") || !strings.Contains(got, "not recorded at completion") {
		t.Errorf("the part line's check: %q", got)
	}
	if got := b.text("#line-1"); !strings.Contains(got, "ok") {
		t.Errorf("the trip line passes: %q", got)
	}

	// The FM disputes the rate, and only the rate.
	browserSignIn(t, b.ctx, d.ts.URL, d.tokens["fm"], "table")
	b.do(chromedp.Navigate(page), chromedp.WaitVisible(id("reason-0")))
	if got := b.text("#invoice-total"); got != "$249.00" {
		t.Errorf("total %q, want $249.00 (165 + 50 + 24 + 10 tax)", got)
	}
	b.do(chromedp.SendKeys(id("reason-0"), "your rate is $100/h"), chromedp.Click(id("dispute")))
	state("disputed")
	if got := b.text("#line-0"); !strings.Contains(got, "Disputed: your rate is $100/h") {
		t.Errorf("the disputed line: %q", got)
	}
	if got := b.text("#line-2"); strings.Contains(got, "Disputed") {
		t.Errorf("an undisputed line shows a dispute: %q", got)
	}

	// The vendor revises the rate; the filter stays on the invoice.
	browserSignIn(t, b.ctx, d.ts.URL, d.tokens["polar"], "table")
	b.do(chromedp.Navigate(page), chromedp.WaitVisible(id("revise")))
	if got, _ := chromedp.Run(b.ctx, chromedp.Value(id("part_2"))); got != "FLT-2" {
		t.Errorf("the revision form keeps the part number: %q", got)
	}
	b.do(chromedp.SetValue(id("price_0"), "100"), chromedp.SendKeys(id("note"), "rate corrected"), chromedp.Click(id("revise")))
	state("submitted")
	if got := b.text("#line-0"); strings.Contains(got, "above the rate table") || strings.Contains(got, "Disputed") {
		t.Errorf("the revised labour line: %q", got)
	}

	// The FM accepts the unrecorded filter and approves.
	browserSignIn(t, b.ctx, d.ts.URL, d.tokens["fm"], "table")
	b.do(chromedp.Navigate(page), chromedp.WaitVisible(id("approve")), chromedp.Click(id("approve")))
	state("approved")
	screenshot(t, b.ctx, "#invoices", "invoice-approved")
	screenshot(t, b.ctx, ".invoice", "invoice-approved-card")
	if got := b.text("#flash"); !strings.Contains(got, "Invoice PR-90: approved") {
		t.Errorf("flash %q", got)
	}
	b.do(chromedp.Click(chromedp.CSS(".invoice details summary")))
	hist := b.text(".invoice-history")
	for _, want := range []string{"disputed", "revision 2: rate corrected", "approved by fiona (fm)"} {
		if !strings.Contains(hist, want) {
			t.Errorf("invoice history lacks %q:\n%s", want, hist)
		}
	}
	if tl := b.text("#timeline"); !strings.Contains(tl, "Invoice PR-90") || !strings.Contains(tl, "approved: $184.00") {
		t.Errorf("timeline: %s", tl)
	}
	list := decodeAs[struct{ Items []invoicing.Invoice }](t, mustDo(t, d.fixture, "fm", "GET", "/api/v1/workorders/"+wo+"/invoices", "", 200))
	if len(list.Items) != 1 || list.Items[0].State != invoicing.Approved || list.Items[0].Revision != 2 || list.Items[0].Total != 184 {
		t.Errorf("stored: %+v", list.Items)
	}
}
