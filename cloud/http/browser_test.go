package http

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/device"

	"github.com/frostline/frostline/cloud/workorder"
	"github.com/frostline/frostline/rules"
)

// chromium finds Debian's chromium, skipping (or, with CI=true, failing)
// when it is missing.
func chromium(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test skipped under -short")
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is required in CI (apt-get install chromium)")
	}
	t.Skip("chromium not installed")
	return ""
}

// browse starts a headless Chromium for the test (skipping as chromium
// does) and returns its context, closed when the test ends.
func browse(t *testing.T) context.Context {
	t.Helper()
	exe := chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox,
		chromedp.Flag("headless", true), chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelBrowser := chromedp.NewContext(actx)
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(func() {
		cancel()
		cancelBrowser()
		cancelAlloc()
	})
	return ctx
}

// tab is a browser tab for a test: its steps and reads fail the test.
type tab struct {
	t   *testing.T
	ctx context.Context
}

// newTab starts a browser (browse) for the test.
func newTab(t *testing.T) *tab { return &tab{t: t, ctx: browse(t)} }

// do runs steps, failing the test on an error.
func (b *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatal(err)
	}
}

// text is the visible text of the element sel.
func (b *tab) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatal(err)
	}
	return s
}

// browserSignIn signs in at base's login page with token and waits for
// the page it lands on to show landed (a CSS selector): navigating on
// before the sign-in's redirect has loaded aborts it.
func browserSignIn(t *testing.T, ctx context.Context, base, token, landed string) {
	t.Helper()
	err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), token),
		chromedp.Submit(chromedp.ID("token")),
		chromedp.WaitVisible(chromedp.CSS(landed)))
	if err != nil {
		t.Fatalf("sign in: %v", err)
	}
}

