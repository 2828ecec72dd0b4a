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
// have. The model holds the air where it is now; a box still warming
// breaches sooner, so the prediction is recomputed at every reading, and
// an incident whose breach comes within breachSoon (or has come) is a P1.

// breachSoon is how close a predicted breach makes an incident a P1.
const breachSoon = int64(time.Hour)

// breachHorizon is how far ahead a breach is predicted at all.
const breachHorizon = int64(24 * time.Hour)

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
	if !e.fresh(a, h, t) {
		return 0, false, false
	}
	air := h.V
	if !c.beyond(air, c.level) {
		return 0, false, false // the product settles toward the air, on the safe side
	}
	// y(s) = air + (y - air) e^(-s/tau) reaches the level after
	// s = tau ln((y - air) / (level - air)).
	s := float64(c.tau) * math.Log((y-air)/(c.level-air))
	if math.IsNaN(s) || s < 0 || s > float64(breachHorizon) {
		return 0, false, false
	}
	return t + int64(s), false, true
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
	return at-t <= breachSoon
}

// escalateOnBreach makes the asset's open temperature incidents P1 once
// their product's breach comes within breachSoon: called after each
// temperature reading of an asset with an incident open.
func (e *Engine) escalateOnBreach(a *assetState, t int64) {
	var soon, checked bool
	for i := range a.insts {
		in := &a.insts[i]
		if in.ep == nil || in.ep.Priority == "P1" || in.ep.Inhibited != "" || !slices.Contains(breachProblems, in.ep.Problem) {
			continue
		}
		if !checked {
			at, breached, ok := e.breach(a, t)
			soon, checked = ok && (breached || at-t <= breachSoon), true
		}
		if soon {
			e.escalate(in, t, "P1")
		}
	}
}
