package notify

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/workorder"
)

// clock is a fake clock that Sleep advances; the receiver reads it too,
// so signatures are verified against the time they were made at.
type clock struct {
	mu     sync.Mutex // the receiver's handler goroutine reads it
	now    time.Time
	sleeps []time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Sleep(_ context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	return nil
}

// receiver is a real HTTP server that verifies every delivery and fails
// on purpose for the first failures requests.
type receiver struct {
	srv      *httptest.Server
	mu       sync.Mutex // guards the fields below, written by handler goroutines
	failures int
	status   int // the failing status
	header   http.Header
	got      []string // delivery ids, one per request
	verified int
	errs     []error
}

func newReceiver(t *testing.T, c *clock, secret string, failures, status int, extra func(w http.ResponseWriter, r *http.Request) bool) *receiver {
	rc := &receiver{failures: failures, status: status}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		err := Verify(r.Header.Get(SignatureHeader), body, c.Now(), DefaultTolerance, []byte(secret))
		rc.mu.Lock()
		rc.got = append(rc.got, r.Header.Get(DeliveryHeader))
		if err != nil {
			rc.errs = append(rc.errs, err)
		} else {
			rc.verified++
		}
		fail := len(rc.got) <= rc.failures
		rc.mu.Unlock()
		if extra != nil && extra(w, r) {
			return
		}
		if fail {
			http.Error(w, "receiver down for maintenance", rc.status)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func notice(site, vendor string) workorder.Notice {
	return workorder.Notice{Schema: workorder.NoticeSchema, ID: "wo_1", Number: 1, Site: site, Vendor: vendor, Status: workorder.Dispatched,
		Event: workorder.Event{Version: 3, Kind: workorder.Transition, Action: workorder.Dispatch, At: t0}}
}

func setup(t *testing.T, failures, status int, b Backoff, extra func(http.ResponseWriter, *http.Request) bool) (*clock, *receiver, *Deliverer, *Subscription, *Delivery) {
	t.Helper()
	c := &clock{now: t0}
	secret := NewSecret(t0)
	rc := newReceiver(t, c, secret.Value, failures, status, extra)
	client := rc.srv.Client()
	t.Cleanup(client.CloseIdleConnections)
	d := &Deliverer{Client: client, Timeout: 2 * time.Second, Backoff: b, Now: c.Now, Sleep: c.Sleep,
		Rand: func() float64 { return 0.5 }, UserAgent: "frostline-test"}
	sub := &Subscription{ID: "sub_1", URL: rc.srv.URL + "/hooks/frostline", Scope: cloud.Scope{Sites: []string{"s1"}}, Secrets: []Secret{secret}}
	ds, err := Route([]Subscription{*sub}, EnvelopeOf(notice("s1", "coolco")), t0)
	if err != nil || len(ds) != 1 {
		t.Fatalf("route: %v %v", ds, err)
	}
	return c, rc, d, sub, &ds[0]
}

func TestDeliverRetriesWithBackoff(t *testing.T) {
	noLeaks(t)
	b := Backoff{Initial: 10 * time.Second, Max: time.Hour, Multiplier: 2, Jitter: 0.2, Attempts: 8}
	c, rc, d, sub, dl := setup(t, 3, http.StatusInternalServerError, b, nil)
	var log []Attempt
	if err := d.Deliver(context.Background(), sub, dl, func(a Attempt) { log = append(log, a) }); err != nil {
		t.Fatal(err)
	}
	if want := []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second}; !slices.Equal(c.sleeps, want) {
		t.Errorf("slept %v, want %v", c.sleeps, want)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.verified != 4 || len(rc.errs) > 0 {
		t.Errorf("verified %d of %d requests: %v", rc.verified, len(rc.got), rc.errs)
	}
	if !slices.Equal(rc.got, []string{dl.ID, dl.ID, dl.ID, dl.ID}) || dl.ID != "sub_1/wo_1-3" {
		t.Errorf("delivery ids %v", rc.got)
	}
	var outcomes []Outcome
	var statuses []int
	for _, a := range log {
		outcomes = append(outcomes, a.Outcome)
		statuses = append(statuses, a.Status)
	}
	if !slices.Equal(outcomes, []Outcome{OutcomeRetry, OutcomeRetry, OutcomeRetry, OutcomeDelivered}) ||
		!slices.Equal(statuses, []int{500, 500, 500, 202}) {
		t.Errorf("log %v %v", outcomes, statuses)
	}
	if log[0].Response != "receiver down for maintenance\n" || !log[1].NextAt.Equal(t0.Add(30*time.Second)) || log[3].N != 4 {
		t.Errorf("log records: %+v", log)
	}
	if dl.State != Delivered || dl.Attempts != 4 || dl.LastError != "" {
		t.Errorf("delivery %+v", dl)
	}
}

func TestDeliverDeadLetters(t *testing.T) {
	noLeaks(t)
	b := Backoff{Initial: time.Minute, Max: 3 * time.Minute, Multiplier: 3, Attempts: 4}
	c, rc, d, sub, dl := setup(t, 100, http.StatusServiceUnavailable, b, nil)
	var log []Attempt
	err := d.Deliver(context.Background(), sub, dl, func(a Attempt) { log = append(log, a) })
	if !errors.Is(err, ErrDead) {
		t.Fatalf("got %v, want a dead letter", err)
	}
	if want := []time.Duration{time.Minute, 3 * time.Minute, 3 * time.Minute}; !slices.Equal(c.sleeps, want) {
		t.Errorf("slept %v, want %v (capped at Max)", c.sleeps, want)
	}
	if len(log) != 4 || log[3].Outcome != OutcomeDead || dl.State != Dead || dl.LastError != "HTTP 503" {
		t.Errorf("log %+v delivery %+v", log, dl)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.got) != 4 || rc.verified != 4 {
		t.Errorf("receiver saw %d, verified %d", len(rc.got), rc.verified)
	}
}

func TestDeliverGoneIsDeadAtOnce(t *testing.T) {
	noLeaks(t)
	_, _, d, sub, dl := setup(t, 100, http.StatusGone, DefaultBackoff(), nil)
	if err := d.Deliver(context.Background(), sub, dl, nil); !errors.Is(err, ErrDead) || dl.Attempts != 1 {
		t.Errorf("err %v after %d attempts", err, dl.Attempts)
	}
}

func TestDeliverHonoursRetryAfter(t *testing.T) {
	noLeaks(t)
	extra := func(w http.ResponseWriter, r *http.Request) bool {
		if r.Header.Get("User-Agent") != "frostline-test" || r.Header.Get(EventHeader) != WorkOrderTransition {
			http.Error(w, "bad headers", http.StatusBadRequest)
			return true
		}
		return false
	}
	c, _, d, sub, dl := setup(t, 1, http.StatusTooManyRequests, DefaultBackoff(), func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Retry-After", "120")
		return extra(w, r)
	})
	if err := d.Deliver(context.Background(), sub, dl, nil); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.sleeps, []time.Duration{2 * time.Minute}) {
		t.Errorf("slept %v, want the receiver's 2m", c.sleeps)
	}
}

func TestDeliverTimesOut(t *testing.T) {
	noLeaks(t)
	slow := func(w http.ResponseWriter, r *http.Request) bool {
		select {
		case <-r.Context().Done(): // the deliverer gave up
		case <-time.After(5 * time.Second):
		}
		return true
	}
	_, _, d, sub, dl := setup(t, 0, 0, DefaultBackoff(), slow)
	d.Timeout = 50 * time.Millisecond
	a := d.Attempt(context.Background(), sub, dl)
	if a.Outcome != OutcomeRetry || a.Status != 0 || a.Error == "" || dl.State != Pending {
		t.Errorf("attempt %+v", a)
	}
	if !strings.Contains(a.Error, "deadline exceeded") && !strings.Contains(a.Error, "Timeout") {
		t.Errorf("error %q does not say it timed out", a.Error)
	}
}

// noLeaks checks for leftover goroutines after the test's other cleanups
// (the receiver's Close) have run: cleanups run last-registered first.
func noLeaks(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
}

func TestBackoffJitter(t *testing.T) {
	b := Backoff{Initial: 10 * time.Second, Max: time.Hour, Multiplier: 2, Jitter: 0.2}
	for _, tt := range []struct {
		n    int
		rnd  float64
		want time.Duration
	}{
		{1, 0.5, 10 * time.Second}, {1, 0, 8 * time.Second}, {2, 1, 24 * time.Second},
		{4, 0.5, 80 * time.Second}, {20, 0.5, time.Hour}, {20, 0, 48 * time.Minute},
	} {
		if got := b.Delay(tt.n, func() float64 { return tt.rnd }); got != tt.want {
			t.Errorf("Delay(%d, %v) = %v, want %v", tt.n, tt.rnd, got, tt.want)
		}
	}
}

// TestRouteNeverCrossesTenants: a subscription gets only the events its
// scope sees.
func TestRouteNeverCrossesTenants(t *testing.T) {
	subs := []Subscription{
		{ID: "store-s1", Scope: cloud.Scope{Sites: []string{"s1"}}},
		{ID: "store-s2", Scope: cloud.Scope{Sites: []string{"s2"}}},
		{ID: "vendor-coolco", Scope: cloud.Scope{Vendor: "coolco"}},
		{ID: "vendor-arctic", Scope: cloud.Scope{Vendor: "arctic"}},
		{ID: "fm-all", Scope: cloud.Scope{All: true}},
		{ID: "fm-all-created-only", Scope: cloud.Scope{All: true}, Events: []string{WorkOrderCreated}},
		{ID: "nobody", Scope: cloud.Scope{}},
		{ID: "disabled", Scope: cloud.Scope{All: true}, Disabled: true},
	}
	tests := []struct {
		site, vendor string
		want         []string
	}{
		{"s1", "coolco", []string{"store-s1", "vendor-coolco", "fm-all"}},
		{"s2", "arctic", []string{"store-s2", "vendor-arctic", "fm-all"}},
		{"s3", "", []string{"fm-all"}},
	}
	for _, tt := range tests {
		ds, err := Route(subs, EnvelopeOf(notice(tt.site, tt.vendor)), t0)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, d := range ds {
			got = append(got, d.Subscription)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s/%s went to %v, want %v", tt.site, tt.vendor, got, tt.want)
		}
	}
}

func TestSubscriptionValidate(t *testing.T) {
	tests := []struct {
		s     Subscription
		field string
	}{
		{Subscription{URL: "https://hooks.example.com/frostline", Scope: cloud.Scope{Sites: []string{"s1"}}}, ""},
		{Subscription{URL: "http://127.0.0.1:8080/x", Scope: cloud.Scope{All: true}}, ""},
		{Subscription{URL: "http://hooks.example.com/x", Scope: cloud.Scope{All: true}}, "url"},
		{Subscription{URL: "ftp://hooks.example.com/x", Scope: cloud.Scope{All: true}}, "url"},
		{Subscription{URL: "https://user:pw@hooks.example.com/x", Scope: cloud.Scope{All: true}}, "url"},
		{Subscription{URL: "/relative", Scope: cloud.Scope{All: true}}, "url"},
		{Subscription{URL: "https://hooks.example.com/x", Scope: cloud.Scope{All: true}, Events: []string{"workorder.deleted"}}, "events[0]"},
		{Subscription{URL: "https://hooks.example.com/x"}, "scope"},
	}
	for _, tt := range tests {
		err := tt.s.Validate()
		if got := cloud.ErrorField(err); got != tt.field {
			t.Errorf("%s: field %q (%v), want %q", tt.s.URL, got, err, tt.field)
		}
	}
}
