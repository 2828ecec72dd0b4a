package sim

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/frostline/frostline/rules"
	"github.com/frostline/frostline/rules/score"
)

// Fault kinds the simulator can inject: the labels' vocabulary, which
// rules/score defines.
const (
	CompressorFailure = score.CompressorFailure
	RefrigerantLeak   = score.RefrigerantLeak
	DoorAjar          = score.DoorAjar
	ShortCycling      = score.ShortCycling
	SensorStuck       = score.SensorStuck
	SensorOffline     = score.SensorOffline
	GatewayOffline    = score.GatewayOffline
	CoolingFailure    = score.CoolingFailure
	// RackFailure is a compressor rack that trips: every case it serves
	// loses cooling at once while its controller still calls for it, and
	// the rack's compressor_on drops to 0.
	RackFailure = score.RackFailure
)

// FaultKinds lists the kinds, for flags and validation.
var FaultKinds = []string{CompressorFailure, RefrigerantLeak, DoorAjar, ShortCycling, SensorStuck, SensorOffline, GatewayOffline, CoolingFailure, RackFailure}

// assetKinds are the kinds RandomFaults draws from for one asset or a
// whole site; rack trips are placed apart (RandomFaults says how), so that
// a seed gives stores without racks the faults it always gave them.
var assetKinds = FaultKinds[:8]

// accept is what problem codes name each fault correctly (the labels'
// `accept`): the scorer's vocabulary.
var accept = score.Accept

// Fault is one fault to inject: on an asset (or the whole site, asset "*"
// for gateway_offline) from Start for Duration.
type Fault struct {
	Site     string
	Asset    string
	Kind     string
	Start    time.Time
	Duration time.Duration
}

// Reading is one simulated sensor report.
type Reading struct {
	At     time.Time
	Site   string
	Asset  string
	Metric string
	Value  float64
	Word   string // for mode: "cool", "heat", "off"
}

// Config sets up a simulation.
type Config struct {
	Sites []*rules.Site
	Start time.Time
	Seed  uint64
	// Retrofit is the fraction of refrigerated assets watched by wireless
	// probes (air temperature every 5 min and a door contact, no controller
	// signals) instead of the controller.
	Retrofit float64
	// Retrofitted names assets ("site/asset") that are probes regardless.
	Retrofitted []string
	// Silent names assets ("site/asset") that report nothing at all: a
	// rack whose controller is not connected, say. They still act (a
	// silent rack still serves its cases, and trips).
	Silent []string
	Faults []Fault
	// Glitches is the chance per temperature sample of a lone spike.
	Glitches float64
	// Noise scales every sensor's noise (1 when zero): cheap probes are
	// noisier than controller sensors.
	Noise float64
}

// Sim is a running simulation. It is not safe for concurrent use.
type Sim struct {
	cfg    Config
	now    time.Time
	assets []*asset // the physical models, stepped in site-file order
	racks  []*asset // compressor racks, reported after the cases they serve
	faults []*faultRun
	r      *rand.Rand
}

type asset struct {
	site      *rules.Site
	id, class string
	box       *box
	rtu       *rtu
	rack      *rack  // a compressor rack: its cases are members
	servedBy  *asset // the rack serving this case, if any
	silent    bool   // reports nothing (Config.Silent)
	retrofit  bool
	defOffset time.Duration
	last      map[string]float64   // last reported value per state metric
	lastAt    map[string]time.Time // last report per state metric
	stuck     float64
	hasStuck  bool
}

type faultRun struct {
	Fault
	class  string
	breach time.Time
	asset  *asset
}

// rack is a compressor rack: it holds suction for the cases it serves and
// runs (compressor_on 1, any stage) while any of them calls for cooling.
// It has no thermal model of its own; a trip takes the cooling of every
// member away.
type rack struct {
	members []*asset
}

// faultState is what the faults active on an asset do to it now.
type faultState struct {
	tripped   bool // a rack: tripped; a case: its rack has
	capacity  float64
	runsDead  bool
	doorStuck bool
	chatter   bool
	stuck     bool
	offline   bool
	rtuFailed bool
}

