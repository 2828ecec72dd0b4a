package http

import (
	"context"
	nethttp "net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/frostline/frostline/cloud/store"
	"github.com/frostline/frostline/cloud/workorder"
	"github.com/frostline/frostline/edge/wire"
	"github.com/frostline/frostline/rules"
)

// failingCooler is the window an edge sends with a walk-in cooler's
// compressor failing two hours before end: 72 points at 5 minutes, the
// air and the modelled product climbing past the 5 C limit, the
// compressor cycling three times before it stops, one defrost and one
// door opening: five bands.
func failingCooler(end time.Time) *wire.Window {
	limit := 5.0
	w := &wire.Window{Metric: "air_temp", Unit: "C", Step: 300, Limit: &limit}
	for i := range 72 {
		at := end.Add(time.Duration(i-72) * 5 * time.Minute)
		air, prod := 2.5, 3.0
		if since := end.Sub(at); since < 2*time.Hour {
			air = 2.5 + (2*time.Hour-since).Hours()*3.5
			prod = 3 + (2*time.Hour-since).Hours()*1.2
		}
		w.Points = append(w.Points, wire.WindowPoint{At: at, Min: air - 0.4, Mean: air, Max: air + 0.4, Product: &prod})
	}
	ch := func(before time.Duration, signal string, on bool) wire.Change {
		return wire.Change{At: end.Add(-before), Signal: signal, On: on}
	}
	w.Changes = []wire.Change{
		ch(350*time.Minute, wire.SignalCompressor, true), ch(330*time.Minute, wire.SignalCompressor, false),
		ch(300*time.Minute, wire.SignalCompressor, true), ch(280*time.Minute, wire.SignalCompressor, false),
		ch(240*time.Minute, wire.SignalCompressor, true),
		ch(180*time.Minute, wire.SignalDefrost, true), ch(160*time.Minute, wire.SignalDefrost, false),
		ch(120*time.Minute, wire.SignalCompressor, false),
		ch(60*time.Minute, wire.SignalDoor, true), ch(55*time.Minute, wire.SignalDoor, false),
	}
	return w
}

// sensorIncident opens a work order from an incident carrying win, as
// the intake does: the event and its window in one transaction.
func (d *dispatchFixture) sensorIncident(t *testing.T, id, asset string, win *wire.Window) *workorder.WorkOrder {
	t.Helper()
	if d.seq == nil {
		d.seq = map[string]int{}
	}
	d.seq[id]++
	breach := d.clock.Add(40 * time.Minute)
	inc := wire.NewIncident("gw", rules.Event{Event: rules.Opened, Incident: id, Seq: d.seq[id], Site: "s1", Asset: asset,
		AssetClass: "walk_in_cooler", Rule: "r", Problem: "no_cooling", Priority: "P1", Trade: "refrigeration", At: d.clock,
		Started: d.clock.Add(-2 * time.Hour), PredictedBreachAt: &breach})
	inc.Window = win
	var res workorder.Result
	err := d.store.Update(context.Background(), func(tx store.Tx) error {
		var err error
		if res, err = d.in.Receive(context.Background(), tx, workorder.FromIncident(&inc.Event)); err != nil {
			return err
		}
		return tx.PutWindow(context.Background(), &inc)
	})
	if err != nil {
		t.Fatal(err)
	}
	return res.WorkOrder
}

