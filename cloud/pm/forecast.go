package pm

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"
)

// ForecastItem is one visit due in a period.
type ForecastItem struct {
	Schedule    string    `json:"schedule"`
	Name        string    `json:"name"`
	Site        string    `json:"site"`
	Asset       string    `json:"asset"`
	Occurrence  string    `json:"occurrence"`
	DueAt       time.Time `json:"due_at"`
	Note        string    `json:"note,omitempty"`
	Trade       string    `json:"trade"`
	LabourHours float64   `json:"labour_hours,omitempty"`
}

// MaxForecast bounds a forecast's period.
const MaxForecast = 2 * 366 * 24 * time.Hour

// Forecast lists the visits due in [from, to) at a site ("" for every
// site), in order of due time, for budgeting. Runtime visits are projected
// at each asset's recent pace.
func Forecast(ctx context.Context, st Store, site string, from, to, now time.Time) ([]ForecastItem, error) {
	if !to.After(from) || to.Sub(from) > MaxForecast {
		return nil, fmt.Errorf("pm: forecast: want from before to, at most two years apart")
	}
	scheds, err := st.PMSchedules(ctx, site)
	if err != nil {
		return nil, fmt.Errorf("pm: forecast: %w", err)
	}
	targets, err := st.PMTargets(ctx, site)
	if err != nil {
		return nil, fmt.Errorf("pm: forecast: %w", err)
	}
	var only []string
	if site != "" {
		only = []string{site}
	}
	e, err := loadEnv(ctx, st, only)
	if err != nil {
		return nil, err
	}
	ix := indexTargets(targets)
	items := []ForecastItem{}
	for _, s := range scheds {
		if s.Paused {
			continue
		}
		for _, t := range ix.of(s) {
			occs, err := s.Occurrences(ctx, e.context(t, st, now), from, to)
			if err != nil {
				return nil, err
			}
			for _, o := range occs {
				items = append(items, ForecastItem{Schedule: s.ID, Name: s.Name, Site: t.Site, Asset: t.Asset,
					Occurrence: o.Key, DueAt: o.DueAt.UTC(), Note: o.Note, Trade: s.Template.Trade, LabourHours: s.Template.LabourHours})
			}
		}
	}
	slices.SortFunc(items, func(a, b ForecastItem) int {
		return cmp.Or(a.DueAt.Compare(b.DueAt), cmp.Compare(a.Site, b.Site), cmp.Compare(a.Asset, b.Asset), cmp.Compare(a.Schedule, b.Schedule))
	})
	return items, nil
}

// targetIndex finds a schedule's assets without scanning the register.
type targetIndex struct {
	asset     map[[2]string]Target
	siteClass map[[2]string][]Target
	class     map[string][]Target
}

func indexTargets(ts []Target) *targetIndex {
	ix := &targetIndex{asset: map[[2]string]Target{}, siteClass: map[[2]string][]Target{}, class: map[string][]Target{}}
	for _, t := range ts {
		ix.asset[[2]string{t.Site, t.Asset}] = t
		ix.siteClass[[2]string{t.Site, t.Class}] = append(ix.siteClass[[2]string{t.Site, t.Class}], t)
		ix.class[t.Class] = append(ix.class[t.Class], t)
	}
	return ix
}

func (ix *targetIndex) of(s *Schedule) []Target {
	switch {
	case s.Asset != "":
		if t, ok := ix.asset[[2]string{s.Site, s.Asset}]; ok {
			return []Target{t}
		}
		return nil
	case s.Site != "":
		return ix.siteClass[[2]string{s.Site, s.AssetClass}]
	}
	return ix.class[s.AssetClass]
}
