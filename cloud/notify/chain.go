package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/frostline/frostline/cloud"
	"github.com/frostline/frostline/cloud/workorder"
)

// PeopleStore is what the escalation and digest loops read and write.
type PeopleStore interface {
	Everyone(ctx context.Context) ([]Person, error)
	Site(ctx context.Context, id string) (*cloud.Site, error)
	Sites(ctx context.Context, only []string) ([]*cloud.Site, error)
	WorkOrder(ctx context.Context, id string) (*workorder.WorkOrder, error)
	WorkOrders(ctx context.Context, f workorder.Filter) ([]*workorder.WorkOrder, error)
	Events(ctx context.Context, id string) ([]workorder.Event, error)
	DueEscalations(ctx context.Context, now time.Time, limit int) ([]Notification, error)
	Escalated(ctx context.Context, src *Notification, next []Notification) (bool, error)
	HeldFor(ctx context.Context, person string) ([]Notification, error)
	// EventNotified reports whether any notification of event was
	// written (a digest made already).
	EventNotified(ctx context.Context, event string) (bool, error)
	PutDigest(ctx context.Context, digest, held []Notification) (bool, error)
	PruneNotifications(ctx context.Context, before time.Time) (int64, error)
}

// Chains runs, on every replica, the two loops that act on time rather
// than on events: escalation steps that fall due unacknowledged, and the
// daily digests. Both are safe to run on every replica at once: each step
// and each digest is written once (the store's guards), then sent through
// the outbox like any notification.
type Chains struct {
	Store   PeopleStore
	Planner *Planner
	// Every is how often the loops look; a minute by default.
	Every time.Duration
	// DigestAt is the local time of day ("07:00") digests go out, in
	// each person's time zone or else DigestZone.
	DigestAt   string
	DigestZone *time.Location
	// Retention is how long sent, dead and skipped notifications stay in
	// the log (pruned hourly); 0 keeps them.
	Retention time.Duration
	Log       *slog.Logger
	Now       func() time.Time
	pruned    time.Time // when this replica last pruned; only Run's goroutine touches it
}

// Run checks every Every until ctx ends; failures are logged and retried.
func (c *Chains) Run(ctx context.Context) error {
	every := c.Every
	if every <= 0 {
		every = time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := c.Once(ctx); err != nil && ctx.Err() == nil {
			c.Log.Warn("escalations or digests failed; will retry", "component", "notifications", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (c *Chains) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Once escalates what is due, writes the digests that are due, and
// prunes the log once an hour.
func (c *Chains) Once(ctx context.Context) error {
	err := errors.Join(c.Escalate(ctx), c.Digests(ctx))
	if now := c.now(); c.Retention > 0 && now.Sub(c.pruned) >= time.Hour {
		n, perr := c.Store.PruneNotifications(ctx, now.Add(-c.Retention))
		if perr == nil {
			c.pruned = now
			if n > 0 {
				c.Log.Info("notification log pruned", "component", "notifications", "notifications", n, "retention", c.Retention)
			}
		}
		err = errors.Join(err, perr)
	}
	return err
}

// Escalate writes the next step of every breach notification whose time
// came without an acknowledgement.
func (c *Chains) Escalate(ctx context.Context) error {
	now := c.now()
	due, err := c.Store.DueEscalations(ctx, now, 100)
	if err != nil || len(due) == 0 {
		return err
	}
	people, err := c.Store.Everyone(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for i := range due {
		src := &due[i]
		w, err := c.Store.WorkOrder(ctx, src.WorkOrder)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		evs, err := c.Store.Events(ctx, w.ID)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var e *workorder.Event
		for j := range evs {
			if EventID(w.ID, evs[j].Version) == src.Event {
				e = &evs[j]
			}
		}
		if e == nil {
			errs = append(errs, fmt.Errorf("notify: escalate %s: no event %s", src.ID, src.Event))
			continue
		}
		site, err := c.Store.Site(ctx, w.Site)
		if err != nil && cloud.ErrorCode(err) != cloud.ENOTFOUND {
			errs = append(errs, err)
			continue
		}
		next, err := c.Planner.Escalate(src, w, e, &World{People: people, Site: site}, now)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		done, err := c.Store.Escalated(ctx, src, next)
		if err != nil {
			errs = append(errs, err)
		} else if done && len(next) > 0 {
			c.Log.Info("breach escalated", "component", "notifications", "work_order", w.ID, "from", src.Person, "to", next[0].Person, "step", next[0].Step)
		}
	}
	return errors.Join(errs...)
}

// Digests writes today's digest for each FM and admin, and for anyone with
// notifications held for one, once their local clock passes DigestAt.
func (c *Chains) Digests(ctx context.Context) error {
	if c.DigestAt == "" {
		return nil
	}
	at, err := hhmm(c.DigestAt)
	if err != nil {
		return fmt.Errorf("notify: digest_at: %w", err)
	}
	now := c.now()
	people, err := c.Store.Everyone(ctx)
	if err != nil {
		return err
	}
	var open []*workorder.WorkOrder
	var sites map[string]*cloud.Site
	var errs []error
	for i := range people {
		p := &people[i]
		loc := c.DigestZone
		if p.Timezone != "" {
			if l, err := time.LoadLocation(p.Timezone); err == nil {
				loc = l
			}
		}
		if loc == nil {
			loc = time.UTC
		}
		local := now.In(loc)
		midnight := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, loc)
		if local.Sub(midnight) < at || p.Preference(TopicDigest) == Off {
			continue
		}
		day := local.Format(time.DateOnly)
		if done, err := c.Store.EventNotified(ctx, DigestEvent(p.ID, day)); err != nil || done {
			errs = append(errs, err) // nil when done: today's digest is written
			continue
		}
		held, err := c.Store.HeldFor(ctx, p.ID)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if p.Role != cloud.RoleFM && p.Role != cloud.RoleAdmin && len(held) == 0 {
			continue
		}
		if open == nil {
			if open, sites, err = c.openWork(ctx); err != nil {
				return errors.Join(append(errs, err)...)
			}
		}
		ns, err := c.Planner.Digest(p, day, open, held, sites, now)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if wrote, err := c.Store.PutDigest(ctx, ns, held); err != nil {
			errs = append(errs, err)
		} else if wrote {
			c.Log.Info("digest written", "component", "notifications", "person", p.ID, "held", len(held))
		}
	}
	return errors.Join(errs...)
}

// openWork is every open work order, and the register's sites.
func (c *Chains) openWork(ctx context.Context) ([]*workorder.WorkOrder, map[string]*cloud.Site, error) {
	open := []*workorder.WorkOrder{}
	f := workorder.Filter{Open: true, Scope: cloud.Scope{All: true}, Limit: 500}
	for {
		page, err := c.Store.WorkOrders(ctx, f)
		if err != nil {
			return nil, nil, err
		}
		open = append(open, page...)
		if len(page) < f.Limit {
			break
		}
		f.Before = page[len(page)-1].Number
	}
	ss, err := c.Store.Sites(ctx, nil)
	if err != nil {
		return nil, nil, err
	}
	sites := map[string]*cloud.Site{}
	for _, s := range ss {
		sites[s.ID] = s
	}
	return open, sites, nil
}