// New builds a simulation; the same Config always gives the same readings.
func New(cfg Config) (*Sim, error) {
	if cfg.Start.IsZero() {
		return nil, fmt.Errorf("sim: no start time")
	}
	s := &Sim{cfg: cfg, now: cfg.Start.Truncate(time.Minute), r: rand.New(rand.NewPCG(cfg.Seed, 0x5eed))}
	byKey := map[string]*asset{}
	for _, site := range cfg.Sites {
		for _, a := range site.Assets {
			x := &asset{site: site, id: a.ID, class: a.Class, last: map[string]float64{}, lastAt: map[string]time.Time{},
				silent: slices.Contains(cfg.Silent, site.ID+"/"+a.ID)}
			if a.Class == "rooftop_unit" {
				x.rtu = newRTU(s.r)
			} else if a.Class == "compressor_rack" {
				// No random draw: a store's cases get the parameters they
				// had before racks were simulated.
				x.rack = &rack{}
				s.racks = append(s.racks, x)
				byKey[site.ID+"/"+a.ID] = x
				continue
			} else if p := classParams(a.Class, s.r); p.cool > 0 {
				x.box = newBox(p)
				x.retrofit = Retrofitted(cfg.Seed, cfg.Retrofit, site.ID, a.ID) || slices.Contains(cfg.Retrofitted, site.ID+"/"+a.ID)
				x.defOffset = time.Duration(s.r.IntN(90)) * time.Minute
				x.box.offSince = s.now.Add(-time.Hour)
			} else {
				continue // a class the simulator has no model for
			}
			s.assets = append(s.assets, x)
			byKey[site.ID+"/"+a.ID] = x
		}
	}
	// A case served by a rack (served_by in the site file) cools only while
	// the rack runs.
	for _, site := range cfg.Sites {
		for _, a := range site.Assets {
			x, by := byKey[site.ID+"/"+a.ID], byKey[site.ID+"/"+a.ServedBy]
			if x == nil || by == nil || by.rack == nil || x.box == nil {
				continue
			}
			x.servedBy = by
			by.rack.members = append(by.rack.members, x)
		}
	}
	for _, k := range cfg.Silent {
		if byKey[k] == nil {
			return nil, fmt.Errorf("sim: silent: unknown asset %s (want site/asset)", k)
		}
	}
	for _, f := range cfg.Faults {
		if !slices.Contains(FaultKinds, f.Kind) {
			return nil, fmt.Errorf("sim: unknown fault %q (want one of %v)", f.Kind, FaultKinds)
		}
		fr := &faultRun{Fault: f}
		if f.Kind == GatewayOffline {
			fr.Asset, fr.class = rules.SiteAsset, "gateway"
		} else {
			a := byKey[f.Site+"/"+f.Asset]
			if a == nil {
				return nil, fmt.Errorf("sim: fault %s: unknown asset %s/%s", f.Kind, f.Site, f.Asset)
			}
			if (f.Kind == CoolingFailure) != (a.rtu != nil) || (f.Kind == RackFailure) != (a.rack != nil) {
				return nil, fmt.Errorf("sim: fault %s does not apply to %s (%s)", f.Kind, f.Asset, a.class)
			}
			if f.Kind == RackFailure && len(a.rack.members) == 0 {
				return nil, fmt.Errorf("sim: rack %s serves no case (no asset names it in served_by)", f.Asset)
			}
			if f.Kind == ShortCycling && a.retrofit {
				return nil, fmt.Errorf("sim: short cycling on %s cannot be seen: it is watched by a probe without a compressor signal", f.Asset)
			}
			fr.asset, fr.class = a, a.class
		}
		s.faults = append(s.faults, fr)
	}
	return s, nil
}

// Now is the simulated time of the next step.
func (s *Sim) Now() time.Time { return s.now }

func (s *Sim) faultsOn(a *asset, t time.Time) faultState {
	fs := faultState{capacity: 1}
	for _, f := range s.faults {
		if f.Site != a.site.ID || t.Before(f.Start) || !t.Before(f.Start.Add(f.Duration)) {
			continue
		}
		if f.Kind == GatewayOffline {
			fs.offline = true
			continue
		}
		if f.Kind == RackFailure && a.servedBy != nil && f.asset == a.servedBy {
			// The rack is down: the case's controller still calls for
			// cooling (its solenoid open), but nothing comes.
			fs.capacity, fs.tripped = 0, true
			continue
		}
		if f.asset != a {
			continue
		}
		switch f.Kind {
		case RackFailure:
			fs.tripped = true
		case CompressorFailure:
			fs.capacity, fs.runsDead = 0, true
		case RefrigerantLeak:
			// Charge leaks away: capacity falls from full to a fifth.
			frac := float64(t.Sub(f.Start)) / float64(f.Duration)
			fs.capacity = 1 - 0.8*frac
		case DoorAjar:
			fs.doorStuck = true
		case ShortCycling:
			fs.chatter = true
		case SensorStuck:
			fs.stuck = true
		case SensorOffline:
			fs.offline = true
		case CoolingFailure:
			fs.rtuFailed = true
		}
	}
	return fs
}

