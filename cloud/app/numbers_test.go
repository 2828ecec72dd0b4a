package app

import (
	"context"
	"database/sql"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/frostline/frostline/cloud/postgres"
	"github.com/frostline/frostline/cloud/sqlite"
	"github.com/frostline/frostline/cloud/store"
	"github.com/frostline/frostline/cloud/workorder"
)

// TestNumbersAtTheEdge: non-finite or huge numbers are refused with a 400
// naming the field, through the API on both stores (issue 15, item 2).
func TestNumbersAtTheEdge(t *testing.T) {
	for _, tc := range bothStores {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := startCloud(t, tc.db(t))
			c.token("netfix", `{"role":"vendor","vendor":"netfix-controls","name":"netfix"}`)
			c.token("store", `{"role":"store","sites":["store-101"],"name":"manager"}`)
			id := reportAndCheckIn(t, c)
			act := "/api/v1/workorders/" + id + "/actions/"
			for _, tt := range []struct{ who, path, body, field string }{
				{"netfix", act + "complete", `{"problem":"p","cause":"c","remedy":"r","parts":[{"quantity":1e154,"unit_cost":1e154}]}`, "parts[0].quantity"},
				{"netfix", act + "complete", `{"problem":"p","cause":"c","remedy":"r","parts":[{"quantity":1,"unit_cost":1e154}]}`, "parts[0].unit_cost"},
				{"netfix", act + "complete", `{"problem":"p","cause":"c","remedy":"r","parts":[{"quantity":1,"unit_cost":1e400}]}`, "parts.unit_cost"},
				{"netfix", act + "complete", `{"problem":"p","cause":"c","remedy":"r","labour":[{"hours":1e300,"rate":1}]}`, "labour[0].hours"},
				{"netfix", act + "complete", `{"problem":"p","cause":"c","remedy":"r","labour":[{"hours":1,"rate":-1}]}`, "labour[0].rate"},
				{"netfix", act + "hold", `{"reason":"x","lat":91,"lon":0}`, "lat"},
				{"netfix", act + "hold", `{"reason":"x","lat":1,"lon":1e300}`, "lon"},
				{"netfix", "/api/v1/workorders/" + id + "/quote", `{"amount":1e300,"description":"x"}`, "amount"},
				{"admin", "/api/v1/workorders/" + id + "/approvals", `{"amount":1e300}`, "amount"},
				{"admin", "/api/v1/sites/store-101/assets/dilt-6", `{"class":"display_case_lt","replacement_cost":1e300}`, "replacement_cost"},
				{"admin", "/api/v1/sites/store-101/assets/dilt-6", `{"class":"display_case_lt","expected_life_years":1e9}`, "expected_life_years"},
				{"admin", "/api/v1/sites/store-101", `{"id":"store-101","location":{"lat":95,"lon":0}}`, "location"},
				{"admin", "/api/v1/sites/store-101", `{"id":"store-101","geofence_m":1e308}`, "geofence_m"},
			} {
				method := "POST"
				if strings.HasPrefix(tt.path, "/api/v1/sites/") {
					method = "PUT"
				}
				code, out := c.do(tt.who, method, tt.path, tt.body)
				if code != 400 || !strings.Contains(out, `"field":"`+tt.field+`"`) {
					t.Errorf("%s %s: %d %s, want 400 naming %s", tt.path, tt.body, code, out, tt.field)
				}
			}
		})
	}
}

// reportAndCheckIn files the demo's lighting report on store-101/dilt-6
// and has netfix-controls accept it and check in.
func reportAndCheckIn(t *testing.T, c *cloudClient) string {
	t.Helper()
	var wo struct{ ID string }
	if err := json.Unmarshal([]byte(c.must(201, "store", "POST", "/api/v1/workorders", `{"site":"store-101","asset":"dilt-6","problem":"lighting","priority":"P3"}`)), &wo); err != nil {
		t.Fatal(err)
	}
	act := "/api/v1/workorders/" + wo.ID + "/actions/"
	c.must(200, "netfix", "POST", act+"accept", `{"technician":"nia"}`)
	c.must(200, "netfix", "POST", act+"check_in", `{"override":"testing"}`)
	return wo.ID
}

