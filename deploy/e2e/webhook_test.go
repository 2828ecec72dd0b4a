package e2e

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/frostline/frostline/cloud/notify"
)

// hookSink is a webhook receiver, as a customer runs one: it checks each
// delivery's signature and records its Frostline-Delivery id, by path.
type hookSink struct {
	url string
	mu  sync.Mutex // guards the fields below: the server's handlers write them
	// got counts the deliveries received, by path and delivery id.
	got     map[string]map[string]int
	secrets map[string]string // by path
	bad     []string          // deliveries refused, and why
}

func startHookSink(t *testing.T) *hookSink {
	t.Helper()
	h := &hookSink{got: map[string]map[string]int{}, secrets: map[string]string{}}
	srv := httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(srv.Close)
	h.url = srv.URL
	return h
}

func (h *hookSink) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	h.mu.Lock()
	defer h.mu.Unlock()
	id := r.Header.Get(notify.DeliveryHeader)
	secret, ok := h.secrets[r.URL.Path]
	switch {
	case err != nil:
		h.bad = append(h.bad, r.URL.Path+" "+id+": "+err.Error())
	case !ok:
		h.bad = append(h.bad, r.URL.Path+" "+id+": no webhook registered at this path")
	case id == "":
		h.bad = append(h.bad, r.URL.Path+": no "+notify.DeliveryHeader+" header")
	default:
		if err := notify.Verify(r.Header.Get(notify.SignatureHeader), body, time.Now(), notify.DefaultTolerance, []byte(secret)); err != nil {
			h.bad = append(h.bad, r.URL.Path+" "+id+": "+err.Error())
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		if h.got[r.URL.Path] == nil {
			h.got[r.URL.Path] = map[string]int{}
		}
		h.got[r.URL.Path][id]++
	}
	w.WriteHeader(http.StatusNoContent)
}

// received returns a copy of the deliveries to path, by id.
func (h *hookSink) received(path string) map[string]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]int{}
	for id, n := range h.got[path] {
		out[id] = n
	}
	return out
}

// refused returns the deliveries the sink refused.
func (h *hookSink) refused() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.bad...)
}

// webhook is a registered subscription: its id, the sink path it posts
// to, and the sites it sees (nil: all).
type webhook struct {
	id, path string
	sites    []string
}

// registerWebhook registers a webhook for every event type at the sink's
// path with the scope, as admin, and tells the sink its secret.
func (h *hookSink) register(t *testing.T, admin *api, path string, scope map[string]any, sites []string) webhook {
	t.Helper()
	var out struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	admin.must(http.StatusCreated, "POST", "/api/v1/webhooks", map[string]any{"url": h.url + path, "scope": scope, "description": "chaos drill"}, &out)
	if out.ID == "" || out.Secret == "" {
		t.Fatalf("POST /api/v1/webhooks: no id or secret: %+v", out)
	}
	h.mu.Lock()
	h.secrets[path] = out.Secret
	h.mu.Unlock()
	return webhook{id: out.ID, path: path, sites: sites}
}

// sees reports whether the webhook gets a site's work orders' events.
func (w webhook) sees(site string) bool {
	if w.sites == nil {
		return true
	}
	for _, s := range w.sites {
		if s == site {
			return true
		}
	}
	return false
}
