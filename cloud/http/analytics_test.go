package http

import (
	"encoding/csv"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/frostline/frostline/cloud"
)

// kpiPeriod covers the fixture's two work orders (created at t0).
const kpiPeriod = "from=2026-06-30&to=2026-07-02"

func TestKPIsScope(t *testing.T) {
	f := newFixture(t)
	// The fixture: "own" at s1 (north) dispatched to coolco and accepted;
	// "other" at s2 (south), unassigned. Each caller counts what it may see.
	for _, tc := range []struct {
		who           string
		created, accs float64
	}{
		{"admin", 2, 1},
		{"fm", 2, 1},
		{"fm-north", 1, 1},
		{"store", 1, 1},
		{"vendor", 1, 1},
		{"tech", 1, 1},
		{"vendor2", 0, 0},
	} {
		code, body := f.do(t, tc.who, "GET", "/api/v1/analytics/kpis?"+kpiPeriod, "")
		if code != 200 {
			t.Fatalf("%s: %d %s", tc.who, code, body)
		}
		var rep struct {
			From, To string
			Rows     []struct {
				Group  map[string]string   `json:"group"`
				Values map[string]*float64 `json:"values"`
			}
		}
		if err := json.Unmarshal([]byte(body), &rep); err != nil {
			t.Fatal(err)
		}
		if tc.created == 0 {
			if len(rep.Rows) != 0 {
				t.Errorf("%s sees %d rows, want none", tc.who, len(rep.Rows))
			}
			continue
		}
		if len(rep.Rows) != 1 {
			t.Fatalf("%s: %d rows, want 1: %s", tc.who, len(rep.Rows), body)
		}
		v := rep.Rows[0].Values
		if got := v["created"]; got == nil || *got != tc.created {
			t.Errorf("%s: created = %v, want %v", tc.who, got, tc.created)
		}
		// The accepted work order was dispatched and accepted at t0
		// (the fixture's clock stands still): one response of 0 h.
		if tc.accs > 0 {
			if got := v["response_accept_hours"]; got == nil || *got != 0 {
				t.Errorf("%s: response_accept_hours = %v, want 0", tc.who, got)
			}
		}
		if got, ok := v["mttr_hours"]; !ok || got != nil {
			t.Errorf("%s: mttr_hours = %v, want null (no repair yet)", tc.who, got)
		}
	}
}

func TestKPIsGroupAndFilter(t *testing.T) {
	f := newFixture(t)
	code, body := f.do(t, "admin", "GET", "/api/v1/analytics/kpis?"+kpiPeriod+"&group_by=region,vendor", "")
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	var rep struct {
		GroupBy []string `json:"group_by"`
		Rows    []struct {
			Group  map[string]string   `json:"group"`
			Values map[string]*float64 `json:"values"`
		}
	}
	if err := json.Unmarshal([]byte(body), &rep); err != nil {
		t.Fatal(err)
	}
	if strings.Join(rep.GroupBy, ",") != "region,vendor" || len(rep.Rows) != 2 {
		t.Fatalf("group_by %v, %d rows: %s", rep.GroupBy, len(rep.Rows), body)
	}
	if g := rep.Rows[0].Group; g["region"] != "north" || g["vendor"] != "coolco" {
		t.Errorf("first row %v, want north/coolco", g)
	}
	if g := rep.Rows[1].Group; g["region"] != "south" || g["vendor"] != "" {
		t.Errorf("second row %v, want south/(none)", g)
	}
	code, body = f.do(t, "admin", "GET", "/api/v1/analytics/kpis?"+kpiPeriod+"&region=south&priority=P2&source=sensor&trade=refrigeration&asset_class=walk_in_cooler", "")
	if code != 200 || !strings.Contains(body, `"created":1,`) {
		t.Errorf("filtered: %d %s", code, body)
	}
	code, body = f.do(t, "admin", "GET", "/api/v1/analytics/kpis?"+kpiPeriod+"&priority=P1", "")
	if code != 200 || !strings.Contains(body, `"rows":[]`) {
		t.Errorf("no P1: %d %s", code, body)
	}
}

