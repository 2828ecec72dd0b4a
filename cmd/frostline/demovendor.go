package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/frostline/frostline/cloud"
	cloudhttp "github.com/frostline/frostline/cloud/http"
	"github.com/frostline/frostline/cloud/workorder"
	"github.com/frostline/frostline/rules"
)

// demoVendors plays the demo's service providers through the REST API, as
// their dispatchers and technicians would from a phone: a work order
// offered to one of them is accepted with an ETA, its technician checks
// in at the store's position, and completes once the sensors show the
// equipment back to normal (the simulator's fault is over: the repair).
// The cloud then verifies the fix with the sensors. Without it the demo's
// work orders would stop at DISPATCHED.
type demoVendors struct {
	base  string // the cloud's API address
	store interface {
		cloudhttp.TokenStore
		WorkOrders(ctx context.Context, f workorder.Filter) ([]*workorder.WorkOrder, error)
		Site(ctx context.Context, id string) (*cloud.Site, error)
	}
	// techs names a technician per vendor (one that holds the trade's
	// documents in demodata/vendors.yaml).
	techs  map[string]string
	log    *slog.Logger
	client *http.Client
	tokens map[string]string // "vendor" or "vendor/technician" -> token
	// acted remembers when each work order was last moved, so that each
	// step waits a little, as people do.
	acted map[string]time.Time
}

// demoTechnicians are the demo register's people who go on site.
var demoTechnicians = map[string]string{
	"polar-refrigeration": "tom", "airflow-hvac": "hal", "netfix-controls": "nia", "store-maintenance": "sam",
}

func (v *demoVendors) run(ctx context.Context) error {
	v.client = &http.Client{Timeout: 10 * time.Second}
	v.tokens, v.acted = map[string]string{}, map[string]time.Time{}
	for vendor, tech := range v.techs {
		for key, q := range map[string]cloudhttp.TokenRequest{
			vendor:              {Role: cloud.RoleVendor, Vendor: vendor, Name: vendor + " dispatch"},
			vendor + "/" + tech: {Role: cloud.RoleTechnician, Vendor: vendor, Name: tech},
		} {
			tok, _, err := cloudhttp.IssueToken(ctx, v.store, q, time.Now())
			if err != nil {
				return fmt.Errorf("demo vendors: %w", err)
			}
			v.tokens[key] = tok
		}
	}
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		v.step(ctx)
	}
}

// pause is how long a step waits after the last one.
const demoPause = 6 * time.Second

// step moves each demo vendor's open work order one step on.
func (v *demoVendors) step(ctx context.Context) {
	for _, st := range []workorder.Status{workorder.Dispatched, workorder.Accepted, workorder.InProgress} {
		wos, err := v.store.WorkOrders(ctx, workorder.Filter{Scope: cloud.Scope{All: true}, Status: string(st), Limit: 100})
		if err != nil {
			v.log.Warn("demo vendors: list", "err", err)
			return
		}
		for _, w := range wos {
			tech, ok := v.techs[w.Vendor]
			if !ok {
				continue
			}
			if last, seen := v.acted[w.ID]; !seen {
				v.acted[w.ID] = time.Now() // people take a moment to answer
				continue
			} else if time.Since(last) < demoPause {
				continue
			}
			var err error
			switch w.Status {
			case workorder.Dispatched:
				eta := time.Now().Add(45 * time.Minute).UTC()
				err = v.act(ctx, w.Vendor, w, "accept", map[string]any{"technician": tech, "eta": eta})
			case workorder.Accepted:
				body := map[string]any{"override": "demo technician"}
				if site, serr := v.store.Site(ctx, w.Site); serr == nil && site.Location != nil {
					body = map[string]any{"lat": site.Location.Lat, "lon": site.Location.Lon}
				}
				err = v.act(ctx, w.Vendor+"/"+tech, w, "check_in", body)
			case workorder.InProgress:
				if !repaired(w) {
					continue // the technician is still at it
				}
				err = v.act(ctx, w.Vendor+"/"+tech, w, "complete", map[string]any{
					"problem": w.Problem, "cause": "demo_fault", "remedy": "repaired",
					"labour": []map[string]any{{"hours": 1.5, "rate": 0}},
				})
			}
			if err != nil {
				v.log.Warn("demo vendors: step", "work_order", w.Number, "status", w.Status, "err", err)
			}
			v.acted[w.ID] = time.Now()
		}
	}
}

// repaired reports whether the sensors show the problem over: every
// incident on the work order has cleared (a person's report, with no
// incident, is taken as fixed once the technician has been there a
// while).
func repaired(w *workorder.WorkOrder) bool {
	for _, e := range w.Evidence {
		if e.Incident != "" && e.Event != string(rules.Cleared) {
			return false
		}
	}
	return len(w.Incidents) > 0 || (len(w.Visits) > 0 && time.Since(w.Visits[len(w.Visits)-1].In) > time.Minute)
}

// act posts an action as the token's holder.
func (v *demoVendors) act(ctx context.Context, who string, w *workorder.WorkOrder, action string, body map[string]any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+v.base+"/api/v1/workorders/"+w.ID+"/actions/"+action, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+v.tokens[who])
	req.Header.Set("Content-Type", "application/json")
	resp, err := v.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var p struct{ Detail string }
		json.NewDecoder(resp.Body).Decode(&p) //nolint:errcheck // best effort, for the log
		return fmt.Errorf("%s: %s: %s", action, resp.Status, p.Detail)
	}
	return nil
}