// screenshot saves a PNG of the element sel into FROSTLINE_SCREENSHOTS
// (CI keeps that folder as an artefact), else into the test's temporary
// folder, and returns its path (a test may read it back: a QR label).
func screenshot(t *testing.T, ctx context.Context, sel, name string) string {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS(sel)))
	if err != nil {
		t.Fatal(err)
	}
	if len(png) < 1000 || string(png[1:4]) != "PNG" {
		t.Fatalf("screenshot of %s: %d bytes, not a PNG", sel, len(png))
	}
	dir := os.Getenv("FROSTLINE_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestStoreReportOnPhone: store staff sign in on a phone-sized screen,
// report a leak, see the work order in their store's list, and are told at
// once when they report the same problem again.
func TestStoreReportOnPhone(t *testing.T) {
	f := newFixture(t)
	b := newTab(t)
	ctx, do, text := b.ctx, b.do, b.text

	start := time.Now()
	id := func(s string) chromedp.ID { return chromedp.ID(s) }
	report := func() string {
		do(chromedp.Navigate(f.ts.URL+"/report"),
			chromedp.WaitVisible(id("report")),
			chromedp.SetValue(id("asset"), "s1/dc-1"),
			chromedp.SetValue(id("problem"), "water_leak"),
			chromedp.SendKeys(id("description"), "water under the dairy case"),
			chromedp.Click(id("send")),
			chromedp.WaitVisible(id("flash")))
		return text("#flash")
	}
	do(chromedp.Emulate(device.IPhone12),
		chromedp.Navigate(f.ts.URL+"/"),
		chromedp.WaitVisible(id("token")), // not signed in: the login page
		chromedp.SendKeys(id("token"), f.tokens["store"]),
		chromedp.Submit(id("token")),
		chromedp.WaitVisible(id("new-report")))
	width, err := chromedp.Run(ctx, chromedp.Evaluate[string](`String(window.innerWidth)`))
	if err != nil {
		t.Fatal(err)
	}
	if width != "390" {
		t.Errorf("viewport width %s, want a phone's 390", width)
	}
	if flash := report(); !strings.Contains(flash, "Thanks: work order #") {
		t.Errorf("after reporting: %q", flash)
	}
	if cards := text("body"); !strings.Contains(cards, "water leak on dc-1") {
		t.Errorf("the new work order is not listed: %s", cards)
	}
	if d := time.Since(start); d > time.Minute {
		t.Errorf("reporting took %s", d)
	}
	// The same problem again: told at once it is already reported.
	if flash := report(); !strings.Contains(flash, "Already reported") {
		t.Errorf("second report: %q", flash)
	}
	// The FM sees it in the list and on its page, with its timeline.
	do(chromedp.Navigate(f.ts.URL+"/login"),
		chromedp.WaitVisible(id("token")),
		chromedp.SendKeys(id("token"), f.tokens["fm"]),
		chromedp.Submit(id("token")),
		chromedp.WaitVisible(chromedp.CSS("table")),
		chromedp.Navigate(f.ts.URL+"/workorders?source=manual"),
		chromedp.WaitVisible(chromedp.CSS("tbody a")),
		chromedp.Click(chromedp.CSS("tbody a")),
		chromedp.WaitVisible(id("timeline")))
	if tl := text("#timeline"); !strings.Contains(tl, "triage") || !strings.Contains(tl, "evidence") {
		t.Errorf("timeline: %s", tl)
	}
}

// TestCheckInFillsPosition: on the work-order page the phone's position
// fills the check-in form (the script is a served file, which the page's
// Content-Security-Policy allows; the inline one was blocked), and the
// check-in records it (issue 15, small things). Chromium's geolocation is
// overridden to the store's door.
func TestCheckInFillsPosition(t *testing.T) {
	d := newDispatchFixture(t)
	w := d.incident(t, "i1", "wic-1", rules.Opened, "P1")
	d.act(t, "polar", w.ID, "accept", `{"technician":"tech-polar"}`, 200)
	ctx := browse(t)
	lat, lon, acc := 41.8801, -87.6301, 8.0
	id := func(s string) chromedp.ID { return chromedp.ID(s) }
	err := chromedp.Do(ctx,
		chromedp.Emulate(device.IPhone12),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			if _, err := cdp.Call(ctx, chromedp.FromContext(ctx).Browser, browser.SetPermission, browser.SetPermissionParams{
				Permission: &browser.PermissionDescriptor{Name: "geolocation"}, Setting: browser.PermissionSettingGranted, Origin: d.ts.URL,
			}); err != nil {
				return err
			}
			_, err := cdp.Call(ctx, tg, emulation.SetGeolocationOverride, emulation.SetGeolocationOverrideParams{Latitude: &lat, Longitude: &lon, Accuracy: &acc})
			return err
		}),
		chromedp.Navigate(d.ts.URL+"/login"),
		chromedp.WaitVisible(id("token")),
		chromedp.SendKeys(id("token"), d.tokens["tech-polar"]),
		chromedp.Submit(id("token")),
		// The list the sign-in lands on: the login page's body is
		// visible too, and navigating on before the redirect loaded
		// aborts it (ERR_ABORTED under load).
		chromedp.WaitVisible(chromedp.CSS("table")),
		chromedp.Navigate(d.ts.URL+"/workorders/"+w.ID),
		chromedp.WaitVisible(id("checkin-form")),
	)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	var got string
	for {
		if got, err = chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('lat').value + ',' + document.getElementById('lon').value`)); err != nil {
			t.Fatal(err)
		}
		if got != "," || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got != "41.8801,-87.6301" {
		t.Fatalf("the check-in form's position is %q, want 41.8801,-87.6301", got)
	}
	if where, _ := chromedp.Run(ctx, chromedp.Text(id("where"))); !strings.Contains(where, "41.88010, -87.63010") {
		t.Errorf("position shown: %q", where)
	}
	// The technician photographs the nameplate with the check-in.
	jpg, _ := testImages(t)
	shot := filepath.Join(t.TempDir(), "nameplate.jpg")
	if err := os.WriteFile(shot, jpg, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.SetValue(id("checkin-photo-kind"), "nameplate"), chromedp.SetUploadFiles(id("checkin-photo"), []string{shot}),
		chromedp.Click(id("check_in")), chromedp.WaitVisible(chromedp.CSS("body"))); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for v := d.wo(t, w.ID); ; v = d.wo(t, w.ID) {
		if v.Status == workorder.InProgress {
			if len(v.Visits) != 1 || v.Visits[0].Lat == nil || *v.Visits[0].Lat != lat || *v.Visits[0].Lon != lon || v.Visits[0].Override != "" {
				t.Errorf("visit %+v", v.Visits)
			} else if ps := v.Visits[0].Photos; len(ps) != 1 || ps[0].Kind != "nameplate" {
				t.Errorf("visit photos %+v, want the nameplate", ps)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not checked in: %s", v.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Checking out is geofenced too: the same script fills the check-out
	// form, and the visit records where it ended. The page shows the
	// visit's photo (a screenshot is kept with FROSTLINE_SCREENSHOTS).
	// The check-in's redirect back to the page is loaded first: a
	// navigation started while it is still loading aborts one of the two
	// (ERR_ABORTED under load).
	if err := chromedp.Do(ctx, chromedp.WaitVisible(id("checkout-form")), chromedp.Navigate(d.ts.URL+"/workorders/"+w.ID), chromedp.WaitVisible(id("checkout-form")),
		chromedp.WaitVisible(chromedp.CSS("figure.visit-photo img"))); err != nil {
		t.Fatal(err)
	}
	loaded, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { const i = document.querySelector('figure.visit-photo img'); return i.complete && i.naturalWidth === 8 })()`))
	if err != nil || !loaded {
		t.Error("the visit's photo does not load on the page")
	}
	keepScreenshot(t, ctx, "workorder-visit-photo.png")
	for deadline = time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if got, err = chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('out-lat').value + ',' + document.getElementById('out-lon').value`)); err != nil {
			t.Fatal(err)
		}
		if got != "," || time.Now().After(deadline) {
			break
		}
	}
	if got != "41.8801,-87.6301" {
		t.Fatalf("the check-out form's position is %q, want 41.8801,-87.6301", got)
	}
	if err := chromedp.Do(ctx, chromedp.Click(id("check_out")), chromedp.WaitVisible(chromedp.CSS("body"))); err != nil {
		t.Fatal(err)
	}
	for deadline = time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		v := d.wo(t, w.ID)
		if v.Status == workorder.Accepted {
			if len(v.Visits) != 1 || v.Visits[0].Out == nil || v.Visits[0].OutLat == nil || *v.Visits[0].OutLat != lat || *v.Visits[0].OutLon != lon {
				t.Errorf("visit after check-out %+v", v.Visits)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not checked out: %s", v.Status)
		}
	}
}

// keepScreenshot saves a full-page screenshot into FROSTLINE_SCREENSHOTS
// (CI keeps that folder as an artefact); without it, nothing is written.
func keepScreenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("FROSTLINE_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return
	}
	err = os.MkdirAll(dir, 0o755)
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, name), png, 0o644)
	}
	if err != nil {
		t.Errorf("screenshot %s: %v", name, err)
	}
}