func trading(t time.Time) bool { return t.Hour() >= 6 && t.Hour() < 22 }

// Step advances the simulation by one minute and appends the readings the
// sensors report in it to dst.
func (s *Sim) Step(dst []Reading) []Reading {
	t := s.now
	for _, a := range s.assets {
		fs := s.faultsOn(a, t)
		if a.box != nil {
			a.box.step(t, time.Minute, fs, s.r, trading(t), a.defOffset)
		}
		var supply, ret, out float64
		if a.rtu != nil {
			supply, ret, out = a.rtu.step(t, time.Minute, fs, trading(t))
		}
		for _, f := range s.faults {
			// A rack trip's breach is its first case's.
			on := f.asset == a || (f.Kind == RackFailure && a.servedBy != nil && f.asset == a.servedBy)
			if on && f.breach.IsZero() && a.box != nil && !t.Before(f.Start) &&
				t.Before(f.Start.Add(f.Duration)) && a.box.product > a.box.p.limit && f.Kind != SensorStuck && f.Kind != SensorOffline {
				f.breach = t
			}
		}
		if fs.offline || a.silent {
			continue
		}
		emit := func(metric string, v float64) {
			dst = append(dst, Reading{At: t, Site: a.site.ID, Asset: a.id, Metric: metric, Value: v})
		}
		temp := func(metric string, v, noise float64) {
			if s.cfg.Noise > 0 {
				noise *= s.cfg.Noise
			}
			v += noise * s.r.NormFloat64()
			if s.cfg.Glitches > 0 && s.r.Float64() < s.cfg.Glitches {
				v += 14 + 2*s.r.Float64()
			}
			emit(metric, math.Round(v*10)/10)
		}
		state := func(metric string, v float64) {
			// On change and as a heartbeat every 15 min.
			if last, ok := a.last[metric]; ok && last == v && t.Sub(a.lastAt[metric]) < 15*time.Minute {
				return
			}
			a.last[metric], a.lastAt[metric] = v, t
			emit(metric, v)
		}
		if a.box != nil {
			b := a.box
			if a.retrofit && t.Minute()%5 != 0 {
				if b.p.doorRate > 0 {
					state("door_open", b01(b.door))
				}
				continue
			}
			air := b.air
			if fs.stuck {
				if !a.hasStuck {
					a.stuck, a.hasStuck = math.Round(air*10)/10, true
				}
				emit("air_temp", a.stuck)
			} else {
				a.hasStuck = false
				temp("air_temp", air, b.p.noise)
			}
			if !a.retrofit {
				state("compressor_on", b01(b.on))
				state("defrost", b01(b.defrost))
			}
			if b.p.doorRate > 0 {
				state("door_open", b01(b.door))
			}
			continue
		}
		u := a.rtu
		temp("zone_temp", u.zone, u.noise)
		emit("zone_setpoint", u.setpoint)
		temp("supply_air_temp", supply, u.noise)
		temp("return_air_temp", ret, u.noise)
		temp("outdoor_air_temp", out, 0.1)
		state("compressor_on", b01(u.on))
		state("fan_on", b01(u.fan))
		if last, ok := a.lastAt["mode"]; !ok || t.Sub(last) >= 15*time.Minute {
			a.lastAt["mode"] = t
			dst = append(dst, Reading{At: t, Site: a.site.ID, Asset: a.id, Metric: "mode", Value: 1, Word: "cool"})
		}
	}
	// Racks after their cases, which they follow this minute: running
	// while any case calls for cooling, unless tripped.
	for _, a := range s.racks {
		fs := s.faultsOn(a, t)
		if fs.offline || a.silent {
			continue
		}
		on := false
		for _, m := range a.rack.members {
			on = on || m.box.on
		}
		on = on && !fs.tripped
		// On change and as a heartbeat every 15 min, as a controller does.
		if last, ok := a.last["compressor_on"]; ok && last == b01(on) && t.Sub(a.lastAt["compressor_on"]) < 15*time.Minute {
			continue
		}
		a.last["compressor_on"], a.lastAt["compressor_on"] = b01(on), t
		dst = append(dst, Reading{At: t, Site: a.site.ID, Asset: a.id, Metric: "compressor_on", Value: b01(on)})
	}
	s.now = t.Add(time.Minute)
	return dst
}

