package http

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/workorder"
)

// bodyRoute is an endpoint that takes a request body, from the OpenAPI
// document: a new endpoint with a body is fuzzed without being listed.
type bodyRoute struct{ method, path string }

func bodyRoutes(t testing.TB) []bodyRoute {
	t.Helper()
	var doc struct {
		Paths map[string]map[string]struct {
			RequestBody json.RawMessage `json:"requestBody"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	var out []bodyRoute
	for p, ops := range doc.Paths {
		for m, op := range ops {
			if op.RequestBody != nil {
				out = append(out, bodyRoute{strings.ToUpper(m), "/api/v1" + p})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path+out[i].method < out[j].path+out[j].method })
	return out
}

// FuzzAPIBodies sends any body to every endpoint that takes one, as an
// admin or a technician, on a real SQLite store. Invariants (issue 15):
// never a 500; every 4xx is problem+json, and every 400 names the field;
// nothing non-finite or out of range is stored (the work orders and the
// KPI facts still encode, and every stored completion is in range).
func FuzzAPIBodies(f *testing.F) {
	fx, routes := newFixture(f), bodyRoutes(f) // one server and store for every input
	seeds := []string{
		`{"problem":"p","cause":"c","remedy":"r","parts":[{"quantity":1e154,"unit_cost":1e154}]}`,
		`{"problem":"p","cause":"c","remedy":"r","labour":[{"hours":24,"rate":9999}]}`,
		`{"lat":1e308,"lon":-1e308,"override":"x"}`,
		`{"amount":1e308,"description":"x"}`,
		`{"id":"s9","location":{"lat":91,"lon":0},"geofence_m":-1}`,
		`{"class":"walk_in_cooler","replacement_cost":1e400}`,
		`{"id":"v9","name":"V","kind":"external","trades":["hvac"],"coverage":{"sites":["s1"]},"rates":{"hvac":{"hourly":1e308}}}`,
		`[]`, `"x"`, `{} {}`, `{"x":1}`, ``,
	}
	for i, s := range seeds {
		f.Add(uint8(i), uint8(i), i%2 == 0, []byte(s))
	}
	f.Fuzz(func(t *testing.T, route, action uint8, tech bool, body []byte) {
		r := routes[int(route)%len(routes)]
		acts := slices.Clone(apiActions)
		path := strings.NewReplacer(
			"{id}", fx.own, "{action}", string(acts[int(action)%len(acts)]), "{site}", "s1", "{asset}", "wic-1",
			"{number}", "FAN-1", "{part}", "FAN-1",
		).Replace(r.path)
		who := "admin"
		if tech {
			who = "tech"
		}
		req, _ := http.NewRequest(r.method, fx.ts.URL+path, strings.NewReader(string(body)))
		req.Header.Set("Authorization", "Bearer "+fx.tokens[who])
		req.Header.Set("Content-Type", "application/json")
		resp, err := fx.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Fatalf("%s %s %q: %d %s", r.method, path, body, resp.StatusCode, out)
		}
		if resp.StatusCode >= 400 {
			var p Problem
			if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") || json.Unmarshal(out, &p) != nil {
				t.Fatalf("%s %s %q: %d without problem+json: %s", r.method, path, body, resp.StatusCode, out)
			}
			if resp.StatusCode == 400 && p.Field == "" {
				t.Fatalf("%s %s %q: 400 naming no field: %s", r.method, path, body, out)
			}
		}
		// Nothing stored is out of range: every work order still encodes
		// and its completion's lines are what completion accepts.
		ws, err := fx.store.WorkOrders(context.Background(), workorder.Filter{Scope: cloud.Scope{All: true}, Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range ws {
			if _, err := json.Marshal(w); err != nil {
				t.Fatalf("work order %d does not encode: %v", w.Number, err)
			}
			if c := w.Completion; c != nil {
				if err := workorder.ValidLines(c.Parts, c.Labour); err != nil {
					t.Fatalf("work order %d stored a completion out of range: %v", w.Number, err)
				}
			}
		}
		var bad int
		if err := fx.store.Reader.QueryRow(`SELECT count(*) FROM wo_facts WHERE NOT (cost BETWEEN -1e15 AND 1e15) OR NOT (nte BETWEEN -1e15 AND 1e15)`).Scan(&bad); err != nil || bad > 0 {
			t.Fatalf("facts with non-finite numbers: %d (%v)", bad, err)
		}
	})
}