// TestEvidenceChart: an FM on a laptop opens a sensor work order and sees
// its evidence charted, then the asset's 30-day history with the work
// order marked on it. Chromium renders both; the test counts the points
// and bands the browser drew and keeps screenshots.
func TestEvidenceChart(t *testing.T) {
	d := newDispatchFixture(t)
	w := d.sensorIncident(t, "i1", "wic-1", failingCooler(d.clock))
	d.act(t, "polar", w.ID, "accept", `{"technician":"tech-polar"}`, 200)
	d.clock = d.clock.Add(30 * time.Minute)
	d.act(t, "tech-polar", w.ID, "check_in", `{"lat":41.88,"lon":-87.63}`, 200)

	// The page's policy is unchanged: no script, no loosening for the chart.
	req, _ := nethttp.NewRequest("GET", d.ts.URL+"/workorders/"+w.ID, nil)
	req.Header.Set("Authorization", "Bearer "+d.tokens["fm"])
	resp, err := nethttp.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("work order page: %s", resp.Status)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); csp != "default-src 'self'; style-src 'unsafe-inline'" {
		t.Errorf("Content-Security-Policy %q", csp)
	}

	ctx := browse(t)
	id := func(s string) chromedp.ID { return chromedp.ID(s) }
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatal(err)
	}
	browserSignIn(t, ctx, d.ts.URL, d.tokens["fm"], "table")
	err = chromedp.Do(ctx,
		chromedp.Navigate(d.ts.URL+"/workorders/"+w.ID),
		chromedp.WaitVisible(chromedp.CSS("#chart svg.chart")),
	)
	if err != nil {
		t.Fatal(err)
	}
	count := func(js string) int {
		t.Helper()
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](js))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	points := `[...document.querySelectorAll('#chart polyline.air')].reduce((n, p) => n + p.points.numberOfItems, 0)`
	if n := count(points); n != 72 {
		t.Errorf("the chart drew %d points, want 72", n)
	}
	if n := count(`[...document.querySelectorAll('#chart polyline.product')].reduce((n, p) => n + p.points.numberOfItems, 0)`); n != 72 {
		t.Errorf("the product line has %d points, want 72", n)
	}
	for sel, want := range map[string]int{
		"rect.band": 5, "rect.band.compressor": 3, "rect.band.defrost": 1, "rect.band.door": 1,
		"line.limit": 1, "line.breach": 1, "g.mark": 3, // created, dispatched, on site
	} {
		if n := count(`document.querySelectorAll('#chart ` + sel + `').length`); n != want {
			t.Errorf("%s: %d drawn, want %d", sel, n, want)
		}
	}
	// The bands are where the signals were on: the compressor's last run
	// ends where it failed, two hours before the incident, 2/3 across
	// the six-hour window before the axis runs on to the visit.
	box, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`(() => {
		const b = [...document.querySelectorAll('#chart rect.band.compressor')].map(r => r.getBBox());
		const p = document.querySelector('#chart rect').getBBox();
		return [b[2].x + b[2].width - p.x, p.width];
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	if frac := box[0] / box[1]; frac < 0.4 || frac > 0.75 {
		t.Errorf("the compressor's last run ends %.2f across the plot", frac)
	}
	screenshot(t, ctx, "#chart", "workorder-chart")

	// The asset's history: the same evidence over 30 days, the work order
	// marked with a link to it.
	err = chromedp.Do(ctx, chromedp.Click(id("asset-history")), chromedp.WaitVisible(chromedp.CSS("#chart svg.chart")))
	if err != nil {
		t.Fatal(err)
	}
	if n := count(points); n != 72 {
		t.Errorf("the history chart drew %d points, want 72", n)
	}
	if n := count(`document.querySelectorAll('#chart a[href="/workorders/` + w.ID + `"] g.mark').length`); n != 1 {
		t.Errorf("%d marks link to the work order, want 1", n)
	}
	if n := count(`document.querySelectorAll('#asset-workorders a[href="/workorders/` + w.ID + `"]').length`); n != 1 {
		t.Errorf("the work order is not listed under the history")
	}
	if title, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("h1"))); !strings.Contains(title, "s1 / wic-1") {
		t.Errorf("history page title %q", title)
	}
	screenshot(t, ctx, "#chart", "asset-history-chart")
}

// trendsFake answers as the time-series database would: a point every
// step of the range asked for, the cooler back at 3 C after its repair.
type trendsFake struct {
	asked []time.Time // from, to of each call
}

func (f *trendsFake) Window(_ context.Context, site, asset, metric string, from, to time.Time, step time.Duration) (*wire.Window, error) {
	f.asked = append(f.asked, from, to)
	w := &wire.Window{Metric: metric, Unit: "C", Step: step.Seconds()}
	for at := from; at.Before(to); at = at.Add(step) {
		w.Points = append(w.Points, wire.WindowPoint{At: at, Min: 2.6, Mean: 3, Max: 3.4})
	}
	return w, nil
}

// TestEvidenceChartExtendsFromTrends: with a time-series database, the
// stretch after the incident's last window (the visit, the fix) is drawn
// from the stored trend, and the edge's own points are kept where both
// have one. The reader itself is tested on a real InfluxDB
// (cloud/telemetry TestReaderWindow).
func TestEvidenceChartExtendsFromTrends(t *testing.T) {
	d := newDispatchFixture(t)
	end := d.clock
	w := d.sensorIncident(t, "i-trend", "wic-1", failingCooler(end))
	d.act(t, "polar", w.ID, "accept", `{"technician":"tech-polar"}`, 200)
	later := end.Add(90 * time.Minute)
	d.srv.now = func() time.Time { return later }
	d.act(t, "tech-polar", w.ID, "check_in", `{"lat":41.8801,"lon":-87.6301}`, 200)
	wo, err := d.store.WorkOrder(context.Background(), w.ID)
	if err != nil {
		t.Fatal(err)
	}
	before, err := d.srv.evidenceChart(context.Background(), wo)
	if err != nil {
		t.Fatal(err)
	}
	fake := &trendsFake{}
	d.srv.trends = fake
	after, err := d.srv.evidenceChart(context.Background(), wo)
	if err != nil {
		t.Fatal(err)
	}
	if len(fake.asked) != 2 || !fake.asked[0].Equal(end) || !fake.asked[1].Equal(later) {
		t.Fatalf("trend asked for %v, want from the window's end %s to now %s", fake.asked, end, later)
	}
	points := func(svg string) string {
		_, rest, _ := strings.Cut(svg, `data-points="`)
		n, _, _ := strings.Cut(rest, `"`)
		return n
	}
	// 72 points from the edge; the trend adds one each 5 minutes of the
	// 90 after, 18.
	if points(string(before)) != "72" || points(string(after)) != "90" {
		t.Errorf("points drawn: %s without the trend, %s with it; want 72 and 90", points(string(before)), points(string(after)))
	}
}