// Retrofitted reports whether, in a simulation with this seed and retrofit
// fraction, the asset is watched by a wireless probe rather than its
// controller. It depends on nothing else, so fault planning can ask too.
func Retrofitted(seed uint64, fraction float64, site, asset string) bool {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%s/%s", seed, site, asset)
	return float64(h.Sum64()%10000)/10000 < fraction
}

func b01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Labels describes the faults injected so far, in the format of the shared
// faults sample's labels.json.
type Labels struct {
	Epoch  time.Time    `json:"epoch"`
	End    time.Time    `json:"end"`
	Assets []LabelAsset `json:"assets"`
	Faults []LabelFault `json:"faults"`
}

// LabelAsset is one simulated asset.
type LabelAsset struct {
	Site  string `json:"site"`
	Asset string `json:"asset"`
	Class string `json:"class"`
}

// LabelFault is one injected fault.
type LabelFault struct {
	Site  string `json:"site"`
	Asset string `json:"asset"`
	Class string `json:"class"`
	Fault string `json:"fault"`
	// Members are the cases a tripped rack serves.
	Members []string   `json:"members,omitempty"`
	Start   time.Time  `json:"start"`
	End     time.Time  `json:"end"`
	Breach  *time.Time `json:"breach,omitempty"`
	Accept  []string   `json:"accept"`
}

// Labels returns the labels of the simulation up to now.
func (s *Sim) Labels() Labels {
	l := Labels{Epoch: s.cfg.Start, End: s.now}
	for _, a := range s.assets {
		l.Assets = append(l.Assets, LabelAsset{Site: a.site.ID, Asset: a.id, Class: a.class})
	}
	for _, a := range s.racks {
		l.Assets = append(l.Assets, LabelAsset{Site: a.site.ID, Asset: a.id, Class: a.class})
	}
	for _, f := range s.faults {
		lf := LabelFault{Site: f.Site, Asset: f.Asset, Class: f.class, Fault: f.Kind, Start: f.Start,
			End: f.Start.Add(f.Duration), Accept: accept[f.Kind]}
		if f.Kind == RackFailure {
			for _, m := range f.asset.rack.members {
				lf.Members = append(lf.Members, m.id)
			}
		}
		if !f.breach.IsZero() {
			b := f.breach
			lf.Breach = &b
		}
		l.Faults = append(l.Faults, lf)
	}
	slices.SortFunc(l.Faults, func(a, b LabelFault) int { return a.Start.Compare(b.Start) })
	return l
}

