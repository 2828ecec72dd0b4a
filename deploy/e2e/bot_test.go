package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// bot plays the people of the drill while faults happen: the FM, who
// dispatches by hand a work order whose offers ran out; Slow Freeze,
// which lets every offer time out; Polar's
// dispatcher and technician, who accept every offer at once, check in on
// site and complete once every incident on the work order has cleared;
// and store staff, who verify a fix the sensors could not vouch for. It
// talks to whichever replica answers. Its errors are expected (a replica
// down, PostgreSQL restarting, a sweeper moving the work order first) and
// only counted: the checks after the drill decide.
type bot struct {
	f      *fleet
	admins []*api            // one per replica
	vends  map[string][]*api // the vendors that take work, by id
	mu     sync.Mutex        // guards acts and fails: the bot's goroutine writes them, the test reads
	acts   map[string]int
	fails  map[string]int
	cancel context.CancelFunc
	done   chan struct{}
}

// startBot starts the bot; stop ends it.
func (f *fleet) startBot() *bot {
	ctx, cancel := context.WithCancel(context.Background())
	b := &bot{f: f, vends: map[string][]*api{}, acts: map[string]int{}, fails: map[string]int{}, cancel: cancel, done: make(chan struct{})}
	client := func(base string, a *api) *api {
		return &api{t: f.t, base: base, token: a.token, who: a.who, http: &http.Client{Timeout: 3 * time.Second}}
	}
	for _, base := range []string{f.urlB, f.urlA} {
		b.admins = append(b.admins, client(base, f.admin))
		b.vends[polarVendor] = append(b.vends[polarVendor], client(base, f.vendor))
		b.vends[arcticVendor] = append(b.vends[arcticVendor], client(base, f.arctic))
		b.vends[borealVendor] = append(b.vends[borealVendor], client(base, f.boreal))
	}
	// Owned by the test: stop cancels it and waits for it.
	go func() {
		defer close(b.done)
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			b.round(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return b
}

func (b *bot) stop() {
	b.cancel()
	<-b.done
}

// counts returns what the bot did and what failed, by action.
func (b *bot) counts() (acts, fails map[string]int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	acts, fails = map[string]int{}, map[string]int{}
	for k, v := range b.acts {
		acts[k] = v
	}
	for k, v := range b.fails {
		fails[k] = v
	}
	return acts, fails
}

// call tries each replica in turn until one answers.
func (b *bot) call(clients []*api, method, path string, body, out any) (int, error) {
	var err error
	for _, c := range clients {
		var code int
		code, _, err = c.do(method, path, body, out)
		if err == nil {
			return code, nil
		}
	}
	return 0, err
}

// listAll returns every work order of the fleet, page by page.
func (b *bot) listAll() ([]workOrder, error) {
	var all []workOrder
	cursor := ""
	for {
		q := url.Values{"limit": {"500"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var page struct {
			Items      []workOrder `json:"items"`
			NextCursor *string     `json:"next_cursor"`
		}
		code, err := b.call(b.admins, "GET", "/api/v1/workorders?"+q.Encode(), nil, &page)
		if err != nil {
			return nil, err
		}
		if code != http.StatusOK {
			return nil, fmt.Errorf("GET /api/v1/workorders: %d", code)
		}
		all = append(all, page.Items...)
		if page.NextCursor == nil || *page.NextCursor == "" {
			return all, nil
		}
		cursor = *page.NextCursor
	}
}

func (b *bot) act(clients []*api, wo workOrder, action string, body map[string]any) {
	code, err := b.call(clients, "POST", "/api/v1/workorders/"+wo.ID+"/actions/"+action, body, nil)
	b.mu.Lock()
	defer b.mu.Unlock()
	if err == nil && code == http.StatusOK {
		b.acts[action]++
	} else if err != nil {
		b.fails[action+" "+err.Error()]++
	} else {
		b.fails[fmt.Sprintf("%s %d", action, code)]++
	}
}

// allCleared reports whether every incident on the work order has
// cleared, as its evidence says.
func allCleared(wo workOrder) bool {
	for _, e := range wo.Evidence {
		if e.Incident != "" && e.Event != "cleared" {
			return false
		}
	}
	return true
}

// round looks at every work order once and takes the next step on each.
func (b *bot) round(ctx context.Context) {
	wos, err := b.listAll()
	if err != nil {
		b.mu.Lock()
		b.fails["list"]++
		b.mu.Unlock()
		return
	}
	for _, wo := range wos {
		if ctx.Err() != nil {
			return
		}
		switch {
		case wo.Status == "ready":
			b.act(b.admins, wo, "dispatch", map[string]any{"reason": "offers ran out"})
		case wo.Status == "dispatched" && b.vends[wo.Vendor] != nil:
			tech := technician
			if wo.Vendor == arcticVendor || wo.Vendor == borealVendor {
				tech = "ari"
			}
			b.act(b.vends[wo.Vendor], wo, "accept", map[string]any{"technician": tech})
		case wo.Status == "accepted" && b.vends[wo.Vendor] != nil:
			s := b.f.site(wo.Site)
			b.act(b.vends[wo.Vendor], wo, "check_in", map[string]any{"lat": s.lat, "lon": s.lon})
		case wo.Status == "in_progress" && b.vends[wo.Vendor] != nil && allCleared(wo):
			b.act(b.vends[wo.Vendor], wo, "complete", map[string]any{"problem": "no_cooling", "cause": "compressor_failed", "remedy": "replaced_compressor"})
		case wo.Status == "verifying":
			var out struct {
				Items []woEvent `json:"items"`
			}
			if code, err := b.call(b.admins, "GET", "/api/v1/workorders/"+wo.ID+"/events", nil, &out); err != nil || code != http.StatusOK {
				continue
			}
			if n := len(out.Items); n > 0 && out.Items[n-1].Kind == "note" && out.Items[n-1].Verification == "awaiting_person" {
				b.act(b.admins, wo, "verify", nil)
			}
		}
	}
}
