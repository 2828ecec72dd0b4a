package analytics

import (
	"context"
	"log/slog"
	"time"
)

// Roller is a store keeping a daily rollup of its KPI facts (both stores):
// RollupFacts builds every whole day up to until that is missing or stale.
type Roller interface {
	RollupFacts(ctx context.Context, until time.Time) (int, error)
}

// Refresher keeps a store's KPI rollup up to date, so queries over long
// periods read whole days from it and each query's check for changes
// since the last refresh stays short. Every replica may run one: two
// building the same day write the same rows.
type Refresher struct {
	Store Roller
	Log   *slog.Logger
	// Every is how often to refresh (default 10 min).
	Every time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Tick, when set, paces the refreshes instead of a ticker of Every (a
	// test's hand-driven clock).
	Tick <-chan time.Time
}

// Run refreshes at once and then every Every until ctx is done; a failure
// is logged and tried again at the next tick. It returns nil when ctx is
// cancelled.
func (r *Refresher) Run(ctx context.Context) error {
	every, now, log := r.Every, r.Now, r.Log
	if every <= 0 {
		every = 10 * time.Minute
	}
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "analytics-rollup")
	ticks := r.Tick
	if ticks == nil {
		tick := time.NewTicker(every)
		defer tick.Stop()
		ticks = tick.C
	}
	for {
		start := time.Now()
		n, err := r.Store.RollupFacts(ctx, now())
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			log.Warn("KPI rollup not brought up to date; retrying at the next tick", "err", err)
		case n > 0:
			log.Info("KPI rollup days built", "days", n, "took", time.Since(start).Round(time.Millisecond))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticks:
		}
	}
}