// RandomFaults picks n faults per site between from and to, each on an
// asset it applies to, spaced so that they do not overlap on one asset.
func RandomFaults(sites []*rules.Site, n int, from, to time.Time, seed uint64, retrofitted func(site, asset string) bool) []Fault {
	r := rand.New(rand.NewPCG(seed, 0xfa17))
	// Rack trips draw from their own stream, so that the other faults of a
	// seed stay what they were before racks were simulated.
	rr := rand.New(rand.NewPCG(seed, 0x7ac4))
	var out []Fault
	if n <= 0 {
		return nil
	}
	for _, site := range sites {
		busy := map[string]time.Time{}
		var placed []Fault
		for range n {
			kind := assetKinds[r.IntN(len(assetKinds))]
			var cands []rules.Asset
			for _, a := range site.Assets {
				rtu := a.Class == "rooftop_unit"
				if (kind == CoolingFailure) != rtu && kind != SensorOffline && kind != SensorStuck {
					continue
				}
				if (kind == SensorOffline || kind == SensorStuck) && rtu {
					continue
				}
				if kind == DoorAjar && !hasDoor(a.Class) {
					continue
				}
				if kind == ShortCycling && retrofitted != nil && retrofitted(site.ID, a.ID) {
					continue
				}
				if a.Class == "compressor_rack" {
					continue
				}
				cands = append(cands, a)
			}
			if kind == GatewayOffline {
				cands = []rules.Asset{{ID: rules.SiteAsset}}
			}
			if len(cands) == 0 {
				continue
			}
			a := cands[r.IntN(len(cands))]
			d := faultDuration(kind, r)
			span := to.Sub(from) - d
			if span <= 0 {
				continue
			}
			start := from.Add(time.Duration(r.Int64N(int64(span)))).Truncate(time.Minute)
			if kind == CoolingFailure && (start.Hour() < 8 || start.Hour() > 16) {
				// A unit that is not asked to cool cannot show that it
				// fails to: put the fault where the afternoon load is.
				start = time.Date(start.Year(), start.Month(), start.Day(), 9+r.IntN(7), r.IntN(60), 0, 0, start.Location())
				if start.Add(d).After(to) || start.Before(from) {
					continue
				}
			}
			if b, ok := busy[a.ID]; ok && start.Before(b) {
				continue
			}
			// A whole-site outage hides every other fault at the site, and
			// the labels could not say which one an incident is about: keep
			// outages clear of other faults, with a margin.
			f := Fault{Site: site.ID, Asset: a.ID, Kind: kind, Start: start, Duration: d}
			if slices.ContainsFunc(placed, func(g Fault) bool {
				return (g.Kind == GatewayOffline || kind == GatewayOffline) && overlaps(f, g, 2*time.Hour)
			}) {
				continue
			}
			busy[a.ID] = start.Add(d + 12*time.Hour)
			placed = append(placed, f)
			out = append(out, f)
		}
		out = append(out, rackTrips(site, placed, from, to, rr)...)
	}
	slices.SortFunc(out, func(a, b Fault) int { return cmp.Or(a.Start.Compare(b.Start), cmp.Compare(a.Asset, b.Asset)) })
	return out
}

// rackTrips places one trip of 2 to 8 hours on each rack of the site
// that serves cases (served_by), clear of the other faults on the rack,
// its cases and the whole site by two hours: the labels could not say
// which fault an incident is about.
func rackTrips(site *rules.Site, placed []Fault, from, to time.Time, r *rand.Rand) []Fault {
	var out []Fault
	for _, rk := range site.Assets {
		if rk.Class != "compressor_rack" {
			continue
		}
		involved := map[string]bool{rk.ID: true, rules.SiteAsset: true}
		for _, a := range site.Assets {
			if a.ServedBy == rk.ID {
				involved[a.ID] = true
			}
		}
		if len(involved) == 2 {
			continue // serves nothing
		}
		for range 20 {
			d := (2*time.Hour + time.Duration(r.Int64N(int64(6*time.Hour)))).Truncate(time.Minute)
			span := to.Sub(from) - d
			if span <= 0 {
				break
			}
			f := Fault{Site: site.ID, Asset: rk.ID, Kind: RackFailure, Start: from.Add(time.Duration(r.Int64N(int64(span)))).Truncate(time.Minute), Duration: d}
			if slices.ContainsFunc(placed, func(g Fault) bool { return involved[g.Asset] && overlaps(f, g, 2*time.Hour) }) {
				continue
			}
			out = append(out, f)
			break
		}
	}
	return out
}

func overlaps(a, b Fault, margin time.Duration) bool {
	return a.Start.Before(b.Start.Add(b.Duration+margin)) && b.Start.Before(a.Start.Add(a.Duration+margin))
}

func hasDoor(class string) bool {
	switch class {
	case "walk_in_cooler", "walk_in_freezer", "reach_in_cooler", "reach_in_freezer":
		return true
	}
	return false
}

func faultDuration(kind string, r *rand.Rand) time.Duration {
	between := func(lo, hi time.Duration) time.Duration {
		return (lo + time.Duration(r.Int64N(int64(hi-lo)))).Truncate(time.Minute)
	}
	switch kind {
	case RefrigerantLeak:
		return between(24*time.Hour, 60*time.Hour)
	case DoorAjar:
		return between(45*time.Minute, 2*time.Hour)
	case GatewayOffline:
		return between(time.Hour, 4*time.Hour)
	case SensorOffline, SensorStuck:
		return between(3*time.Hour, 6*time.Hour)
	}
	return between(4*time.Hour, 9*time.Hour)
}
