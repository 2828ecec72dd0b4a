package rules

import (
	"math"
	"slices"
	"time"
)

// Time to breach. Every temperature incident says when the food passes
// its limit, from the product-temperature model the asset's food-safety
// rule already runs (a first-order filter of the air with the rule's
// product_tau): what an FM woken at night needs first is how long they
// have. The model extrapolates the air along its trend of the last 15 min
// or so (never downward: a box pulling down is not the worry); it is
// recomputed at every reading, and an incident whose breach comes within
// breachSoon (or has come) is a P1.

// breachSoon is how close a predicted breach makes an incident a P1.
const breachSoon = int64(time.Hour)

// breachHorizon is how far ahead a breach is predicted at all: the air
// of a box that has lost cooling climbs for a few hours toward the room's
// temperature, not for ever.
const breachHorizon = int64(6 * time.Hour)

// airSlopeTau smooths the air's trend for the time to breach.
const airSlopeTau = 15 * time.Minute

// breachProblems are the problems that are about the food's temperature.
var breachProblems = []string{"temp_high", "temp_trend", "no_cooling", "long_runtime", "rack_failure"}

// productModel returns the asset's product-temperature instance: its
// first threshold rule with a product_tau that has a state.
func (a *assetState) productModel() *instance {
	for i := range a.insts {
		in := &a.insts[i]
		if in.rule.kind == KindThreshold && in.rule.tau > 0 && in.st != nil {
			if l, ok := in.st.(*levelState); ok && l.HasY {
				return in
			}
		}
	}
	return nil
}

// breach returns when the asset's product passes its limit: at (unix ns)
// and whether it already has. ok is false when the asset has no product
// model, or the product is not heading past the limit within the horizon.
func (e *Engine) breach(a *assetState, t int64) (at int64, breached, ok bool) {
	pm := a.productModel()
	if pm == nil {
		return 0, false, false
	}
	c := pm.rule
	y := pm.st.(*levelState).Y
	if pm.ep != nil || c.beyond(y, c.level) {
		if pm.ep != nil {
			return pm.ep.Start, true, true
		}
		return t, true, true
	}
	h := a.get(c.metric)
	if !e.fresh(a, h, t) || e.suppressed(pm, t) {
		// Stale, or in a defrost and its recovery, when the air is high
		// on purpose and the model holds the product where it was.
		return 0, false, false
	}
	l := pm.st.(*levelState)
	s, ok := timeToLevel(y, h.V, math.Max(0, l.Slope), c.level, float64(c.tau)/3.6e12, float64(breachHorizon)/3.6e12)
	if !ok {
		return 0, false, false
	}
	return t + int64(s*3.6e12), false, true
}

// timeToLevel returns in how many hours a product at y, following air at
// a that climbs r C an hour with time constant tau hours, passes level
// (upward), within horizon hours. With r = 0 it is the closed form; with
// r > 0 the product only climbs once the air is above it, and the root is
// found by bisection on
//
//	y(s) = a + r(s - tau) + (y - a + r tau) e^(-s/tau).
func timeToLevel(y, a, r, level, tau, horizon float64) (float64, bool) {
	if r <= 0 {
		if a <= level {
			return 0, false // the product settles toward the air, on the safe side
		}
		s := tau * math.Log((y-a)/(level-a))
		return s, !math.IsNaN(s) && s >= 0 && s <= horizon
	}
	at := func(s float64) float64 { return a + r*(s-tau) + (y-a+r*tau)*math.Exp(-s/tau) }
	if at(horizon) < level {
		return 0, false
	}
	lo, hi := 0.0, horizon
	for range 40 {
		mid := (lo + hi) / 2
		if at(mid) >= level {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi, true
}

// groupBreach is the soonest breach among a group's affected assets.
func (e *Engine) groupBreach(in *instance, gs *groupState, t int64) (at int64, breached, ok bool) {
	for _, a := range in.asset.served {
		if !slices.Contains(gs.Affected, a.asset.ID) {
			continue
		}
		if b, br, o := e.breach(a, t); o && (!ok || b < at) {
			at, breached, ok = b, br, true
		}
	}
	return at, breached, ok
}

// stampBreach puts the instance's breach on its event and returns whether
// it is soon enough to make the incident a P1.
func (e *Engine) stampBreach(in *instance, ev *Event, t int64) bool {
	if in.wholeSite() || !slices.Contains(breachProblems, in.ep.Problem) {
		return false
	}
	var at int64
	var breached, ok bool
	if gs, isGroup := in.st.(*groupState); isGroup {
		at, breached, ok = e.groupBreach(in, gs, t)
	} else {
		at, breached, ok = e.breach(in.asset, t)
	}
	if !ok {
		return false
	}
	when := time.Unix(0, at).UTC()
	if breached {
		ev.BreachedAt = &when
		return true
	}
	ev.PredictedBreachAt = &when
	return false // a prediction makes a P1 only once it has held (escalateOnBreach)
}

// breachHeld is how long a predicted breach must stay within breachSoon
// before it makes an incident a P1: a defrost the controller does not
// report lifts the air steeply for 20-30 min, and must not.
const breachHeld = int64(15 * time.Minute)

// escalateOnBreach makes the asset's open temperature incidents P1 once
// their product has breached, or its breach has been predicted within
// breachSoon for breachHeld: called after each temperature reading of an
// asset.
func (e *Engine) escalateOnBreach(a *assetState, t int64) {
	var urgent, checked bool
	for i := range a.insts {
		in := &a.insts[i]
		if in.ep == nil || in.ep.Priority == "P1" || in.ep.Inhibited != "" || !slices.Contains(breachProblems, in.ep.Problem) {
			continue
		}
		if !checked {
			checked = true
			pm := a.productModel()
			if pm == nil {
				return
			}
			l := pm.st.(*levelState)
			at, breached, ok := e.breach(a, t)
			switch {
			case ok && breached:
				urgent = true
			case ok && at-t <= breachSoon:
				if l.Soon == 0 {
					l.Soon = t
				}
				urgent = t-l.Soon >= breachHeld
			default:
				l.Soon = 0
			}
		}
		if urgent {
			e.escalate(in, t, "P1")
		}
	}
}

// Product returns an asset's modelled product temperature now, the
// food-safety limit it is held to, and the metric the model follows (the
// air): ok is false for an asset the engine does not know, one without a
// product model (no threshold rule with a product_tau), or one whose model
// has had no reading yet. The edge charts it next to the air.
func (e *Engine) Product(site, asset string) (y, limit float64, metric MetricID, ok bool) {
	a := e.assets[assetKey{site, asset}]
	if a == nil {
		return 0, 0, NoMetric, false
	}
	pm := a.productModel()
	if pm == nil {
		return 0, 0, NoMetric, false
	}
	return pm.st.(*levelState).Y, pm.rule.level, pm.rule.metric, true
}
