package http

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/frostline/frostline/cloud/notify"
)

func decodeAs[T any](t *testing.T, body string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return v
}

// TestWebhookScopes: a webhook's scope is the registering caller's, or a
// narrowing of it; asking for more is refused, naming the field.
func TestWebhookScopes(t *testing.T) {
	f := newFixture(t)
	f.srv.lookupHost = func(_ context.Context, host string) ([]netip.Addr, error) {
		if host == "internal.example.com" {
			return []netip.Addr{netip.MustParseAddr("203.0.113.9"), netip.MustParseAddr("10.0.0.7")}, nil
		}
		return nil, errors.New("no such host") // delivery decides on the address it dials
	}
	tests := []struct {
		who, body string
		code      int
		field     string
		scope     string // the granted scope as JSON
	}{
		{"admin", `{"url":"https://h.example.com/a"}`, 201, "", `{"all":true}`},
		{"admin", `{"url":"https://h.example.com/a","scope":{"sites":["s2"],"vendor":"coolco"}}`, 201, "", `{"sites":["s2"],"vendor":"coolco"}`},
		{"admin", `{"url":"https://h.example.com/a","scope":{"sites":["nowhere"]}}`, 400, "scope.sites", ""},
		{"fm", `{"url":"https://h.example.com/a"}`, 201, "", `{"all":true}`},
		{"fm-north", `{"url":"https://h.example.com/a"}`, 201, "", `{"region":"north"}`},
		{"fm-north", `{"url":"https://h.example.com/a","scope":{"sites":["s1"]}}`, 201, "", `{"sites":["s1"]}`},
		{"fm-north", `{"url":"https://h.example.com/a","scope":{"vendor":"coolco"}}`, 201, "", `{"region":"north","vendor":"coolco"}`},
		{"fm-north", `{"url":"https://h.example.com/a","scope":{"all":true}}`, 400, "scope.all", ""},
		{"fm-north", `{"url":"https://h.example.com/a","scope":{"sites":["s2"]}}`, 400, "scope.sites", ""},
		{"fm-north", `{"url":"https://h.example.com/a","scope":{"region":"south"}}`, 400, "scope.region", ""},
		{"vendor", `{"url":"https://h.example.com/a"}`, 201, "", `{"vendor":"coolco"}`},
		{"vendor", `{"url":"https://h.example.com/a","scope":{"sites":["s1"]}}`, 201, "", `{"sites":["s1"],"vendor":"coolco"}`},
		{"vendor", `{"url":"https://h.example.com/a","scope":{"vendor":"frostfix"}}`, 400, "scope.vendor", ""},
		{"vendor", `{"url":"https://h.example.com/a","scope":{"all":true}}`, 400, "scope.vendor", ""},
		{"store", `{"url":"https://h.example.com/a"}`, 403, "", ""},
		{"tech", `{"url":"https://h.example.com/a"}`, 403, "", ""},
		{"admin", `{"url":"https://h.example.com/a","scope":{}}`, 400, "scope", ""},
		{"admin", `{"url":"https://h.example.com/a","scope":{"all":true,"vendor":"x"}}`, 400, "scope", ""},
		// URLs: https, or http to loopback only; nothing else. And, unless
		// webhooks.allow_private_targets, only what delivery would reach:
		// no loopback, link-local (the metadata service), private ranges
		// or names resolving there; NAT64 is public (issue 15).
		{"admin", `{"url":"http://127.0.0.1:9000/hook"}`, 400, "url", ""},
		{"admin", `{"url":"https://169.254.169.254/latest/meta-data"}`, 400, "url", ""},
		{"admin", `{"url":"https://10.1.2.3/a"}`, 400, "url", ""},
		{"admin", `{"url":"https://192.168.0.1/a"}`, 400, "url", ""},
		{"admin", `{"url":"https://100.64.0.1/a"}`, 400, "url", ""},
		{"admin", `{"url":"https://[::1]/a"}`, 400, "url", ""},
		{"admin", `{"url":"https://[fe80::1]/a"}`, 400, "url", ""},
		{"admin", `{"url":"https://[::ffff:127.0.0.1]/a"}`, 400, "url", ""},
		{"admin", `{"url":"https://localhost/a"}`, 400, "url", ""},
		{"admin", `{"url":"https://internal.example.com/a"}`, 400, "url", ""},
		{"admin", `{"url":"https://[64:ff9b::808:808]/a"}`, 201, "", `{"all":true}`},
		{"admin", `{"url":"https://8.8.8.8/a"}`, 201, "", `{"all":true}`},
		{"admin", `{"url":"http://h.example.com/a"}`, 400, "url", ""},
		{"admin", `{"url":"ftp://h.example.com/a"}`, 400, "url", ""},
		{"admin", `{"url":"javascript:alert(1)"}`, 400, "url", ""},
		{"admin", `{"url":"https://user:pw@h.example.com/a"}`, 400, "url", ""},
		{"admin", `{"url":""}`, 400, "url", ""},
		{"admin", `{"url":"https://h.example.com/a","events":["workorder.deleted"]}`, 400, "events[0]", ""},
		{"admin", `{"url":"https://h.example.com/a","secret":"mine"}`, 400, "secret", ""},
	}
	for _, tt := range tests {
		code, body := f.do(t, tt.who, "POST", "/api/v1/webhooks", tt.body)
		if code != tt.code {
			t.Errorf("%s %s: %d, want %d (%s)", tt.who, tt.body, code, tt.code, body)
			continue
		}
		if tt.field != "" {
			if p := decodeAs[Problem](t, body); p.Field != tt.field {
				t.Errorf("%s %s: field %q, want %q (%s)", tt.who, tt.body, p.Field, tt.field, p.Detail)
			}
		}
		if tt.scope != "" {
			v := decodeAs[map[string]json.RawMessage](t, body)
			if string(v["scope"]) != tt.scope {
				t.Errorf("%s %s: scope %s, want %s", tt.who, tt.body, v["scope"], tt.scope)
			}
		}
	}
}

