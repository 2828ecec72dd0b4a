package http

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestLimiterGrowsDecaysAndIsBounded(t *testing.T) {
	cfg := BackoffConfig{Free: 3, Base: time.Second, Max: 8 * time.Second, HalfLife: time.Minute, MaxTracked: 16}
	l := newLimiter(cfg)
	now := t0
	// Three free failures, then 1s, 2s, 4s, 8s, 8s (the cap).
	var got []time.Duration
	for range 8 {
		got = append(got, l.fail(now, "ip:a"))
		now = now.Add(time.Millisecond)
	}
	want := []time.Duration{0, 0, 0, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second}
	for i := range want {
		if d := got[i] - want[i]; d < -10*time.Millisecond || d > 10*time.Millisecond {
			t.Errorf("failure %d: backoff %s, want %s (all %v)", i+1, got[i], want[i], got)
		}
	}
	if d := l.wait(now, "ip:b", "ip:a"); d < 7*time.Second {
		t.Errorf("wait %s, want the longest of the keys", d)
	}
	if d := l.wait(now, "ip:b"); d != 0 {
		t.Errorf("another key waits %s", d)
	}
	// Forgotten by half every minute: after ten minutes the next failure
	// is free again.
	now = now.Add(10 * time.Minute)
	if d := l.wait(now, "ip:a"); d != 0 {
		t.Errorf("still waiting after 10m: %s", d)
	}
	if d := l.fail(now, "ip:a"); d != 0 {
		t.Errorf("after decay, a failure costs %s", d)
	}
	// Bounded: a spray of addresses never grows the table past the cap,
	// and the hot key outlives the cold ones.
	for range 10 {
		l.fail(now, "ip:hot")
	}
	for i := range 1000 {
		l.fail(now, fmt.Sprintf("ip:spray-%d", i))
	}
	if n := len(l.m); n > cfg.MaxTracked {
		t.Errorf("%d entries, cap %d", n, cfg.MaxTracked)
	}
	if _, ok := l.m["ip:hot"]; !ok {
		t.Error("the hot key was evicted before cold ones")
	}
	if n := testutil.ToFloat64(l.evicted); n < 1000-float64(cfg.MaxTracked) {
		t.Errorf("evictions %v", n)
	}
}

