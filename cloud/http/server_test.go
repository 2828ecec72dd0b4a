package http

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/analytics"
	"github.com/frostline/frostline/cloud/sqlite"
	"github.com/frostline/frostline/cloud/store"
	"github.com/frostline/frostline/cloud/workorder"
	"github.com/frostline/frostline/rules"
)

var t0 = time.Date(2026, 7, 1, 8, 0, 0, 0, time.UTC)

// fixture is a server on a real SQLite store, with two sites, a token per
// role, and two work orders: "own" at s1 dispatched to coolco and accepted
// by technician tom, and "other" at s2, unassigned.
type fixture struct {
	srv    *Server
	ts     *httptest.Server
	store  *sqlite.DB
	tokens map[string]string
	own    string
	other  string
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "f.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	now := t0
	in := &workorder.Intake[store.Tx]{Policy: workorder.DefaultPolicy()}
	srv := New(Options{Store: db, Intake: in, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return now }})
	f := &fixture{srv: srv, store: db, tokens: map[string]string{}}
	f.ts = httptest.NewServer(srv)
	t.Cleanup(f.ts.Close)
	for _, s := range []cloud.Site{
		{ID: "s1", Name: "Store one", Region: "north", Location: &rules.Location{Lat: 52, Lon: 4}},
		{ID: "s2", Name: "Store two", Region: "south"},
	} {
		if err := db.PutSite(ctx, &s); err != nil {
			t.Fatal(err)
		}
		for _, a := range []string{"wic-1", "wic-2", "dc-1"} {
			if err := db.PutAsset(ctx, &cloud.Asset{Site: s.ID, ID: a, Class: "walk_in_cooler", ReplacementCost: 10000, InstalledOn: "2014-01-01", ExpectedLife: 12}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, q := range map[string]TokenRequest{
		"admin":    {Role: cloud.RoleAdmin},
		"fm":       {Role: cloud.RoleFM},
		"fm-north": {Role: cloud.RoleFM, Region: "north"},
		"store":    {Role: cloud.RoleStore, Sites: []string{"s1"}, Name: "anna"},
		"vendor":   {Role: cloud.RoleVendor, Vendor: "coolco"},
		"tech":     {Role: cloud.RoleTechnician, Vendor: "coolco", Name: "tom"},
		"tech2":    {Role: cloud.RoleTechnician, Vendor: "coolco", Name: "tim"}, // tom's colleague
		"vendor2":  {Role: cloud.RoleVendor, Vendor: "frostfix"},
	} {
		tok, _, err := IssueToken(ctx, db, q, now)
		if err != nil {
			t.Fatal(err)
		}
		f.tokens[name] = tok
	}
	for _, ev := range []*rules.Event{
		{Event: rules.Opened, Incident: "i-own", Seq: 1, Site: "s1", Asset: "wic-1", AssetClass: "walk_in_cooler", Rule: "r", Problem: "temp_high", Priority: "P2", Trade: "refrigeration", At: t0, Started: t0},
		{Event: rules.Opened, Incident: "i-other", Seq: 1, Site: "s2", Asset: "wic-1", AssetClass: "walk_in_cooler", Rule: "r", Problem: "temp_high", Priority: "P2", Trade: "refrigeration", At: t0, Started: t0},
	} {
		var res workorder.Result
		err := db.Update(ctx, func(tx store.Tx) error {
			var err error
			res, err = in.Receive(ctx, tx, workorder.FromIncident(ev))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if ev.Site == "s1" {
			f.own = res.WorkOrder.ID
		} else {
			f.other = res.WorkOrder.ID
		}
	}
	// own: released, dispatched to coolco, accepted by tom.
	for _, a := range []struct {
		action string
		who    string
		body   string
	}{{"dispatch", "fm", `{"vendor":"coolco"}`}, {"accept", "vendor", `{"technician":"tom"}`}} {
		err := db.Update(ctx, func(tx store.Tx) error {
			w, _ := tx.WorkOrder(ctx, f.own)
			if w.Status == workorder.Triaged {
				ev, err := workorder.Act(w, workorder.Release, workorder.Input{Actor: "system", Role: workorder.System, At: t0})
				if err != nil {
					return err
				}
				if err := tx.Save(ctx, w, ev); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if code, body := f.do(t, a.who, "POST", "/api/v1/workorders/"+f.own+"/actions/"+a.action, a.body); code != 200 {
			t.Fatalf("%s: %d %s", a.action, code, body)
		}
	}
	return f
}

func (f *fixture) do(t testing.TB, who, method, path, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, f.ts.URL+path, rd)
	if tok, ok := f.tokens[who]; ok {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := f.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 400 && !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
		t.Errorf("%s %s: error %d without problem+json (%s)", method, path, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return resp.StatusCode, string(b)
}

// TestAuthorization is the matrix of endpoint x role x own/other object
// (OWASP API1 object level, API3 property level, API5 function level). An
// object outside the caller's scope answers 404; a function the role may
// not use answers 403.
func TestAuthorization(t *testing.T) {
	f := newFixture(t)
	roles := []string{"admin", "fm", "fm-north", "store", "vendor", "tech", "vendor2", "none"}
	type want map[string][2]int // role -> {own, other}
	all := func(own, other int) want {
		w := want{}
		for _, r := range roles {
			w[r] = [2]int{own, other}
		}
		w["none"] = [2]int{401, 401}
		return w
	}
	with := func(w want, kv ...any) want {
		for i := 0; i < len(kv); i += 3 {
			w[kv[i].(string)] = [2]int{kv[i+1].(int), kv[i+2].(int)}
		}
		return w
	}
	scoped := func(ok int) want { // admin/fm see both; scoped roles only own
		return with(all(ok, 404), "admin", ok, ok, "fm", ok, ok, "vendor2", 404, 404)
	}
	siteScoped := func(ok int) want {
		return with(all(ok, 404), "admin", ok, ok, "fm", ok, ok, "vendor", 404, 404, "tech", 404, 404, "vendor2", 404, 404)
	}
	cases := []struct {
		name, method, path, body string
		want                     want
	}{
		{"get work order", "GET", "/api/v1/workorders/{wo}", "", scoped(200)},
		{"work order events", "GET", "/api/v1/workorders/{wo}/events", "", scoped(200)},
		{"add note", "POST", "/api/v1/workorders/{wo}/notes", `{"text":"hello","visibility":"shared"}`, scoped(201)},
		{"approve (wrong state for own)", "POST", "/api/v1/workorders/{wo}/actions/approve", "",
			with(scoped(409), "store", 403, 404, "vendor", 403, 404, "tech", 403, 404, "fm-north", 409, 404)},
		{"unknown action", "POST", "/api/v1/workorders/{wo}/actions/teleport", "", with(all(404, 404))},
		{"report", "POST", "/api/v1/workorders", `{"site":"{site}","asset":"dc-1","problem":"noise"}`,
			with(all(403, 403), "admin", 2, 2, "fm", 2, 2, "fm-north", 2, 404, "store", 2, 404)},
		{"report on the whole site", "POST", "/api/v1/workorders", `{"site":"{site}","asset":"*","problem":"other"}`,
			with(all(403, 403), "admin", 2, 2, "fm", 2, 2, "fm-north", 2, 404, "store", 2, 404)},
		{"get site", "GET", "/api/v1/sites/{site}", "", siteScoped(200)},
		{"site assets", "GET", "/api/v1/sites/{site}/assets", "", siteScoped(200)},
		{"asset", "GET", "/api/v1/sites/{site}/assets/wic-1", "", siteScoped(200)},
		{"asset history", "GET", "/api/v1/sites/{site}/assets/wic-1/history", "", siteScoped(200)},
		{"put asset", "PUT", "/api/v1/sites/{site}/assets/n-{role}", `{"class":"walk_in_freezer"}`,
			with(siteScoped(200), "store", 403, 404)},
		{"put site", "PUT", "/api/v1/sites/{site}", `{"name":"renamed","region":"{region}"}`, with(siteScoped(200), "store", 403, 404)},
		{"delete asset", "DELETE", "/api/v1/sites/{site}/assets/n-{role}", "", with(siteScoped(204), "store", 403, 404)},
		{"delete unknown site", "DELETE", "/api/v1/sites/{site}x", "", with(all(404, 404), "fm", 403, 403)},
		{"create site", "POST", "/api/v1/sites", `{"id":"new-{site}-{role}"}`, with(all(403, 403), "admin", 201, 201, "fm", 201, 201)},
		{"create token", "POST", "/api/v1/tokens", `{"role":"store","sites":["{site}"]}`, with(all(403, 403), "admin", 201, 201)},
		{"list tokens", "GET", "/api/v1/tokens", "", with(all(403, 403), "admin", 200, 200)},
		{"revoke unknown token", "DELETE", "/api/v1/tokens/tok_none", "", with(all(403, 403), "admin", 404, 404)},
		{"me", "GET", "/api/v1/me", "", all(200, 200)},
		{"the OpenAPI document (public)", "GET", "/api/v1/openapi.json", "", with(all(200, 200), "none", 200, 200)},
		{"analytics kpis", "GET", "/api/v1/analytics/kpis", "", all(200, 200)}, // scoped by content, not refused
		{"analytics labels", "GET", "/api/v1/analytics/labels", "", with(all(200, 200), "vendor", 403, 403, "tech", 403, 403, "vendor2", 403, 403)},
		{"list work orders", "GET", "/api/v1/workorders", "", all(200, 200)},
		{"list sites", "GET", "/api/v1/sites", "", all(200, 200)},
		{"create asset", "POST", "/api/v1/sites/{site}/assets", `{"id":"c-{role}","class":"reach_in_cooler"}`,
			with(siteScoped(201), "store", 403, 404)},
		{"photo", "GET", "/api/v1/workorders/{wo}/photos/ph_none", "", with(all(404, 404))},
		// Webhooks (webhooks_test.go has own/other): managers get 404 for an
		// unknown id ({wo}), store staff and technicians 403.
		{"create webhook", "POST", "/api/v1/webhooks", `{"url":"https://hooks.example.com/{role}","scope":{"sites":["{site}"]}}`,
			with(all(403, 403), "admin", 201, 201, "fm", 201, 201, "fm-north", 201, 400, "vendor", 201, 201, "vendor2", 201, 201, "none", 401, 401)},
		{"list webhooks", "GET", "/api/v1/webhooks", "", with(all(200, 200), "store", 403, 403, "tech", 403, 403)},
		{"get webhook", "GET", "/api/v1/webhooks/{wo}", "", with(all(404, 404), "store", 403, 403, "tech", 403, 403)},
		{"put webhook", "PUT", "/api/v1/webhooks/{wo}", `{"url":"https://hooks.example.com/x"}`, with(all(404, 404), "store", 403, 403, "tech", 403, 403)},
		{"delete webhook", "DELETE", "/api/v1/webhooks/{wo}", "", with(all(404, 404), "store", 403, 403, "tech", 403, 403)},
		{"rotate webhook", "POST", "/api/v1/webhooks/{wo}/rotate", "", with(all(404, 404), "store", 403, 403, "tech", 403, 403)},
		{"webhook deliveries", "GET", "/api/v1/webhooks/{wo}/deliveries", "", with(all(404, 404), "store", 403, 403, "tech", 403, 403)},
		{"replay delivery", "POST", "/api/v1/webhooks/{wo}/deliveries/dl_none/replay", "", with(all(404, 404), "store", 403, 403, "tech", 403, 403)},
		// Maintenance, parts and purchase orders (pm_test.go and
		// purchasing_test.go have the flows): schedule and purchase-order
		// ids that do not exist ({wo}) answer 404 to those who may look.
		{"list schedules", "GET", "/api/v1/pm/schedules", "", with(all(403, 403), "admin", 200, 200, "fm", 200, 200, "fm-north", 200, 200, "store", 200, 200)},
		{"create schedule", "POST", "/api/v1/pm/schedules", `{"name":"n","site":"{site}","asset":"wic-1","rrule":"FREQ=MONTHLY","start":"2026-01-01T00:00:00Z","lead_time":"3d","template":{"trade":"refrigeration"}}`,
			with(all(403, 403), "admin", 201, 201, "fm", 201, 201, "fm-north", 201, 404)},
		{"get schedule", "GET", "/api/v1/pm/schedules/{wo}", "", with(all(403, 403), "admin", 404, 404, "fm", 404, 404, "fm-north", 404, 404, "store", 404, 404)},
		{"put schedule", "PUT", "/api/v1/pm/schedules/{wo}", `{"name":"n","asset_class":"walk_in_cooler","rrule":"FREQ=DAILY","start":"2026-01-01T00:00:00Z","lead_time":"1d","template":{"trade":"hvac"}}`,
			with(all(403, 403), "admin", 404, 404, "fm", 404, 404, "fm-north", 404, 404)},
		{"delete schedule", "DELETE", "/api/v1/pm/schedules/{wo}", "", with(all(403, 403), "admin", 404, 404, "fm", 404, 404, "fm-north", 404, 404)},
		{"forecast without a period", "GET", "/api/v1/pm/forecast", "", with(all(403, 403), "admin", 400, 400, "fm", 400, 400, "fm-north", 400, 400, "store", 400, 400)},
		{"compliance without a period", "GET", "/api/v1/pm/compliance", "", with(all(403, 403), "admin", 400, 400, "fm", 400, 400, "fm-north", 400, 400, "store", 400, 400)},
		{"get store calendar", "GET", "/api/v1/pm/calendars/{site}", "", with(all(403, 403), "admin", 200, 200, "fm", 200, 200, "fm-north", 200, 404, "store", 200, 404)},
		{"put store calendar", "PUT", "/api/v1/pm/calendars/{site}", `{"closed_weekdays":["sun"]}`, with(all(403, 403), "admin", 200, 200, "fm", 200, 200, "fm-north", 200, 404)},
		{"runtime samples", "POST", "/api/v1/pm/runtime/{site}", `{"samples":[{"asset":"wic-1","at":"2026-07-01T09:00:00Z","hours":1,"run_hours":0.5}]}`,
			with(all(403, 403), "admin", 202, 202, "fm", 202, 202, "fm-north", 202, 404)},
		{"checklist on reactive work", "POST", "/api/v1/workorders/{wo}/checklist", `{"signed_by":"x"}`,
			with(all(409, 404), "admin", 409, 409, "fm", 409, 409, "store", 403, 404, "vendor2", 404, 404)},
		{"corrective from reactive work", "POST", "/api/v1/workorders/{wo}/corrective", `{"item":"x"}`,
			with(all(409, 404), "admin", 409, 409, "fm", 409, 409, "store", 403, 403, "vendor2", 404, 404)},
		{"list parts", "GET", "/api/v1/parts", "", with(all(200, 200), "tech", 403, 403)},
		{"create part", "POST", "/api/v1/parts", `{"number":"P-{role}-{site}","description":"d","unit_cost":1,"supplier":"sup"}`,
			with(all(403, 403), "admin", 201, 201, "fm", 201, 201)},
		{"get unknown part", "GET", "/api/v1/parts/{number}", "", with(all(404, 404), "tech", 403, 403)},
		{"put bad part number", "PUT", "/api/v1/parts/{number}", `{"description":"d","unit_cost":1,"supplier":"sup"}`,
			with(all(403, 403), "admin", 400, 400, "fm", 400, 400)},
		{"delete unknown part", "DELETE", "/api/v1/parts/{number}", "", with(all(403, 403), "admin", 404, 404, "fm", 404, 404)},
		{"site stock", "GET", "/api/v1/sites/{site}/stock", "", with(all(403, 403), "admin", 200, 200, "fm", 200, 200, "fm-north", 200, 404, "store", 200, 404)},
		{"stock of an unknown part", "PUT", "/api/v1/sites/{site}/stock/{part}", `{"quantity":1}`,
			with(all(403, 403), "admin", 404, 404, "fm", 404, 404, "fm-north", 404, 404, "store", 404, 404)},
		{"parts for work not in progress", "POST", "/api/v1/workorders/{wo}/parts", `{"parts":[{"part":"nope","quantity":1}]}`,
			with(all(409, 404), "admin", 409, 409, "fm", 409, 409, "store", 403, 403, "vendor2", 404, 404)},
		{"list purchase orders", "GET", "/api/v1/purchase-orders", "", with(all(200, 200), "tech", 403, 403)},
		{"get purchase order", "GET", "/api/v1/purchase-orders/{wo}", "", with(all(404, 404), "tech", 403, 403)},
		{"move purchase order", "POST", "/api/v1/purchase-orders/{wo}/status", `{"status":"approved"}`, with(all(404, 404), "store", 403, 403)},
		{"export without a period", "GET", "/api/v1/exports/{kind}", "", with(all(400, 400), "tech", 403, 403)},
		// The vendor register and dispatch (dispatch_test.go has the flows):
		// coolco is not on file until the PUT; "nobody" never is. The
		// company-wide registers need an admin or an FM for all regions.
		{"list vendors", "GET", "/api/v1/vendors", "", with(all(200, 200), "store", 403, 403)},
		{"expiring documents", "GET", "/api/v1/vendors/expiring", "", with(all(200, 200), "store", 403, 403, "tech", 403, 403)},
		{"get vendor not on file", "GET", "/api/v1/vendors/coolco", "", all(404, 404)},
		{"create vendor", "POST", "/api/v1/vendors", `{"id":"v-{role}-{site}","name":"V","kind":"external","trades":["hvac"],"coverage":{"sites":["{site}"]}}`,
			with(all(403, 403), "admin", 201, 201, "fm", 201, 201)},
		{"put vendor", "PUT", "/api/v1/vendors/coolco", `{"name":"CoolCo","kind":"external","trades":["refrigeration"],"coverage":{"sites":["s1"]}}`,
			with(all(403, 403), "admin", 200, 200, "fm", 200, 200)},
		{"vendor scorecard", "GET", "/api/v1/vendors/coolco/scorecard", "", with(all(404, 404), "admin", 200, 200, "fm", 200, 200, "fm-north", 200, 200, "vendor", 200, 200, "tech", 200, 200)},
		{"delete unknown vendor", "DELETE", "/api/v1/vendors/nobody", "", with(all(403, 403), "admin", 404, 404, "fm", 404, 404)},
		{"dispatch decision (none made here)", "GET", "/api/v1/workorders/{wo}/dispatch", "",
			with(all(403, 404), "admin", 404, 404, "fm", 404, 404, "fm-north", 404, 404, "vendor2", 404, 404)},
		{"quote", "POST", "/api/v1/workorders/{wo}/quote", `{"amount":100,"description":"new fan motor"}`,
			with(all(200, 404), "admin", 200, 409, "fm", 200, 409, "store", 403, 404, "vendor2", 404, 404)},
		{"approve spending without a quote", "POST", "/api/v1/workorders/{wo}/approvals", "",
			with(all(403, 404), "admin", 400, 400, "fm", 400, 400, "fm-north", 400, 404, "vendor2", 404, 404)},
		// People and notifications (people_test.go has the flows): the
		// register is for admins and FMs, edited by an admin or an FM for
		// all regions; the log follows the work order's scope.
		{"list people", "GET", "/api/v1/people", "", with(all(403, 403), "admin", 200, 200, "fm", 200, 200, "fm-north", 200, 200)},
		{"create person", "POST", "/api/v1/people", `{"id":"p-{role}-{site}","name":"P","role":"store","scope":{"sites":["{site}"]},"email":"p@store.example"}`,
			with(all(403, 403), "admin", 201, 201, "fm", 201, 201)},
		{"get unknown person", "GET", "/api/v1/people/nobody", "", with(all(403, 403), "admin", 404, 404, "fm", 404, 404, "fm-north", 404, 404)},
		{"put person", "PUT", "/api/v1/people/q-{role}-{site}", `{"name":"Q","role":"fm","scope":{"region":"{region}"},"email":"q@fm.example"}`,
			with(all(403, 403), "admin", 200, 200, "fm", 200, 200)},
		{"delete unknown person", "DELETE", "/api/v1/people/nobody", "", with(all(403, 403), "admin", 404, 404, "fm", 404, 404)},
		{"notification log", "GET", "/api/v1/notifications?work_order={wo}", "", with(all(403, 403), "admin", 200, 200, "fm", 200, 200, "fm-north", 200, 404)},
		// Invoices (invoices_test.go has the flows): the work orders here are
		// not complete, so a submission is refused by state; an unknown
		// invoice is not found by those who may act on one.
		{"submit invoice before completion", "POST", "/api/v1/workorders/{wo}/invoices", `{"number":"N1","lines":[{"kind":"trip","quantity":1,"unit_price":50}]}`,
			with(all(403, 403), "admin", 409, 409, "vendor", 409, 404, "vendor2", 404, 404)},
		{"list invoices", "GET", "/api/v1/workorders/{wo}/invoices", "", with(all(403, 403), "admin", 200, 200, "fm", 200, 200, "fm-north", 200, 404, "vendor", 200, 404, "vendor2", 404, 404)},
		{"approve unknown invoice", "POST", "/api/v1/invoices/inv_none/approve", "", with(all(403, 403), "admin", 404, 404, "fm", 404, 404, "fm-north", 404, 404)},
		{"export invoices", "GET", "/api/v1/invoices/export", "", with(all(403, 403), "admin", 200, 200, "fm", 200, 200)},
		{"import payments without a header", "POST", "/api/v1/invoices/payments", "", with(all(403, 403), "admin", 400, 400, "fm", 400, 400)},
		// The store's rating: anyone who sees the work order reads it;
		// the store's staff, FMs and admins answer (refused by state
		// here: the work order is not verified); FMs list them.
		{"rating of a work order", "GET", "/api/v1/workorders/{wo}/rating", "", scoped(200)},
		{"rate before verification", "POST", "/api/v1/workorders/{wo}/rating", `{"fixed":true,"score":5}`,
			with(all(403, 403), "admin", 409, 409, "fm", 409, 409, "fm-north", 409, 404, "store", 409, 404)},
		{"list ratings", "GET", "/api/v1/ratings", "", with(all(403, 403), "admin", 200, 200, "fm", 200, 200, "fm-north", 200, 200)},
	}
	// The matrix is generated from the OpenAPI document: every documented
	// operation needs at least one case above and every case must hit a
	// documented operation, so a new endpoint cannot be forgotten (and
	// TestOpenAPIMatchesRoutes keeps the document and the routes equal).
	covered := map[string]bool{}
	ops, mux := documentedOperations(t)
	for _, tc := range cases {
		for _, site := range []string{"s1", "s2"} {
			path := strings.NewReplacer("{wo}", "wo_x", "{site}", site, "{role}", "admin", "{region}", "north").Replace(tc.path)
			_, op := mux.Handler(httptest.NewRequest(tc.method, path, nil))
			if op == "" {
				t.Errorf("case %q (%s %s) matches no operation in openapi.json", tc.name, tc.method, tc.path)
			}
			covered[op] = true
		}
	}
	for _, op := range ops {
		if !covered[op] {
			t.Errorf("%s (openapi.json) has no expectation in the authorization matrix", op)
		}
	}
	for _, tc := range cases {
		for _, role := range roles {
			for i, which := range []string{"own", "other"} {
				wo, site := f.own, "s1"
				if which == "other" {
					wo, site = f.other, "s2"
				}
				region := map[string]string{"s1": "north", "s2": "south"}[site]
				r := strings.NewReplacer("{wo}", wo, "{site}", site, "{role}", role, "{region}", region)
				code, resp := f.do(t, role, tc.method, r.Replace(tc.path), r.Replace(tc.body))
				want := tc.want[role][i]
				if want == 2 && code >= 200 && code < 300 { // created or merged
					continue
				}
				if code != want {
					t.Errorf("%s as %s on %s object: %d, want %d (%s)", tc.name, role, which, code, want, resp)
				}
			}
		}
	}
}

// documentedOperations returns openapi.json's operations as "METHOD
// /api/v1/path" patterns, and a mux that routes a request to its pattern
// as the server would.
func documentedOperations(t *testing.T) ([]string, *http.ServeMux) {
	t.Helper()
	var doc struct {
		Servers []struct{ URL string }    `json:"servers"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	var ops []string
	for p, methods := range doc.Paths {
		for m := range methods {
			op := strings.ToUpper(m) + " " + doc.Servers[0].URL + p
			ops = append(ops, op)
			mux.HandleFunc(op, func(http.ResponseWriter, *http.Request) {})
		}
	}
	sort.Strings(ops)
	if len(ops) < 50 {
		t.Fatalf("only %d operations documented", len(ops))
	}
	return ops, mux
}

func TestListIsScoped(t *testing.T) {
	f := newFixture(t)
	for role, want := range map[string]int{"admin": 2, "fm": 2, "fm-north": 1, "store": 1, "vendor": 1, "tech": 1, "vendor2": 0} {
		code, body := f.do(t, role, "GET", "/api/v1/workorders", "")
		var p struct{ Items []map[string]any }
		json.Unmarshal([]byte(body), &p)
		if code != 200 || len(p.Items) != want {
			t.Errorf("%s sees %d work orders (%d), want %d", role, len(p.Items), code, want)
		}
	}
}

func TestNotesVisibility(t *testing.T) {
	f := newFixture(t)
	f.do(t, "fm", "POST", "/api/v1/workorders/"+f.own+"/notes", `{"text":"budget tight","visibility":"internal"}`)
	f.do(t, "fm", "POST", "/api/v1/workorders/"+f.own+"/notes", `{"text":"gate code 1234","visibility":"shared"}`)
	_, body := f.do(t, "vendor", "GET", "/api/v1/workorders/"+f.own, "")
	if strings.Contains(body, "budget tight") || !strings.Contains(body, "gate code") {
		t.Errorf("vendor sees %s", body)
	}
	_, body = f.do(t, "tech", "GET", "/api/v1/workorders/"+f.own+"/events", "")
	if strings.Contains(body, "budget tight") {
		t.Errorf("technician sees internal note in events")
	}
	_, body = f.do(t, "store", "GET", "/api/v1/workorders/"+f.own, "")
	if !strings.Contains(body, "budget tight") {
		t.Errorf("store staff do not see internal note")
	}
}

func TestReportMerges(t *testing.T) {
	f := newFixture(t)
	code, body := f.do(t, "store", "POST", "/api/v1/workorders", `{"site":"s1","asset":"dc-1","problem":"water_leak","description":"puddle"}`)
	var first map[string]any
	json.Unmarshal([]byte(body), &first)
	if code != 201 || first["merged"] != false || first["source"] != "manual" || first["status"] == "" {
		t.Fatalf("first report: %d %s", code, body)
	}
	code, body = f.do(t, "store", "POST", "/api/v1/workorders", `{"site":"s1","asset":"dc-1","problem":"water_leak","description":"still dripping"}`)
	var second map[string]any
	json.Unmarshal([]byte(body), &second)
	if code != 200 || second["merged"] != true || second["id"] != first["id"] {
		t.Fatalf("second report: %d %s", code, body)
	}
	// A report about a sensor work order's problem merges into it.
	code, body = f.do(t, "store", "POST", "/api/v1/workorders", `{"site":"s1","asset":"wic-1","problem":"not_cold"}`)
	if !strings.Contains(body, f.own) || code != 200 {
		t.Errorf("report on sensor problem: %d %s", code, body)
	}
	for _, k := range []string{"id", "number", "site", "asset", "source", "problem", "trade", "priority", "status", "vendor", "incidents", "evidence", "created_at", "updated_at"} {
		if _, ok := first[k]; !ok {
			t.Errorf("work order JSON lacks %q", k)
		}
	}
}

// TestReportWholeSite: store staff report a problem with the store as a
// whole ("the store is too warm", "gateway offline") against the site
// asset "*", under the same merge rules as any asset.
func TestReportWholeSite(t *testing.T) {
	f := newFixture(t)
	code, body := f.do(t, "store", "POST", "/api/v1/workorders", `{"site":"s1","asset":"*","problem":"not_cold","description":"the store is too warm"}`)
	var first map[string]any
	json.Unmarshal([]byte(body), &first)
	if code != 201 || first["asset"] != "*" || first["source"] != "manual" || first["trade"] != "hvac" {
		t.Fatalf("whole-store report: %d %s", code, body)
	}
	code, body = f.do(t, "store", "POST", "/api/v1/workorders", `{"site":"s1","asset":"*","problem":"not_cold","description":"still warm"}`)
	var second map[string]any
	json.Unmarshal([]byte(body), &second)
	if code != 200 || second["merged"] != true || second["id"] != first["id"] {
		t.Fatalf("second whole-store report: %d %s", code, body)
	}
	// A report of the gateway being offline merges into the controls work
	// order a site-wide gateway_offline incident opened.
	ctx := context.Background()
	var sensor workorder.Result
	err := f.store.Update(ctx, func(tx store.Tx) error {
		var err error
		sensor, err = f.srv.intake.Receive(ctx, tx, workorder.FromIncident(&rules.Event{Event: rules.Opened, Incident: "i-gw", Seq: 1,
			Site: "s1", Asset: rules.SiteAsset, Rule: "gateway_offline", Problem: "gateway_offline", Priority: "P2", At: t0, Started: t0}))
		return err
	})
	if err != nil || sensor.WorkOrder.Trade != "controls" {
		t.Fatalf("gateway_offline incident: %v %+v", err, sensor.WorkOrder)
	}
	code, body = f.do(t, "store", "POST", "/api/v1/workorders", `{"site":"s1","asset":"*","problem":"gateway_offline"}`)
	if code != 200 || !strings.Contains(body, sensor.WorkOrder.ID) || !strings.Contains(body, `"merged":true`) {
		t.Errorf("gateway report: %d %s", code, body)
	}
	// Scope and existence still hold: another store's site, or no site.
	if code, body := f.do(t, "store", "POST", "/api/v1/workorders", `{"site":"s2","asset":"*","problem":"other"}`); code != 404 {
		t.Errorf("whole-site report for another store: %d %s", code, body)
	}
	if code, body := f.do(t, "admin", "POST", "/api/v1/workorders", `{"site":"s9","asset":"*","problem":"other"}`); code != 404 {
		t.Errorf("whole-site report for no site: %d %s", code, body)
	}
	if code, body := f.do(t, "admin", "POST", "/api/v1/workorders", `{"site":"s1","asset":"**","problem":"other"}`); code != 400 || !strings.Contains(body, `"asset"`) {
		t.Errorf("bad asset: %d %s", code, body)
	}
}

func TestIdempotencyKey(t *testing.T) {
	f := newFixture(t)
	send := func() int {
		req, _ := http.NewRequest("POST", f.ts.URL+"/api/v1/workorders", strings.NewReader(`{"site":"s1","asset":"dc-1","problem":"noise"}`))
		req.Header.Set("Authorization", "Bearer "+f.tokens["store"])
		req.Header.Set("Idempotency-Key", "k1")
		resp, err := f.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if a, b := send(), send(); a != 201 || b != 409 {
		t.Errorf("idempotent report: %d then %d", a, b)
	}
}

func TestProblemDetails(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		name, method, path, body string
		status                   int
		field, detail            string
	}{
		{"no token", "GET", "/api/v1/workorders", "", 401, "", "bearer token"},
		{"no such endpoint", "GET", "/api/v1/nope", "", 404, "", "no endpoint"},
		{"unknown field", "POST", "/api/v1/workorders", `{"site":"s1","asset":"dc-1","problem":"noise","colour":"red"}`, 400, "colour", "unknown field"},
		{"wrong type", "POST", "/api/v1/workorders", `{"site":1}`, 400, "site", "want string"},
		{"bad problem", "POST", "/api/v1/workorders", `{"site":"s1","asset":"dc-1","problem":"bored"}`, 400, "problem", "unknown problem"},
		{"unknown asset", "POST", "/api/v1/workorders", `{"site":"s1","asset":"nope","problem":"noise"}`, 404, "", "not found"},
		{"two objects", "POST", "/api/v1/workorders", `{"site":"s1"} {}`, 400, "body", "one JSON object"},
		{"too large", "POST", "/api/v1/workorders", `{"description":"` + strings.Repeat("x", maxReportBody) + `"}`, 413, "", "larger than"},
		{"bad status filter", "GET", "/api/v1/workorders?status=melting", "", 400, "status", "unknown status"},
		{"bad cursor", "GET", "/api/v1/workorders?cursor=zzz", "", 400, "cursor", "cursor"},
		{"bad time", "GET", "/api/v1/workorders?from=yesterday", "", 400, "from", "RFC 3339"},
		{"illegal transition", "POST", "/api/v1/workorders/{own}/actions/verify", "", 409, "", "it is ACCEPTED"},
		{"reason required", "POST", "/api/v1/workorders/{own}/actions/cancel", `{}`, 400, "reason", "reason"},
		{"stale version", "POST", "/api/v1/workorders/{own}/actions/check_out", `{"version":1}`, 409, "", "version"},
		{"geofence", "POST", "/api/v1/workorders/{own}/actions/check_in", `{"lat":53,"lon":4}`, 400, "lat", "from the site"},
	}
	for _, tc := range cases {
		who := "admin"
		if tc.name == "no token" {
			who = "none"
		}
		if strings.Contains(tc.path, "check_in") {
			who = "tech"
		}
		code, body := f.do(t, who, tc.method, strings.ReplaceAll(tc.path, "{own}", f.own), tc.body)
		var p Problem
		json.Unmarshal([]byte(body), &p)
		if code != tc.status || p.Status != tc.status || p.Field != tc.field || !strings.Contains(p.Detail, tc.detail) {
			t.Errorf("%s: %d %+v; want %d field %q detail ~%q", tc.name, code, p, tc.status, tc.field, tc.detail)
		}
	}
}

func TestPagination(t *testing.T) {
	f := newFixture(t)
	for i := range 7 {
		a := fmt.Sprintf("x%d", i)
		if err := f.store.PutAsset(context.Background(), &cloud.Asset{Site: "s1", ID: a, Class: "display_case_mt"}); err != nil {
			t.Fatal(err)
		}
		if code, body := f.do(t, "admin", "POST", "/api/v1/workorders", `{"site":"s1","asset":"`+a+`","problem":"noise"}`); code != 201 {
			t.Fatal(code, body)
		}
	}
	var numbers []float64
	cursor := ""
	for pages := 0; pages < 10; pages++ {
		path := "/api/v1/workorders?site=s1&source=manual&limit=3"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		_, body := f.do(t, "admin", "GET", path, "")
		var p struct {
			Items      []map[string]any `json:"items"`
			NextCursor *string          `json:"next_cursor"`
		}
		if err := json.Unmarshal([]byte(body), &p); err != nil {
			t.Fatal(err)
		}
		for _, it := range p.Items {
			numbers = append(numbers, it["number"].(float64))
		}
		if p.NextCursor == nil {
			break
		}
		cursor = *p.NextCursor
	}
	if len(numbers) != 7 || !sort.IsSorted(sort.Reverse(sort.Float64Slice(numbers))) {
		t.Errorf("paged numbers %v", numbers)
	}
}

func TestLifecycleAndHistory(t *testing.T) {
	f := newFixture(t)
	steps := []struct{ who, action, body string }{
		{"tech", "check_in", `{"lat":52.0004,"lon":4.0003}`},
		{"tech", "hold", `{"reason":"waiting for part"}`},
		{"tech", "resume", ``},
		// $3,200 is above the NTE, and the labour is off any rate table:
		// quoted and approved by someone with the authority first.
		{"tech", "../quote", `{"amount":3200,"description":"fan motor and two hours"}`},
		{"admin", "../approvals", ``},
		{"tech", "complete", `{"problem":"temp_high","cause":"fan_motor_failed","remedy":"replaced_fan_motor","parts":[{"description":"fan motor","quantity":1,"unit_cost":3000}],"labour":[{"hours":2,"rate":100}],"recommendations":"replace unit within a year"}`},
		{"store", "verify", ``},
		{"fm", "close", ``},
	}
	for _, s := range steps {
		if code, body := f.do(t, s.who, "POST", "/api/v1/workorders/"+f.own+"/actions/"+s.action, s.body); code != 200 {
			t.Fatalf("%s by %s: %d %s", s.action, s.who, code, body)
		}
	}
	_, body := f.do(t, "fm", "GET", "/api/v1/sites/s1/assets/wic-1/history", "")
	var h History
	if err := json.Unmarshal([]byte(body), &h); err != nil {
		t.Fatal(err)
	}
	if len(h.WorkOrders) != 1 || h.RepairCost != 3200 || h.WorkOrders[0].Cause != "fan_motor_failed" || h.Verdict.Advice != "replace" ||
		len(h.WorkOrders[0].Parts) != 1 || h.WorkOrders[0].Labour[0].Hours != 2 || h.WorkOrders[0].Recommended == "" {
		t.Errorf("history %s", body)
	}
	_, body = f.do(t, "admin", "GET", "/api/v1/workorders/"+f.own+"/events", "")
	var ev struct{ Items []workorder.Event }
	json.Unmarshal([]byte(body), &ev)
	var actions []string
	for _, e := range ev.Items {
		if e.Kind == workorder.Transition {
			actions = append(actions, string(e.Action)+"/"+e.Actor)
		}
	}
	got := strings.Join(actions, " ")
	for _, want := range []string{"triage/system release/system dispatch/tok_", "check_in/tom hold/tom resume/tom complete/tom start_verifying/system verify/anna close/tok_"} {
		if !strings.Contains(got, want) {
			t.Errorf("transitions %s lack %s", got, want)
		}
	}
}

// TestOpenAPIMatchesRoutes checks the served document against the real
// routes: every route documented, every documented operation routed.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	f := newFixture(t)
	code, body := f.do(t, "none", "GET", "/api/v1/openapi.json", "")
	if code != 200 {
		t.Fatal(code)
	}
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Servers []struct{ URL string }    `json:"servers"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" || doc.Servers[0].URL != "/api/v1" {
		t.Fatalf("document %s at %v", doc.OpenAPI, doc.Servers)
	}
	var documented []string
	for p, ops := range doc.Paths {
		for m := range ops {
			documented = append(documented, strings.ToUpper(m)+" /api/v1"+p)
		}
	}
	routes := slices.Clone(f.srv.Routes())
	slices.Sort(routes)
	slices.Sort(documented)
	if !slices.Equal(routes, documented) {
		t.Errorf("routes and OpenAPI differ:\nroutes:     %v\ndocumented: %v", routes, documented)
	}
	// The report body, which the server decodes strictly, is documented
	// field for field (photo included).
	var schemas struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]json.RawMessage `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal([]byte(body), &schemas); err != nil {
		t.Fatal(err)
	}
	var fields, props []string
	rt := reflect.TypeOf(ReportRequest{})
	for i := range rt.NumField() {
		fields = append(fields, strings.Split(rt.Field(i).Tag.Get("json"), ",")[0])
	}
	for k := range schemas.Components.Schemas["ReportRequest"].Properties {
		props = append(props, k)
	}
	slices.Sort(fields)
	slices.Sort(props)
	if !slices.Equal(fields, props) {
		t.Errorf("ReportRequest fields %v, documented %v", fields, props)
	}
}

// TestReportPhotoJSON: a JSON report carries a photo as a data URL or as
// {content_type, data}, checked and stored as the page's upload is.
func TestReportPhotoJSON(t *testing.T) {
	f := newFixture(t)
	img := pngBytes(t)
	b64 := base64.StdEncoding.EncodeToString(img)
	report := func(asset, photo string) (int, string) {
		return f.do(t, "store", "POST", "/api/v1/workorders",
			`{"site":"s1","asset":"`+asset+`","problem":"water_leak","photo":`+photo+`}`)
	}
	getPhoto := func(body string) {
		t.Helper()
		var wo workorder.WorkOrder
		if err := json.Unmarshal([]byte(body), &wo); err != nil || len(wo.Evidence) == 0 || len(wo.Evidence[len(wo.Evidence)-1].Photos) != 1 {
			t.Fatalf("no photo on %s (%v)", body, err)
		}
		ev := wo.Evidence[len(wo.Evidence)-1]
		req, _ := http.NewRequest("GET", f.ts.URL+"/api/v1/workorders/"+wo.ID+"/photos/"+ev.Photos[0], nil)
		req.Header.Set("Authorization", "Bearer "+f.tokens["store"])
		resp, err := f.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" || !bytes.Equal(got, img) {
			t.Errorf("stored photo: %d %s, %d bytes", resp.StatusCode, resp.Header.Get("Content-Type"), len(got))
		}
	}
	code, body := report("dc-1", `"data:image/png;base64,`+b64+`"`)
	if code != 201 {
		t.Fatalf("data URL: %d %s", code, body)
	}
	getPhoto(body)
	code, body = report("dc-1", `{"content_type":"image/png","data":"`+b64+`"}`)
	if code != 200 {
		t.Fatalf("object (merged): %d %s", code, body)
	}
	getPhoto(body)
	// Refused, naming the field, and nothing filed.
	script := base64.StdEncoding.EncodeToString([]byte("#!/bin/sh\necho not a picture\n"))
	big := base64.StdEncoding.EncodeToString(append(slices.Clone(img), make([]byte, MaxPhoto)...))
	for _, tc := range []struct {
		name, photo string
		code        int
		want        string
	}{
		{"not a picture", `"data:image/png;base64,` + script + `"`, 400, "want a JPEG"},
		{"not base64", `{"data":"%%%"}`, 400, "not base64"},
		{"not a data URL", `"http://example.com/x.png"`, 400, "data URL"},
		{"unknown member", `{"data":"` + b64 + `","url":"x"}`, 400, "data URL"},
		{"claims another type", `{"content_type":"image/jpeg","data":"` + b64 + `"}`, 400, "does not match"},
		{"larger than 6 MB", `"data:image/png;base64,` + big + `"`, 413, "larger than"},
	} {
		code, body := report("wic-2", tc.photo)
		if code != tc.code || !strings.Contains(body, tc.want) || (code == 400 && !strings.Contains(body, `"photo"`)) {
			t.Errorf("%s: %d %s", tc.name, code, body)
		}
	}
	if _, body := f.do(t, "admin", "GET", "/api/v1/workorders?asset=wic-2&site=s1", ""); strings.Contains(body, `"id"`) {
		t.Errorf("a refused report left a work order: %s", body)
	}
}

func FuzzDecodeReport(f *testing.F) {
	f.Add([]byte(`{"site":"s1","asset":"a1","problem":"noise","description":"x"}`))
	f.Add([]byte(`{"site":1}`))
	f.Add([]byte(`{"priority":"P9","problem":"other"} {}`))
	f.Add([]byte(`{"site":"s1","asset":"*","problem":"other","photo":"data:image/png;base64,iVBORw0KGgo="}`))
	f.Add([]byte(`{"photo":{"content_type":"image/png","data":"iVBORw0KGgo=","x":1}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var q ReportRequest
		if err := decodeBody(bytes.NewReader(data), &q); err != nil {
			if c := cloud.ErrorCode(err); c != cloud.EINVALID && c != cloud.ETOOLARGE {
				t.Fatalf("decode error with code %s: %v", c, err)
			}
			return
		}
		if err := q.Validate(); err != nil && cloud.ErrorCode(err) != cloud.EINVALID {
			t.Fatalf("validate error with code %s", cloud.ErrorCode(err))
		}
	})
}

func FuzzDecodeAction(f *testing.F) {
	f.Add([]byte(`{"reason":"x","lat":52.1,"lon":4,"parts":[{"description":"p","quantity":1,"unit_cost":2}]}`))
	f.Add([]byte(`{"labour":[{"hours":"two"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var q ActionRequest
		if err := decodeBody(bytes.NewReader(data), &q); err != nil && cloud.ErrorCode(err) != cloud.EINVALID {
			t.Fatalf("decode error with code %s: %v", cloud.ErrorCode(err), err)
		}
	})
}

func FuzzListFilter(f *testing.F) {
	f.Add("status=in_progress&limit=10&from=2026-07-01T00:00:00Z&cursor=d286MTA")
	f.Fuzz(func(t *testing.T, query string) {
		// Any query string a client can send, parsed as the server does;
		// a string that is no URL at all never reaches the handler.
		values, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		if _, err := parseFilter(values); err != nil && cloud.ErrorCode(err) != cloud.EINVALID {
			t.Fatal(err)
		}
	})
}

// TestOpenAPIKPIValues: the KPI report's values are documented one for
// one: a KPI added to cloud/analytics and not to openapi.json (whose
// KPIValues allows no other property) fails here.
func TestOpenAPIKPIValues(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas struct {
				KPIValues struct {
					Properties map[string]any `json:"properties"`
					Required   []string       `json:"required"`
				} `json:"KPIValues"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	v := doc.Components.Schemas.KPIValues
	documented := slices.Sorted(maps.Keys(v.Properties))
	names := slices.Sorted(slices.Values(analytics.Names))
	if !slices.Equal(documented, names) {
		t.Errorf("KPIValues documents %q,\nthe reports have %q", documented, names)
	}
	if req := slices.Sorted(slices.Values(v.Required)); !slices.Equal(req, names) {
		t.Errorf("KPIValues requires %q, want every KPI", req)
	}
}
