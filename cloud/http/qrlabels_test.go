package http

import (
	"context"
	"io"
	nethttp "net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/device"
)

// zbarimg finds Debian's QR decoder (zbar-tools), skipping (or, with
// CI=true, failing) when it is missing. No Go QR decoder is among the
// project's approved modules; zbar is a real one, as mosquitto is a real
// broker.
func zbarimg(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("zbarimg"); err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("zbarimg is required in CI (apt-get install zbar-tools)")
	}
	t.Skip("zbarimg not installed")
	return ""
}

func TestLocalPath(t *testing.T) {
	for next, want := range map[string]string{
		"/report?asset=s1%2Fwic-1": "/report?asset=s1%2Fwic-1",
		"/workorders/w1":           "/workorders/w1",
		"":                         "",
		"//evil.example/x":         "",
		"https://evil.example/":    "",
		"/\\evil.example":          "",
		"report":                   "",
		"/x\r\nSet-Cookie: a=b":    "",
		"javascript:alert(1)":      "",
	} {
		if got := localPath(next); got != want {
			t.Errorf("localPath(%q) = %q, want %q", next, got, want)
		}
	}
}

func FuzzLocalPath(f *testing.F) {
	for _, s := range []string{"/report?asset=a", "//x", "/\\x", "http://x/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, next string) {
		got := localPath(next)
		if got == "" {
			return
		}
		u, err := url.Parse(got)
		if err != nil || u.Host != "" || u.Scheme != "" || !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") {
			t.Fatalf("localPath(%q) = %q leaves the site", next, got)
		}
	})
}

// page fetches a page as who (by bearer token), without following
// redirects: its status and body.
func (f *fixture) page(t *testing.T, who, path string) (int, string) {
	t.Helper()
	req, _ := nethttp.NewRequest("GET", f.ts.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+f.tokens[who])
	c := &nethttp.Client{CheckRedirect: func(*nethttp.Request, []*nethttp.Request) error { return nethttp.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestLabelsPageAccess(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		who, path string
		want      int
	}{
		{"fm", "/sites/s1/labels", 200},
		{"fm", "/sites/s1/labels?paper=letter", 200},
		{"fm", "/sites/s1/labels?paper=legal", 400},
		{"store", "/sites/s1/labels", 200},
		{"store", "/sites/s2/labels", 404}, // another store's
		{"vendor", "/sites/s1/labels", 403},
		{"fm", "/sites/nowhere/labels", 404},
	} {
		code, body := f.page(t, tc.who, tc.path)
		if code != tc.want {
			t.Errorf("%s GET %s: %d, want %d", tc.who, tc.path, code, tc.want)
			continue
		}
		if code == 200 {
			if n := strings.Count(body, `class="label"`); n != 3 {
				t.Errorf("%s: %d labels, want one per asset (3)", tc.path, n)
			}
			size := "210mm 297mm"
			if strings.Contains(tc.path, "letter") {
				size = "8.5in 11in"
			}
			if !strings.Contains(body, "@page{size:"+size) {
				t.Errorf("%s: no @page size %s", tc.path, size)
			}
		}
	}
}

// TestQRLabelOpensReport: the FM prints a store's labels; the QR code on
// the dairy cooler's label, decoded from the page as Chromium draws it,
// links to the report page with that cooler chosen. A store phone not
// signed in that scans it signs in and lands on that report page.
func TestQRLabelOpensReport(t *testing.T) {
	zbar := zbarimg(t)
	f := newFixture(t)
	b := newTab(t)
	ctx, do := b.ctx, b.do
	id := func(s string) chromedp.ID { return chromedp.ID(s) }
	do(chromedp.EmulateViewport(1000, 1400))
	browserSignIn(t, ctx, f.ts.URL, f.tokens["fm"], "table")
	do(chromedp.Navigate(f.ts.URL+"/sites/s1/labels?paper=letter"),
		chromedp.WaitVisible(chromedp.CSS(`.label[data-asset="wic-1"] svg.qr`)))
	screenshot(t, ctx, "#labels", "qr-labels-letter")
	png := screenshot(t, ctx, `.label[data-asset="wic-1"]`, "qr-label-wic-1")
	out, err := exec.Command(zbar, "--raw", "-q", png).Output()
	if err != nil {
		t.Fatalf("zbarimg found no QR code in %s: %v", png, err)
	}
	link := strings.TrimSpace(string(out))
	if want := f.ts.URL + "/report?asset=s1%2Fwic-1"; link != want {
		t.Fatalf("the label's QR code links to %q, want %q", link, want)
	}

	// A store phone, not signed in, scans it.
	do(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, network.ClearBrowserCookies, cdp.Empty{})
		return err
	}),
		chromedp.Emulate(device.IPhone12),
		chromedp.Navigate(link),
		chromedp.WaitVisible(id("token")))
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); !strings.Contains(loc, "/login?next=") {
		t.Errorf("not signed in, the link went to %s", loc)
	}
	do(chromedp.SendKeys(id("token"), f.tokens["store"]),
		chromedp.Submit(id("token")),
		chromedp.WaitVisible(id("report")))
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); loc != link {
		t.Errorf("after signing in the phone is at %s, want %s", loc, link)
	}
	if v, _ := chromedp.Run(ctx, chromedp.Value(id("asset"))); v != "s1/wic-1" {
		t.Errorf("the report page has %q chosen, want s1/wic-1", v)
	}
}
