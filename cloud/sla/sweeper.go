package sla

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/frostline/frostline/cloud/workorder"
)

// Ref is an open, assigned work order as the sweeper lists it.
type Ref struct {
	ID, Site, Vendor string
	Version          int
}

// Store is what the Sweeper needs of the work-order store, whose
// transactions are T.
type Store[T workorder.Tx] interface {
	// Assigned lists open work orders that are with a vendor
	// (dispatched, accepted, in progress or on hold).
	Assigned(ctx context.Context) ([]Ref, error)
	Events(ctx context.Context, id string) ([]workorder.Event, error)
	Update(ctx context.Context, fn func(T) error) error
}

// Sweeper runs the SLA clocks: every Every it finds reminders and breaches
// due and records each on its work order as an SLA event, which the relay
// publishes (the vendor is reminded; the FM hears of a breach). The timers
// are rebuilt from events for work orders whose version moved since the
// last sweep and kept in memory; a restart rebuilds them all. Several
// replicas may sweep at once: an action's key is recorded on the work
// order in the same transaction, under its optimistic lock, so each
// reminder and breach happens once.
type Sweeper[T workorder.Tx] struct {
	Store  Store[T]
	Policy Policy
	// Commitment returns a vendor's commitments per priority (nil: the
	// policy's defaults); Location a site's time zone.
	Commitment func(ctx context.Context, vendor string) func(priority string) *Targets
	Location   func(ctx context.Context, site string) *time.Location
	Every      time.Duration
	Now        func() time.Time
	Log        *slog.Logger
	M          *SweepMetrics

	cache map[string]cached
}

type cached struct {
	version int
	timers  []Timer
	// done holds the keys of actions recorded on the work order, so that
	// a breach that stays breached costs nothing on later sweeps.
	done map[string]bool
}

// SweepMetrics count what the sweeper did.
type SweepMetrics struct {
	Actions *prometheus.CounterVec
	Open    prometheus.Gauge
}

// NewSweepMetrics registers the sweeper's metrics on reg (nil: unregistered).
func NewSweepMetrics(reg prometheus.Registerer) *SweepMetrics {
	m := &SweepMetrics{
		Actions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "frostline_sla_actions_total",
			Help: "SLA reminders and breaches recorded, by kind and milestone."}, []string{"kind", "milestone"}),
		Open: prometheus.NewGauge(prometheus.GaugeOpts{Name: "frostline_sla_open_timers",
			Help: "Milestone clocks running on assigned work orders at the last sweep."}),
	}
	if reg != nil {
		reg.MustRegister(m.Actions, m.Open)
	}
	return m
}

// Run sweeps until ctx is done.
func (s *Sweeper[T]) Run(ctx context.Context) error {
	every := s.Every
	if every <= 0 {
		every = 30 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if n, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.Log.Warn("sla sweep failed", "component", "sla", "err", err)
		} else if n > 0 {
			s.Log.Info("sla actions recorded", "component", "sla", "count", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Sweep records every reminder and breach due now and returns how many
// it recorded.
func (s *Sweeper[T]) Sweep(ctx context.Context) (int, error) {
	now := time.Now()
	if s.Now != nil {
		now = s.Now()
	}
	refs, err := s.Store.Assigned(ctx)
	if err != nil {
		return 0, fmt.Errorf("sla: assigned work orders: %w", err)
	}
	if s.cache == nil {
		s.cache = map[string]cached{}
	}
	live := make(map[string]bool, len(refs))
	open := 0
	var actions []Action
	for _, r := range refs {
		live[r.ID] = true
		c, ok := s.cache[r.ID]
		if !ok || c.version != r.Version {
			events, err := s.Store.Events(ctx, r.ID)
			if err != nil {
				return 0, fmt.Errorf("sla: events of %s: %w", r.ID, err)
			}
			var commit func(string) *Targets
			if s.Commitment != nil {
				commit = s.Commitment(ctx, r.Vendor)
			}
			loc := time.UTC
			if s.Location != nil {
				loc = s.Location(ctx, r.Site)
			}
			c = cached{version: r.Version, timers: s.Policy.Timers(events, commit, loc)}
			for _, e := range events {
				if e.SLA != nil {
					if c.done == nil {
						c.done = map[string]bool{}
					}
					c.done[e.SLA.Key] = true
				}
			}
			s.cache[r.ID] = c
		}
		open += len(c.timers)
		for _, a := range Sweep(now, c.timers) {
			if !c.done[a.Key] {
				actions = append(actions, a)
			}
		}
	}
	for id := range s.cache {
		if !live[id] {
			delete(s.cache, id)
		}
	}
	if s.M != nil {
		s.M.Open.Set(float64(open))
	}
	done := 0
	for _, a := range actions {
		recorded := false
		err := s.Store.Update(ctx, func(tx T) error {
			recorded = false
			w, err := tx.WorkOrder(ctx, a.WorkOrder)
			if err != nil || w == nil || !w.Status.Open() || w.Vendor != a.Vendor {
				return err // moved on since the timers were built
			}
			ev := w.MarkSLA(workorder.SLAMark{Key: a.Key, Kind: string(a.Kind), Milestone: string(a.Milestone),
				Vendor: a.Vendor, Due: a.Due, Lateness: a.Lateness, At: now})
			if len(ev) == 0 {
				return nil // another replica did it
			}
			recorded = true
			return tx.Save(ctx, w, ev)
		})
		if err != nil {
			return done, fmt.Errorf("sla: %s: %w", a.Key, err)
		}
		if c := s.cache[a.WorkOrder]; c.done == nil {
			c.done = map[string]bool{a.Key: true}
			s.cache[a.WorkOrder] = c
		} else {
			c.done[a.Key] = true
		}
		if recorded {
			done++
			if s.M != nil {
				s.M.Actions.WithLabelValues(string(a.Kind), string(a.Milestone)).Inc()
			}
			if a.Kind == Breach {
				s.Log.Warn("sla breached", "component", "sla", "work_order", a.WorkOrder, "site", a.Site, "vendor", a.Vendor,
					"milestone", a.Milestone, "due", a.Due, "late", a.Lateness.Round(time.Second))
			}
		}
	}
	return done, nil
}