// TestStoredBadNumbersBreakNoReport: a completion an older release stored
// with parts of 1e154 x 1e154 (whose cost overflows to +Inf), and a +Inf
// cost in the facts table, break neither the asset's history, the KPIs,
// the cost export nor verification (issue 15, item 2).
func TestStoredBadNumbersBreakNoReport(t *testing.T) {
	for _, tc := range bothStores {
		t.Run(tc.name, func(t *testing.T) {
			c, a := startCloud(t, tc.db(t))
			c.token("netfix", `{"role":"vendor","vendor":"netfix-controls","name":"netfix"}`)
			c.token("store", `{"role":"store","sites":["store-101"],"name":"manager"}`)
			id := reportAndCheckIn(t, c)
			ctx := context.Background()
			raw := &workorder.Completion{Problem: "lighting", Cause: "ballast", Remedy: "replaced",
				Parts: []workorder.Part{{Description: "a", Quantity: 1e154, UnitCost: 1e154}, {Description: "b", Quantity: 1e154, UnitCost: 1e154}, {Description: "fuse", Quantity: 1, UnitCost: 5}}}
			err := a.Store().Update(ctx, func(tx store.Tx) error {
				w, err := tx.WorkOrder(ctx, id)
				if err != nil {
					return err
				}
				e := workorder.Event{WorkOrder: id, Version: w.Version + 1, Kind: workorder.Transition, Action: workorder.Complete,
					From: workorder.InProgress, To: workorder.WorkComplete, Actor: "an older release", At: time.Now().UTC(), Completion: raw}
				if err := w.Apply(&e); err != nil {
					return err
				}
				w.Completion = raw // the projection as an older release stored it
				return tx.Save(ctx, w, []workorder.Event{e})
			})
			if err != nil {
				t.Fatal(err)
			}
			var db *sql.DB
			switch s := a.Store().(type) {
			case *sqlite.DB:
				db = s.Writer
			case *postgres.DB:
				db = s.Writer
			}
			if _, err := db.ExecContext(ctx, `UPDATE wo_facts SET cost = $1`, math.Inf(1)); err != nil {
				t.Fatal(err)
			}
			window := "from=" + time.Now().UTC().Add(-24*time.Hour).Format(time.RFC3339) + "&to=" + time.Now().UTC().Add(24*time.Hour).Format(time.RFC3339)
			for _, path := range []string{
				"/api/v1/sites/store-101/assets/dilt-6/history",
				"/api/v1/workorders/" + id,
				"/api/v1/analytics/kpis",
				"/api/v1/analytics/kpis?group_by=region",
				"/api/v1/exports/workorder-costs?" + window,
				"/api/v1/exports/workorder-costs?format=csv&" + window,
				"/api/v1/vendors/netfix-controls/scorecard",
			} {
				if code, out := c.do("admin", "GET", path, ""); code != 200 {
					t.Errorf("GET %s: %d %s", path, code, out)
				}
			}
			out := c.must(200, "store", "POST", "/api/v1/workorders/"+id+"/actions/verify", ``)
			if !strings.Contains(out, `"status":"verified"`) {
				t.Errorf("verify: %s", out)
			}
			var wo struct{ Invoice *struct{ Total float64 } }
			json.Unmarshal([]byte(c.must(200, "admin", "GET", "/api/v1/workorders/"+id, "")), &wo)
			if wo.Invoice == nil || wo.Invoice.Total != 5 {
				t.Errorf("invoice %+v, want the fuse's $5 (the overflowing lines count as nothing)", wo.Invoice)
			}
		})
	}
}
