package http

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/pm"
	"github.com/frostline/frostline/cloud/workorder"
)

func decode[T any](t *testing.T, body string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return v
}

func must(t *testing.T, want int) func(int, string) string {
	return func(code int, body string) string {
		t.Helper()
		if code != want {
			t.Fatalf("status %d, want %d: %s", code, want, body)
		}
		return body
	}
}

// TestPMThroughTheAPI: an FM schedules monthly maintenance, the forecast
// shows the visits (moved off the store's closed day), the generator opens
// the first one with the template, the vendor cannot complete it before
// answering the checklist and signing, a failed reading raises corrective
// work linked to it, and the visit counts as compliant.
func TestPMThroughTheAPI(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sched := `{"name":"Monthly coil clean","site":"s1","asset":"wic-2","rrule":"FREQ=MONTHLY;BYMONTHDAY=3","start":"2026-07-03T08:00:00Z",
		"lead_time":"3d","template":{"trade":"refrigeration","labour_hours":1.5,"vendor":"coolco","signature_required":true,
		"checklist":[{"id":"coil","text":"Coil clean","kind":"pass_fail","required":true},
		{"id":"sp","text":"Suction pressure","kind":"reading","unit":"kPa","min":150,"max":350,"required":true,"problem":"no_cooling"}]}}`
	sc := decode[pm.Schedule](t, must(t, 201)(f.do(t, "fm", "POST", "/api/v1/pm/schedules", sched)))
	if sc.ID == "" || sc.Version != 1 {
		t.Fatalf("schedule %+v", sc)
	}
	// Store staff of the site see it; a vendor may not; an FM of another
	// region cannot schedule at s2 (404).
	list := decode[struct{ Items []pm.Schedule }](t, must(t, 200)(f.do(t, "store", "GET", "/api/v1/pm/schedules?site=s1", "")))
	if len(list.Items) != 1 || list.Items[0].ID != sc.ID {
		t.Fatalf("store sees %+v", list.Items)
	}
	must(t, 403)(f.do(t, "vendor", "GET", "/api/v1/pm/schedules", ""))
	must(t, 404)(f.do(t, "fm-north", "POST", "/api/v1/pm/schedules", strings.Replace(sched, `"site":"s1"`, `"site":"s2"`, 1)))
	must(t, 400)(f.do(t, "fm", "POST", "/api/v1/pm/schedules", strings.Replace(sched, "FREQ=MONTHLY", "FREQ=HOURLY", 1)))
	// The issue's own example, without a start: it starts now.
	ex := decode[pm.Schedule](t, must(t, 201)(f.do(t, "fm", "POST", "/api/v1/pm/schedules",
		`{"name":"Monthly check","site":"s1","asset_class":"walk_in_cooler","rrule":"FREQ=MONTHLY;INTERVAL=1","lead_time":"72h","template":{"trade":"refrigeration","checklist":[{"id":"c","text":"Check","kind":"pass_fail"}]}}`)))
	if !ex.Start.Equal(t0) {
		t.Fatalf("start %s, want the server's now %s", ex.Start, t0)
	}
	must(t, 204)(f.do(t, "fm", "DELETE", "/api/v1/pm/schedules/"+ex.ID, ""))
	// The store is closed on Saturdays: 3 October 2026 moves to Sunday.
	must(t, 200)(f.do(t, "fm", "PUT", "/api/v1/pm/calendars/s1", `{"closed_weekdays":["sat"]}`))
	fc := decode[struct{ Items []pm.ForecastItem }](t, must(t, 200)(f.do(t, "store", "GET",
		"/api/v1/pm/forecast?site=s1&from=2026-07-01T00:00:00Z&to=2027-01-01T00:00:00Z", "")))
	var dues []string
	for _, it := range fc.Items {
		if it.Schedule != sc.ID || it.Asset != "wic-2" {
			t.Fatalf("forecast item %+v", it)
		}
		dues = append(dues, it.DueAt.Format("2006-01-02"))
	}
	if got := strings.Join(dues, " "); got != "2026-07-03 2026-08-03 2026-09-03 2026-10-04 2026-11-03 2026-12-03" {
		t.Fatalf("forecast %s", got)
	}
	must(t, 404)(f.do(t, "store", "GET", "/api/v1/pm/forecast?site=s2&from=2026-07-01T00:00:00Z&to=2027-01-01T00:00:00Z", ""))
	// An edit bumps the version; a stale version is refused.
	must(t, 409)(f.do(t, "fm", "PUT", "/api/v1/pm/schedules/"+sc.ID, strings.Replace(sched, `{"name"`, `{"version":7,"name"`, 1)))
	sc = decode[pm.Schedule](t, must(t, 200)(f.do(t, "fm", "PUT", "/api/v1/pm/schedules/"+sc.ID, strings.Replace(sched, `{"name"`, `{"version":1,"name"`, 1))))
	if sc.Version != 2 {
		t.Fatalf("version %d after an edit", sc.Version)
	}
	// The generator, on the server's clock (1 July), opens the 3 July visit.
	g := pm.NewGenerator(f.store, f.srv.intake, pm.DefaultConfig(), slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	g.Now = f.srv.now
	if n, err := g.Tick(ctx); err != nil || n != 1 {
		t.Fatalf("tick: %d, %v", n, err)
	}
	if n, err := g.Tick(ctx); err != nil || n != 0 {
		t.Fatalf("second tick: %d, %v (generated twice)", n, err)
	}
	ws, err := f.store.WorkOrders(ctx, workorder.Filter{Source: "preventive", Scope: cloud.Scope{All: true}})
	if err != nil || len(ws) != 1 {
		t.Fatalf("%d preventive work orders (%v)", len(ws), err)
	}
	id := ws[0].ID
	wo := decode[workorder.WorkOrder](t, must(t, 200)(f.do(t, "vendor", "GET", "/api/v1/workorders/"+id, "")))
	if wo.Status != workorder.Dispatched || wo.Vendor != "coolco" || wo.Plan == nil || len(wo.Plan.Checklist) != 2 || !wo.Plan.Signature || wo.Plan.LabourHours != 1.5 {
		t.Fatalf("generated work order: %s %s %+v", wo.Status, wo.Vendor, wo.Plan)
	}
	must(t, 200)(f.do(t, "vendor", "POST", "/api/v1/workorders/"+id+"/actions/accept", `{"technician":"tom"}`))
	must(t, 200)(f.do(t, "tech", "POST", "/api/v1/workorders/"+id+"/actions/check_in", `{"override":"no GPS in the cold room"}`))
	complete := `{"problem":"pm","cause":"planned","remedy":"serviced"}`
	if body := must(t, 400)(f.do(t, "tech", "POST", "/api/v1/workorders/"+id+"/actions/complete", complete)); !strings.Contains(body, `"field":"checklist"`) {
		t.Fatalf("complete with an open checklist: %s", body)
	}
	must(t, 403)(f.do(t, "store", "POST", "/api/v1/workorders/"+id+"/checklist", `{"answers":[{"item":"coil","pass":true}]}`))
	must(t, 400)(f.do(t, "tech", "POST", "/api/v1/workorders/"+id+"/checklist", `{"answers":[{"item":"coil","reading":3}]}`))
	must(t, 200)(f.do(t, "tech", "POST", "/api/v1/workorders/"+id+"/checklist", `{"answers":[{"item":"coil","pass":true},{"item":"sp","reading":120,"note":"low charge?"}]}`))
	if body := must(t, 400)(f.do(t, "tech", "POST", "/api/v1/workorders/"+id+"/actions/complete", complete)); !strings.Contains(body, `"field":"signed_by"`) {
		t.Fatalf("complete unsigned: %s", body)
	}
	must(t, 200)(f.do(t, "tech", "POST", "/api/v1/workorders/"+id+"/checklist", `{"signed_by":"Pat Lee, store manager"}`))
	cr := decode[workorder.WorkOrder](t, must(t, 201)(f.do(t, "tech", "POST", "/api/v1/workorders/"+id+"/corrective", `{"item":"sp"}`)))
	if cr.Origin != id || cr.ID == "" {
		t.Fatalf("corrective %+v", cr)
	}
	// The technician is not on it (yet): an FM sees it whole.
	cr = decode[workorder.WorkOrder](t, must(t, 200)(f.do(t, "fm", "GET", "/api/v1/workorders/"+cr.ID, "")))
	if cr.Origin != id || cr.Problem != "no_cooling" || cr.Asset != "wic-2" || cr.Source != workorder.Manual {
		t.Fatalf("corrective %+v", cr)
	}
	must(t, 409)(f.do(t, "tech", "POST", "/api/v1/workorders/"+id+"/corrective", `{"item":"sp"}`))
	must(t, 400)(f.do(t, "tech", "POST", "/api/v1/workorders/"+id+"/corrective", `{"item":"coil"}`))
	must(t, 200)(f.do(t, "tech", "POST", "/api/v1/workorders/"+id+"/actions/complete", complete))
	k := decode[Compliance](t, must(t, 200)(f.do(t, "fm", "GET", "/api/v1/pm/compliance?site=s1&from=2026-07-01T00:00:00Z&to=2026-08-01T00:00:00Z", "")))
	if k.Due != 1 || k.OnTime != 1 || k.Ratio != 1 {
		t.Fatalf("compliance %+v", k)
	}
	must(t, 204)(f.do(t, "fm", "DELETE", "/api/v1/pm/schedules/"+sc.ID, ""))
	must(t, 404)(f.do(t, "fm", "GET", "/api/v1/pm/schedules/"+sc.ID, ""))
}
