package http

import (
	"bytes"
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/store"
	"github.com/frostline/frostline/cloud/workorder"
)

var noRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// signIn posts the login form to base and returns the response (not
// followed).
func signIn(t *testing.T, client *http.Client, base, token string, header http.Header) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/login", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	c := *client
	c.CheckRedirect = noRedirect
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func sessionCookie(resp *http.Response) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == SessionCookie {
			return c
		}
	}
	return nil
}

// session signs who in through the login form and returns the session
// cookie.
func (f *fixture) session(t *testing.T, who string) *http.Cookie {
	t.Helper()
	resp := signIn(t, f.ts.Client(), f.ts.URL, f.tokens[who], nil)
	c := sessionCookie(resp)
	if resp.StatusCode != http.StatusSeeOther || c == nil {
		t.Fatalf("sign in as %s: %d %v", who, resp.StatusCode, resp.Header)
	}
	return c
}

// getPage gets a page with a cookie and returns the status and where it
// redirects.
func getPage(t *testing.T, client *http.Client, base, path string, cookies ...*http.Cookie) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+path, nil)
	for _, c := range cookies {
		req.AddCookie(c)
	}
	c := *client
	c.CheckRedirect = noRedirect
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body) //nolint:errcheck // drained for reuse
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Location")
}

// TestSessionCookie: signing in gives a random session id, not the token,
// in an HttpOnly, SameSite=Strict cookie that lives the session's
// absolute lifetime; the store keeps only its hash; the old cookie that
// carried the token is refused; signing out ends the session on the
// server.
func TestSessionCookie(t *testing.T) {
	f := newFixture(t)
	resp := signIn(t, f.ts.Client(), f.ts.URL, f.tokens["store"], http.Header{"Cookie": {legacyCookie + "=" + f.tokens["store"]}})
	c := sessionCookie(resp)
	if c == nil {
		t.Fatalf("no session cookie: %v", resp.Header)
	}
	if c.Value == f.tokens["store"] || strings.Contains(c.Value, f.tokens["store"]) || !strings.HasPrefix(c.Value, "frs_") || len(c.Value) < 40 {
		t.Errorf("cookie value %q", c.Value)
	}
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Secure || c.Path != "/" || c.MaxAge != int((12*time.Hour).Seconds()) {
		t.Errorf("cookie attributes %+v", c)
	}
	cleared := false
	for _, old := range resp.Cookies() {
		cleared = cleared || (old.Name == legacyCookie && old.MaxAge < 0)
	}
	if !cleared {
		t.Error("the old token cookie was not cleared at sign-in")
	}
	var stored string
	if err := f.store.Reader.QueryRow(`SELECT hash FROM sessions`).Scan(&stored); err != nil || stored != cloud.HashToken(c.Value) {
		t.Errorf("stored %q (%v), want the id's hash", stored, err)
	}
	if code, _ := getPage(t, f.ts.Client(), f.ts.URL, "/store", c); code != 200 {
		t.Errorf("signed in: %d", code)
	}
	// Signing in again from the same browser replaces its session.
	again := sessionCookie(signIn(t, f.ts.Client(), f.ts.URL, f.tokens["store"], http.Header{"Cookie": {c.String()}}))
	if code, to := getPage(t, f.ts.Client(), f.ts.URL, "/store", c); again == nil || again.Value == c.Value || code != 303 || to != "/login?next=%2Fstore" {
		t.Errorf("after signing in again, the old session: %d %s", code, to)
	}
	c = again
	// The raw token as a cookie no longer signs anyone in.
	if code, to := getPage(t, f.ts.Client(), f.ts.URL, "/store", &http.Cookie{Name: legacyCookie, Value: f.tokens["store"]}); code != 303 || to != "/login?next=%2Fstore" {
		t.Errorf("token cookie: %d %s", code, to)
	}
	// Nor does a bad login.
	if resp := signIn(t, f.ts.Client(), f.ts.URL, "frl_nope", nil); resp.StatusCode != 401 || sessionCookie(resp) != nil {
		t.Errorf("bad login: %d", resp.StatusCode)
	}
	// Sign out: the cookie is cleared and the id is dead on the server.
	req, _ := http.NewRequest("POST", f.ts.URL+"/logout", nil)
	req.AddCookie(c)
	client := *f.ts.Client()
	client.CheckRedirect = noRedirect
	out, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	out.Body.Close()
	if gone := sessionCookie(out); out.StatusCode != 303 || gone == nil || gone.MaxAge >= 0 {
		t.Errorf("sign out: %d %+v", out.StatusCode, gone)
	}
	if code, to := getPage(t, f.ts.Client(), f.ts.URL, "/store", c); code != 303 || to != "/login?next=%2Fstore" {
		t.Errorf("copied cookie after sign-out: %d %s", code, to)
	}
	// A cross-site sign-out is refused.
	req, _ = http.NewRequest("POST", f.ts.URL+"/logout", nil)
	req.Header.Set("Origin", "https://evil.example")
	if resp, err := client.Do(req); err != nil || resp.StatusCode != 403 {
		t.Errorf("cross-site sign-out: %v %v", resp, err)
	}
}

