package http

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func pngBytes(t *testing.T) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	img.Set(1, 1, color.RGBA{R: 200, A: 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// postReport sends the store report form as a phone would, photo included.
func (f *fixture) postReport(t *testing.T, who, asset string, photo []byte) *http.Response {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("asset", asset)
	mw.WriteField("problem", "water_leak")
	mw.WriteField("description", "puddle by the dairy case")
	if photo != nil {
		fw, _ := mw.CreateFormFile("photo", "leak.png")
		fw.Write(photo)
	}
	mw.Close()
	req, _ := http.NewRequest("POST", f.ts.URL+"/report", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.AddCookie(f.session(t, who))
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestReportWithPhoto(t *testing.T) {
	f := newFixture(t)
	resp := f.postReport(t, "store", "s1/dc-1", pngBytes(t))
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/store?reported=") {
		t.Fatalf("report: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, body := f.do(t, "store", "GET", "/api/v1/workorders?source=manual", "")
	var p struct{ Items []woView }
	if err := json.Unmarshal([]byte(body), &p); err != nil || len(p.Items) != 1 {
		t.Fatalf("list: %v %s", err, body)
	}
	wo := p.Items[0].WorkOrder
	if len(wo.Evidence) != 1 || len(wo.Evidence[0].Photos) != 1 {
		t.Fatalf("evidence %+v", wo.Evidence)
	}
	path := "/api/v1/workorders/" + wo.ID + "/photos/" + wo.Evidence[0].Photos[0]
	req, _ := http.NewRequest("GET", f.ts.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+f.tokens["fm"])
	r2, err := f.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	img, _ := io.ReadAll(r2.Body)
	r2.Body.Close()
	if r2.StatusCode != 200 || r2.Header.Get("Content-Type") != "image/png" || !bytes.Equal(img, pngBytes(t)) {
		t.Errorf("photo: %d %s", r2.StatusCode, r2.Header.Get("Content-Type"))
	}
	if code, _ := f.do(t, "vendor2", "GET", path, ""); code != 404 {
		t.Errorf("photo outside scope: %d", code)
	}
	// Not a picture: refused, and nothing is filed.
	resp = f.postReport(t, "store", "s1/wic-2", []byte("#!/bin/sh\necho not a picture\n"))
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(page), "want a JPEG") {
		t.Errorf("bad photo: %d %s", resp.StatusCode, page)
	}
	if _, body := f.do(t, "admin", "GET", "/api/v1/workorders?asset=wic-2&site=s1", ""); strings.Contains(body, `"id"`) {
		t.Errorf("a refused report left a work order: %s", body)
	}
	// A store may not report for another store.
	resp = f.postReport(t, "store", "s2/dc-1", nil)
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("report for another site: %d", resp.StatusCode)
	}
}

func TestReportWholeStorePage(t *testing.T) {
	f := newFixture(t)
	req, _ := http.NewRequest("GET", f.ts.URL+"/report", nil)
	req.AddCookie(f.session(t, "store"))
	resp, err := f.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), `<option value="s1/*">Whole store</option>`) || strings.Contains(string(page), "s2/*") {
		t.Errorf("asset picker lacks the whole store (or offers another):\n%s", page)
	}
	resp = f.postReport(t, "store", "s1/*", nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("whole-store report: %d", resp.StatusCode)
	}
	if _, body := f.do(t, "store", "GET", "/api/v1/workorders?source=manual", ""); !strings.Contains(body, `"asset":"*"`) {
		t.Errorf("no whole-store work order: %s", body)
	}
}

func TestPagesNeedSignIn(t *testing.T) {
	f := newFixture(t)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, p := range []string{"/", "/store", "/report", "/workorders", "/workorders/" + f.own} {
		resp, err := client.Get(f.ts.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		want := "/login" // and back to the page once signed in
		if p != "/" {
			want += "?next=" + url.QueryEscape(p)
		}
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
			t.Errorf("%s without sign-in: %d %s", p, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	// A cross-site form post is refused even with the cookie.
	req, _ := http.NewRequest("POST", f.ts.URL+"/report", strings.NewReader("asset=s1/dc-1&problem=noise"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	req.AddCookie(f.session(t, "store"))
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site post: %d", resp.StatusCode)
	}
}

// TestSecurityHeaders: pages are not sniffed and leak no referrer to
// other sites; a new token is never cached (issue 15, small things).
func TestSecurityHeaders(t *testing.T) {
	f := newFixture(t)
	for _, path := range []string{"/workorders", "/workorders/" + f.own, "/login"} {
		req, _ := http.NewRequest("GET", f.ts.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+f.tokens["fm"])
		resp, err := f.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Referrer-Policy") != "same-origin" {
			t.Errorf("%s (%d): X-Content-Type-Options %q, Referrer-Policy %q", path, resp.StatusCode,
				resp.Header.Get("X-Content-Type-Options"), resp.Header.Get("Referrer-Policy"))
		}
	}
	req, _ := http.NewRequest("POST", f.ts.URL+"/api/v1/tokens", strings.NewReader(`{"role":"fm","name":"x"}`))
	req.Header.Set("Authorization", "Bearer "+f.tokens["admin"])
	resp, err := f.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("new token: %d, Cache-Control %q", resp.StatusCode, resp.Header.Get("Cache-Control"))
	}
}
