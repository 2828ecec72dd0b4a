package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
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
// The cloud then verifies the fix with the sensors, and the vendor's
// office invoices it. It plays the region's FM too, who reviews an
// invoice the cloud could not approve by itself and approves it. Without
// it the demo's work orders would stop at DISPATCHED.
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
	// out, when set, is told of each invoice and what became of it;
	// invoiced remembers the work orders invoiced, and review the
	// invoices waiting for the FM, with when they were submitted.
	out      io.Writer
	invoiced map[string]bool
	review   map[string]pendingInvoice
}

// pendingInvoice is an invoice the cloud flagged, waiting for the FM.
type pendingInvoice struct {
	number    string
	vendor    string
	workOrder int64
	findings  []string
	at        time.Time
}

// demoFM is the region's FM in demodata/people.yaml, who approves the
// invoices the cloud holds for a person.
const (
	demoFM       = "Fiona Marsh"
	demoFMRegion = "midwest"
	demoFMToken  = "fm"
)

// demoTechnicians are the demo register's people who go on site.
var demoTechnicians = map[string]string{
	"polar-refrigeration": "tom", "airflow-hvac": "hal", "netfix-controls": "nia", "store-maintenance": "sam",
}

func (v *demoVendors) run(ctx context.Context) error {
	v.client = &http.Client{Timeout: 10 * time.Second}
	v.tokens, v.acted, v.invoiced, v.review = map[string]string{}, map[string]time.Time{}, map[string]bool{}, map[string]pendingInvoice{}
	tok, _, err := cloudhttp.IssueToken(ctx, v.store, cloudhttp.TokenRequest{Role: cloud.RoleFM, Region: demoFMRegion, Name: demoFM}, time.Now())
	if err != nil {
		return fmt.Errorf("demo FM: %w", err)
	}
	v.tokens[demoFMToken] = tok
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
		v.approve(ctx)
	}
}

// pause is how long a step waits after the last one.
const demoPause = 6 * time.Second