// TestSessionTimeouts: idle and absolute timeouts, and revocation of the
// token, end a session.
func TestSessionTimeouts(t *testing.T) {
	f := newFixture(t)
	auth := DefaultAuthConfig()
	auth.SessionIdle, auth.SessionMaxAge = 30*time.Minute, 2*time.Hour
	c := f.withClock(t, Options{Auth: &auth})
	open := func() *http.Cookie {
		resp := signIn(t, c.ts.Client(), c.ts.URL, f.tokens["fm"], nil)
		if sessionCookie(resp) == nil {
			t.Fatalf("sign in: %d", resp.StatusCode)
		}
		return sessionCookie(resp)
	}
	ok := func(what string, ck *http.Cookie, want bool) {
		t.Helper()
		code, _ := getPage(t, c.ts.Client(), c.ts.URL, "/workorders", ck)
		if (code == 200) != want {
			t.Errorf("%s: %d, want signed in %v", what, code, want)
		}
	}
	idle := open()
	c.advance(29 * time.Minute)
	ok("29 minutes idle", idle, true)
	c.advance(29 * time.Minute)
	ok("active 29 minutes ago", idle, true)
	c.advance(30 * time.Minute)
	ok("30 minutes idle", idle, false)
	// Busy all along: still ends at the absolute lifetime.
	busy := open()
	for range 7 {
		c.advance(15 * time.Minute)
		ok("busy", busy, true)
	}
	c.advance(15 * time.Minute)
	ok("two hours after sign-in", busy, false)
	// Revoking the token ends its sessions at once.
	s := open()
	ok("new", s, true)
	if code, _, _ := c.do(t, f.tokens["admin"], "DELETE", "/api/v1/tokens/"+meID(t, c, f.tokens["fm"]), ""); code != 204 {
		t.Fatalf("revoke: %d", code)
	}
	ok("token revoked", s, false)
}

