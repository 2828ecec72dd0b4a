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
	rt := newUsageMemo(st, site)
	// Visits are collected as small records and made into items once, in
	// order: a year over a thousand sites is hundreds of thousands of
	// visits, and moving whole items while growing and sorting them cost
	// more than computing them.
	type rec struct {
		due        int64
		i, s       int32
		koff, klen int32 // the key in arena
		t          *Target
		note       string
	}
	var recs []rec
	var arena []byte // every key, end to end: one string at the end, not one each
	for si, s := range scheds {
		if s.Paused {
			continue
		}
		ts := ix.of(s)
		for ti := range ts {
			t := &ts[ti]
			err := s.each(ctx, e.context(*t, rt, now), from, to, func(o Occurrence) {
				off := len(arena)
				if o.Key != "" {
					arena = append(arena, o.Key...)
				} else {
					arena = appendKey(arena, o.ruleAt)
				}
				recs = append(recs, rec{due: o.DueAt.UnixNano(), i: int32(len(recs)), s: int32(si), t: t,
					koff: int32(off), klen: int32(len(arena) - off), note: o.Note})
			})
			if err != nil {
				return nil, err
			}
		}
	}
	// Records were made in a fixed order (schedules by id, their assets
	// by site and id), which orders visits due together.
	type key struct {
		due int64
		i   int32
	}
	keys := make([]key, len(recs))
	for i, r := range recs {
		keys[i] = key{r.due, r.i}
	}
	slices.SortFunc(keys, func(a, b key) int { return cmp.Or(cmp.Compare(a.due, b.due), cmp.Compare(a.i, b.i)) })
	keyText := string(arena)
	items := make([]ForecastItem, len(recs))
	for j, k := range keys {
		r := &recs[k.i]
		s := scheds[r.s]
		items[j] = ForecastItem{Schedule: s.ID, Name: s.Name, Site: r.t.Site, Asset: r.t.Asset, Occurrence: keyText[r.koff : r.koff+r.klen],
			DueAt: time.Unix(0, r.due).UTC(), Note: r.note, Trade: s.Template.Trade, LabourHours: s.Template.LabourHours}
	}
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