// TestWebhookLifecycle: the secret is shown at registration and rotation
// only; a webhook is its owner's (and admins') alone; rotation keeps the
// old secret for the grace period; the delivery log shows what was sent;
// a dead delivery is replayed; deletion removes it all.
func TestWebhookLifecycle(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	code, body := f.do(t, "fm-north", "POST", "/api/v1/webhooks", `{"url":"https://hooks.example.com/north","description":"north stores","events":["workorder.created","workorder.transition"]}`)
	if code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	created := decodeAs[WebhookView](t, body)
	if !strings.HasPrefix(created.Secret, "whsec_") || len(created.Secrets) != 1 || created.CreatedBy == "" || !created.Active {
		t.Fatalf("created %+v", created)
	}
	path := "/api/v1/webhooks/" + created.ID

	// The secret never again; the webhook only for its owner and admins.
	for who, want := range map[string]int{"fm-north": 200, "admin": 200, "fm": 404, "vendor": 404, "store": 403} {
		code, body := f.do(t, who, "GET", path, "")
		if code != want || strings.Contains(body, created.Secret) || strings.Contains(body, `"secret"`) {
			t.Errorf("GET as %s: %d %s", who, code, body)
		}
	}
	for who, want := range map[string]int{"fm-north": 1, "admin": 1, "fm": 0} {
		_, body := f.do(t, who, "GET", "/api/v1/webhooks", "")
		l := decodeAs[struct{ Items []WebhookView }](t, body)
		if len(l.Items) != want || strings.Contains(body, created.Secret) {
			t.Errorf("list as %s: %d webhooks", who, len(l.Items))
		}
	}
	if code, _ := f.do(t, "fm", "DELETE", path, ""); code != 404 {
		t.Errorf("another FM deleted it: %d", code)
	}

	// Replace: the scope is kept when omitted; a bad URL is refused.
	code, body = f.do(t, "fm-north", "PUT", path, `{"url":"https://hooks.example.com/north2","events":["workorder.created"]}`)
	if v := decodeAs[WebhookView](t, body); code != 200 || v.URL != "https://hooks.example.com/north2" || v.Scope.Region != "north" || len(v.Events) != 1 || v.Secret != "" {
		t.Errorf("put: %d %s", code, body)
	}
	if code, _ := f.do(t, "fm-north", "PUT", path, `{"url":"gopher://hooks.example.com/"}`); code != 400 {
		t.Errorf("put with a bad url: %d", code)
	}
	f.do(t, "fm-north", "PUT", path, `{"url":"https://hooks.example.com/north"}`) // every event again

	// Rotate with a one-hour grace: two secrets, the old one expiring.
	if code, _ := f.do(t, "fm-north", "POST", path+"/rotate", `{"grace":"9999h"}`); code != 400 {
		t.Errorf("rotate with a long grace: %d", code)
	}
	code, body = f.do(t, "fm-north", "POST", path+"/rotate", `{"grace":"1h"}`)
	rotated := decodeAs[WebhookView](t, body)
	if code != 200 || rotated.Secret == "" || rotated.Secret == created.Secret || len(rotated.Secrets) != 2 ||
		rotated.Secrets[0].Expires == nil || !rotated.Secrets[0].Expires.Equal(t0.Add(time.Hour)) {
		t.Fatalf("rotate: %d %s", code, body)
	}
	stored, err := f.store.Webhook(ctx, created.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got := notify.Active(stored.Secrets, t0.Add(30*time.Minute)); len(got) != 2 {
		t.Errorf("%d secrets sign during the grace period", len(got))
	}
	if got := notify.Active(stored.Secrets, t0.Add(2*time.Hour)); len(got) != 1 || string(got[0]) != rotated.Secret {
		t.Errorf("after the grace period the signing secrets are %q", got)
	}

	// Reports at s1 (north) and s2 (south): only s1's events are queued.
	for _, site := range []string{"s1", "s2"} {
		if code, body := f.do(t, "admin", "POST", "/api/v1/workorders", `{"site":"`+site+`","asset":"dc-1","problem":"noise"}`); code != 201 {
			t.Fatalf("report: %d %s", code, body)
		}
	}
	code, body = f.do(t, "fm-north", "GET", path+"/deliveries", "")
	log := decodeAs[struct{ Items []DeliveryView }](t, body)
	if code != 200 || len(log.Items) == 0 {
		t.Fatalf("deliveries: %d %s", code, body)
	}
	for _, d := range log.Items {
		wo, err := f.store.WorkOrder(ctx, d.WorkOrder)
		if err != nil || wo.Site != "s1" || d.State != notify.Pending || d.ID != created.ID+"/"+d.Event || d.NextAt == nil {
			t.Errorf("delivery %+v of %+v (%v)", d, wo, err)
		}
	}
	if code, _ := f.do(t, "fm", "GET", path+"/deliveries", ""); code != 404 {
		t.Errorf("another FM read the log: %d", code)
	}
	if code, _ := f.do(t, "fm-north", "GET", path+"/deliveries?state=lost", ""); code != 400 {
		t.Errorf("unknown state: %d", code)
	}

	// A pending delivery cannot be replayed; a dead one can.
	first := log.Items[0]
	if code, _ := f.do(t, "fm-north", "POST", path+"/deliveries/"+first.Event+"/replay", ""); code != 409 {
		t.Errorf("replay of a pending delivery: %d", code)
	}
	claims, err := f.store.ClaimDeliveries(ctx, "test", time.Now(), time.Minute, 100)
	if err != nil || len(claims) != len(log.Items) {
		t.Fatalf("claimed %d of %d (%v)", len(claims), len(log.Items), err)
	}
	for _, c := range claims {
		dl := c.Delivery
		dl.State, dl.Attempts, dl.LastError = notify.Dead, 1, "HTTP 503"
		a := notify.Attempt{Delivery: dl.ID, URL: c.Subscription.URL, N: 1, At: t0, Took: 40 * time.Millisecond, Status: 503, Outcome: notify.OutcomeDead}
		if err := f.store.FinishDelivery(ctx, &dl, &a); err != nil {
			t.Fatal(err)
		}
	}
	_, body = f.do(t, "fm-north", "GET", path+"/deliveries?state=dead&limit=1", "")
	dead := decodeAs[struct{ Items []DeliveryView }](t, body)
	if len(dead.Items) != 1 || len(dead.Items[0].Log) != 1 || dead.Items[0].Log[0].Status != 503 || dead.Items[0].Log[0].TookMS != 40 ||
		dead.Items[0].Log[0].URL != "https://hooks.example.com/north" || dead.Items[0].NextAt != nil {
		t.Fatalf("dead log: %s", body)
	}
	code, body = f.do(t, "fm-north", "POST", path+"/deliveries/"+first.Event+"/replay", "")
	if code != http.StatusAccepted || !strings.Contains(body, `"state":"pending"`) {
		t.Errorf("replay: %d %s", code, body)
	}
	_, body = f.do(t, "fm-north", "GET", path+"/deliveries?state=pending", "")
	if p := decodeAs[struct{ Items []DeliveryView }](t, body); len(p.Items) != 1 || p.Items[0].ID != first.ID || p.Items[0].Replays != 1 || p.Items[0].Attempts != 0 {
		t.Errorf("after replay: %s", body)
	}
	if code, _ := f.do(t, "fm-north", "POST", path+"/deliveries/wo_none-1/replay", ""); code != 404 {
		t.Errorf("replay of an unknown delivery: %d", code)
	}

	if code, _ := f.do(t, "fm-north", "DELETE", path, ""); code != 204 {
		t.Errorf("delete: %d", code)
	}
	if code, _ := f.do(t, "admin", "GET", path, ""); code != 404 {
		t.Errorf("after delete: %d", code)
	}
}

// TestWebhookEndToEnd: through the API, as an integrator would: register
// a webhook for a local receiver that fails on purpose at first; work
// orders reported at two sites; the delivery worker running. The receiver
// gets only its region's events, each signed with the secret the API
// gave; the first attempts fail and are retried; the log shows it all.
// After a rotation, deliveries verify with the new secret and, during the
// grace period, still with the old one.
func TestWebhookEndToEnd(t *testing.T) {
	f := newFixture(t)
	// One clock for the API (rotation's grace), the worker (signing
	// time) and the receiver (tolerance), as in a deployment.
	f.srv.now = time.Now
	var (
		mu       sync.Mutex // the receiver's handler goroutines
		secret   []byte
		requests int
		sites    []string
		headers  []string
		bodies   [][]byte
		badSigs  []error
	)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		requests++
		sig := r.Header.Get(notify.SignatureHeader)
		if err := notify.Verify(sig, body, time.Now(), notify.DefaultTolerance, secret); err != nil {
			badSigs = append(badSigs, err)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var env notify.Envelope
		json.Unmarshal(body, &env)
		sites, headers, bodies = append(sites, env.Data.Site), append(headers, sig), append(bodies, body)
		if requests <= 2 {
			http.Error(w, "warming up", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer recv.Close()

	f.srv.allowPrivateTargets = true // the receiver is on loopback: webhooks.allow_private_targets
	code, body := f.do(t, "fm-north", "POST", "/api/v1/webhooks", `{"url":"`+recv.URL+`/frostline"}`)
	if code != 201 {
		t.Fatalf("register: %d %s", code, body)
	}
	hook := decodeAs[WebhookView](t, body)
	mu.Lock()
	secret = []byte(hook.Secret)
	mu.Unlock()

	cfg := notify.DefaultWorkerConfig()
	cfg.Poll, cfg.Timeout, cfg.Lease = 5*time.Millisecond, 2*time.Second, 10*time.Second
	cfg.Backoff = notify.Backoff{Initial: 20 * time.Millisecond, Max: 100 * time.Millisecond, Multiplier: 2, Attempts: 5}
	client := recv.Client()
	defer client.CloseIdleConnections()
	worker := notify.NewWorker(f.store, &notify.Deliverer{Client: client}, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- worker.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	report := func(who, site, asset string) {
		t.Helper()
		if code, body := f.do(t, who, "POST", "/api/v1/workorders", `{"site":"`+site+`","asset":"`+asset+`","problem":"noise"}`); code != 201 {
			t.Fatalf("report: %d %s", code, body)
		}
	}
	settled := func() []DeliveryView {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			_, body := f.do(t, "fm-north", "GET", "/api/v1/webhooks/"+hook.ID+"/deliveries", "")
			log := decodeAs[struct{ Items []DeliveryView }](t, body)
			all := len(log.Items) > 0
			for _, d := range log.Items {
				all = all && d.State == notify.Delivered
			}
			if all {
				return log.Items
			}
			if time.Now().After(deadline) {
				t.Fatalf("not delivered after 15s: %s", body)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	report("store", "s1", "dc-1")
	report("admin", "s2", "dc-1")
	log := settled()
	var attempts, failed int
	for _, d := range log {
		attempts += len(d.Log)
		for _, a := range d.Log {
			if a.Outcome == notify.OutcomeRetry {
				failed++
				if a.Status != 500 || a.Response != "warming up\n" || a.NextAt == nil {
					t.Errorf("failed attempt %+v", a)
				}
			}
		}
		if last := d.Log[len(d.Log)-1]; last.Outcome != notify.OutcomeDelivered || last.Status != 204 || d.Attempts != len(d.Log) {
			t.Errorf("%s: %+v", d.ID, d.Log)
		}
	}
	mu.Lock()
	if failed != 2 || attempts != requests || len(badSigs) > 0 {
		t.Errorf("%d failed attempts of %d logged, %d requests, bad signatures %v", failed, attempts, requests, badSigs)
	}
	for _, s := range sites {
		if s != "s1" {
			t.Errorf("the north FM's receiver got an event of %s", s)
		}
	}
	n := len(headers)
	mu.Unlock()

	// Rotate; the receiver switches to the new secret at once.
	code, body = f.do(t, "fm-north", "POST", "/api/v1/webhooks/"+hook.ID+"/rotate", `{"grace":"1h"}`)
	if code != 200 {
		t.Fatalf("rotate: %d %s", code, body)
	}
	rotated := decodeAs[WebhookView](t, body)
	mu.Lock()
	secret = []byte(rotated.Secret)
	mu.Unlock()
	report("store", "s1", "wic-2")
	settled()
	mu.Lock()
	defer mu.Unlock()
	if len(headers) == n || len(badSigs) > 0 {
		t.Fatalf("after rotation: %d deliveries, bad signatures %v", len(headers)-n, badSigs)
	}
	sig, b := headers[len(headers)-1], bodies[len(bodies)-1]
	if strings.Count(sig, "v1=") != 2 || notify.Verify(sig, b, time.Now(), notify.DefaultTolerance, []byte(hook.Secret)) != nil {
		t.Errorf("during the grace period the old secret no longer verifies: %s", sig)
	}
}
