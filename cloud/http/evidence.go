package http

import (
	"context"
	"html/template"
	"net/http"
	"slices"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/chart"
	"github.com/frostline/frostline/cloud/workorder"
	"github.com/frostline/frostline/edge/wire"
)

// windowStore answers for incidents' evidence windows.
type windowStore interface {
	Windows(ctx context.Context, incidents []string) ([]*wire.Window, error)
	AssetWindows(ctx context.Context, site, asset string, from, to time.Time) ([]*wire.Window, error)
}

// historyDays is how far back an asset's history page charts.
const historyDays = 30

// evidenceChart draws a sensor work order's evidence: the windows its
// incidents carried, the predicted breach, and the work's milestones
// (created, dispatched, on site, completed, verified). It is nil for a
// work order without windows (a staff report, an edge before v2).
func (s *Server) evidenceChart(ctx context.Context, wo *workorder.WorkOrder) (template.HTML, error) {
	if wo.Source != workorder.Sensor {
		return "", nil
	}
	ws, err := s.store.Windows(ctx, wo.Incidents)
	if err != nil || len(ws) == 0 {
		return "", err
	}
	c := chart.FromWindows(ws)
	for _, ev := range wo.Evidence {
		if ev.BreachedAt != nil {
			c.Breached = ev.BreachedAt
		}
		if ev.PredictedBreachAt != nil {
			c.Breach = ev.PredictedBreachAt
		}
	}
	c.Marks = workMarks(wo)
	// The work goes on after the last reading the edge sent: the axis
	// runs on to the milestones, up to a day, so that the visit and the
	// verification show where they came.
	if n := len(c.Points); n > 0 {
		end := c.Points[n-1].At.Add(c.Step)
		for _, m := range c.Marks {
			if m.At.After(end) && m.At.Sub(end) <= 24*time.Hour {
				end = m.At.Add(10 * time.Minute)
			}
		}
		if c.Breach != nil && c.Breach.After(end) && c.Breach.Sub(end) <= 6*time.Hour {
			end = c.Breach.Add(15 * time.Minute)
		}
		c.To = end
	}
	return c.SVG(wo.Asset + ": " + c.Metric + " around work order #" + itoa(wo.Number)), nil
}

// workMarks are a work order's milestones on the chart's time axis.
func workMarks(wo *workorder.WorkOrder) []chart.Mark {
	marks := []chart.Mark{{At: wo.CreatedAt, Label: "created"}}
	if wo.DispatchedAt != nil {
		marks = append(marks, chart.Mark{At: *wo.DispatchedAt, Label: "dispatched"})
	}
	for _, v := range wo.Visits {
		marks = append(marks, chart.Mark{At: v.In, Label: "on site"})
		if v.Out != nil {
			marks = append(marks, chart.Mark{At: *v.Out, Label: "left"})
		}
	}
	if wo.VerifiedAt != nil {
		marks = append(marks, chart.Mark{At: *wo.VerifiedAt, Label: "verified"})
	}
	return marks
}

// assetPage is an asset's history: its last 30 days charted from the
// evidence its incidents carried, with its work orders marked and listed.
func (s *Server) assetPage(w http.ResponseWriter, r *http.Request, c *caller) error {
	site, asset := r.PathValue("site"), r.PathValue("asset")
	if !c.scope.SeesSite(site) {
		return cloud.Errorf(cloud.ENOTFOUND, "asset %s/%s not found", site, asset)
	}
	a, err := s.store.Asset(r.Context(), site, asset)
	if err != nil {
		return err
	}
	if a == nil {
		return cloud.Errorf(cloud.ENOTFOUND, "asset %s/%s not found", site, asset)
	}
	to := s.now()
	from := to.Add(-historyDays * 24 * time.Hour)
	wos, err := s.store.WorkOrders(r.Context(), workorder.Filter{Site: site, Asset: asset, From: from, Scope: c.scope, Limit: 500})
	if err != nil {
		return err
	}
	data := map[string]any{"Title": site + " / " + asset, "Who": c.actor(), "Asset": a, "WorkOrders": wos, "Days": historyDays}
	ws, err := s.store.AssetWindows(r.Context(), site, asset, from, to)
	if err != nil {
		return err
	}
	ch := chart.FromWindows(ws)
	ch.From, ch.To = from, to
	for _, wo := range slices.Backward(wos) {
		ch.Marks = append(ch.Marks, chart.Mark{At: wo.CreatedAt, Label: "#" + itoa(wo.Number) + " " + wo.Problem, Href: "/workorders/" + wo.ID})
	}
	data["Chart"] = ch.SVG(asset + ": the last " + itoa(historyDays) + " days")
	s.render(w, http.StatusOK, "asset.html", data)
	return nil
}