// step moves each demo vendor's open work order one step on.
func (v *demoVendors) step(ctx context.Context) {
	for _, st := range []workorder.Status{workorder.Dispatched, workorder.Accepted, workorder.InProgress, workorder.Verified} {
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
			case workorder.Verified:
				if v.invoiced[w.ID] || w.Invoice == nil {
					continue
				}
				err = v.invoice(ctx, w)
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

// demoRefrigerant is what a refrigeration vendor's office adds to its
// invoice after a repair on a refrigerated box: the charge topped up,
// which its technician did not record at completion.
var demoRefrigerant = map[string]any{"kind": "part", "part_number": "R448A-LB", "description": "R-448A refrigerant, top-up (lb)",
	"quantity": 3, "unit_price": 24.50}

// invoice sends the vendor's invoice for verified work, as its office
// would: the hours and trips at its rate table's prices and the parts
// used with their part numbers, which is what the cloud computed. A
// refrigeration office also bills the refrigerant it topped up, which
// the technician did not record: the cloud flags that line and holds the
// invoice for the FM, who reviews it on the work order's page (approve
// does that here). Other trades' invoices match and are approved without
// anyone. Either way the vendor's billing contact is emailed the outcome.
func (v *demoVendors) invoice(ctx context.Context, w *workorder.WorkOrder) error {
	var lines []map[string]any
	for _, l := range w.Invoice.Lines {
		if l.Kind == "labour" || l.Kind == "trip" {
			lines = append(lines, map[string]any{"kind": l.Kind, "description": l.Description, "quantity": l.Quantity, "unit_price": l.UnitPrice})
		}
	}
	if c := w.Completion; c != nil {
		for _, p := range c.Parts {
			lines = append(lines, map[string]any{"kind": "part", "part_number": p.Code, "description": p.Description, "quantity": p.Quantity, "unit_price": p.UnitCost})
		}
	}
	if len(lines) > 0 && w.Trade == "refrigeration" {
		lines = append(lines, demoRefrigerant)
	}
	if len(lines) == 0 {
		v.invoiced[w.ID] = true // nothing to bill
		return nil
	}
	prefix := strings.ToUpper(w.Vendor[:min(len(w.Vendor), 5)])
	number := fmt.Sprintf("%s-%d", strings.TrimRight(prefix, "-"), 1000+w.Number)
	var inv struct {
		ID           string
		Number       string
		State        string
		Total        float64
		Expected     float64
		AutoApproved bool `json:"auto_approved"`
		Findings     []struct{ Message string }
	}
	code, err := v.post(ctx, w.Vendor, "/api/v1/workorders/"+w.ID+"/invoices", map[string]any{"number": number, "lines": lines}, &inv)
	if code == http.StatusConflict {
		v.invoiced[w.ID] = true // invoiced before this run
		return nil
	}
	if err != nil {
		return err
	}
	v.invoiced[w.ID] = true
	how := fmt.Sprintf("matches the computed $%.2f: approved automatically", inv.Expected)
	if !inv.AutoApproved {
		p := pendingInvoice{number: inv.Number, vendor: w.Vendor, workOrder: w.Number, at: time.Now()}
		for _, f := range inv.Findings {
			p.findings = append(p.findings, f.Message)
		}
		v.review[inv.ID] = p
		how = fmt.Sprintf("flagged: %s; waits for the FM", strings.Join(p.findings, "; "))
	}
	v.say("%s  invoice %s from %s for work order #%d: $%.2f %s (%s)\n", time.Now().Format("15:04:05"),
		inv.Number, w.Vendor, w.Number, inv.Total, strings.ToUpper(inv.State), how)
	return nil
}

// approve is the FM's review: an invoice held for a person is approved a
// moment after it came in, the flagged lines read and accepted (the
// refrigerant a recharge needs; the FM knows the repair).
func (v *demoVendors) approve(ctx context.Context) {
	for id, p := range v.review {
		if time.Since(p.at) < demoPause {
			continue
		}
		var inv struct {
			State string
			Total float64
		}
		code, err := v.post(ctx, demoFMToken, "/api/v1/invoices/"+id+"/approve", map[string]any{}, &inv)
		switch {
		case code == http.StatusConflict:
			delete(v.review, id) // decided before this run
			continue
		case err != nil:
			v.log.Warn("demo FM: approve", "invoice", p.number, "err", err)
			continue
		}
		delete(v.review, id)
		v.say("%s  invoice %s from %s for work order #%d: $%.2f %s by %s (FM) after review\n", time.Now().Format("15:04:05"),
			p.number, p.vendor, p.workOrder, inv.Total, strings.ToUpper(inv.State), demoFM)
	}
}

// say tells the demo's watcher, when there is one.
func (v *demoVendors) say(format string, args ...any) {
	if v.out != nil {
		fmt.Fprintf(v.out, format, args...)
	}
}

// act posts an action as the token's holder.
func (v *demoVendors) act(ctx context.Context, who string, w *workorder.WorkOrder, action string, body map[string]any) error {
	_, err := v.post(ctx, who, "/api/v1/workorders/"+w.ID+"/actions/"+action, body, nil)
	return err
}

// post sends body to path as the token's holder and decodes a 2xx answer
// into out (when set); it returns the status.
func (v *demoVendors) post(ctx context.Context, who, path string, body map[string]any, out any) (int, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+v.base+path, bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+v.tokens[who])
	req.Header.Set("Content-Type", "application/json")
	resp, err := v.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		var p struct{ Detail string }
		json.NewDecoder(resp.Body).Decode(&p) //nolint:errcheck // best effort, for the log
		return resp.StatusCode, fmt.Errorf("%s: %s: %s", path, resp.Status, p.Detail)
	}
	if out != nil {
		return resp.StatusCode, json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode, nil
}
