package http

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/store"
	"github.com/frostline/frostline/cloud/workorder"
)

// clockServer is a second server on the fixture's store with a clock the
// test moves.
type clockServer struct {
	mu  sync.Mutex
	now time.Time
	ts  *httptest.Server
}

func (f *fixture) withClock(t *testing.T, o Options) *clockServer {
	c := &clockServer{now: t0}
	o.Store, o.Intake, o.Now = f.store, &workorder.Intake[store.Tx]{Policy: workorder.DefaultPolicy()}, func() time.Time {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	c.ts = httptest.NewServer(New(o))
	t.Cleanup(c.ts.Close)
	return c
}

func (c *clockServer) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func (c *clockServer) do(t *testing.T, token, method, path, body string) (int, http.Header, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, c.ts.URL+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// TestTokenLifecycle: issue with a lifetime, list without secrets, use
// (last use recorded), expire, revoke (by an admin, or by the holder).
func TestTokenLifecycle(t *testing.T) {
	f := newFixture(t)
	c := f.withClock(t, Options{})
	admin := f.tokens["admin"]
	code, h, body := c.do(t, admin, "POST", "/api/v1/tokens", `{"role":"vendor","vendor":"coolco","name":"dispatch-bot","ttl":"2h"}`)
	if code != 201 || h.Get("Cache-Control") != "no-store" {
		t.Fatalf("issue: %d %v %s", code, h, body)
	}
	var tr struct {
		Token   string    `json:"token"`
		ID      string    `json:"id"`
		Expires time.Time `json:"expires_at"`
	}
	json.Unmarshal([]byte(body), &tr) //nolint:errcheck // checked below
	if !tr.Expires.Equal(t0.Add(2 * time.Hour)) {
		t.Errorf("expires_at %v, want now+2h", tr.Expires)
	}
	if code, _, body := c.do(t, tr.Token, "GET", "/api/v1/me", ""); code != 200 {
		t.Fatalf("new token: %d %s", code, body)
	}
	// The list: the admin's, with ids and clocks and never a secret.
	code, h, body = c.do(t, admin, "GET", "/api/v1/tokens", "")
	if code != 200 || h.Get("Cache-Control") != "no-store" {
		t.Fatalf("list: %d %s", code, body)
	}
	for _, secret := range append([]string{tr.Token}, values(f.tokens)...) {
		if strings.Contains(body, secret) || strings.Contains(body, cloud.HashToken(secret)) {
			t.Fatalf("the list shows a secret or its hash: %s", body)
		}
	}
	var list struct{ Items []cloud.Principal }
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		t.Fatal(err)
	}
	byID := map[string]cloud.Principal{}
	for _, p := range list.Items {
		byID[p.TokenID] = p
	}
	if p := byID[tr.ID]; p.Vendor != "coolco" || p.Name != "dispatch-bot" || p.LastUsed == nil || !p.LastUsed.Equal(t0) || p.Expires == nil {
		t.Errorf("listed %+v", p)
	}
	if len(list.Items) != len(f.tokens)+1 {
		t.Errorf("%d tokens listed, want %d", len(list.Items), len(f.tokens)+1)
	}
	// Expiry, on the server's clock.
	c.advance(2 * time.Hour)
	if code, _, body := c.do(t, tr.Token, "GET", "/api/v1/me", ""); code != 401 || !strings.Contains(body, "expired") {
		t.Errorf("expired token: %d %s", code, body)
	}
	_, _, body = c.do(t, admin, "GET", "/api/v1/tokens?state=active", "")
	if strings.Contains(body, tr.ID) {
		t.Errorf("an expired token listed as active: %s", body)
	}
	// Only an admin revokes another's token; anyone may revoke their own.
	vendorID := meID(t, c, f.tokens["vendor"])
	if code, _, _ := c.do(t, f.tokens["store"], "DELETE", "/api/v1/tokens/"+vendorID, ""); code != 403 {
		t.Errorf("store revoking the vendor's token: %d", code)
	}
	if code, _, _ := c.do(t, f.tokens["vendor"], "DELETE", "/api/v1/tokens/"+vendorID, ""); code != 204 {
		t.Errorf("self-revocation: %d", code)
	}
	if code, _, _ := c.do(t, f.tokens["vendor"], "GET", "/api/v1/me", ""); code != 401 {
		t.Errorf("after self-revocation: %d", code)
	}
	if code, _, _ := c.do(t, admin, "DELETE", "/api/v1/tokens/tok_nope", ""); code != 404 {
		t.Errorf("revoke unknown: %d", code)
	}
	techID := meID(t, c, f.tokens["tech"])
	if code, _, _ := c.do(t, admin, "DELETE", "/api/v1/tokens/"+techID, ""); code != 204 {
		t.Errorf("admin revoking: %d", code)
	}
	if code, _, body := c.do(t, f.tokens["tech"], "GET", "/api/v1/workorders", ""); code != 401 || !strings.Contains(body, "revoked") {
		t.Errorf("after revocation: %d %s", code, body)
	}
}

func values(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func meID(t *testing.T, c *clockServer, token string) string {
	t.Helper()
	code, _, body := c.do(t, token, "GET", "/api/v1/me", "")
	var me cloud.Principal
	if err := json.Unmarshal([]byte(body), &me); code != 200 || err != nil {
		t.Fatalf("me: %d %s", code, body)
	}
	return me.TokenID
}

// TestTokenRequestErrors: a lifetime that is not one answers 400 naming
// the field.
func TestTokenRequestErrors(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct{ body, field string }{
		{`{"role":"fm","ttl":"soon"}`, "ttl"},
		{`{"role":"fm","ttl":"0s"}`, "ttl"},
		{`{"role":"fm","ttl":"-1h"}`, "ttl"},
		{`{"role":"fm","ttl":"4000d"}`, "ttl"},
		{`{"role":"fm","ttl":"1h","expires_at":"2027-01-01T00:00:00Z"}`, "ttl"},
		{`{"role":"fm","expires_at":"tomorrow"}`, "expires_at"},
		{`{"role":"fm","expires_at":"2020-01-01T00:00:00Z"}`, "expires_at"},
		{`{"role":"fm","expires_at":"2999-01-01T00:00:00Z"}`, "expires_at"},
		{`{"role":"fm","expires_at":5}`, "expires_at"},
	} {
		code, body := f.do(t, "admin", "POST", "/api/v1/tokens", tc.body)
		var p Problem
		json.Unmarshal([]byte(body), &p) //nolint:errcheck // checked below
		if code != 400 || p.Field != tc.field {
			t.Errorf("%s: %d field %q (%s), want 400 naming %s", tc.body, code, p.Field, body, tc.field)
		}
	}
	if code, body := f.do(t, "admin", "POST", "/api/v1/tokens", `{"role":"fm","expires_at":"2026-07-02T00:00:00+02:00"}`); code != 201 || !strings.Contains(body, `"expires_at":"2026-07-01T22:00:00Z"`) {
		t.Errorf("expires_at with an offset: %d %s", code, body)
	}
}

// FuzzTokenRequest: no body makes the token endpoint fail with a 500 or a
// 4xx that is not problem+json; a 400 names a field when the body parsed.
func FuzzTokenRequest(f *testing.F) {
	for _, s := range []string{`{"role":"fm","ttl":"1d"}`, `{"role":"store","sites":["s1"],"expires_at":"2027-01-01T00:00:00Z"}`,
		`{"role":"technician","vendor":"v","name":"n","ttl":"1d12h"}`, `{"role":"x"}`, `{`, `[]`, `{"ttl":"99999999999999999999d"}`} {
		f.Add(s)
	}
	fx := newFixture(f)
	f.Fuzz(func(t *testing.T, body string) {
		code, resp := fx.do(t, "admin", "POST", "/api/v1/tokens", body)
		if code >= 500 {
			t.Fatalf("%q: %d %s", body, code, resp)
		}
		if code == 201 {
			var p cloud.Principal
			if err := json.Unmarshal([]byte(resp), &p); err != nil || p.Validate() != nil {
				t.Fatalf("%q: issued %s", body, resp)
			}
		}
	})
}

// touchCounter counts the last-use writes a server asks of its store.
type touchCounter struct {
	Store
	n atomic.Int64
}

func (c *touchCounter) TouchToken(ctx context.Context, id string, at time.Time, every time.Duration) error {
	c.n.Add(1)
	return c.Store.TouchToken(ctx, id, at, every)
}

// BenchmarkAuthenticateBearer: one API request's authentication on SQLite
// (lookup by hash, backoff check, scope), with requests 10 ms apart on the
// server's clock: last use is written once a minute, not per request
// (reported per thousand requests: at most 0.6 at 100 requests a second,
// where writing on every request would be 1000).
func BenchmarkAuthenticateBearer(b *testing.B) {
	f := newFixture(b)
	st := &touchCounter{Store: f.store}
	var mu sync.Mutex
	now := t0
	srv := New(Options{Store: st, Intake: &workorder.Intake[store.Tx]{Policy: workorder.DefaultPolicy()}, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now: func() time.Time { mu.Lock(); defer mu.Unlock(); now = now.Add(10 * time.Millisecond); return now }})
	req := httptest.NewRequest("GET", "/api/v1/me", nil)
	req.Header.Set("Authorization", "Bearer "+f.tokens["fm"])
	b.ResetTimer()
	for b.Loop() {
		if _, err := srv.authenticate(req, false); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(st.n.Load())*1000/float64(b.N), "touches/1000req")
}
