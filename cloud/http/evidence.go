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

// Trends reads an asset's rollups back from the time-series database
// (*telemetry.Reader): the charts extend the evidence windows with it.
type Trends interface {
	Window(ctx context.Context, site, asset, metric string, from, to time.Time, step time.Duration) (*wire.Window, error)
}

// trendWindow is the stored trend of an asset for the charts, or nil when
// no time-series database is configured or it does not answer (the chart
// then shows the evidence windows alone).
func (s *Server) trendWindow(ctx context.Context, site, asset, metric string, from, to time.Time, step time.Duration) *wire.Window {
	if s.trends == nil || !to.After(from) {
		return nil
	}
	if metric == "" {
		metric = "air_temp"
	}
	w, err := s.trends.Window(ctx, site, asset, metric, from, to, step)
	if err != nil {
		s.log.Warn("chart: trend not read from the time-series database", "site", site, "asset", asset, "err", err)
		return nil
	}
	return w
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
		last := c.Points[n-1].At.Add(c.Step)
		end := last
		for _, m := range c.Marks {
			if m.At.After(end) && m.At.Sub(end) <= 24*time.Hour {
				end = m.At.Add(10 * time.Minute)
			}
		}
		if c.Breach != nil && c.Breach.After(end) && c.Breach.Sub(end) <= 6*time.Hour {
			end = c.Breach.Add(15 * time.Minute)
		}
		// With a time-series database, the readings after the last
		// incident event fill that stretch: the fix and the verification
		// are seen, not only marked.
		if ext := s.trendWindow(ctx, wo.Site, wo.Asset, c.Metric, last, minTime(end, s.now()), c.Step); ext != nil && len(ext.Points) > 0 {
			marks, breach, breached := c.Marks, c.Breach, c.Breached
			c = chart.FromWindows(append([]*wire.Window{ext}, ws...)) // the edge's own points win where both have one
			c.Marks, c.Breach, c.Breached = marks, breach, breached
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
	if ext := s.trendWindow(r.Context(), site, asset, "", from, to, time.Hour); ext != nil && len(ext.Points) > 0 {
		ws = append([]*wire.Window{ext}, ws...) // a month of hourly trend under the incidents' detail
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

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
