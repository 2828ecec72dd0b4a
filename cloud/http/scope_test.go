package http

import (
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/workorder"
)

// TestCompanyRegistersNeedAnUnscopedFM: an FM scoped to a region or to
// sites changes neither the vendor register nor the parts catalogue; an
// FM for all regions and an admin do (issue 15, item 6).
func TestCompanyRegistersNeedAnUnscopedFM(t *testing.T) {
	f := newFixture(t)
	const vendor = `{"id":"coolco","name":"Cool Co","kind":"external","trades":["refrigeration"],"coverage":{"sites":["s1"]}}`
	must(t, 201)(f.do(t, "admin", "POST", "/api/v1/vendors", vendor))
	must(t, 201)(f.do(t, "fm", "POST", "/api/v1/parts", `{"number":"FAN-7","description":"fan","unit_cost":40,"supplier":"sup-b"}`))
	for _, tc := range []struct{ method, path, body string }{
		{"PUT", "/api/v1/vendors/coolco", vendor},
		{"DELETE", "/api/v1/vendors/coolco", ""},
		{"POST", "/api/v1/vendors", strings.Replace(vendor, "coolco", "newco", 1)},
		{"POST", "/api/v1/parts", `{"number":"FAN-8","description":"fan","unit_cost":40,"supplier":"sup-b"}`},
		{"PUT", "/api/v1/parts/FAN-7", `{"description":"fan","unit_cost":1,"supplier":"sup-b"}`},
		{"DELETE", "/api/v1/parts/FAN-7", ""},
	} {
		if code, body := f.do(t, "fm-north", tc.method, tc.path, tc.body); code != 403 {
			t.Errorf("a regional FM: %s %s: %d %s", tc.method, tc.path, code, body)
		}
	}
	must(t, 200)(f.do(t, "fm", "PUT", "/api/v1/vendors/coolco", vendor))
	must(t, 200)(f.do(t, "admin", "PUT", "/api/v1/parts/FAN-7", `{"description":"fan","unit_cost":41,"supplier":"sup-b"}`))
	must(t, 204)(f.do(t, "fm", "DELETE", "/api/v1/parts/FAN-7", ""))
}

// TestDuplicateOfNamesARealWorkOrder (issue 15, item 8).
func TestDuplicateOfNamesARealWorkOrder(t *testing.T) {
	f := newFixture(t)
	dup := "/api/v1/workorders/" + f.other + "/actions/duplicate"
	for who, body := range map[string]string{
		"fm":       `{"duplicate_of":"wo_nope"}`,
		"admin":    `{"duplicate_of":"` + f.other + `"}`, // itself
		"fm-north": `{"duplicate_of":"` + f.own + `"}`,   // f.other is at s2, not north: not found at all
	} {
		code, body := f.do(t, who, "POST", dup, body)
		want := 400
		if who == "fm-north" {
			want = 404
		}
		if code != want || (want == 400 && !strings.Contains(body, `"field":"duplicate_of"`)) {
			t.Errorf("%s: %d %s", who, code, body)
		}
	}
	must(t, 200)(f.do(t, "fm", "POST", dup, `{"duplicate_of":"`+f.own+`"}`))
}

// TestReporterIsNotTheActor: the events record the authenticated
// principal; reporter is only the name shown (issue 15, item 9).
func TestReporterIsNotTheActor(t *testing.T) {
	f := newFixture(t)
	body := must(t, 201)(f.do(t, "store", "POST", "/api/v1/workorders", `{"site":"s1","asset":"dc-1","problem":"noise","reporter":"the CEO"}`))
	var wo workorder.WorkOrder
	json.Unmarshal([]byte(body), &wo)
	if wo.Reporter != "the CEO" {
		t.Errorf("reporter %q", wo.Reporter)
	}
	var ev struct{ Items []workorder.Event }
	json.Unmarshal([]byte(must(t, 200)(f.do(t, "admin", "GET", "/api/v1/workorders/"+wo.ID+"/events", ""))), &ev)
	if len(ev.Items) == 0 || ev.Items[0].Kind != workorder.Created || ev.Items[0].Actor != "anna" {
		t.Errorf("the created event's actor: %+v, want the token's anna", ev.Items)
	}
	if code, body := f.do(t, "store", "POST", "/api/v1/workorders", `{"site":"s1","asset":"dc-2","problem":"noise","reporter":"x\ny"}`); code != 400 || !strings.Contains(body, `"field":"reporter"`) {
		t.Errorf("a reporter with a line break: %d %s", code, body)
	}
}

// TestSiteFieldsAndCSVInjection: a site's time zone is an IANA name and
// its name and region plain text of bounded length; a region that looks
// like a formula is escaped in the KPI CSV export (issue 15, item 10).
func TestSiteFieldsAndCSVInjection(t *testing.T) {
	f := newFixture(t)
	for field, body := range map[string]string{
		"timezone": `{"id":"s9","timezone":"Mars/Olympus"}`,
		"name":     `{"id":"s9","name":"` + strings.Repeat("n", 101) + `"}`,
		"region":   `{"id":"s9","region":"north\r\nsouth"}`,
	} {
		if code, out := f.do(t, "admin", "POST", "/api/v1/sites", body); code != 400 || !strings.Contains(out, `"field":"`+field+`"`) {
			t.Errorf("%s: %d %s", field, code, out)
		}
	}
	for _, tz := range []string{"Local", "/etc/localtime", "../../etc/localtime"} {
		if code, _ := f.do(t, "admin", "POST", "/api/v1/sites", `{"id":"s9","timezone":"`+tz+`"}`); code != 400 {
			t.Errorf("timezone %q: %d", tz, code)
		}
	}
	must(t, 201)(f.do(t, "admin", "POST", "/api/v1/sites", `{"id":"s9","name":"Store nine","timezone":"America/Chicago","region":"=HYPERLINK(\"http://evil\",\"x\")"}`))
	must(t, 201)(f.do(t, "admin", "POST", "/api/v1/sites/s9/assets", `{"id":"a1","class":"walk_in_cooler"}`))
	must(t, 201)(f.do(t, "admin", "POST", "/api/v1/workorders", `{"site":"s9","asset":"a1","problem":"noise"}`))
	out := must(t, 200)(f.do(t, "admin", "GET", "/api/v1/analytics/kpis?"+kpiPeriod+"&group_by=region&format=csv", ""))
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, rec := range recs[1:] {
		if strings.Contains(rec[0], "HYPERLINK") {
			found = true
			if rec[0] != cloud.CSVCell(`=HYPERLINK("http://evil","x")`) || !strings.HasPrefix(rec[0], "'") {
				t.Errorf("region cell %q is not escaped", rec[0])
			}
		}
	}
	if !found {
		t.Errorf("no row for the region in %s", out)
	}
}
