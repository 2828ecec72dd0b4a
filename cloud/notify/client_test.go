package notify_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/notify"
)

func TestPublic(t *testing.T) {
	for addr, want := range map[string]bool{
		"93.184.216.34": true, "2606:2800:220:1::1": true,
		"127.0.0.1": false, "::1": false, "10.1.2.3": false, "172.16.0.1": false, "192.168.1.1": false,
		"169.254.169.254": false, "fe80::1": false, "fd00::1": false, "100.64.0.1": false, "0.0.0.0": false,
		"::ffff:127.0.0.1": false, "224.0.0.1": false,
	} {
		if got := notify.Public(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Public(%s) = %v, want %v", addr, got, want)
		}
	}
}

// TestClientRefusesPrivateAndRedirects: the delivery client does not
// reach loopback unless allowed, and never follows a redirect.
func TestClientRefusesPrivateAndRedirects(t *testing.T) {
	noLeaks(t)
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path == "/moved" {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	sub := &notify.Subscription{ID: "wh_1", URL: srv.URL + "/hook", Scope: cloud.Scope{All: true}, Secrets: []notify.Secret{notify.NewSecret(time.Now())}}
	dl := &notify.Delivery{ID: "wh_1/wo_1-1", Body: []byte(`{}`), State: notify.Pending}

	strict := notify.NewClient(false)
	defer strict.CloseIdleConnections()
	a := (&notify.Deliverer{Client: strict}).Attempt(context.Background(), sub, dl)
	if a.Outcome != notify.OutcomeRetry || a.Status != 0 || hits.Load() != 0 {
		t.Errorf("loopback reached by the strict client: %+v", a)
	}
	if _, err := strict.Get(srv.URL); !errors.Is(err, notify.ErrPrivateAddress) {
		t.Errorf("strict client: %v", err)
	}

	lax := notify.NewClient(true)
	defer lax.CloseIdleConnections()
	d := &notify.Deliverer{Client: lax}
	if a := d.Attempt(context.Background(), sub, dl); a.Outcome != notify.OutcomeDelivered || hits.Load() != 1 {
		t.Errorf("allowed: %+v", a)
	}
	sub.URL = srv.URL + "/moved"
	dl.State = notify.Pending
	if a := d.Attempt(context.Background(), sub, dl); a.Status != http.StatusFound || a.Outcome != notify.OutcomeRetry || hits.Load() != 2 {
		t.Errorf("redirect: %+v after %d requests", a, hits.Load())
	}
}

// TestCheckTarget: registration refuses what the delivery client refuses,
// by the same Public rule (issue 15).
func TestCheckTarget(t *testing.T) {
	lookup := func(_ context.Context, host string) ([]netip.Addr, error) {
		switch host {
		case "metadata.example":
			return []netip.Addr{netip.MustParseAddr("169.254.169.254")}, nil
		case "public.example":
			return []netip.Addr{netip.MustParseAddr("93.184.215.14")}, nil
		}
		return nil, errors.New("no such host")
	}
	for url, refused := range map[string]bool{
		"https://127.0.0.1/a":            true,
		"http://127.0.0.1:9000/a":        true,
		"https://[::1]/a":                true,
		"https://[::ffff:10.0.0.1]/a":    true,
		"https://169.254.169.254/latest": true,
		"https://172.16.0.1/a":           true,
		"https://100.100.100.100/a":      true,
		"https://LocalHost./a":           true,
		"https://api.localhost/a":        true,
		"https://metadata.example/a":     true,
		"https://public.example/a":       false,
		"https://unknown.example/a":      false, // delivery checks the dialled address
		"https://[64:ff9b::a00:1]/a":     false, // NAT64 is public
		"https://8.8.8.8/a":              false,
	} {
		err := notify.CheckTarget(context.Background(), url, lookup)
		if (err != nil) != refused || (err != nil && !errors.Is(err, notify.ErrPrivateAddress)) {
			t.Errorf("%s: %v, want refused %v", url, err, refused)
		}
	}
}
