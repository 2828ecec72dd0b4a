package http

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/device"
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

// TestStoreReportOnPhone: store staff sign in on a phone-sized screen,
// report a leak, see the work order in their store's list, and are told at
// once when they report the same problem again.
func TestStoreReportOnPhone(t *testing.T) {
	exe := chromium(t)
	f := newFixture(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox,
		chromedp.Flag("headless", true), chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 60*time.Second)
	defer cancel()

	start := time.Now()
	id := func(s string) chromedp.ID { return chromedp.ID(s) }
	do := func(steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatal(err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
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