func TestKPIsCSV(t *testing.T) {
	f := newFixture(t)
	for _, how := range []struct{ query, accept string }{
		{"&format=csv", ""},
		{"", "text/csv"},
	} {
		req, _ := http.NewRequest("GET", f.ts.URL+"/api/v1/analytics/kpis?"+kpiPeriod+"&group_by=site"+how.query, nil)
		req.Header.Set("Authorization", "Bearer "+f.tokens["admin"])
		if how.accept != "" {
			req.Header.Set("Accept", how.accept)
		}
		resp, err := f.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(resp.Body).ReadAll()
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
			t.Fatalf("%+v: %d %s", how, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if len(recs) != 3 || recs[0][0] != "site" || recs[0][1] != "created" || recs[1][0] != "s1" || recs[2][0] != "s2" {
			t.Fatalf("%+v: %v", how, recs)
		}
		col := map[string]int{}
		for i, h := range recs[0] {
			col[h] = i
		}
		if recs[1][col["created"]] != "1" || recs[1][col["mttr_hours"]] != "" {
			t.Errorf("%+v: s1 created %q, mttr %q; want 1 and empty", how, recs[1][col["created"]], recs[1][col["mttr_hours"]])
		}
	}
}

func TestKPIsBadRequests(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct{ query, field string }{
		{"from=yesterday", "from"},
		{"to=2026-13-01", "to"},
		{"from=2026-07-02&to=2026-07-01", "to"},
		{"from=2000-01-01&to=2026-07-01", "to"},
		{"group_by=colour", "group_by"},
		{"group_by=site,site", "group_by"},
		{"grup_by=site", "grup_by"},
		{"priority=P9", "priority"},
		{"source=psychic", "source"},
		{"trade=magic", "trade"},
		{"asset_class=igloo", "asset_class"},
		{"site=s1&site=s2", "site"},
		{"format=xml", "format"},
	} {
		code, body := f.do(t, "admin", "GET", "/api/v1/analytics/kpis?"+tc.query, "")
		var p struct {
			Field string `json:"field"`
		}
		if err := json.Unmarshal([]byte(body), &p); err != nil {
			t.Fatalf("%s: %v: %s", tc.query, err, body)
		}
		if code != 400 || p.Field != tc.field {
			t.Errorf("%s: %d field %q, want 400 naming %q: %s", tc.query, code, p.Field, tc.field, body)
		}
	}
	if code, _ := f.do(t, "nobody", "GET", "/api/v1/analytics/kpis", ""); code != 401 {
		t.Errorf("without a token: %d, want 401", code)
	}
}

// FuzzKPIQuery: whatever query string a client sends, parsing it either
// refuses it naming a parameter or yields a valid query.
func FuzzKPIQuery(f *testing.F) {
	for _, s := range []string{"", kpiPeriod, "group_by=site,vendor&region=north", "from=2026-01-01&to=2025-01-01",
		"priority=P1&source=sensor&format=csv", "group_by=,", "site=%00", "to=2026-07-01T00:00:00%2B02:00"} {
		f.Add(s)
	}
	now := t0
	f.Fuzz(func(t *testing.T, raw string) {
		r, err := http.NewRequest("GET", "/api/v1/analytics/kpis?"+raw, nil)
		if err != nil {
			return // not a URL a client could send
		}
		q, _, err := parseKPIQuery(r, now)
		if err != nil {
			if cloud.ErrorCode(err) != cloud.EINVALID || cloud.ErrorField(err) == "" {
				t.Fatalf("%q: %v: want an invalid-parameter error naming the parameter", raw, err)
			}
			return
		}
		if err := q.Validate(); err != nil || !q.From.Before(q.To) {
			t.Fatalf("%q: parsed into an invalid query %+v: %v", raw, q, err)
		}
	})
}
