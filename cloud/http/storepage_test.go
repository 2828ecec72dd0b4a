package http

import (
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/device"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/locale"
	"github.com/frostline/frostline/rules"
)

// TestPageMessagesTranslated fails when the report or store page says
// something the catalogue does not translate: every tr call in the
// templates, every message the Go code prints through a Printer, every
// state's words and every problem's label.
func TestPageMessagesTranslated(t *testing.T) {
	var keys []string
	trCall := regexp.MustCompile(`tr (?:[$.]|\.Data) "((?:[^"\\]|\\.)*)"`)
	err := fs.WalkDir(templateFS, "templates", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(templateFS, path)
		for _, m := range trCall.FindAllStringSubmatch(string(b), -1) {
			keys = append(keys, m[1])
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	pT := regexp.MustCompile(`(?:p\.T|tr)\("((?:[^"\\]|\\.)*)"`)
	for _, file := range []string{"storepage.go", "pages.go", "ratings.go"} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range pT.FindAllStringSubmatch(string(b), -1) {
			k, err := strconv.Unquote(`"` + m[1] + `"`)
			if err != nil {
				t.Fatal(err)
			}
			keys = append(keys, k)
		}
	}
	for _, w := range statusWords {
		keys = append(keys, w)
	}
	for _, p := range problemLabels {
		keys = append(keys, p.Label)
	}
	keys = append(keys, "The photo is too large (6 MB at most).")
	if len(keys) < 50 {
		t.Fatalf("only %d messages found: is the scan broken?", len(keys))
	}
	for _, k := range keys {
		if !locale.Has(k) {
			t.Errorf("%q has no translations in cloud/locale", k)
		}
	}
}

// TestStorePageOnPhone: a store manager's phone, set to Spanish, shows
// the store page in Spanish at 390 px: the staff's report with its
// progress (vendor and ETA, on site) and the store's other open work
// order. French chosen on the page is remembered, and the report page
// follows it.
func TestStorePageOnPhone(t *testing.T) {
	d := newDispatchFixture(t)
	token, _, err := IssueToken(context.Background(), d.store, TokenRequest{Role: cloud.RoleStore, Sites: []string{"s1"}, Name: "ana"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	d.tokens["ana"] = token
	// A report by the staff, dispatched, accepted with an ETA, and the
	// technician on site; and a sensor work order.
	code, body := d.do(t, "ana", "POST", "/api/v1/workorders", `{"site":"s1","asset":"wic-1","problem":"not_cold","description":"la leche a 9 grados","priority":"P2"}`)
	if code != 201 && code != 200 {
		t.Fatalf("report: %d %s", code, body)
	}
	var created struct{ ID string }
	if err := json.Unmarshal([]byte(body), &created); err != nil || created.ID == "" {
		t.Fatalf("report: %s (%v)", body, err)
	}
	report := created.ID
	for i := 0; d.wo(t, report).Status != "dispatched"; i++ {
		if i == 3 {
			t.Fatalf("the report is %s, not dispatched", d.wo(t, report).Status)
		}
		d.clock = d.clock.Add(time.Hour)
		d.sweep(t)
	}
	if v := d.wo(t, report); v.Vendor != "polar" {
		t.Fatalf("the report went to %q, want polar", v.Vendor)
	}
	eta := d.clock.Add(2 * time.Hour).Format(time.RFC3339)
	d.act(t, "polar", report, "accept", `{"technician":"tech-polar","eta":"`+eta+`"}`, 200)
	d.act(t, "tech-polar", report, "check_in", `{"lat":41.88,"lon":-87.63}`, 200)
	sensor := d.incident(t, "i1", "wic-2", rules.Opened, "P1")

	b := newTab(t)
	ctx, do, text := b.ctx, b.do, b.text
	id := func(s string) chromedp.ID { return chromedp.ID(s) }
	do(chromedp.Emulate(device.IPhone12),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
				Headers: network.Headers{"Accept-Language": "es-ES,es;q=0.9"}})
			return err
		}),
	)
	browserSignIn(t, ctx, d.ts.URL, token, "#reports")
	if w, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`window.innerWidth`)); w != 390 {
		t.Errorf("viewport %d px wide, want 390", w)
	}
	if w, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); w > 390 {
		t.Errorf("the store page is %d px wide on a 390 px phone", w)
	}
	if h := text("h1"); h != "Sus avisos" {
		t.Errorf("h1 %q, want Spanish", h)
	}
	reports := text("#reports")
	for _, want := range []string{"Técnico en la tienda", "Proveedor: polar", "Llega", "En la tienda"} {
		if !strings.Contains(strings.ToLower(reports), strings.ToLower(want)) { // the state is shown in capitals
			t.Errorf("the report's progress lacks %q:\n%s", want, reports)
		}
	}
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#reports li.done').length`)); n != 3 {
		t.Errorf("%d steps done, want 3 (reported, vendor, on site)", n)
	}
	if open := text("#open"); !strings.Contains(open, "#"+strconv.FormatInt(sensor.Number, 10)) {
		t.Errorf("the sensor work order is not listed as open:\n%s", open)
	}
	screenshot(t, ctx, "body", "store-page-es-390")

	do(chromedp.Click(id("lang-fr")), chromedp.WaitVisible(id("reports")))
	if h := text("h1"); h != "Vos signalements" {
		t.Errorf("after choosing French: h1 %q", h)
	}
	// Remembered: the next pages are French without asking again.
	do(chromedp.Navigate(d.ts.URL+"/report?asset=s1%2Fwic-1"), chromedp.WaitVisible(id("report")))
	if h := text("h1"); h != "Signaler un problème" {
		t.Errorf("report page h1 %q, want French", h)
	}
	if lang, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.lang`)); lang != "fr" {
		t.Errorf("html lang %q", lang)
	}
	if opt, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#problem option[value="water_leak"]').textContent`)); opt != "Fuite d'eau" {
		t.Errorf("problem label %q", opt)
	}
	if v, _ := chromedp.Run(ctx, chromedp.Value(id("asset"))); v != "s1/wic-1" {
		t.Errorf("the asset chosen is %q", v)
	}
	if w, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); w > 390 {
		t.Errorf("the report page is %d px wide on a 390 px phone", w)
	}
	screenshot(t, ctx, "body", "report-page-fr-390")
}
