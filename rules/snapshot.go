package rules

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"
)

// snapshotVersion is bumped when the snapshot layout changes incompatibly;
// an engine refuses a snapshot of another version rather than misread it.
const snapshotVersion = 1

type snapshot struct {
	Version   int                 `json:"version"`
	Watermark int64               `json:"watermark"`
	NextScan  int64               `json:"next_scan"`
	Sites     map[string]siteSnap `json:"sites"`
}

type siteSnap struct {
	LastSeen int64                `json:"last_seen"`
	Resumed  int64                `json:"resumed,omitempty"`
	Rules    map[string]instSnap  `json:"rules,omitempty"` // site-scope rules
	Assets   map[string]assetSnap `json:"assets"`
}

type assetSnap struct {
	LastSeen int64               `json:"last_seen"`
	Held     map[string]held     `json:"held,omitempty"`
	Rules    map[string]instSnap `json:"rules,omitempty"`
}

type instSnap struct {
	Fingerprint string          `json:"fp"`
	Kind        string          `json:"kind"`
	Episode     episode         `json:"episode"`
	State       json.RawMessage `json:"state"`
}

// Snapshot encodes the engine's state: held values, episodes and every
// rule instance's state. The encoding is deterministic (the same state
// gives the same bytes) and versioned.
func (e *Engine) Snapshot() ([]byte, error) {
	s := snapshot{Version: snapshotVersion, Watermark: e.wm, NextScan: e.nextScan, Sites: make(map[string]siteSnap, len(e.sites))}
	for _, ss := range e.sites {
		sn := siteSnap{LastSeen: ss.lastSeen, Resumed: ss.resumed, Assets: make(map[string]assetSnap, len(ss.assets))}
		for _, in := range ss.scoped {
			if sn.Rules == nil {
				sn.Rules = map[string]instSnap{}
			}
			is, err := in.snap()
			if err != nil {
				return nil, err
			}
			sn.Rules[in.rule.id] = is
		}
		for _, a := range ss.assets {
			an := assetSnap{LastSeen: a.lastSeen, Held: map[string]held{}, Rules: map[string]instSnap{}}
			for m := range a.held {
				if a.held[m].Seen {
					an.Held[MetricID(m).String()] = a.held[m]
				}
			}
			for _, in := range a.all {
				is, err := in.snap()
				if err != nil {
					return nil, err
				}
				an.Rules[in.rule.id] = is
			}
			sn.Assets[a.asset.ID] = an
		}
		s.Sites[ss.site.ID] = sn
	}
	b, err := json.Marshal(&s)
	if err != nil {
		return nil, fmt.Errorf("rules: snapshot: %w", err)
	}
	return b, nil
}

func (in *instance) snap() (instSnap, error) {
	st, err := json.Marshal(in.st)
	if err != nil {
		return instSnap{}, fmt.Errorf("rules: snapshot %s: %w", in.rule.id, err)
	}
	return instSnap{Fingerprint: in.rule.fingerprint, Kind: in.rule.kind, Episode: in.ep, State: st}, nil
}

// Restore loads a snapshot taken by Snapshot, possibly from an engine with
// other rules or sites (a hot reload). An instance whose rule is unchanged
// continues exactly where it was. One whose rule changed keeps its open
// episode, so that the incident still clears, but restarts its evaluation.
// An open episode whose rule or asset is gone is cleared: the returned
// events (appended to dst) say so, so that no incident stays open forever.
func (e *Engine) Restore(dst []Event, data []byte) ([]Event, error) {
	var s snapshot
	if err := json.Unmarshal(data, &s); err != nil {
		return dst, fmt.Errorf("rules: restore: %w", err)
	}
	if s.Version != snapshotVersion {
		return dst, fmt.Errorf("rules: restore: snapshot version %d, want %d", s.Version, snapshotVersion)
	}
	if s.Watermark > e.wm {
		e.wm, e.nextScan = s.Watermark, s.NextScan
	}
	e.out = dst
	defer func() { e.out = nil }()
	defer e.noteFits()
	for _, siteID := range sortedKeys(s.Sites) {
		sn := s.Sites[siteID]
		ss := e.siteByID[siteID]
		if ss == nil {
			for _, assetID := range sortedKeys(sn.Assets) {
				e.orphans(siteID, assetID, sn.Assets[assetID].Rules)
			}
			e.orphans(siteID, SiteAsset, sn.Rules)
			continue
		}
		ss.lastSeen = max(ss.lastSeen, sn.LastSeen)
		ss.resumed = max(ss.resumed, sn.Resumed)
		byID := map[string]*instance{}
		for _, in := range ss.scoped {
			byID[in.rule.id] = in
		}
		left, err := restoreInstances(byID, sn.Rules)
		if err != nil {
			return e.out, err
		}
		e.orphans(siteID, SiteAsset, left)
		for _, assetID := range sortedKeys(sn.Assets) {
			an := sn.Assets[assetID]
			a := e.assets[assetKey{siteID, assetID}]
			if a == nil {
				e.orphans(siteID, assetID, an.Rules)
				continue
			}
			a.lastSeen = max(a.lastSeen, an.LastSeen)
			for name, h := range an.Held {
				if m := LookupMetric(name); m != NoMetric {
					a.held[m] = h
				}
			}
			byID := map[string]*instance{}
			for _, in := range a.all {
				byID[in.rule.id] = in
			}
			left, err := restoreInstances(byID, an.Rules)
			if err != nil {
				return e.out, err
			}
			e.orphans(siteID, assetID, left)
		}
	}
	return e.out, nil
}

// restoreInstances loads saved instance states into the live instances and
// returns the saved ones that have no live instance any more.
func restoreInstances(live map[string]*instance, saved map[string]instSnap) (map[string]instSnap, error) {
	left := map[string]instSnap{}
	for id, is := range saved {
		in := live[id]
		if in == nil || in.rule.kind != is.Kind {
			left[id] = is
			continue
		}
		in.ep = is.Episode
		if is.Fingerprint != in.rule.fingerprint {
			continue
		}
		if err := json.Unmarshal(is.State, in.st); err != nil {
			return nil, fmt.Errorf("rules: restore %s: %w", id, err)
		}
	}
	return left, nil
}

// orphans clears the open episodes of rules that no longer run.
func (e *Engine) orphans(site, asset string, saved map[string]instSnap) {
	for _, id := range sortedKeys(saved) {
		ep := saved[id].Episode
		if !ep.Open {
			continue
		}
		e.stats.Cleared++
		e.out = append(e.out, Event{
			Event: Cleared, Incident: ep.ID, Seq: ep.Seq + 1, Site: site, Asset: asset, AssetClass: ep.Class,
			Rule: id, Problem: ep.Problem, Priority: ep.Priority, Trade: ep.Trade,
			Title:   "rule no longer applies",
			Summary: "cleared: the rule was removed or no longer applies to this asset",
			At:      time.Unix(0, e.wm).UTC(), Started: time.Unix(0, ep.Start).UTC(),
			Value: round3(ep.Last), Peak: round3(ep.Peak), OutOfRange: float64(ep.OutOfRange / int64(time.Second)),
			Occurrences: ep.Occurrences,
		})
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
