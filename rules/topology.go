package rules

import (
	"slices"
	"strings"
	"time"
)

// This file is the engine's topology: assets that name the equipment
// serving them (served_by) and the group rules that run on that
// equipment. When a compressor rack trips, every case on it warms at once;
// an FM wants one incident on the rack, naming the cases, not one per
// case. As Alertmanager inhibits the alerts a higher one explains, the
// cases' own incidents of the group's trade are held back while the
// group's is open: their episodes run as usual, but nothing is emitted
// for them.

// groupState runs a group rule on the serving equipment.
type groupState struct {
	// Affected are the served assets that lost cooling with it, in the
	// order they did.
	Affected []string `json:"affected,omitempty"`
	Quiet    int64    `json:"quiet,omitempty"` // open: no held-back incident since
}

func (s *groupState) late(*Engine, *instance, float64)                              {}
func (s *groupState) observe(*Engine, *instance, MetricID, int64, float64, float64) {}

// tick clears the group's incident once none of the incidents it held back
// has been open for clear_for: the whole group is cooling again.
func (s *groupState) tick(e *Engine, in *instance, t int64) {
	if in.ep == nil {
		return
	}
	for _, a := range in.asset.served {
		for i := range a.insts {
			if ep := a.insts[i].ep; ep != nil && ep.Inhibited == in.ep.ID {
				s.Quiet = 0
				return
			}
		}
	}
	if s.Quiet == 0 {
		s.Quiet = t
	}
	if t-s.Quiet >= in.rule.clearFor && e.clear(in, t, float64(len(s.Affected))) {
		s.Quiet, s.Affected = 0, nil
	}
}

// pender is a kind whose state can say that its condition is building up:
// a served asset that is warming but has not fired yet still counts
// toward its group. Only the kinds that see a sudden loss of cooling
// (pulldown, excursion) say so: a level or a trend building over hours
// on one case is not evidence that its rack tripped this minute.
type pender interface {
	pending(e *Engine, in *instance, t int64) bool
}

// together is how close in time two assets must start losing cooling to
// be losing it together: a rack's cases all warm from the same minute,
// and the slowest rule to see it (a probe's) takes about half an hour.
const together = int64(45 * time.Minute)

// losing reports whether asset a is losing cooling by one of the group
// rule's rules at t: one building, or an incident that began within
// together of start.
func (e *Engine) losing(g *compiled, a *assetState, start, t int64) bool {
	if !a.live {
		return false
	}
	for i := range a.insts {
		in := &a.insts[i]
		if !slices.Contains(g.members, in.rule.id) {
			continue
		}
		if in.ep != nil {
			if d := in.ep.Start - start; d <= together && d >= -together {
				return true
			}
			continue
		}
		if p, ok := in.st.(pender); ok && p.pending(e, in, t) {
			return true
		}
	}
	return false
}

// inhibitor returns the group instance whose incident explains the
// episode in has just opened, opening it when the served assets show a
// group failure, or nil when in's incident stands on its own.
func (e *Engine) inhibitor(in *instance, t int64) *instance {
	srv := in.asset.server
	if srv == nil || in.rule.kind == KindGroup {
		return nil
	}
	srv.materialize()
	for i := range srv.insts {
		g := &srv.insts[i]
		if g.rule.kind != KindGroup || g.rule.src.Trade != in.rule.src.Trade {
			continue
		}
		gs := g.st.(*groupState)
		if g.ep != nil {
			e.affect(g, gs, in.asset, t)
			return g
		}
		if !slices.Contains(g.rule.members, in.rule.id) || e.alreadyReported(g.rule, in) {
			continue
		}
		// The equipment's own signal, where it reports one, decides: a
		// rack still running while two of its cases warm has two faults
		// of its own, not one. Where it reports nothing, min_assets of
		// its assets losing cooling together do.
		reported, confirmed := len(g.rule.confirm) > 0, len(g.rule.confirm) > 0
		for j := range g.rule.confirm {
			k := &g.rule.confirm[j]
			if h := srv.get(k.metric); k.op == 'c' || !e.fresh(srv, h, t) {
				reported = false
			}
			if holding, _ := e.test(srv, k, t); !holding {
				confirmed = false
			}
		}
		if reported && confirmed && e.satisfied(g.rule, srv, t) {
			confirmed = false
		}
		together := []*assetState{in.asset}
		for _, a := range srv.served {
			if a != in.asset && e.losing(g.rule, a, in.ep.Start, t) {
				together = append(together, a)
			}
		}
		if reported && !confirmed || !reported && len(together) < g.rule.minAssets {
			continue
		}
		for _, a := range together {
			gs.Affected = append(gs.Affected, a.asset.ID)
		}
		e.open(g, in.ep.Start, t, float64(len(gs.Affected)), 0, false)
		return g
	}
	return nil
}

