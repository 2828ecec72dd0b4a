package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// The API's JSON as this test reads it: only the fields it checks. The
// test speaks the wire contract (cloud/http/openapi.json), not the Go
// types behind it.

// workOrder is a work order as GET /api/v1/workorders/{id} returns it.
type workOrder struct {
	ID          string     `json:"id"`
	Number      int64      `json:"number"`
	Site        string     `json:"site"`
	Asset       string     `json:"asset"`
	Source      string     `json:"source"`
	Problem     string     `json:"problem"`
	Family      string     `json:"family"`
	Trade       string     `json:"trade"`
	Priority    string     `json:"priority"`
	Status      string     `json:"status"`
	Vendor      string     `json:"vendor"`
	Technician  string     `json:"technician"`
	Incidents   []string   `json:"incidents"`
	Evidence    []evidence `json:"evidence"`
	Occurrences int        `json:"occurrences"`
	Visits      []struct {
		Technician string   `json:"technician"`
		Lat        *float64 `json:"lat"`
		Lon        *float64 `json:"lon"`
		Override   string   `json:"override"`
	} `json:"visits"`
	Completion *struct {
		Problem string `json:"problem"`
		Cause   string `json:"cause"`
		Remedy  string `json:"remedy"`
	} `json:"completion"`
	VerifiedAt *time.Time `json:"verified_at"`
	Version    int        `json:"version"`
}

// evidence is what one incident says on a work order (its latest event).
type evidence struct {
	Incident    string `json:"incident"`
	Seq         int    `json:"seq"`
	Event       string `json:"event"`
	Rule        string `json:"rule"`
	Problem     string `json:"problem"`
	Priority    string `json:"priority"`
	Occurrences int    `json:"occurrences"`
}

// woEvent is one entry of GET /api/v1/workorders/{id}/events.
type woEvent struct {
	Version      int    `json:"version"`
	Kind         string `json:"kind"`
	Action       string `json:"action"`
	From         string `json:"from"`
	To           string `json:"to"`
	Actor        string `json:"actor"`
	Reason       string `json:"reason"`
	Vendor       string `json:"vendor"`
	Verification string `json:"verification"`
}

// api is a client of one cloud replica's REST API with one bearer token.
type api struct {
	t     *testing.T
	base  string // http://host:port
	token string
	who   string // for messages: "admin", "vendor polar-refrigeration"
	http  *http.Client
}

func newAPI(t *testing.T, base, token, who string) *api {
	return &api{t: t, base: base, token: token, who: who, http: &http.Client{Timeout: 10 * time.Second}}
}

// as returns a client of the same replica with another token.
func (a *api) as(token, who string) *api {
	return newAPI(a.t, a.base, token, who)
}

// do sends a request and decodes a JSON answer into out. It returns the
// status and the body; a transport error is returned, not fatal, so that
// callers may poll a replica that is starting.
func (a *api) do(method, path string, body, out any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, err
	}
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, b, fmt.Errorf("%s %s: decode: %w: %s", method, path, err, b)
		}
	}
	return resp.StatusCode, b, nil
}

// must sends a request that must answer want, decoding into out.
func (a *api) must(want int, method, path string, body, out any) {
	a.t.Helper()
	code, b, err := a.do(method, path, body, out)
	if err != nil {
		a.t.Fatalf("%s %s as %s: %v", method, path, a.who, err)
	}
	if code != want {
		a.t.Fatalf("%s %s as %s: %d, want %d: %s", method, path, a.who, code, want, b)
	}
}

// workOrders lists the work orders matching the query (site=..&asset=..).
func (a *api) workOrders(q url.Values) ([]workOrder, error) {
	var page struct {
		Items      []workOrder `json:"items"`
		NextCursor *string     `json:"next_cursor"`
	}
	q.Set("limit", "500")
	code, b, err := a.do("GET", "/api/v1/workorders?"+q.Encode(), nil, &page)
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("GET /api/v1/workorders: %d: %s", code, b)
	}
	if page.NextCursor != nil {
		return nil, fmt.Errorf("more than 500 work orders: the test expects a handful")
	}
	return page.Items, nil
}

// getWO fetches one work order.
func (a *api) getWO(id string) workOrder {
	a.t.Helper()
	var w workOrder
	a.must(http.StatusOK, "GET", "/api/v1/workorders/"+id, nil, &w)
	return w
}

// events fetches a work order's events.
func (a *api) events(id string) []woEvent {
	a.t.Helper()
	var out struct {
		Items []woEvent `json:"items"`
	}
	a.must(http.StatusOK, "GET", "/api/v1/workorders/"+id+"/events", nil, &out)
	return out.Items
}

// act takes an action on a work order, which must succeed.
func (a *api) act(id string, action string, body map[string]any) workOrder {
	a.t.Helper()
	var w workOrder
	if body == nil {
		body = map[string]any{}
	}
	a.must(http.StatusOK, "POST", "/api/v1/workorders/"+id+"/actions/"+action, body, &w)
	return w
}

// issueToken issues a token (the caller must be an admin) and returns it.
func (a *api) issueToken(req map[string]any) string {
	a.t.Helper()
	var out struct {
		Token string `json:"token"`
	}
	a.must(http.StatusCreated, "POST", "/api/v1/tokens", req, &out)
	if out.Token == "" {
		a.t.Fatalf("POST /api/v1/tokens %v: no token", req)
	}
	return out.Token
}