// TestSecureCookie: Secure over TLS, and behind a TLS-terminating proxy
// only when the proxy is trusted; X-Forwarded-Proto from anyone else is
// ignored.
func TestSecureCookie(t *testing.T) {
	f := newFixture(t)
	local := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	proxied := f.withClock(t, Options{TrustedProxies: local})
	direct := f.withClock(t, Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	tlsSrv := httptest.NewUnstartedServer(New(Options{Store: f.store, Intake: &workorder.Intake[store.Tx]{Policy: workorder.DefaultPolicy()},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	tlsClient := tlsSrv.Client()
	tlsClient.Transport.(*http.Transport).TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the test's own certificate
	https := http.Header{"X-Forwarded-Proto": {"https"}}
	for _, tc := range []struct {
		name   string
		client *http.Client
		base   string
		header http.Header
		want   bool
	}{
		{"plain http", f.ts.Client(), f.ts.URL, nil, false},
		{"X-Forwarded-Proto from an untrusted peer", direct.ts.Client(), direct.ts.URL, https, false},
		{"trusted proxy, https", proxied.ts.Client(), proxied.ts.URL, https, true},
		{"trusted proxy, http", proxied.ts.Client(), proxied.ts.URL, http.Header{"X-Forwarded-Proto": {"http"}}, false},
		{"trusted proxy appends to a forged value", proxied.ts.Client(), proxied.ts.URL, http.Header{"X-Forwarded-Proto": {"https, http"}}, false},
		{"TLS", tlsClient, tlsSrv.URL, nil, true},
	} {
		resp := signIn(t, tc.client, tc.base, f.tokens["store"], tc.header)
		c := sessionCookie(resp)
		if c == nil || c.Secure != tc.want {
			t.Errorf("%s: cookie %+v, want Secure %v", tc.name, c, tc.want)
		}
	}
}

func TestClientIP(t *testing.T) {
	s := &Server{proxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32")},
		log: slog.New(slog.DiscardHandler)}
	for _, tc := range []struct{ peer, xff, want string }{
		{"203.0.113.5:4000", "", "203.0.113.5"},
		{"203.0.113.5:4000", "1.2.3.4", "203.0.113.5"}, // not from a proxy: the header is the client's own words
		{"10.1.1.1:4000", "198.51.100.9", "198.51.100.9"},
		{"10.1.1.1:4000", "6.6.6.6, 198.51.100.9", "198.51.100.9"},                 // leftmost is forgeable
		{"10.1.1.1:4000", "198.51.100.9, 192.0.2.7", "198.51.100.9"},               // two proxies
		{"10.1.1.1:4000", "", "10.1.1.1"},                                          // the proxy itself
		{"10.1.1.1:4000", "garbage", "10.1.1.1"},                                   // unreadable: stop at the proxy
		{"[::ffff:10.1.1.1]:4000", "[2001:db8::1]", "10.1.1.1"},                    // brackets are not an address
		{"[2001:db8::2]:4000", "", "2001:db8::2"},                                  // v6 peer
		{"10.1.1.1:4000", "2001:db8::1", "2001:db8::1"},                            // v6 client
		{"10.1.1.1:4000", "::ffff:198.51.100.9", "198.51.100.9"},                   // mapped
		{"10.1.1.1:4000", "198.51.100.9, 10.2.2.2, 10.3.3.3", "198.51.100.9"},      // through the proxy tier
		{"192.0.2.8:4000", "198.51.100.9", "192.0.2.8"},                            // next to, not in, 192.0.2.7/32
		{"10.1.1.1:4000", "198.51.100.9,  198.51.100.10 ", "198.51.100.10"},        // spaces
		{"10.1.1.1:4000", "198.51.100.9, 10.2.2.2, 203.0.113.1", "203.0.113.1"},    // the nearest untrusted
		{"not-an-address", "198.51.100.9", "not-an-address"},                       // whatever the server saw
		{"10.1.1.1:4000", "198.51.100.9:1234", "10.1.1.1"},                         // ports are not allowed
		{"10.1.1.1:4000", "198.51.100.9, 10.2.2.2, garbage, 10.3.3.3", "10.3.3.3"}, // stop at garbage
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.peer
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if got := s.clientIP(r); got != tc.want {
			t.Errorf("peer %s, X-Forwarded-For %q: %s, want %s", tc.peer, tc.xff, got, tc.want)
		}
	}
}

func TestParseProxies(t *testing.T) {
	got, err := ParseProxies([]string{"10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "10.1.2.3/8"})
	if err != nil || len(got) != 4 || got[1].Bits() != 32 || got[3].String() != "10.0.0.0/8" {
		t.Errorf("%v %v", got, err)
	}
	if _, err := ParseProxies([]string{"10.0.0.0/8", "proxy.internal"}); err == nil || !strings.Contains(err.Error(), "trusted_proxies[1]") {
		t.Errorf("bad entry: %v", err)
	}
}

// TestUnlistedProxyWarned: a request forwarded (X-Forwarded-For) by a
// peer that trusted_proxies does not list is answered as from the peer,
// and the log says once how to fix it: all its clients share one address
// for the sign-in backoff.
func TestUnlistedProxyWarned(t *testing.T) {
	var logs bytes.Buffer
	s := &Server{log: slog.New(slog.NewTextHandler(&logs, nil))}
	for range 3 {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = "10.1.1.1:4000"
		r.Header.Set("X-Forwarded-For", "198.51.100.9")
		if got := s.clientAddr(r); got.String() != "10.1.1.1" {
			t.Fatalf("client %s, want the unlisted proxy itself", got)
		}
	}
	if n := strings.Count(logs.String(), "trusted_proxies does not list"); n != 1 || !strings.Contains(logs.String(), "peer=10.1.1.1") {
		t.Errorf("%d warnings, want one naming the peer:\n%s", n, logs.String())
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.1.1.2:4000"
	if s.clientAddr(r); strings.Count(logs.String(), "WARN") != 1 {
		t.Errorf("a direct request warned:\n%s", logs.String())
	}
}

// FuzzForwardedHeaders: whatever a client or proxy writes in
// X-Forwarded-For and X-Forwarded-Proto, the client address is the peer
// or one of the listed addresses, never from an untrusted peer's header,
// and Secure needs a trusted peer.
func FuzzForwardedHeaders(f *testing.F) {
	for _, s := range [][2]string{{"198.51.100.9", "https"}, {"6.6.6.6, 10.2.2.2", "http, https"}, {"", ""}, {"garbage,,", ",,"}, {"2001:db8::1", "HTTPS"}} {
		f.Add(s[0], s[1], true)
		f.Add(s[0], s[1], false)
	}
	s := &Server{proxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, log: slog.New(slog.DiscardHandler)}
	f.Fuzz(func(t *testing.T, xff, xfp string, viaProxy bool) {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = "203.0.113.5:4000"
		if viaProxy {
			r.RemoteAddr = "10.1.1.1:4000"
		}
		r.Header.Set("X-Forwarded-For", xff)
		r.Header.Set("X-Forwarded-Proto", xfp)
		got := s.clientAddr(r)
		if !got.IsValid() {
			t.Fatalf("no address for %q", xff)
		}
		if !viaProxy && got.String() != "203.0.113.5" {
			t.Fatalf("an untrusted peer's header was believed: %s", got)
		}
		listed := false
		for _, hop := range strings.Split(xff, ",") {
			a, err := netip.ParseAddr(strings.TrimSpace(hop))
			listed = listed || (err == nil && a.Unmap() == got)
		}
		if viaProxy && got.String() != "10.1.1.1" && !listed {
			t.Fatalf("%s is neither the peer nor in %q", got, xff)
		}
		if s.secure(r) && !viaProxy {
			t.Fatalf("Secure from an untrusted peer's %q", xfp)
		}
	})
}

// FuzzLoginForm: any form body answers a redirect with a session (a real
// token), 401 or 429; never a 500, never a session for a wrong token.
func FuzzLoginForm(f *testing.F) {
	fx := newFixture(f)
	for _, s := range []string{"token=" + fx.tokens["store"], "token=", "token=%00", "a=b&token=x&token=y", "%zz", strings.Repeat("token=x&", 100)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		req, _ := http.NewRequest("POST", fx.ts.URL+"/login", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		c := *fx.ts.Client()
		c.CheckRedirect = noRedirect
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusSeeOther:
			v, _ := url.ParseQuery(body)
			if sessionCookie(resp) == nil || strings.TrimSpace(v.Get("token")) == "" {
				t.Fatalf("%q: signed in (%v)", body, resp.Header)
			}
		case http.StatusUnauthorized, http.StatusTooManyRequests, http.StatusBadRequest:
		default:
			t.Fatalf("%q: %d", body, resp.StatusCode)
		}
	})
}

// TestLoginTranslated: the sign-in page, the first page store staff see,
// speaks the browser's language or the one chosen on it (remembered, as
// on the store page), keeps the page to go back to in its language links,
// and says a refused token in that language.
func TestLoginTranslated(t *testing.T) {
	f := newFixture(t)
	c := *f.ts.Client()
	c.CheckRedirect = noRedirect
	for _, tc := range []struct {
		name, method, path, accept, cookie string
		status                             int
		lang                               string
		want                               []string
	}{
		{"english by default", "GET", "/login", "", "", 200, "en",
			[]string{"<h1>Sign in</h1>", "Access token", `<strong lang="en">English</strong>`}},
		{"spanish browser", "GET", "/login?next=%2Fstore", "es-ES,es;q=0.9", "", 200, "es",
			[]string{"<title>Iniciar sesión · Frostline</title>", "<h1>Iniciar sesión</h1>", "Token de acceso",
				`href="/login?lang=fr&amp;next=%2Fstore"`, `name="next" value="/store"`}},
		{"chosen on the page", "GET", "/login?lang=fr", "es", "", 200, "fr",
			[]string{"<h1>Se connecter</h1>", "Jeton d&#39;accès"}},
		{"refused token, remembered language", "POST", "/login", "en", "fr", 401, "fr",
			[]string{"Ce jeton n&#39;est pas valide.", "<h1>Se connecter</h1>"}},
		{"refused token, english", "POST", "/login", "", "", 401, "en",
			[]string{"That token is not valid."}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader
			if tc.method == "POST" {
				body = strings.NewReader(url.Values{"token": {"not-a-token"}}.Encode())
			}
			req, _ := http.NewRequest(tc.method, f.ts.URL+tc.path, body)
			if body != nil {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			if tc.accept != "" {
				req.Header.Set("Accept-Language", tc.accept)
			}
			if tc.cookie != "" {
				req.AddCookie(&http.Cookie{Name: "frostline_lang", Value: tc.cookie})
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			page := string(b)
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if !strings.Contains(page, `<html lang="`+tc.lang+`">`) {
				t.Errorf("page not in %s:\n%s", tc.lang, page)
			}
			for _, w := range tc.want {
				if !strings.Contains(page, w) {
					t.Errorf("page lacks %q:\n%s", w, page)
				}
			}
		})
	}
}