// satisfied reports whether a rack that is down is down because none of
// its cases calls for cooling: those that report the confirm signal
// themselves (a case's solenoid, as its compressor_on) all report it off.
// A rack pumps down and stops when every solenoid has closed; a tripped
// one stops with its cases still calling. With no case reporting, it
// cannot be told, and the rack's own signal stands.
func (e *Engine) satisfied(g *compiled, srv *assetState, t int64) bool {
	reporting := false
	for _, a := range srv.served {
		for j := range g.confirm {
			k := &g.confirm[j]
			if k.op == 'c' || k.op == 'p' {
				continue
			}
			h := a.get(k.metric)
			if !e.fresh(a, h, t) {
				continue
			}
			if !k.test(h.V) {
				return false // a case calls for cooling and the rack is off
			}
			reporting = true
		}
	}
	return reporting
}

// affect adds a served asset to an open group incident's list, with an
// update, the first time it is affected.
func (e *Engine) affect(g *instance, gs *groupState, a *assetState, t int64) {
	if slices.Contains(gs.Affected, a.asset.ID) {
		return
	}
	gs.Affected = append(gs.Affected, a.asset.ID)
	g.ep.Last = float64(len(gs.Affected))
	g.ep.Peak = g.ep.Last
	e.update(g, t)
}

// affectedList renders a group's affected assets for a summary.
func affectedList(in *instance) string {
	gs, ok := in.st.(*groupState)
	if !ok {
		return ""
	}
	names := make([]string, 0, len(gs.Affected))
	for _, id := range gs.Affected {
		name := id
		for _, a := range in.asset.served {
			if a.asset.ID == id && a.asset.Name != "" {
				name = a.asset.Name
			}
		}
		names = append(names, name)
	}
	return strings.Join(names, ", ")
}

// alreadyReported reports whether in's asset already has an incident of
// the group's rules out on its own, begun well before in's: a case that
// has been failing for an hour is its own fault, whatever its neighbours
// do now.
func (e *Engine) alreadyReported(g *compiled, in *instance) bool {
	for i := range in.asset.insts {
		o := &in.asset.insts[i]
		if o == in || o.ep == nil || o.ep.Inhibited != "" || !slices.Contains(g.members, o.rule.id) {
			continue
		}
		if in.ep.Start-o.ep.Start > together {
			return true
		}
	}
	return false
}

// One fault, one incident, on an asset too. A box whose compressor died
// soon also runs without a break, trends up and passes its limit; a box
// that short-cycles warms. The first incident open on an asset is the
// fault; a later refrigeration incident on the same asset is held back
// behind it and raises its priority when it is more urgent (a breach
// makes the open incident a P1). The first stays open until what it
// holds back has cleared too.

// holder returns the open, emitted incident on in's asset that in's new
// episode belongs behind, or nil. Only refrigeration incidents are held
// back, behind a refrigeration incident or an open door (which explains
// a warming box); sensor and gateway faults always stand on their own.
func (e *Engine) holder(in *instance) *instance {
	if in.rule.src.Trade != "refrigeration" {
		return nil
	}
	for i := range in.asset.insts {
		o := &in.asset.insts[i]
		if o == in || o.ep == nil || o.ep.Inhibited != "" || o.ep.Seq == 0 {
			continue
		}
		if o.ep.Trade == "refrigeration" || o.ep.Problem == "door_ajar" {
			return o
		}
	}
	return nil
}

// holds reports whether an asset incident still holds back an open one
// on its asset: it stays open until they have cleared, so that the work
// order it made is not verified while its box is still warm. (A group's
// incident waits for its assets in its own tick.)
func (e *Engine) holds(in *instance) bool {
	if in.wholeSite() || in.ep.Inhibited != "" || in.rule.kind == KindGroup {
		return false
	}
	for i := range in.asset.insts {
		o := &in.asset.insts[i]
		if o != in && o.ep != nil && o.ep.Inhibited == in.ep.ID {
			return true
		}
	}
	return false
}