func TestIPKey(t *testing.T) {
	for in, want := range map[string]string{
		"198.51.100.7":      "ip:198.51.100.7",
		"2001:db8:1:2:3::9": "ip:2001:db8:1:2::/64", // one host holds a /64
		"::ffff:10.0.0.1":   "ip:::ffff:10.0.0.1",
	} {
		if got := ipKey(netip.MustParseAddr(in)); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}

// logBuffer collects the server's log lines.
type logBuffer struct {
	mu sync.Mutex // guards b: request goroutines log
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// TestBackoffOnBadCredentials: bad bearer tokens and failed logins from
// one address back it off (429 with Retry-After, credentials not even
// looked at), growing and decaying, with one audit line and one metric
// count per failure; the real user at another address is never held up.
func TestBackoffOnBadCredentials(t *testing.T) {
	f := newFixture(t)
	auth := DefaultAuthConfig()
	// A long half-life, so that the waits between failures below barely
	// decay the score and the doubling shows plainly.
	auth.Backoff = BackoffConfig{Free: 3, Base: time.Second, Max: 8 * time.Second, HalfLife: time.Hour, MaxTracked: 100}
	reg := prometheus.NewRegistry()
	var logs logBuffer
	c := f.withClock(t, Options{Auth: &auth, Registry: reg, Log: slog.New(slog.NewJSONHandler(&logs, nil)),
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}})
	from := func(ip, token string) (int, http.Header) {
		t.Helper()
		req, _ := http.NewRequest("GET", c.ts.URL+"/api/v1/me", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("X-Forwarded-For", ip)
		resp, err := c.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header
	}
	const attacker, user = "198.51.100.66", "203.0.113.7"
	bad := func(i int) string { return fmt.Sprintf("frl_guess_%d", i) }
	for i := range 4 {
		if code, _ := from(attacker, bad(i)); code != 401 {
			t.Fatalf("guess %d: %d", i, code)
		}
	}
	// Backing off: refused without a look, even a correct token from
	// that address; the user elsewhere is unaffected.
	if code, h := from(attacker, bad(99)); code != 429 || h.Get("Retry-After") != "1" {
		t.Errorf("while backing off: %d Retry-After %q", code, h.Get("Retry-After"))
	}
	if code, _ := from(attacker, f.tokens["fm"]); code != 429 {
		t.Errorf("a correct token from the backing-off address: %d", code)
	}
	if code, _ := from(user, f.tokens["fm"]); code != 200 {
		t.Errorf("the user at another address: %d", code)
	}
	// It grows: each failure after a wait doubles the next wait.
	for _, want := range []string{"2", "4", "8", "8"} {
		c.advance(9 * time.Second)
		if code, _ := from(attacker, bad(0)); code != 401 {
			t.Fatalf("after waiting: %d", code)
		}
		if _, h := from(attacker, bad(1)); h.Get("Retry-After") != want {
			t.Errorf("Retry-After %q, want %s", h.Get("Retry-After"), want)
		}
	}
	// And decays: ten half-lives later the address starts afresh.
	c.advance(10 * time.Hour)
	if code, _ := from(attacker, f.tokens["fm"]); code != 200 {
		t.Errorf("after the decay, the correct token: %d", code)
	}
	// Failed logins score the same way.
	login := func(ip, token string) int {
		return signIn(t, c.ts.Client(), c.ts.URL, token, http.Header{"X-Forwarded-For": {ip}}).StatusCode
	}
	for i := range 4 {
		if code := login("198.51.100.99", bad(i)); code != 401 {
			t.Fatalf("bad login %d: %d", i, code)
		}
	}
	if code := login("198.51.100.99", f.tokens["store"]); code != 429 {
		t.Errorf("login while backing off: %d", code)
	}
	// A revoked token retried by a stale integration backs off that
	// token, not its address: a colleague's token there still works.
	if code, _, _ := c.do(t, f.tokens["admin"], "DELETE", "/api/v1/tokens/"+meID(t, c, f.tokens["vendor2"]), ""); code != 204 {
		t.Fatal(code)
	}
	const office = "192.0.2.50"
	for range 5 {
		from(office, f.tokens["vendor2"])
	}
	if code, _ := from(office, f.tokens["vendor2"]); code != 429 {
		t.Errorf("revoked token retried: %d", code)
	}
	if code, _ := from(office, f.tokens["vendor"]); code != 200 {
		t.Errorf("another token at the same address: %d", code)
	}

	// One audit line per failure, none per throttled request; never a
	// secret or its hash.
	out := logs.String()
	lines := strings.Count(out, `"msg":"authentication failed"`)
	failures := testutil.ToFloat64(c.metric(t, reg, "frostline_auth_failures_total"))
	if lines == 0 || float64(lines) != failures {
		t.Errorf("%d audit lines, %v failures counted", lines, failures)
	}
	for _, tok := range append(values(f.tokens), bad(0), bad(99)) {
		if strings.Contains(out, tok) || strings.Contains(out, strings.TrimPrefix(tok, "frl_")) {
			t.Fatalf("a secret in the log:\n%s", out)
		}
	}
	for _, want := range []string{`"ip":"198.51.100.66"`, `"reason":"unknown"`, `"via":"login"`, `"reason":"revoked"`, `"backoff":"8s"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
	if n := testutil.ToFloat64(c.metric(t, reg, "frostline_auth_throttled_total")); n < 5 {
		t.Errorf("throttled %v", n)
	}
	if problems, err := testutil.GatherAndLint(reg, "frostline_auth_failures_total", "frostline_auth_throttled_total",
		"frostline_auth_backoff_tracked", "frostline_auth_backoff_evictions_total"); err != nil || len(problems) > 0 {
		t.Errorf("metric lint: %v %v", problems, err)
	}
}

// metric sums a counter family's series from the registry.
func (c *clockServer) metric(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "sum"})
	g.Set(sum)
	return g
}
