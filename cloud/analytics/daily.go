package analytics

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/dispatch"
	"github.com/frostline/frostline/cloud/sla"
	"github.com/frostline/frostline/cloud/telemetry"
)

// Querier answers KPI queries: both stores do.
type Querier interface {
	KPIs(ctx context.Context, q Query) (*Report, error)
}

// Store is what Daily reads: the KPIs, from a daily rollup it brings up
// to date first. Both stores are one.
type Store interface {
	Querier
	Roller
}

// Sink takes daily KPI points: *telemetry.Writer.
type Sink interface {
	WriteKPIs(ctx context.Context, ks ...telemetry.KPI) error
}

// Daily writes each day's KPIs to InfluxDB: per site, per asset and per
// vendor at each site, one point per scope and day (time = the day's
// start, UTC), with the fields of telemetry.KPIFields that are defined.
//
// Every Every it rewrites today so far and the Days days before it, so a
// late change (a work order verified the next morning) reaches the
// points, and a missed run (every replica down over midnight) is made up.
//
// Several replicas may each run a Daily: a point's identity in InfluxDB is
// measurement, tags and timestamp, so the same point written twice, by two
// replicas or two runs, overwrites itself rather than adding a second; the
// latest write carries the latest figures. No coordination is needed.
type Daily struct {
	Source Store
	Sink   Sink
	Log    *slog.Logger
	// Every is how often to write (default 1 h); Days how many complete
	// days before today to rewrite each time (default 2).
	Every time.Duration
	Days  int
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Tick, when set, paces the writes instead of a ticker of Every (a
	// test's hand-driven clock).
	Tick <-chan time.Time
	// Scores, when set, gives each vendor's dispatch scorecard (the
	// trailing year): vendor points then carry its composite score, the
	// share of offers it confirmed, its check-in compliance and its
	// on-time arrival, which only the offer book knows.
	Scores func(ctx context.Context) (map[string]*dispatch.Scorecard, error)
}

func (d *Daily) defaults() {
	if d.Every <= 0 {
		d.Every = time.Hour
	}
	if d.Days <= 0 {
		d.Days = 2
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
}

// Run writes at once and then every Every until ctx is done. A failed
// write is logged and tried again at the next tick (InfluxDB down loses
// nothing: the figures are recomputed from the store). It returns nil
// when ctx is cancelled.
func (d *Daily) Run(ctx context.Context) error {
	d.defaults()
	log := d.Log.With("component", "analytics-daily")
	ticks := d.Tick
	if ticks == nil {
		tick := time.NewTicker(d.Every)
		defer tick.Stop()
		ticks = tick.C
	}
	for {
		// Bring the store's daily rollup up to date first, so the
		// queries below read whole days from it.
		if n, err := d.Source.RollupFacts(ctx, d.Now()); err != nil && ctx.Err() == nil {
			log.Warn("KPI rollup not brought up to date", "err", err)
		} else if n > 0 {
			log.Debug("KPI rollup days built", "days", n)
		}
		today := d.Now().UTC().Truncate(24 * time.Hour)
		for i := d.Days; i >= 0; i-- {
			day := today.AddDate(0, 0, -i)
			n, err := d.WriteDay(ctx, day)
			if ctx.Err() != nil {
				return nil
			}
			if err != nil {
				log.Warn("daily KPIs not written; retrying at the next tick", "day", day.Format(time.DateOnly), "err", err)
				break
			}
			log.Debug("daily KPIs written", "day", day.Format(time.DateOnly), "points", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticks:
		}
	}
}

// WriteDay computes one day's KPI points and writes them; it returns how
// many points it wrote.
func (d *Daily) WriteDay(ctx context.Context, day time.Time) (int, error) {
	d.defaults()
	ks, err := d.Points(ctx, day)
	if err != nil {
		return 0, err
	}
	if len(ks) == 0 {
		return 0, nil
	}
	if err := d.Sink.WriteKPIs(ctx, ks...); err != nil {
		return 0, fmt.Errorf("analytics: daily %s: %w", day.Format(time.DateOnly), err)
	}
	return len(ks), nil
}

// Points returns one day's KPI points, sites first, then assets, then
// vendors, each sorted by its tags.
func (d *Daily) Points(ctx context.Context, day time.Time) ([]telemetry.KPI, error) {
	d.defaults()
	day = day.UTC().Truncate(24 * time.Hour)
	now := d.Now()
	var cards map[string]*dispatch.Scorecard
	if d.Scores != nil {
		var err error
		if cards, err = d.Scores(ctx); err != nil {
			return nil, fmt.Errorf("analytics: daily %s: scorecards: %w", day.Format(time.DateOnly), err)
		}
	}
	var out []telemetry.KPI
	for _, s := range []struct {
		scope string
		group []Dimension
	}{
		{telemetry.ScopeSite, []Dimension{Region, Site}},
		{telemetry.ScopeAsset, []Dimension{Site, Asset}},
		{telemetry.ScopeVendor, []Dimension{Site, Vendor}},
	} {
		rep, err := d.Source.KPIs(ctx, Query{From: day, To: day.Add(24 * time.Hour), Now: now, GroupBy: s.group, Scope: cloud.Scope{All: true}})
		if err != nil {
			return nil, fmt.Errorf("analytics: daily %s %s: %w", day.Format(time.DateOnly), s.scope, err)
		}
		for _, row := range rep.Rows {
			k := telemetry.KPI{Day: day, Scope: s.scope, Site: row.Group[string(Site)], Region: row.Group[string(Region)], Values: map[string]float64{}}
			switch s.scope {
			case telemetry.ScopeAsset:
				k.Asset = row.Group[string(Asset)]
			case telemetry.ScopeVendor:
				k.Vendor = row.Group[string(Vendor)]
			}
			if k.Site == "" || (s.scope == telemetry.ScopeAsset && k.Asset == "") || (s.scope == telemetry.ScopeVendor && k.Vendor == "") {
				continue // work nobody was sent to has no vendor point
			}
			fields := telemetry.KPIFields[s.scope]
			for name, v := range row.Values {
				if v != nil && slices.Contains(fields, name) {
					k.Values[name] = *v
				}
			}
			if c := cards[k.Vendor]; c != nil && s.scope == telemetry.ScopeVendor {
				scoreFields(k.Values, c)
			}
			// The asset scope calls the work orders created work_orders.
			if v := row.Values["created"]; v != nil && s.scope == telemetry.ScopeAsset {
				k.Values["work_orders"] = *v
			}
			if len(k.Values) > 0 {
				out = append(out, k)
			}
		}
	}
	return out, nil
}

// scoreFields adds what a vendor's scorecard says to its point, leaving
// out rates with no sample.
func scoreFields(v map[string]float64, c *dispatch.Scorecard) {
	set := func(name string, x float64) {
		if !math.IsNaN(x) {
			v[name] = x
		}
	}
	if c.Outcomes > 0 {
		set("score", c.Score)
	}
	set("dispatch_confirmation", c.Acceptance.Value())
	set("checkin_compliance", c.CheckIn.Value())
	set("invoice_accuracy", c.InvoiceAccuracy.Value())
	if m, ok := c.SLA[sla.Arrive]; ok {
		set("on_time_arrival", m.Met.Value())
	}
	// The stores' say on the vendor's verified visits (a mean score of 1
	// to 5, and the share they called fixed).
	set("store_rating", c.Ratings.Average)
	set("store_fixed_rate", c.Ratings.Fixed.Value())
}
