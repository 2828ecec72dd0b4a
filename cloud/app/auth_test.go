package app

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	cloudhttp "github.com/frostline/frostline/cloud/http"
	"github.com/frostline/frostline/cloud/postgres/pgtest"
)

// serve starts a replica on cfg (API and pages only) and stops it at the
// test's end; it returns the replica's base URL.
func serve(t *testing.T, cfg Config) string {
	t.Helper()
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
			t.Errorf("replica: %v", err)
		}
		a.Close()
	})
	return "http://" + a.Addr()
}

// call makes an API request with a bearer token and returns the status and
// body.
func call(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestBootstrapAdminRotation: restarting on the same data with a new
// FROSTLINE_ADMIN_TOKEN replaces the old token (it used to fail with
// "UNIQUE constraint failed: tokens.id" and leave the old one valid).
func TestBootstrapAdminRotation(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.Database.Path = filepath.Join(t.TempDir(), "f.db")
	const first, second = "first-admin-secret-0123456789", "second-admin-secret-0123456789"
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tok := range []string{first, first, second} { // the same secret twice is a plain restart
		cfg.AdminToken = tok
		a, err := New(context.Background(), cfg, log)
		if err != nil {
			t.Fatalf("start with %s: %v", tok[:6], err)
		}
		a.Close()
	}
	url := serve(t, cfg)
	if code, body := call(t, "GET", url+"/api/v1/me", second, ""); code != 200 {
		t.Errorf("new admin token: %d %s", code, body)
	}
	if code, body := call(t, "GET", url+"/api/v1/me", first, ""); code != 401 || !strings.Contains(body, "revoked") {
		t.Errorf("old admin token: %d %s", code, body)
	}
	// Going back to the revoked secret is refused, not a silent revival.
	cfg.AdminToken = first
	if _, err := New(context.Background(), cfg, log); err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Errorf("restart with the revoked secret: %v", err)
	}
}

// TestRevocationAcrossReplicas: a token revoked through one replica is
// refused by the next request on another, on one real database: nothing
// caches a grant per replica.
func TestRevocationAcrossReplicas(t *testing.T) {
	for _, driver := range []string{"sqlite", "postgres"} {
		t.Run(driver, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Listen = "127.0.0.1:0"
			cfg.AdminToken = "replica-admin-secret-0123456789"
			if driver == "postgres" {
				cfg.Database = DatabaseConfig{Driver: "postgres", DSN: pgtest.DSN(t)}
			} else {
				cfg.Database.Path = filepath.Join(t.TempDir(), "f.db")
			}
			a, b := serve(t, cfg), serve(t, cfg)
			code, body := call(t, "POST", a+"/api/v1/tokens", cfg.AdminToken, `{"role":"fm","name":"fiona","ttl":"30d"}`)
			if code != 201 {
				t.Fatalf("issue: %d %s", code, body)
			}
			var issued struct{ Token, ID string }
			if err := json.Unmarshal([]byte(body), &issued); err != nil {
				t.Fatal(err)
			}
			if code, body := call(t, "GET", b+"/api/v1/me", issued.Token, ""); code != 200 {
				t.Fatalf("on the other replica: %d %s", code, body)
			}
			// A page session opened on one replica works on the other, and
			// one signed out on b is over on a.
			cookie := signIn(t, b, issued.Token)
			if code := getPage(t, a, cookie); code != 200 {
				t.Errorf("session from b on a: %d", code)
			}
			out := signIn(t, a, issued.Token)
			req, _ := http.NewRequest("POST", b+"/logout", nil)
			req.AddCookie(out)
			if resp, err := noFollow.Do(req); err != nil || resp.StatusCode != 303 {
				t.Fatalf("sign out: %v %v", resp, err)
			}
			if code := getPage(t, a, out); code != 303 {
				t.Errorf("signed out on b, still in on a: %d", code)
			}
			if code, body := call(t, "DELETE", a+"/api/v1/tokens/"+issued.ID, cfg.AdminToken, ""); code != 204 {
				t.Fatalf("revoke: %d %s", code, body)
			}
			for _, url := range []string{b, a} {
				if code, body := call(t, "GET", url+"/api/v1/me", issued.Token, ""); code != 401 {
					t.Errorf("revoked token on %s: %d %s", url, code, body)
				}
				if code := getPage(t, url, cookie); code != 303 {
					t.Errorf("session of a revoked token on %s: %d", url, code)
				}
			}
			// The list on the other replica shows it revoked, and when it
			// was last used, never a secret.
			code, body = call(t, "GET", b+"/api/v1/tokens", cfg.AdminToken, "")
			if code != 200 || strings.Contains(body, issued.Token) || strings.Contains(body, "hash") {
				t.Fatalf("list: %d %s", code, body)
			}
			var list struct {
				Items []struct {
					ID       string  `json:"id"`
					Revoked  *string `json:"revoked_at"`
					LastUsed *string `json:"last_used_at"`
					Expires  *string `json:"expires_at"`
				}
			}
			if err := json.Unmarshal([]byte(body), &list); err != nil {
				t.Fatal(err)
			}
			found := false
			for _, it := range list.Items {
				if it.ID == issued.ID {
					found = true
					if it.Revoked == nil || it.LastUsed == nil || it.Expires == nil {
						t.Errorf("listed as %s", body)
					}
				}
			}
			if !found {
				t.Errorf("%s not listed: %s", issued.ID, body)
			}
		})
	}
}

var noFollow = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// signIn posts the login form and returns the session cookie.
func signIn(t *testing.T, base, token string) *http.Cookie {
	t.Helper()
	resp, err := noFollow.PostForm(base+"/login", url.Values{"token": {token}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == cloudhttp.SessionCookie {
			return c
		}
	}
	t.Fatalf("sign in: %d, no session cookie", resp.StatusCode)
	return nil
}

// getPage gets the work-order list page with a session cookie: 200 when
// signed in, 303 (to /login) when not.
func getPage(t *testing.T, base string, c *http.Cookie) int {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/workorders", nil)
	req.AddCookie(c)
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body) //nolint:errcheck // drained for reuse
	resp.Body.Close()
	return resp.StatusCode
}
