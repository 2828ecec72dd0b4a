package http

import (
	"context"
	"encoding/json"
	"io"
	stdhttp "net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/notify"
	"github.com/frostline/frostline/cloud/workorder"
	"github.com/frostline/frostline/rules"
)

// ratingFixture is the dispatch fixture with people on file, the
// notifications planned as the service plans them (a verified work order
// asks its store contact), and the rating links honoured.
type ratingFixture struct {
	*dispatchFixture
	links *notify.Links
}

func newRatingFixture(t *testing.T) *ratingFixture {
	t.Helper()
	ctx := context.Background()
	d := newDispatchFixture(t)
	links, err := notify.NewLinks([]byte(strings.Repeat("R", 32)))
	if err != nil {
		t.Fatal(err)
	}
	tm, err := notify.LoadTemplates()
	if err != nil {
		t.Fatal(err)
	}
	d.srv.links = links
	d.store.NotifyPeople(&notify.Planner{Templates: tm, BaseURL: d.ts.URL, Links: links, LinkTTL: 72 * time.Hour})
	for _, p := range []notify.Person{
		{ID: "ann", Name: "Ann", Role: cloud.RoleStore, Scope: notify.PersonScope{Sites: []string{"s1"}}, Email: "ann@store.example"},
		{ID: "fay", Name: "Fay", Role: cloud.RoleFM, Scope: notify.PersonScope{All: true}, Email: "fay@fm.example"},
	} {
		if err := d.store.PutPerson(ctx, &p); err != nil {
			t.Fatal(err)
		}
	}
	tok, _, err := IssueToken(ctx, d.store, TokenRequest{Role: cloud.RoleStore, Sites: []string{"s1"}, Name: "ana"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	d.tokens["ana"] = tok
	return &ratingFixture{dispatchFixture: d, links: links}
}

// verified takes a P1 on asset through polar's visit to VERIFIED.
func (d *ratingFixture) verified(t *testing.T, incident, asset string) string {
	t.Helper()
	w := d.incident(t, incident, asset, rules.Opened, "P1")
	if w.Vendor != "polar" {
		t.Fatalf("dispatched to %q, want polar", w.Vendor)
	}
	d.act(t, "polar", w.ID, "accept", `{"technician":"tech-polar"}`, 200)
	d.act(t, "tech-polar", w.ID, "check_in", `{"override":"no signal"}`, 200)
	d.act(t, "tech-polar", w.ID, "complete", `{"problem":"no_cooling","cause":"dirty_coil","remedy":"cleaned_coil"}`, 200)
	d.act(t, "fm", w.ID, "verify", "", 200)
	return w.ID
}

// rateToken is the token of the rating link in the store contact's
// verified message about work order id.
func (d *ratingFixture) rateToken(t *testing.T, id string) (notify.Notification, string) {
	t.Helper()
	ns, err := d.store.Notifications(context.Background(), id, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range ns {
		if n.Topic == notify.TopicVerified && n.Person == "ann" {
			_, tok, ok := strings.Cut(n.Text, d.ts.URL+"/rate/")
			if !ok {
				t.Fatalf("the verified message has no rating link:\n%s", n.Text)
			}
			return n, strings.Fields(tok)[0]
		}
	}
	t.Fatalf("no verified message to ann in %+v", ns)
	return notify.Notification{}, ""
}

func (d *ratingFixture) page(t *testing.T, method, path string, form url.Values) (int, string) {
	t.Helper()
	var resp *stdhttp.Response
	var err error
	if method == "GET" {
		resp, err = d.ts.Client().Get(d.ts.URL + path)
	} else {
		resp, err = d.ts.Client().PostForm(d.ts.URL+path, form)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (d *ratingFixture) rating(t *testing.T, who, id string) ratingView {
	t.Helper()
	code, body := d.do(t, who, "GET", "/api/v1/workorders/"+id+"/rating", "")
	if code != 200 {
		t.Fatalf("rating of %s: %d %s", id, code, body)
	}
	var v ratingView
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestRatingLink: the store contact's verified message carries a signed
// link. Opening it only shows the form; a forged, an expired, and an
// acknowledge-shaped use are refused; answering "not fixed" within the
// recall window sends the work order back to polar as a recall and tells
// the FM; the link then works no more (nor does the API for the same
// verification).
func TestRatingLink(t *testing.T) {
	d := newRatingFixture(t)
	id := d.verified(t, "i1", "wic-1")
	if v := d.rating(t, "ana", id); !v.Rateable || v.Rating != nil || v.Status != workorder.Verified {
		t.Fatalf("before any answer: %+v", v)
	}
	n, tok := d.rateToken(t, id)
	if !strings.Contains(n.HTML, "/rate/"+tok) || !strings.Contains(n.HTML, "Rate the visit") {
		t.Errorf("the HTML message lacks the rating button:\n%s", n.HTML)
	}
	answer := url.Values{"fixed": {"no"}, "score": {"2"}, "comment": {"still warm at 9 C"}}
	tests := []struct {
		name, method, path string
		form               url.Values
		code               int
		says               string
	}{
		{"wrong signature", "GET", "/rate/" + tok[:len(tok)-2] + "xx", nil, 404, "not valid"},
		{"wrong signature, posted", "POST", "/rate/" + tok[:len(tok)-2] + "xx", answer, 404, "not valid"},
		{"garbage", "POST", "/rate/nonsense", answer, 404, "not valid"},
		{"expired", "POST", "/rate/" + d.links.Sign(n.ID, t0.Add(-time.Second)), answer, 403, "expired"},
		{"signed for a message that asks nothing", "GET", "/rate/" + d.links.Sign(strings.Replace(n.ID, "/verified/", "/completed/", 1), t0.Add(time.Hour)), nil, 404, ""},
		{"used as an acknowledge link", "POST", "/ack/" + tok, nil, 404, "not valid"},
		{"opened (a mail scanner too): the form, nothing recorded", "GET", "/rate/" + tok, nil, 200, `action="/rate/` + tok + `"`},
		{"no score", "POST", "/rate/" + tok, url.Values{"fixed": {"no"}}, 400, "score"},
		{"answered", "POST", "/rate/" + tok, answer, 200, "goes back to the vendor"},
		{"replayed", "POST", "/rate/" + tok, answer, 409, "Already answered by Ann"},
		{"opened again", "GET", "/rate/" + tok, nil, 200, "Already answered by Ann"},
	}
	for _, tt := range tests {
		code, body := d.page(t, tt.method, tt.path, tt.form)
		if code != tt.code || !strings.Contains(body, tt.says) {
			t.Errorf("%s: %d, want %d saying %q:\n%s", tt.name, code, tt.code, tt.says, body)
		}
		if tt.name == "opened (a mail scanner too): the form, nothing recorded" {
			if v := d.rating(t, "ana", id); v.Rating != nil {
				t.Errorf("opening the link recorded %+v", v.Rating)
			}
		}
	}
	v := d.rating(t, "fm", id)
	if r := v.Rating; r == nil || r.Fixed || r.Score != 2 || r.By != "Ann" || r.Via != "link" || r.Comment != "still warm at 9 C" ||
		r.Outcome != workorder.RatingRecall || r.Vendor != "polar" {
		t.Fatalf("rating %+v", v.Rating)
	}
	if w := d.wo(t, id); w.Status != workorder.Dispatched || w.Vendor != "polar" {
		t.Errorf("not fixed within the window: %s to %q, want dispatched back to polar", w.Status, w.Vendor)
	}
	code, body := d.do(t, "admin", "GET", "/api/v1/workorders/"+id+"/events", "")
	if code != 200 || !strings.Contains(body, `"kind":"rating"`) || !strings.Contains(body, `"action":"reopen"`) {
		t.Errorf("the history lacks the rating and the reopen: %d %s", code, body)
	}
	ns, _ := d.store.Notifications(context.Background(), id, 0)
	told := false
	for _, x := range ns {
		told = told || x.Topic == notify.TopicNotFixed && x.Person == "fay" && strings.Contains(x.Subject, "polar is recalled")
	}
	if !told {
		t.Errorf("the FM was not told: %+v", ns)
	}
	// The same verification cannot be rated twice through the API either.
	if code, body := d.do(t, "ana", "POST", "/api/v1/workorders/"+id+"/rating", `{"fixed":true,"score":5}`); code != 409 {
		t.Errorf("rating a reopened work order: %d %s", code, body)
	}
}

// TestRatingAPI: the store's staff rate a verified visit through the API;
// bad answers name their field, vendors may not rate, the answer is on
// the vendor's scorecard, and one after the recall window is flagged for
// the FM's list, not recalled.
func TestRatingAPI(t *testing.T) {
	d := newRatingFixture(t)
	a := d.verified(t, "i1", "wic-1")
	for _, tt := range []struct {
		who, body string
		code      int
		field     string
	}{
		{"ana", `{"score":5}`, 400, "fixed"},
		{"ana", `{"fixed":true,"score":0}`, 400, "score"},
		{"ana", `{"fixed":true,"score":6}`, 400, "score"},
		{"ana", `{"fixed":true,"score":5,"comment":"` + strings.Repeat("x", workorder.MaxRatingComment+1) + `"}`, 400, "comment"},
		{"ana", `{"fixed":true,"score":5,"stars":5}`, 400, ""},
		{"polar", `{"fixed":true,"score":5}`, 403, ""},
		{"tech-polar", `{"fixed":true,"score":5}`, 403, ""},
	} {
		code, body := d.do(t, tt.who, "POST", "/api/v1/workorders/"+a+"/rating", tt.body)
		if code != tt.code || tt.field != "" && !strings.Contains(body, `"field":"`+tt.field+`"`) {
			t.Errorf("%s %s: %d %s, want %d naming %q", tt.who, tt.body, code, body, tt.code, tt.field)
		}
	}
	code, body := d.do(t, "ana", "POST", "/api/v1/workorders/"+a+"/rating", `{"fixed":true,"score":5,"comment":"cold, thanks"}`)
	if code != 201 || !strings.Contains(body, `"via":"api"`) || !strings.Contains(body, `"by":"ana"`) || !strings.Contains(body, `"rateable":false`) {
		t.Fatalf("rated: %d %s", code, body)
	}

	// A second visit, not fixed 40 days after it was verified.
	b := d.verified(t, "i2", "wic-1")
	d.clock = d.clock.Add(40 * 24 * time.Hour)
	code, body = d.do(t, "ana", "POST", "/api/v1/workorders/"+b+"/rating", `{"fixed":false,"score":1,"comment":"warm again"}`)
	if code != 201 || !strings.Contains(body, `"outcome":"flagged"`) || !strings.Contains(body, `"status":"verified"`) {
		t.Fatalf("not fixed after the window: %d %s", code, body)
	}
	code, body = d.do(t, "fm", "GET", "/api/v1/ratings?outcome=flagged", "")
	var list struct{ Items []workorder.RatedVisit }
	if err := json.Unmarshal([]byte(body), &list); code != 200 || err != nil || len(list.Items) != 1 || list.Items[0].WorkOrder != b || list.Items[0].Comment != "warm again" {
		t.Errorf("the FM's flagged list: %d %s", code, body)
	}
	if code, _ := d.do(t, "fm", "GET", "/api/v1/ratings?outcome=bad", ""); code != 400 {
		t.Errorf("unknown outcome: %d", code)
	}
	code, body = d.do(t, "fm", "GET", "/api/v1/vendors/polar/scorecard", "")
	if code != 200 || !strings.Contains(body, `"ratings":{"count":2,"fixed":{"n":1,"of":2,"value":0.5000},"average":3}`) {
		t.Errorf("polar's scorecard lacks its two ratings: %d %s", code, body)
	}
}

// TestStorePageRating: on a phone, the store page asks about the visit a
// sensor work order was verified after; the form records the answer, which
// the page then shows instead of the form.
func TestStorePageRating(t *testing.T) {
	d := newRatingFixture(t)
	id := d.verified(t, "i1", "wic-1")
	number := strconv.FormatInt(d.wo(t, id).Number, 10)
	b := newTab(t)
	ctx, do, text := b.ctx, b.do, b.text
	browserSignIn(t, ctx, d.ts.URL, d.tokens["ana"], "#reports")
	if v := text("#verified"); !strings.Contains(v, "#"+number) || !strings.Contains(v, "Is it fixed?") {
		t.Fatalf("the store page does not ask about #%s:\n%s", number, v)
	}
	keepScreenshot(t, ctx, "store-page-rating.png")
	form := "#rate-" + number
	do(chromedp.Click(chromedp.CSS(form+` input[name="fixed"][value="yes"]`)),
		chromedp.Click(chromedp.CSS(form+` input[name="score"][value="4"]`)),
		chromedp.SendKeys(chromedp.CSS(form+` textarea[name="comment"]`), "Cold again, thanks"),
		chromedp.Click(chromedp.CSS(form+` button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#flash")))
	if f := text("#flash"); !strings.Contains(f, "Thanks for your answer on work order #"+number) {
		t.Errorf("flash %q", f)
	}
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('form.rate').length`)); n != 0 {
		t.Errorf("%d rating forms still shown", n)
	}
	keepScreenshot(t, ctx, "store-page-rated.png")
	r := d.rating(t, "ana", id).Rating
	if r == nil || !r.Fixed || r.Score != 4 || r.Via != "page" || r.By != "ana" || r.Comment != "Cold again, thanks" {
		t.Errorf("rating %+v", r)
	}
}
