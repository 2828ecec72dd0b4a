package rules

import (
	"slices"
	"time"
)

// MarkOffline is told that devices of a site went offline at at: an MQTT
// last will, or a Sparkplug NDEATH or DDEATH. It opens their missing-data
// incidents at once rather than after the rules' silence threshold; the
// incidents are the ones the threshold would have opened (same id: it
// starts at the last reading), and they clear as usual when a reading
// arrives.
//
// assets are the devices that went away; none means the whole site (its
// gateway or bridge). When they are every asset of the site that has
// reported, the site-scope missing rules speak for all of them (one
// gateway incident, as for a silent store), and the per-asset ones stay
// shut. A death older than a device's newest reading is news of an
// earlier session and changes nothing.
func (e *Engine) MarkOffline(dst []Event, site string, assets []string, at time.Time) ([]Event, error) {
	ss := e.siteByID[site]
	if ss == nil {
		e.stats.UnknownSite++
		return dst, ErrUnknownSite
	}
	if y := at.Year(); y < 1900 || y > 2200 {
		e.stats.BadValue++
		return dst, ErrBadTime
	}
	t := at.UnixNano()
	e.out = dst
	e.advance(t)
	var err error
	if e.wholeSite(ss, assets) && len(ss.scoped) > 0 {
		if last := ss.lastSeen; last != 0 && last <= t {
			for _, in := range ss.scoped {
				if in.ep == nil && in.rule.kind == KindMissing {
					e.stats.MarkedOffline++
					e.open(in, last, t, float64(t-last)/6e10, 0, false)
				}
			}
		}
	} else {
		if len(assets) == 0 {
			for _, a := range ss.assets {
				assets = append(assets, a.asset.ID)
			}
		}
		for _, id := range assets {
			a := e.assets[assetKey{site, id}]
			if a == nil {
				e.stats.UnknownAsset++
				err = ErrUnknownAsset
				continue
			}
			e.markAssetOffline(a, t)
		}
	}
	dst, e.out = e.out, nil
	return dst, err
}

// wholeSite reports whether assets stand for every asset of ss that has
// reported (none given: the site itself).
func (e *Engine) wholeSite(ss *siteState, assets []string) bool {
	if len(assets) == 0 {
		return true
	}
	for _, a := range ss.assets {
		if a.lastSeen != 0 && !slices.Contains(assets, a.asset.ID) {
			return false
		}
	}
	return true
}

// markAssetOffline opens a's missing-data episodes that are not open yet,
// each from the last reading it watches.
func (e *Engine) markAssetOffline(a *assetState, t int64) {
	if a.lastSeen == 0 || a.lastSeen > t {
		return
	}
	a.materialize()
	for i := range a.insts {
		in := &a.insts[i]
		if in.rule.kind != KindMissing || in.ep != nil || in.st == nil {
			continue
		}
		last := a.lastSeen
		if m := in.rule.metric; m != NoMetric {
			h := a.get(m)
			if !h.Seen || h.At > t {
				continue
			}
			last = h.At
		}
		e.stats.MarkedOffline++
		e.open(in, last, t, float64(t-last)/6e10, 0, false)
		if in.ep != nil {
			in.ep.OutOfRange = t - last
		}
	}
}
