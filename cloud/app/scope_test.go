package app

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestScopeAndAuditOnBothStores: issue 15's items 6, 8 and 9 through the
// API on SQLite and PostgreSQL (cloud/http has the fuller cases on
// SQLite): a store-scoped FM changes no vendor, duplicate_of must name a
// work order the caller sees, and the events' actor is the token's
// principal whatever reporter says.
func TestScopeAndAuditOnBothStores(t *testing.T) {
	for _, tc := range bothStores {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := startCloud(t, tc.db(t))
			c.token("fm-101", `{"role":"fm","sites":["store-101"],"name":"fred"}`)
			c.token("fm", `{"role":"fm","name":"fiona"}`)
			c.token("store", `{"role":"store","sites":["store-101"],"name":"manager"}`)
			vendor := c.must(200, "admin", "GET", "/api/v1/vendors/netfix-controls", "")
			for _, m := range []string{"PUT", "DELETE"} {
				if code, out := c.do("fm-101", m, "/api/v1/vendors/netfix-controls", vendor); code != 403 {
					t.Errorf("a store's FM: %s vendor: %d %s", m, code, out)
				}
			}
			c.must(200, "fm", "PUT", "/api/v1/vendors/netfix-controls", vendor)
			var a, b struct{ ID, Reporter string }
			json.Unmarshal([]byte(c.must(201, "store", "POST", "/api/v1/workorders", `{"site":"store-101","asset":"dilt-6","problem":"lighting","reporter":"the CEO"}`)), &a)
			json.Unmarshal([]byte(c.must(201, "store", "POST", "/api/v1/workorders", `{"site":"store-101","asset":"dilt-6","problem":"door_damage"}`)), &b)
			var ev struct {
				Items []struct{ Kind, Actor string }
			}
			json.Unmarshal([]byte(c.must(200, "admin", "GET", "/api/v1/workorders/"+a.ID+"/events", "")), &ev)
			if a.Reporter != "the CEO" || len(ev.Items) == 0 || ev.Items[0].Actor != "manager" {
				t.Errorf("reporter %q, events %+v: want the token's manager as actor", a.Reporter, ev.Items)
			}
			dup := "/api/v1/workorders/" + b.ID + "/actions/duplicate"
			for _, body := range []string{`{"duplicate_of":"wo_nope"}`, `{"duplicate_of":"` + b.ID + `"}`} {
				if code, out := c.do("fm", "POST", dup, body); code != 400 || !strings.Contains(out, `"field":"duplicate_of"`) {
					t.Errorf("duplicate %s: %d %s", body, code, out)
				}
			}
			c.must(200, "fm", "POST", dup, `{"duplicate_of":"`+a.ID+`","reason":"same case"}`)
		})
	}
}
