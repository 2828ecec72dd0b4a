package app

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/frostline/frostline/cloud/postgres/pgtest"
)

// cloudClient talks to a running App's API with bearer tokens.
type cloudClient struct {
	t      *testing.T
	base   string
	tokens map[string]string
}

func (c *cloudClient) do(who, method, path, body string) (int, string) {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.tokens[who])
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 400 && !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
		c.t.Errorf("%s %s: %d without problem+json", method, path, resp.StatusCode)
	}
	return resp.StatusCode, string(b)
}

func (c *cloudClient) must(want int, who, method, path, body string) string {
	c.t.Helper()
	code, out := c.do(who, method, path, body)
	if code != want {
		c.t.Fatalf("%s %s by %s: %d, want %d: %s", method, path, who, code, want, out)
	}
	return out
}

// startCloud runs a whole cloud replica (no NATS) on a store, with the
// demo's stores and vendor register, and returns a client with an admin
// token.
func startCloud(t *testing.T, db DatabaseConfig) (*cloudClient, *App) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.Database = db
	cfg.Sites = []string{"../../cmd/frostline/demodata/store-101.yaml"}
	cfg.Vendors = []string{"../../cmd/frostline/demodata/vendors.yaml"}
	cfg.AdminToken = "admin-token-for-the-money-test"
	a, err := New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }() // stopped by the cleanup
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
		a.Close()
	})
	c := &cloudClient{t: t, base: "http://" + a.Addr(), tokens: map[string]string{"admin": cfg.AdminToken}}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(c.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("not ready")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return c, a
}

func (c *cloudClient) token(name, body string) {
	c.t.Helper()
	var r struct{ Token string }
	if err := json.Unmarshal([]byte(c.must(201, "admin", "POST", "/api/v1/tokens", body)), &r); err != nil {
		c.t.Fatal(err)
	}
	c.tokens[name] = r.Token
}

// bothStores are the real stores a test through the API runs on.
var bothStores = []struct {
	name string
	db   func(t *testing.T) DatabaseConfig
}{
	{"sqlite", func(t *testing.T) DatabaseConfig {
		return DatabaseConfig{Driver: "sqlite", Path: filepath.Join(t.TempDir(), "f.db")}
	}},
	{"postgres", func(t *testing.T) DatabaseConfig { return DatabaseConfig{Driver: "postgres", DSN: pgtest.DSN(t)} }},
}

// TestMoneyControls is issue 15's first finding, through the API on both
// stores: in the demo, netfix-controls has an NTE and a rate only for
// controls. A lighting problem goes to it (electrical); it completes with
// $250,000 of parts and 24 h at $9,999, and the store verifies. Before,
// the invoice was $489,976 with no approval. Now the work order carries
// the policy's default NTE for its priority, the completion is refused
// (labour off the rate table, cost above the NTE), an FM cannot approve
// past its limit, and the invoice never exceeds the approved NTE.
func TestMoneyControls(t *testing.T) {
	for _, tc := range bothStores {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := startCloud(t, tc.db(t))
			c.token("store", `{"role":"store","sites":["store-101"],"name":"manager"}`)
			c.token("netfix", `{"role":"vendor","vendor":"netfix-controls","name":"netfix"}`)
			c.token("fm", `{"role":"fm","name":"fiona"}`)
			var wo struct {
				ID         string
				Status     string
				Vendor     string
				Trade      string
				Priority   string
				NTE        float64
				Completion *struct{}
				Invoice    *struct {
					Total, Subtotal float64
					WrittenOff      float64 `json:"written_off"`
				}
			}
			get := func() {
				t.Helper()
				wo.Invoice = nil
				if err := json.Unmarshal([]byte(c.must(200, "admin", "GET", "/api/v1/workorders/"+wo.ID, "")), &wo); err != nil {
					t.Fatal(err)
				}
			}
			body := c.must(201, "store", "POST", "/api/v1/workorders", `{"site":"store-101","asset":"dilt-6","problem":"lighting","priority":"P3","description":"lights out"}`)
			if err := json.Unmarshal([]byte(body), &wo); err != nil {
				t.Fatal(err)
			}
			get()
			if wo.Status != "dispatched" || wo.Vendor != "netfix-controls" || wo.Trade != "electrical" {
				t.Fatalf("the lighting report: %s to %q for %s", wo.Status, wo.Vendor, wo.Trade)
			}
			if wo.NTE != 750 {
				t.Errorf("NTE %v, want the P3 default of 750 (the vendor has none for electrical)", wo.NTE)
			}
			act := "/api/v1/workorders/" + wo.ID + "/actions/"
			c.must(200, "netfix", "POST", act+"accept", `{"technician":"nia"}`)
			c.must(200, "netfix", "POST", act+"check_in", `{"override":"testing"}`)
			const runaway = `{"problem":"lighting","cause":"ballast","remedy":"replaced","parts":[{"description":"ballast","quantity":1,"unit_cost":250000}],"labour":[{"hours":24,"rate":9999}]}`
			code, out := c.do("netfix", "POST", act+"complete", runaway)
			if code != 409 || !strings.Contains(out, `"field":"labour[0].rate"`) {
				t.Fatalf("the runaway completion: %d %s", code, out)
			}
			// Without labour the parts alone are above the NTE.
			code, out = c.do("netfix", "POST", act+"complete", `{"problem":"lighting","cause":"ballast","remedy":"replaced","parts":[{"description":"ballast","quantity":1,"unit_cost":250000}]}`)
			if code != 409 || !strings.Contains(out, `"field":"parts"`) {
				t.Fatalf("parts above the NTE: %d %s", code, out)
			}
			// A quote above the NTE waits; the FM's limit does not cover it,
			// the admin's does.
			c.must(200, "netfix", "POST", "/api/v1/workorders/"+wo.ID+"/quote", `{"amount":3000,"description":"ballasts for the whole case, 6 h"}`)
			if code, out := c.do("fm", "POST", "/api/v1/workorders/"+wo.ID+"/approvals", ``); code != 403 {
				t.Fatalf("an FM approving $3,000 past a $2,500 limit: %d %s", code, out)
			}
			if code, _ := c.do("netfix", "POST", "/api/v1/workorders/"+wo.ID+"/approvals", `{"amount":1e9}`); code != 403 {
				t.Fatalf("a vendor approving its own quote: %d", code)
			}
			c.must(200, "admin", "POST", "/api/v1/workorders/"+wo.ID+"/approvals", `{"reason":"whole case"}`)
			get()
			if wo.NTE != 3000 {
				t.Fatalf("NTE after approval %v", wo.NTE)
			}
			// Still not $489,976.
			if code, out := c.do("netfix", "POST", act+"complete", runaway); code != 409 {
				t.Fatalf("the runaway completion after a $3,000 approval: %d %s", code, out)
			}
			c.must(200, "netfix", "POST", act+"complete", `{"problem":"lighting","cause":"ballast","remedy":"replaced","parts":[{"description":"ballast","quantity":4,"unit_cost":450}],"labour":[{"hours":6,"rate":180}]}`)
			c.must(200, "store", "POST", act+"verify", ``)
			get()
			if wo.Invoice == nil || wo.Invoice.Total != 2880 || wo.Invoice.Total > wo.NTE {
				t.Fatalf("invoice %+v under NTE %v, want 1,800 parts + 1,080 approved labour", wo.Invoice, wo.NTE)
			}
		})
	}
}
