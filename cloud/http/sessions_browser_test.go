package http

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestSignInAndOutInBrowser: in Chromium, signing in opens a session whose
// cookie scripts cannot read (HttpOnly), and the page's sign-out button
// ends it: the store page sends the browser back to the login form.
func TestSignInAndOutInBrowser(t *testing.T) {
	f := newFixture(t)
	ctx := browse(t)
	do := func(steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatal(err)
		}
	}
	eval := func(js string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	do(chromedp.Navigate(f.ts.URL+"/store"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), f.tokens["store"]),
		chromedp.Submit(chromedp.ID("token")),
		chromedp.WaitVisible(chromedp.ID("new-report")))
	if c := eval(`document.cookie`); strings.Contains(c, SessionCookie) || strings.Contains(c, f.tokens["store"]) {
		t.Errorf("a script can read the session cookie: %q", c)
	}
	var n int
	if err := f.store.Reader.QueryRow(`SELECT count(*) FROM sessions`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("sessions stored: %d %v", n, err)
	}
	do(chromedp.Click(chromedp.CSS("header form button")),
		chromedp.WaitVisible(chromedp.ID("token")))
	if err := f.store.Reader.QueryRow(`SELECT count(*) FROM sessions`).Scan(&n); err != nil || n != 0 {
		t.Errorf("sessions after sign-out: %d %v", n, err)
	}
	do(chromedp.Navigate(f.ts.URL+"/store"),
		chromedp.WaitVisible(chromedp.ID("token")))
	if u := eval(`location.pathname`); u != "/login" {
		t.Errorf("after sign-out, /store shows %s", u)
	}
}
